/**
 * Backup speed and memory against the baselines of docs/architecture.md ("Performance"), in one run, on one generated table:
 *
 *   raw `pg_dump > /dev/null`                      the floor: what reading the database costs
 *   `meatbackup backup` (the built CLI)            igzip level 1 (the default; also without the launcher's V8
 *                                                  setting), 2 and 3; igzip with the smallest first
 *                                                  part size (5 MiB); Node's zlib (the fallback where igzip is missing)
 *   `pg_dump -Fc -f file && aws s3 cp file`        the usual two-step way, with a temporary file
 *   `pg_dump | gzip -6 | aws s3 cp -`              the usual streaming way, one gzip process; its size is the yardstick
 *
 * on two tables: `messages` (chat-like, repetitive) and `events` (half as many rows of mixed words, numbers, jsonb).
 *
 * For each: wall time and its ratio to raw pg_dump, CPU seconds of the command's own processes, of the PostgreSQL
 * server and of the S3 emulator (they all share this machine's cores, so CPU matters as much as wall time), peak
 * RSS of the largest process of the command, and the stored size.
 *
 *   npx tsx bench/backup.ts                 # 3,000,000 rows (~750 MB of SQL), the reference size
 *   BENCH_ROWS=300000 npx tsx bench/backup.ts   # a quick run
 *   BENCH_REPEAT=5 …                        # runs per command (default 3); the run of median wall time is reported
 *   … --json                                # one JSON document
 *
 * bench/run.ts imports { benchBackup, formatBackupBench } and prints it beside the other benchmarks.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, DeleteObjectCommand, HeadObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { formatBytes, formatTable } from '../src/core/format';
import { type LocalCluster, serverBinDir, startLocalCluster } from '../src/local/postgres-cluster';
import { type LocalS3, startLocalS3 } from '../src/local/s3-emulator';

export const CLI = join(__dirname, '..', 'bin', 'meatbackup.js');
/**
 * The CLI as an operator starts it (`npx meatbackup`, the container's entrypoint): this Node.js with the options of
 * the entry file's first line (`#!/usr/bin/env -S node …`), spelled out so that a command run with another PATH
 * (the zlib rows) starts the same way.
 */
export const RUN_CLI = [process.execPath, ...(/^#!\S*env -S node(.*)$/m.exec(readFileSync(CLI, 'utf8').split('\n')[0])?.[1].trim().split(/\s+/).filter(Boolean) ?? []), CLI].join(' ');
export const TIME = '/usr/bin/time';
const BUCKET = 'bench-backups';
export const DATABASE = 'meatdb';

export interface BackupBenchOptions {
  /** Rows in the generated table. @default BENCH_ROWS or 3,000,000 (~750 MB of plain SQL) */
  rows?: number;
  /** Runs per command; the run of median wall time is reported. @default BENCH_REPEAT or 3 */
  repeat?: number;
  /** Progress lines on stderr. @default true */
  verbose?: boolean;
}

export interface BackupBenchRow {
  name: string;
  wallSeconds: number;
  /** Wall time over raw pg_dump's. */
  ratio: number;
  /** user + system CPU of the command's processes (the shell, pg_dump, node, gzip, aws), children included. */
  cpuSeconds: number;
  /** CPU of the PostgreSQL server (postmaster and the backends it reaped) during the command. */
  serverCpuSeconds: number;
  /** CPU of moto_server during the command. */
  s3CpuSeconds: number;
  /** Peak resident set of the largest process of the command. */
  peakRssBytes: number;
  /** Bytes stored in S3 (or written, for raw). */
  storedBytes?: number;
  /** Stored bytes over those of `gzip -6` of the same dump. */
  storedRatio?: number;
}

/** One command timed under GNU time, with the CPU the server and the emulator spent meanwhile. */
export async function measure(
  name: string,
  script: string,
  at: { env: NodeJS.ProcessEnv; work: string; server: number; moto: number },
): Promise<{ timing: Timed; row: BackupBenchRow }> {
  const server0 = processCpu(at.server);
  const moto0 = processCpu(at.moto);
  const timing = await timed(script, at.env, at.work);
  // The postmaster adds a backend's CPU to its own children's total when it reaps it: give it a moment.
  await new Promise((r) => setTimeout(r, 300));
  return {
    timing,
    row: {
      name,
      wallSeconds: timing.wallSeconds,
      ratio: 0,
      cpuSeconds: timing.cpuSeconds,
      serverCpuSeconds: processCpu(at.server) - server0,
      s3CpuSeconds: processCpu(at.moto) - moto0,
      peakRssBytes: timing.peakRssBytes,
    },
  };
}

export interface BackupBenchResult {
  rows: number;
  sqlBytes: number;
  pgDumpVersion: string;
  cores: number;
  loadAverageBefore: number;
  generateSeconds: number;
  results: BackupBenchRow[];
  targets: { ratio: number; ratioOk: boolean; peakRssBytes: number; rssOk: boolean; storedRatio: number; storedOk: boolean };
}

/** CPU seconds used so far by a process and the children it has reaped (utime, stime, cutime, cstime). */
export function processCpu(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14–17 of proc(5), counted from the state field (3) here.
  const ticks = [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i]), 0);
  return ticks / 100;
}

export function motoPid(endpoint: string): number {
  const port = new URL(endpoint).port;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (argv.some((a) => a.endsWith('moto_server')) && argv.includes(port)) return Number(entry);
    } catch {
      // gone meanwhile
    }
  }
  throw new Error(`moto_server for ${endpoint} not found in /proc`);
}

export interface BenchWorld {
  pg: LocalCluster;
  s3: LocalS3;
  client: S3Client;
  /** A scratch folder for the command's files. */
  work: string;
  generateSeconds: number;
}

/** A throwaway cluster with the generated tables and an emulator with `bucket`, all removed afterwards whatever happens. */
export async function withBenchWorld<T>(
  bucket: string,
  rows: number,
  log: (m: string) => void,
  fn: (world: BenchWorld) => Promise<T>,
  tables: (pg: LocalCluster, rows: number) => Promise<void> = generate,
): Promise<T> {
  const restSeconds = benchRest();
  const work = mkdtempSync(join(tmpdir(), 'meatbackup-bench-'));
  let pg: LocalCluster | undefined;
  let s3: LocalS3 | undefined;
  try {
    [pg, s3] = await Promise.all([startLocalCluster(), startLocalS3()]);
    const client = s3.client();
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
    log(`generating ${rows.toLocaleString('en')} rows…`);
    const start = Date.now();
    await tables(pg, rows);
    const generateSeconds = (Date.now() - start) / 1000;
    await settle(restSeconds, log);
    return await fn({ pg, s3, client, work, generateSeconds });
  } finally {
    await Promise.all([pg?.stop(), s3?.stop()]);
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * Lets the machine settle after the tables are written. Writing their gigabyte leaves this VM slow for a minute or
 * more (its kernel pages out cold memory in the background, DAMON's kdamond), and the first rounds paid for it: moto
 * spent 1.7–5.3 CPU-s on the same 197 MB upload in the first two minutes after generating, 1.2–1.5 s after 90 s of
 * rest, 1.0–1.4 s with no tables written at all. Flushed to disk first, then BENCH_SETTLE seconds (default 90; 0 skips
 * the wait).
 */
async function settle(seconds: number, log: (m: string) => void): Promise<void> {
  execFileSync('sync');
  if (seconds === 0) return;
  log(`letting the machine settle for ${seconds}s after writing the tables (BENCH_SETTLE)…`);
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
}

/** A whole number from the environment, or `fallback`; anything else stops the benchmark with one line. */
export function benchSetting(name: string, fallback: number, min: number, what: string): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) throw new Error(`${name}=${raw}: give a whole number of ${what}, at least ${min}`);
  return value;
}

/** Runs per command: the option, else BENCH_REPEAT, else 3 (the targets are medians of three). */
export function benchRepeat(option?: number): number {
  return option ?? benchSetting('BENCH_REPEAT', 3, 1, 'runs per command');
}

/** Seconds to rest after generating the tables ({@link settle}): BENCH_SETTLE, else 90. */
export function benchRest(): number {
  return benchSetting('BENCH_SETTLE', 90, 0, 'seconds to rest after generating the tables (0: none)');
}

/** Rows of the generated chat table (the mixed one gets half as many): BENCH_ROWS, else 3,000,000 (~1 GB of SQL). */
export function benchRows(): number {
  return benchSetting('BENCH_ROWS', 3_000_000, 1_000, 'rows');
}

/**
 * The run of median wall time, whole (its CPU, RSS and size belong to that run): a shared machine makes single runs
 * noisy both ways, and the fastest of several flatters every command by the luck of its quietest moment.
 */
export function medianRun<T extends { wallSeconds: number }>(runs: T[]): T {
  const sorted = [...runs].sort((a, b) => a.wallSeconds - b.wallSeconds);
  return sorted[Math.floor((sorted.length - 1) / 2)];
}

export function postmasterPid(pg: LocalCluster): number {
  return Number(readFileSync(join(pg.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
}

export interface Timed {
  wallSeconds: number;
  cpuSeconds: number;
  peakRssBytes: number;
  stdout: string;
}

/** Runs `bash -c script` under /usr/bin/time (GNU time: wall, user, system, max RSS of the largest descendant). */
export function timed(script: string, env: NodeJS.ProcessEnv, work: string): Promise<Timed> {
  const out = join(work, 'time.txt');
  return new Promise((resolve, reject) => {
    const child = spawn(TIME, ['-f', '%e %U %S %M', '-o', out, 'bash', '-o', 'pipefail', '-c', script], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) {
        reject(new Error(`benchmark command failed (exit ${code}): ${script}\n${stderr.split('\n').filter((l) => !l.startsWith('{')).join('\n')}`));
        return;
      }
      const [wall, user, sys, maxKb] = readFileSync(out, 'utf8').trim().split('\n').pop()!.split(' ').map(Number);
      resolve({ wallSeconds: wall, cpuSeconds: user + sys, peakRssBytes: maxKb * 1024, stdout });
    });
  });
}

async function emptyBucket(client: S3Client): Promise<void> {
  const listed = await client.send(new ListObjectsV2Command({ Bucket: BUCKET }));
  for (const o of listed.Contents ?? []) await client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: o.Key }));
}

/**
 * The reference table: ~250 bytes a row of chat-like data (ids, timestamps, a request token and sentences that
 * recur, as chat logs do), which gzip -1 shrinks about 5×, generated server-side with generate_series. Unlogged, so
 * no WAL is written; vacuumed and checkpointed so background work does not land in the timings.
 */
export async function generate(pg: LocalCluster, rows: number): Promise<void> {
  await pg.query(`create database ${DATABASE}`);
  const pick = (items: string[], index: string) => `(array[${items.map((i) => `'${i}'`).join(', ')}])[1 + ${index} % ${items.length}]`;
  await pg.query(
    `create unlogged table messages (id bigint primary key, user_id int not null, session text not null, channel text not null, sent_at timestamptz not null, body text not null);
     insert into messages
       select g, g % 5000, md5((g / 20)::text), 'channel-' || (g % 50), timestamptz '2025-01-01' + g * interval '1 second',
              ${pick(['hello there, how is the deployment going today? ', 'the backup finished, restoring into staging now. ', 'can somebody look at the alarm on the web service? ', 'lizard says: all green, nothing to report here. ', 'please rotate the credentials before friday. ', 'ok ', 'thanks! ', 'on it. ', 'done, see the ticket ', 'will do after lunch '], 'g')}
              || ${pick(['the model answered in 1.2 seconds and the user was happy with it. ', 'session expired, asking the user to sign in again. ', 'transcript stored under transcripts/ with its metadata. ', 'rate limit reached for this user, retry later. '], '(g / 10)')}
              || 'request ' || md5(g::text) || ' ' || ${pick(['ok', 'thanks!', 'on it', 'done, see the ticket', 'will do after lunch'], '(g / 7)')}
              || ' (' || (g % 977) || ' tokens, via ' || ${pick(['web', 'discord bot', 'slack bot', 'api'], 'g')} || ' client 2.' || (g % 13) || ')'
       from generate_series(1, ${rows}) g;`,
    DATABASE,
  );
  // The second table is less repetitive, so that the figures do not rest on one kind of data: words drawn from a
  // larger vocabulary by a hash, free numbers, and a jsonb document per row. Half as many rows as messages.
  const words = ['lizard', 'backup', 'restore', 'session', 'token', 'latency', 'region', 'replica', 'snapshot', 'index', 'vacuum', 'bucket', 'deploy', 'rollback', 'metric', 'alarm', 'quota', 'tenant', 'shard', 'queue', 'cursor', 'payload', 'schema', 'lambda', 'fargate', 'network', 'timeout', 'retry', 'checksum', 'version'];
  const word = (seed: string) => `(array[${words.map((w) => `'${w}'`).join(', ')}])[1 + abs(hashtext(${seed})) % ${words.length}]`;
  await pg.query(
    `create unlogged table events (id bigint primary key, at timestamptz not null, kind text not null, amount numeric(12, 3) not null, note text not null, attrs jsonb not null);
     insert into events
       select g, timestamptz '2025-01-01' + (hashtext(g::text) % 86400000) * interval '1 ms', ${word("g::text || 'k'")},
              (hashtext(g::text || 'a') % 1000000) / 1000.0,
              ${word("g::text || 'w1'")} || ' ' || ${word("g::text || 'w2'")} || ' ' || (hashtext(g::text || 'n') % 100000) || ' ' || ${word("g::text || 'w3'")} || ' ' || ${word("g::text || 'w4'")},
              jsonb_build_object('user', hashtext(g::text || 'u') % 50000, 'score', (hashtext(g::text || 's') % 10000) / 100.0, 'tags', jsonb_build_array(${word("g::text || 't1'")}, ${word("g::text || 't2'")}), 'ok', g % 3 = 0)
       from generate_series(1, ${Math.floor(rows / 2)}) g;`,
    DATABASE,
  );
  await pg.query('vacuum analyze messages', DATABASE);
  await pg.query('vacuum analyze events', DATABASE);
  await pg.query('checkpoint', DATABASE);
}

export async function benchBackup(options: BackupBenchOptions = {}): Promise<BackupBenchResult> {
  const rows = options.rows ?? benchRows();
  const repeat = benchRepeat(options.repeat);
  const log = options.verbose === false ? () => undefined : (m: string) => process.stderr.write(`bench: ${m}\n`);
  if (!existsSync(TIME)) throw new Error(`${TIME} (GNU time) is needed to measure peak RSS: install it with \`apt-get install -y time\``);
  if (!existsSync(join(__dirname, '..', 'dist', 'meatbackup.js'))) throw new Error('the CLI is not built: run `npm run build` first (npm run bench does)');
  try {
    execFileSync('aws', ['--version'], { stdio: 'ignore' });
  } catch {
    throw new Error('the AWS CLI (`aws`) is needed for the baselines: install it with `pip install awscli`');
  }

  const loadAverageBefore = loadavg()[0];
  return withBenchWorld(BUCKET, rows, log, async ({ pg, s3, client, work, generateSeconds }) => {

    const pgDump = join(serverBinDir(), 'pg_dump');
    const pgDumpVersion = execFileSync(pgDump, ['--version'], { encoding: 'utf8' }).trim();
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      ...pg.env(DATABASE),
      ...s3.env,
      BACKUP_BUCKET: BUCKET,
      DATABASE_URL: pg.url(DATABASE),
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    };
    const aws = `aws --endpoint-url ${s3.endpoint} --only-show-errors`;
    const server = postmasterPid(pg);
    const moto = motoPid(s3.endpoint);
    const size = async (key: string): Promise<number> => (await client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }))).ContentLength ?? 0;

    let run = 0;
    type Command = { name: string; script: () => string; stored: (t: Timed) => Promise<number | undefined> };
    /** `meatbackup backup` with `flags`, started by `launcher` (as an operator does, unless said otherwise). */
    const backup = (name: string, flags: string, launcher = RUN_CLI): Command => ({
      name,
      script: () => `${launcher} backup --json ${flags} --prefix run-${++run}/`,
      stored: async (t) => (JSON.parse(t.stdout) as { sizeBytes: number }).sizeBytes,
    });
    const commands: Command[] = [
      { name: 'raw pg_dump > /dev/null', script: () => `${pgDump} --no-password > /dev/null`, stored: async () => undefined },
      backup('meatbackup backup (igzip -1, default)', '--compressor isal'),
      // What the launcher's V8 setting (bin/meatbackup.js's first line) is worth: the same backup without it.
      backup('meatbackup backup, as `node bin/meatbackup.js`', '--compressor isal', `${process.execPath} ${CLI}`),
      backup('meatbackup backup --compressor isal --compression-level 2', '--compressor isal --compression-level 2'),
      backup('meatbackup backup --compressor isal --compression-level 3', '--compressor isal --compression-level 3'),
      backup('meatbackup backup --first-part-size 5 (igzip)', '--compressor isal --first-part-size 5'),
      backup('meatbackup backup --compressor zlib (fallback)', '--compressor zlib'),
      {
        name: 'pg_dump -Fc -f file && aws s3 cp',
        script: () => `${pgDump} --no-password -Fc -f ${work}/dump.fc && ${aws} s3 cp ${work}/dump.fc s3://${BUCKET}/fc.dump && rm -f ${work}/dump.fc`,
        stored: async () => size('fc.dump'),
      },
      {
        name: 'pg_dump | gzip -6 | aws s3 cp -',
        script: () => `${pgDump} --no-password | gzip -6 | ${aws} s3 cp - s3://${BUCKET}/pipe.sql.gz`,
        stored: async () => size('pipe.sql.gz'),
      },
    ];

    let sqlBytes = 0;
    const runs = new Map<string, BackupBenchRow[]>();
    for (let round = 0; round < repeat; round++) {
      for (const command of commands) {
        log(`${command.name}${repeat > 1 ? ` (run ${round + 1}/${repeat})` : ''}…`);
        const { timing: t, row } = await measure(command.name, command.script(), { env, work, server, moto });
        const stored = await command.stored(t);
        if (stored !== undefined) row.storedBytes = stored;
        if (t.stdout.startsWith('{')) sqlBytes = (JSON.parse(t.stdout) as { sqlBytes: number }).sqlBytes;
        runs.set(command.name, [...(runs.get(command.name) ?? []), row]);
        await emptyBucket(client);
      }
    }
    const results = commands.map((c) => medianRun(runs.get(c.name)!));
    const raw = results[0].wallSeconds;
    for (const r of results) r.ratio = r.wallSeconds / raw;
    const gzip6 = results.find((r) => r.name.includes('gzip -6'))?.storedBytes ?? 0;
    for (const r of results) if (r.storedBytes !== undefined && gzip6 > 0) r.storedRatio = r.storedBytes / gzip6;
    const ours = results[1];
    return {
      rows,
      sqlBytes,
      pgDumpVersion,
      cores: cpus().length,
      loadAverageBefore,
      generateSeconds,
      results,
      targets: {
        ratio: ours.ratio,
        ratioOk: ours.ratio <= 1.15,
        peakRssBytes: ours.peakRssBytes,
        rssOk: ours.peakRssBytes <= 128 * 1024 * 1024,
        storedRatio: ours.storedRatio ?? Number.NaN,
        storedOk: (ours.storedRatio ?? Number.POSITIVE_INFINITY) <= 1.1,
      },
    };
  });
}

export function formatBackupBench(r: BackupBenchResult): string {
  const header = ['', 'wall', '× raw', 'CPU cmd', 'CPU server', 'CPU S3', 'peak RSS', 'stored', '× gzip -6'];
  const rows = r.results.map((x) => [
    x.name,
    `${x.wallSeconds.toFixed(2)}s`,
    x.ratio.toFixed(2),
    `${x.cpuSeconds.toFixed(2)}s`,
    `${x.serverCpuSeconds.toFixed(2)}s`,
    `${x.s3CpuSeconds.toFixed(2)}s`,
    formatBytes(x.peakRssBytes),
    x.storedBytes !== undefined ? formatBytes(x.storedBytes) : '-',
    x.storedRatio !== undefined ? x.storedRatio.toFixed(3) : '-',
  ]);
  const table = formatTable([header, ...rows], { alignRight: header.map((_, i) => i).slice(1) });
  return [
    `Backup: ${r.rows.toLocaleString('en')} rows, ${formatBytes(r.sqlBytes)} of plain SQL (${r.pgDumpVersion}); S3 = moto_server; ${r.cores} cores, load average ${r.loadAverageBefore.toFixed(2)} before (generated in ${r.generateSeconds.toFixed(1)}s)`,
    table,
    `targets (igzip, the default): backup ≤ 1.15× raw pg_dump: ${r.targets.ratioOk ? 'met' : 'MISSED'} (${r.targets.ratio.toFixed(2)}×); peak RSS ≤ 128 MiB: ${r.targets.rssOk ? 'met' : 'MISSED'} (${formatBytes(r.targets.peakRssBytes)}); stored ≤ 1.10× gzip -6: ${r.targets.storedOk ? 'met' : 'MISSED'} (${r.targets.storedRatio.toFixed(3)}×)`,
  ].join('\n');
}

if (require.main === module) {
  benchBackup().then(
    (result) => process.stdout.write(process.argv.includes('--json') ? `${JSON.stringify(result)}\n` : `${formatBackupBench(result)}\n`),
    (err: unknown) => {
      process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
