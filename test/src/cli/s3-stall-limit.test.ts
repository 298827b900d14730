/**
 * Every command's every S3 call under the stall timeout. An endpoint that accepts connections and never answers (a
 * frozen network: packets dropped, not refused) must end `backup`, `verify`, `promote` and `list` after the stall
 * timeout, not after the SDK's request timeout times its attempts (about 612 s); and the backup must not hold its
 * `idle in transaction` snapshot session (which holds back vacuum) while it waits for S3. Real PostgreSQL, the S3
 * emulator behind a proxy that freezes, the built CLI.
 */
import { type CliResult, cleanEnv, runCli } from '../../support/cli';
import { useFreezableProxy } from '../../support/freezable-proxy';
import { writeBackupFixture } from '../../support/backup-fixture';
import { bucketContents, expectOneErrorLine, freshBucket, useHarness } from '../backup/fixtures';

const h = useHarness('s3-stall-limit', async (h) => {
  await h.pg.query('create database meatdb');
  await h.pg.query('create table messages as select g as id, md5(g::text) as body from generate_series(1, 20000) g', 'meatdb');
});
const p = useFreezableProxy(() => h.s3.endpoint);

const STALL = 3;
// Far below the ~612 s a frozen endpoint held them for; loose, since this machine's CPU is shared with other suites.
const WITHIN = STALL + 60;

function env(bucket: string): NodeJS.ProcessEnv {
  return cleanEnv({ ...h.s3.env, AWS_ENDPOINT_URL_S3: p.proxy.url, BACKUP_BUCKET: bucket, DATABASE_URL: h.pg.url('meatdb') });
}

/** Runs the CLI and says how many seconds it took. */
async function timed(args: string[], environment: NodeJS.ProcessEnv): Promise<{ result: CliResult; seconds: number }> {
  const started = Date.now();
  const result = await runCli(args, { env: environment });
  return { result, seconds: (Date.now() - started) / 1000 };
}

/** Sessions of the database that sit in an open transaction (a backup's snapshot session would). */
async function idleInTransaction(): Promise<number> {
  const rows = await h.pg.query<{ n: string }>("select count(*) as n from pg_stat_activity where datname = 'meatdb' and state like 'idle in transaction%'");
  return Number(rows[0].n);
}

const STALLED = (what: string) => new RegExp(`^meatbackup: (could not [^:]+: )?S3 ${what} made no progress for ${STALL}s \\(stall timeout: --stall-timeout or STALL_TIMEOUT_SECONDS\\)`);

describe('GIVEN an S3 endpoint that accepts connections and never answers', () => {
  test('WHEN I back up THEN it gives up after the stall timeout in one line, and never opened its snapshot session meanwhile', async () => {
    const bucket = await freshBucket(h.client, 'stall-first-backup');
    p.proxy.freeze();
    const sessions: number[] = [];
    const sampling = setInterval(() => void idleInTransaction().then((n) => sessions.push(n)), 250);

    const { result, seconds } = await timed(['backup', '--stall-timeout', String(STALL)], env(bucket)).finally(() => clearInterval(sampling));

    expectOneErrorLine(result, STALLED('(ListObjectsV2|GetObjectLockConfiguration) of s3://\\S+'));
    expect(seconds).toBeLessThan(WITHIN);
    expect(sessions.length).toBeGreaterThan(4);
    expect(Math.max(...sessions)).toBe(0);
  });

  test('WHEN I verify the latest backup THEN it gives up after the stall timeout in one line', async () => {
    const bucket = await freshBucket(h.client, 'stall-first-verify');
    await writeBackupFixture(h.client, bucket, { sql: 'select 1;\n', database: 'meatdb', takenAt: new Date('2025-09-17T10:30:00Z') });
    p.proxy.freeze();

    const { result, seconds } = await timed(['verify', 'latest', '--stall-timeout', String(STALL)], env(bucket));

    expectOneErrorLine(result, STALLED('\\w+ of s3://\\S+'));
    expect(seconds).toBeLessThan(WITHIN);
  });

  test('WHEN I promote THEN it gives up after the stall timeout in one line', async () => {
    const from = await freshBucket(h.client, 'stall-first-from');
    p.proxy.freeze();

    const { result, seconds } = await timed(['promote', '--from', from, '--to', `${from}-to`, '--yes', '--stall-timeout', String(STALL)], env(from));

    expectOneErrorLine(result, STALLED('\\w+ of s3://\\S+'));
    expect(seconds).toBeLessThan(WITHIN);
  });

  test('WHEN I list THEN it gives up after the stall timeout (list has the flag too) in one line', async () => {
    const bucket = await freshBucket(h.client, 'stall-first-list');
    p.proxy.freeze();

    const { result, seconds } = await timed(['list', '--stall-timeout', String(STALL)], env(bucket));

    expectOneErrorLine(result, STALLED('\\w+ of s3://\\S+'));
    expect(seconds).toBeLessThan(WITHIN);
  });
});

describe('GIVEN S3 freezes when the backup completes its upload (after the dump, where no watchdog of its own watches)', () => {
  test('WHEN nothing answers THEN the backup ends after the stall timeout with one line, and once S3 answers again nothing is left but what the line names', async () => {
    const bucket = await freshBucket(h.client, 'stall-complete');
    const frozen = p.proxy.freezeOnRequest(/^POST \S+\?uploadId=/);

    const run = timed(['backup', '--stall-timeout', String(STALL)], env(bucket));
    await frozen;
    const { result, seconds } = await run;

    expectOneErrorLine(result, STALLED('CompleteMultipartUpload of s3://\\S+/backups/meatdb-\\S+\\.sql\\.gz'));
    expect(seconds).toBeLessThan(WITHIN);
    p.proxy.thaw();
    const left = await bucketContents(h.client, bucket);
    expect(left.versions).toEqual([]);
    // The abort was held by the frozen network too: the line tells the operator how to finish it.
    if (left.uploads.length > 0) expect(result.stderr).toMatch(/abort it with `aws s3api abort-multipart-upload/);
  });
});
