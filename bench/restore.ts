/**
 * Restore speed and memory against the baselines of docs/architecture.md ("Performance"), in one run, on a
 * platform-shaped database (users, sessions, messages with two secondary indexes and foreign keys, logs with a jsonb
 * GIN index: four tables, five secondary indexes, two foreign keys; ~1 GB of plain SQL at the reference size):
 *
 *   `psql -f dump.sql`                           one stream from a local file: the yardstick
 *   `pg_restore -j N` of a directory dump        PostgreSQL's own parallel restore, from local files
 *   `meatbackup restore --jobs 1`                ours, one psql stream (sha256 check and download included)
 *   `meatbackup restore --jobs N`                ours, the parallel load (N = BENCH_JOBS, default 2)
 *   the longest chain alone                      logs' data, its key, its GIN index and its ANALYZE, one after the
 *                                                other on one session (from the directory dump, its tables made
 *                                                first, untimed): each step waits for the one before, so no
 *                                                schedule that analyzes, over any number of sessions, restores
 *                                                in less (the GIN build alone varies by a fifth from run to run
 *                                                on this machine: the floor is as noisy)
 *
 * Wall time and its ratio to psql -f, CPU of the command, of the server and of the emulator, peak RSS.
 *
 *   npx tsx bench/restore.ts                     # 3,000,000 messages, the reference size
 *   BENCH_ROWS=300000 npx tsx bench/restore.ts   # a quick run
 *   BENCH_JOBS=4 …                               # sessions of the parallel rows (default 2)
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { formatBytes, formatTable } from '../src/core/format';
import { type LocalCluster, serverBinDir } from '../src/local/postgres-cluster';
import { type BackupBenchRow, CLI, DATABASE, RUN_CLI, TIME, benchRepeat, benchRows, benchSetting, measure, medianRun, motoPid, postmasterPid, withBenchWorld } from './backup';

const BUCKET = 'bench-restore';
const MAX_RSS_BYTES = 192 * 1024 * 1024;

/** The backup benchmark's row; a restore stores nothing in S3. */
export type RestoreBenchRow = Omit<BackupBenchRow, 'storedBytes'>;

export interface RestoreBenchResult {
  rows: number;
  jobs: number;
  /** Where the time of the reported --jobs N run went: the parallel load's own line (phases, longest jobs, scratch use). */
  phases: string;
  storedBytes: number;
  sqlBytes: number;
  loadAverageBefore: number;
  loadAverageAfter: number;
  results: RestoreBenchRow[];
  /** `chainVsPsql`: the longest chain alone, against psql -f: the least any schedule can take. */
  targets: { vsPgRestore: number; vsPsql: number; peakRssBytes: number; chainVsPsql: number; ok: boolean };
}

export function benchJobs(): number {
  return benchSetting('BENCH_JOBS', 2, 2, 'sessions');
}

/**
 * The platform's shape: `rows` messages (two secondary indexes, a foreign key to sessions), rows/2 logs (a jsonb GIN
 * index), rows/8 sessions (an index, a foreign key to users), rows/40 users (a unique index on email).
 */
export async function generatePlatform(pg: LocalCluster, rows: number): Promise<void> {
  await pg.query(`create database ${DATABASE}`);
  const users = Math.max(10, Math.floor(rows / 40));
  const sessions = Math.max(10, Math.floor(rows / 8));
  await pg.query(
    `create table users (id bigint primary key, email text not null, name text not null, created_at timestamptz not null, settings jsonb);
     create table sessions (id bigint primary key, user_id bigint not null references users, token text not null, started_at timestamptz not null, user_agent text);
     create table messages (id bigint primary key, session_id bigint not null references sessions, role text not null, body text not null, created_at timestamptz not null);
     create table logs (id bigint primary key, at timestamptz not null, level text not null, data jsonb not null);
     insert into users select g, 'user' || g || '@example.com', 'User ' || g, timestamptz '2025-01-01' + g * interval '1 minute', jsonb_build_object('theme', 'dark', 'n', g) from generate_series(1, ${users}) g;
     insert into sessions select g, 1 + g % ${users}, md5(g::text), timestamptz '2025-01-01' + g * interval '10 second', 'Mozilla/5.0 (X11; Linux x86_64) client ' || (g % 97) from generate_series(1, ${sessions}) g;
     insert into messages select g, 1 + g % ${sessions}, case when g % 2 = 0 then 'user' else 'assistant' end,
       repeat('the lizard answered the question about backups ' || (g % 1013) || ' ', 1 + g % 7) || md5(g::text), timestamptz '2025-01-01' + g * interval '1 second' from generate_series(1, ${rows}) g;
     insert into logs select g, timestamptz '2025-01-01' + g * interval '2 second', (array['info', 'warn', 'error'])[1 + g % 3],
       jsonb_build_object('request', md5(g::text), 'ms', g % 1000, 'path', '/api/v1/' || (g % 50), 'tags', jsonb_build_array('a' || g % 7, 'b' || g % 11)) from generate_series(1, ${Math.floor(rows / 2)}) g;
     create unique index users_email_idx on users (email);
     create index sessions_user_idx on sessions (user_id);
     create index messages_session_idx on messages (session_id);
     create index messages_created_idx on messages (created_at);
     create index logs_data_gin on logs using gin (data);`,
    DATABASE,
  );
  await pg.query('vacuum analyze', DATABASE);
  await pg.query('checkpoint');
}

export async function benchRestore(): Promise<RestoreBenchResult> {
  const rows = benchRows();
  const repeat = benchRepeat();
  const jobs = benchJobs();
  const log = (m: string) => process.stderr.write(`bench: ${m}\n`);
  if (!existsSync(TIME)) throw new Error(`${TIME} (GNU time) is needed to measure peak RSS: install it with \`apt-get install -y time\``);
  const loadAverageBefore = loadavg()[0];
  return withBenchWorld(
    BUCKET,
    rows,
    log,
    async ({ pg, s3, work }) => {
      const env: NodeJS.ProcessEnv = { ...process.env, ...pg.env(DATABASE), ...s3.env, BACKUP_BUCKET: BUCKET, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
      log('taking the backup to restore, and the plain and directory dumps…');
      const backup = JSON.parse(execFileSync(process.execPath, [CLI, 'backup', '--json'], { env, encoding: 'utf8' })) as { key: string; sizeBytes: number; sqlBytes: number };
      const bin = serverBinDir();
      execFileSync('bash', ['-c', `${bin}/pg_dump -f ${work}/dump.sql && ${bin}/pg_dump -Fd -j ${jobs} -f ${work}/dir`], { env });
      const psql = join(bin, 'psql');
      const server = postmasterPid(pg);
      const moto = motoPid(s3.endpoint);

      let n = 0;
      const target = () => `bench_restore_${++n}`;
      // The longest chain of the generated database: logs' data, then its key (ALTER TABLE locks out the index build),
      // its GIN index, its ANALYZE (each waits for the one before), from the directory dump's own entries.
      execFileSync('bash', ['-c', `${bin}/pg_restore -l ${work}/dir | grep -E ' (TABLE DATA public logs|CONSTRAINT public logs logs_pkey|INDEX public logs_data_gin) ' > ${work}/chain.list`], { env });
      const commands: { name: string; script: (db: string) => string; creates: boolean; prepare?: (db: string) => string }[] = [
        { name: 'psql -f dump.sql (one stream)', script: (db) => `${psql} -X -q -v ON_ERROR_STOP=1 -d ${db} -f ${work}/dump.sql > /dev/null`, creates: false },
        { name: `pg_restore -j ${jobs} (directory dump)`, script: (db) => `${bin}/pg_restore -j ${jobs} -d ${db} ${work}/dir`, creates: false },
        { name: 'meatbackup restore --jobs 1', script: (db) => `${RUN_CLI} restore latest --from-database ${DATABASE} --target-db ${db} --jobs 1 --yes --json > /dev/null`, creates: true },
        {
          name: `meatbackup restore --jobs ${jobs}`,
          script: (db) => `${RUN_CLI} restore latest --from-database ${DATABASE} --target-db ${db} --jobs ${jobs} --yes --json > /dev/null 2> ${work}/${db}.log`,
          creates: true,
        },
        {
          name: 'the longest chain alone (logs)',
          prepare: (db) => `${bin}/pg_restore --section=pre-data -d ${db} ${work}/dir`,
          script: (db) => `${bin}/pg_restore -L ${work}/chain.list -d ${db} ${work}/dir && ${psql} -X -q -v ON_ERROR_STOP=1 -d ${db} -c 'analyze public.logs'`,
          creates: false,
        },
      ];
      const runs = new Map<string, RestoreBenchRow[]>();
      const phases = new Map<RestoreBenchRow, string>();
      for (let round = 0; round < repeat; round++) {
        for (const command of commands) {
          const db = target();
          if (!command.creates) await pg.query(`create database ${db}`);
          if (command.prepare) execFileSync('bash', ['-c', command.prepare(db)], { env });
          log(`${command.name}${repeat > 1 ? ` (run ${round + 1}/${repeat})` : ''}…`);
          const { row } = await measure(command.name, command.script(db), { env, work, server, moto });
          const logFile = join(work, `${db}.log`);
          if (existsSync(logFile)) phases.set(row, parallelLoadLine(readFileSync(logFile, 'utf8')));
          await pg.query(`drop database ${db}`);
          // A load of 1 GB leaves the checkpointer gigabytes to write: let it finish here, not inside the next command.
          await pg.query('checkpoint');
          runs.set(command.name, [...(runs.get(command.name) ?? []), row]);
        }
      }
      const results = commands.map((c) => medianRun(runs.get(c.name)!));
      for (const r of results) r.ratio = r.wallSeconds / results[0].wallSeconds;
      const [, pgRestore, , ours, chain] = results;
      const vsPgRestore = ours.wallSeconds / pgRestore.wallSeconds;
      const peakRssBytes = Math.max(results[2].peakRssBytes, ours.peakRssBytes);
      return {
        rows,
        jobs,
        phases: phases.get(ours) ?? 'no parallel load line',
        storedBytes: backup.sizeBytes,
        sqlBytes: backup.sqlBytes,
        loadAverageBefore,
        loadAverageAfter: loadavg()[0],
        results,
        targets: { vsPgRestore, vsPsql: ours.ratio, peakRssBytes, chainVsPsql: chain.ratio, ok: vsPgRestore <= 1.0 && ours.ratio <= 0.6 && peakRssBytes <= MAX_RSS_BYTES },
      };
    },
    generatePlatform,
  );
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
  const t = r.targets;
  return [
    `Restore: ${r.rows.toLocaleString('en')} messages (platform-shaped: 4 tables, 5 secondary indexes, 2 foreign keys, a GIN index), a ${formatBytes(r.storedBytes)} backup of ${formatBytes(r.sqlBytes)} SQL; S3 = moto_server; load average ${r.loadAverageBefore.toFixed(2)} before, ${r.loadAverageAfter.toFixed(2)} after`,
    table,
    `restore --jobs ${r.jobs}: ${r.phases}`,
    `targets: restore --jobs ${r.jobs} ≤ 1.0× pg_restore -j ${r.jobs} (${t.vsPgRestore.toFixed(2)}×), ≤ 0.6× psql -f (${t.vsPsql.toFixed(2)}×), peak RSS ≤ 192 MiB (${formatBytes(t.peakRssBytes)}): ${t.ok ? 'met' : 'MISSED'}`,
    `floor: the longest chain alone (logs' data, key, GIN index, ANALYZE, each after the one before) takes ${t.chainVsPsql.toFixed(2)}× psql -f: a restore that analyzes, in any order over any number of sessions, cannot take less (as far as the machine's own run-to-run noise allows)`,
  ].join('\n');
}

/** The message of the parallel load's summary line in a restore's JSON log. */
function parallelLoadLine(log: string): string {
  for (const line of log.split('\n')) {
    if (!line.startsWith('{')) continue;
    const message = (JSON.parse(line) as { message?: string }).message;
    if (message?.startsWith('parallel load: ')) return message.slice('parallel load: '.length);
  }
  return 'no parallel load line';
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
