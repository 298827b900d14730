/**
 * Restore speed against the baseline in docs/architecture.md ("Performance"), in one run, on the same generated table as the backup benchmark:
 *
 *   `psql -f dump.sql`                              the pure load of the same plain SQL from a local file: the yardstick
 *   `gunzip -c file | psql -d new`                 the runbook's manual restore, from a file already on disk
 *   `aws s3 cp - | gunzip -c | psql -d new`         the same, streamed from S3
 *   `meatbackup restore latest --from-database DB --target-db new` ours: sha256 check first, then load into a fresh
 *                                                  database, with igzip -d, and with the zlib fallback (no igzip on its PATH)
 *
 * Wall time and its ratio to the pure load, CPU of the command, of the server and of the emulator, peak RSS.
 *
 *   npx tsx bench/restore.ts                  # 3,000,000 rows, the reference size
 *   BENCH_ROWS=300000 npx tsx bench/restore.ts
 *   BENCH_REPEAT=5 …                          # runs per command (default 3); the median run is reported
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { formatBytes, formatTable } from '../src/core/format';
import { serverBinDir } from '../src/local/postgres-cluster';
import { type BackupBenchRow, CLI, DATABASE, RUN_CLI, TIME, benchRepeat, benchRows, measure, medianRun, motoPid, postmasterPid, withBenchWorld } from './backup';

const BUCKET = 'bench-restore';

/** The backup benchmark's row; a restore stores nothing in S3. */
export type RestoreBenchRow = Omit<BackupBenchRow, 'storedBytes'>;

export interface RestoreBenchResult {
  rows: number;
  storedBytes: number;
  sqlBytes: number;
  loadAverageBefore: number;
  results: RestoreBenchRow[];
  target: { ratio: number; ok: boolean };
}

export async function benchRestore(): Promise<RestoreBenchResult> {
  const rows = benchRows();
  const repeat = benchRepeat();
  const log = (m: string) => process.stderr.write(`bench: ${m}\n`);
  if (!existsSync(TIME)) throw new Error(`${TIME} (GNU time) is needed to measure peak RSS: install it with \`apt-get install -y time\``);
  const loadAverageBefore = loadavg()[0];
  return withBenchWorld(BUCKET, rows, log, async ({ pg, s3, work }) => {
    const env: NodeJS.ProcessEnv = { ...process.env, ...pg.env(DATABASE), ...s3.env, BACKUP_BUCKET: BUCKET, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
    log('taking the backup to restore…');
    const backup = JSON.parse(execFileSync(process.execPath, [CLI, 'backup', '--json'], { env, encoding: 'utf8' })) as { key: string; sizeBytes: number; sqlBytes: number };
    const aws = `aws --endpoint-url ${s3.endpoint} --only-show-errors`;
    execFileSync('bash', ['-c', `${aws} s3 cp s3://${BUCKET}/${backup.key} ${work}/backup.sql.gz && gunzip -c ${work}/backup.sql.gz > ${work}/dump.sql`], { env });
    const psql = join(serverBinDir(), 'psql');
    const server = postmasterPid(pg);
    const moto = motoPid(s3.endpoint);

    let n = 0;
    const target = () => `bench_restore_${++n}`;
    const commands: { name: string; script: (db: string) => string }[] = [
      // The pure load of the same SQL from a local file: the yardstick of the restore target.
      { name: 'psql -f dump.sql (pure load)', script: (db) => `${psql} -X -q -v ON_ERROR_STOP=1 -d ${db} -f ${work}/dump.sql > /dev/null` },
      { name: 'gunzip -c file | psql (manual runbook)', script: (db) => `gunzip -c ${work}/backup.sql.gz | ${psql} -X -q -v ON_ERROR_STOP=1 -d ${db} > /dev/null` },
      { name: 'aws s3 cp - | gunzip -c | psql', script: (db) => `${aws} s3 cp s3://${BUCKET}/${backup.key} - | gunzip -c | ${psql} -X -q -v ON_ERROR_STOP=1 -d ${db} > /dev/null` },
      { name: 'meatbackup restore (igzip -d, sha256 first)', script: (db) => `${RUN_CLI} restore latest --from-database ${DATABASE} --target-db ${db} --yes --json > /dev/null` },
      // No igzip on its PATH: the zlib fallback.
      { name: 'meatbackup restore (zlib, sha256 first)', script: (db) => `PATH=/nonexistent ${RUN_CLI} restore latest --from-database ${DATABASE} --target-db ${db} --yes --json > /dev/null` },
    ];
    const runs = new Map<string, RestoreBenchRow[]>();
    for (let round = 0; round < repeat; round++) {
      for (const command of commands) {
        const db = target();
        // The manual procedure restores into an existing empty database; ours creates its own.
        if (!command.name.startsWith('meatbackup')) await pg.query(`create database ${db}`);
        log(`${command.name}${repeat > 1 ? ` (run ${round + 1}/${repeat})` : ''}…`);
        const { row } = await measure(command.name, command.script(db), { env, work, server, moto });
        await pg.query(`drop database ${db}`);
        // A load of 1 GB leaves the checkpointer gigabytes to write: let it finish here, not inside the next command.
        await pg.query('checkpoint');
        runs.set(command.name, [...(runs.get(command.name) ?? []), row]);
      }
    }
    const results = commands.map((c) => medianRun(runs.get(c.name)!));
    for (const r of results) r.ratio = r.wallSeconds / results[0].wallSeconds;
    const ours = results.find((r) => r.name.includes('igzip'))!;
    return { rows, storedBytes: backup.sizeBytes, sqlBytes: backup.sqlBytes, loadAverageBefore, results, target: { ratio: ours.ratio, ok: ours.ratio <= 1.1 } };
  });
}

export function formatRestoreBench(r: RestoreBenchResult): string {
  const header = ['', 'wall', '× psql -f', 'CPU cmd', 'CPU server', 'CPU S3', 'peak RSS'];
  const rows = r.results.map((x) => [
    x.name,
    `${x.wallSeconds.toFixed(2)}s`,
    x.ratio.toFixed(2),
    `${x.cpuSeconds.toFixed(2)}s`,
    `${x.serverCpuSeconds.toFixed(2)}s`,
    `${x.s3CpuSeconds.toFixed(2)}s`,
    formatBytes(x.peakRssBytes),
  ]);
  const table = formatTable([header, ...rows], { alignRight: header.map((_, i) => i).slice(1) });
  return [
    `Restore: ${r.rows.toLocaleString('en')} rows, a ${formatBytes(r.storedBytes)} backup of ${formatBytes(r.sqlBytes)} SQL; S3 = moto_server; load average ${r.loadAverageBefore.toFixed(2)} before`,
    table,
    `target: restore (igzip) ≤ 1.10× psql -f dump.sql: ${r.target.ok ? 'met' : 'MISSED'} (${r.target.ratio.toFixed(2)}×)`,
  ].join('\n');
}

if (require.main === module) {
  benchRestore().then(
    (result) => process.stdout.write(`${formatRestoreBench(result)}\n`),
    (err: unknown) => {
      process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
