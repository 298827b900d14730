process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
import type { S3Client } from '@aws-sdk/client-s3';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type LocalCluster, startLocalCluster } from '../../../src/local/postgres-cluster';
import { freePort } from '../../../src/local/processes';
import { type LocalS3, startLocalS3 } from '../../../src/local/s3-emulator';
import { cleanEnv, runCli } from '../../support/cli';
import { backupMetric, bucketContents, dumpBackendsLeft, expectOneErrorLine, freshBucket, seedBigTable, waitForDumpCopy } from '../backup/fixtures';

describe('meatbackup backup when things go wrong: one clear line, non-zero exit, nothing left behind', () => {
  let pg: LocalCluster;
  let s3: LocalS3;
  let client: S3Client;
  let work: string;
  const env = (bucket: string, extra: Record<string, string> = {}) => cleanEnv({ ...s3.env, BACKUP_BUCKET: bucket, DATABASE_URL: pg.url('meatdb'), ...extra });

  beforeAll(async () => {
    [pg, s3] = await Promise.all([startLocalCluster(), startLocalS3()]);
    client = s3.client();
    work = mkdtempSync(join(tmpdir(), 'meatbackup-fail-'));
    await pg.query('create database meatdb');
    // ~120 MB of SQL: its COPY runs long enough (a second or more) to be caught in the middle.
    await seedBigTable(pg, 'meatdb', 1_000_000);
  });
  afterAll(async () => {
    await Promise.all([pg?.stop(), s3?.stop()]);
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test("GIVEN a backup mid-COPY WHEN pg_dump's backend is terminated (pg_terminate_backend) THEN it exits non-zero with pg_dump's error, no object, no open upload", async () => {
    const bucket = await freshBucket(client, 'fail-terminate');
    const run = runCli(['backup'], { env: env(bucket) });
    const backend = await waitForDumpCopy(pg);
    // The upload is under way when the backend goes.
    expect((await bucketContents(client, bucket)).uploads).toHaveLength(1);
    await pg.query(`select pg_terminate_backend(${backend})`);
    const res = await run;
    expectOneErrorLine(res, /^meatbackup: pg_dump exited with code 1: error: Dumping the contents of table "big" failed: .*Command was: COPY public\.big /);
    expect(backupMetric(res.stderr)).toMatchObject({ Database: 'meatdb', BackupSuccess: 0 });
    expect(await bucketContents(client, bucket)).toEqual({ versions: [], uploads: [] });
  });

  test('GIVEN a backup mid-COPY WHEN the process gets SIGTERM (ECS stopping the task) THEN pg_dump is stopped, the upload aborted, exit 143', async () => {
    const bucket = await freshBucket(client, 'fail-sigterm');
    let pid = 0;
    const run = runCli(['backup'], { env: env(bucket), onSpawn: (p) => (pid = p) });
    await waitForDumpCopy(pg);
    process.kill(pid, 'SIGTERM');
    const res = await run;
    expect(res.code).toBe(143);
    expectOneErrorLine(res, /^meatbackup: interrupted by SIGTERM; nothing was left half-done$/);
    expect(backupMetric(res.stderr)).toMatchObject({ BackupSuccess: 0 });
    expect(await bucketContents(client, bucket)).toEqual({ versions: [], uploads: [] });
    expect(await dumpBackendsLeft(pg)).toBe(0);
  });

  test('GIVEN igzip dies mid-backup (killed, as the OOM killer would) WHEN backing up THEN one line blames igzip, not pg_dump, and nothing is stored', async () => {
    const bucket = await freshBucket(client, 'fail-igzip');
    const bin = join(work, 'dying-igzip');
    mkdirSync(bin, { recursive: true });
    // Compresses the first 4 MiB of the dump for real, then dies: pg_dump, still writing, then loses its pipe.
    writeFileSync(join(bin, 'igzip'), '#!/bin/sh\nhead -c 4194304 | /usr/bin/igzip "$@"\nkill -KILL $$\n');
    chmodSync(join(bin, 'igzip'), 0o755);
    const res = await runCli(['backup'], { env: env(bucket, { PATH: `${bin}:${process.env.PATH}` }) });
    expect(res.code).toBe(1);
    expectOneErrorLine(res, /^meatbackup: igzip was killed by SIGKILL .*\(the compressor, ISA-L: .*dying-igzip\/igzip\)$/);
    expect(backupMetric(res.stderr)).toMatchObject({ BackupSuccess: 0 });
    expect(await bucketContents(client, bucket)).toEqual({ versions: [], uploads: [] });
    expect(await dumpBackendsLeft(pg)).toBe(0);
  });

  test('GIVEN S3 is down (nothing listening at the endpoint) WHEN backing up THEN one line says S3 did not answer, and pg_dump never ran', async () => {
    const port = await freePort();
    const res = await runCli(['backup'], { env: env('meat-backups', { AWS_ENDPOINT_URL_S3: `http://127.0.0.1:${port}` }) });
    expectOneErrorLine(res, new RegExp(`^meatbackup: could not (list backups in bucket|read the Object Lock configuration of bucket|check backups/meatdb-\\S+ in bucket) meat-backups: S3 did not answer at http://127\\.0\\.0\\.1:${port}: check the network, AWS_ENDPOINT_URL_S3 and the region$`));
    expect(await dumpBackendsLeft(pg)).toBe(0);
  });

  test('GIVEN a bucket that does not exist WHEN backing up THEN one line names the bucket and the setting to fix', async () => {
    const res = await runCli(['backup', '--bucket', 'no-such-bucket'], { env: env('ignored') });
    expectOneErrorLine(res, /^meatbackup: could not (list backups in bucket|read the Object Lock configuration of bucket|check backups\/meatdb-\S+ in bucket) no-such-bucket: bucket no-such-bucket does not exist: check --bucket or BACKUP_BUCKET$/);
  });

  test('GIVEN no bucket configured WHEN backing up THEN it says how to give one', async () => {
    const res = await runCli(['backup'], { env: cleanEnv({ ...s3.env, DATABASE_URL: pg.url('meatdb') }) });
    expectOneErrorLine(res, /^meatbackup: no bucket given: pass --bucket NAME or set BACKUP_BUCKET$/);
    expect(res.code).toBe(2);
  });

  test('GIVEN a database nobody answers for WHEN backing up THEN one line says it cannot reach it, and nothing is uploaded', async () => {
    const bucket = await freshBucket(client, 'fail-unreachable');
    const port = await freePort();
    const res = await runCli(['backup', '--database-url', `postgresql://postgres@127.0.0.1:${port}/meatdb`], { env: env(bucket) });
    expectOneErrorLine(res, new RegExp(`^meatbackup: cannot reach database meatdb on 127\\.0\\.0\\.1:${port} as postgres \\(ECONNREFUSED\\): is the server running\\? check PGHOST/PGPORT or --database-url$`));
    expect(await bucketContents(client, bucket)).toEqual({ versions: [], uploads: [] });
  });

  test('GIVEN a database that does not exist WHEN backing up THEN the server error is the line', async () => {
    // A bucket that exists: S3 is asked before the database is.
    const bucket = await freshBucket(client, 'fail-nodb');
    const res = await runCli(['backup', '--database-url', pg.url('nodb')], { env: env(bucket) });
    expectOneErrorLine(res, /^meatbackup: database nodb on 127\.0\.0\.1:\d+ as postgres: database "nodb" does not exist; check PGDATABASE or the URL's database name$/);
  });

  test('GIVEN a malformed database URL WHEN backing up THEN it says what a URL looks like, without echoing the password', async () => {
    const notUrl = await runCli(['backup', '--database-url', 'meatdb on localhost'], { env: env('ignored') });
    expectOneErrorLine(notUrl, /^meatbackup: database URL meatdb on localhost must start with postgresql:\/\/ \(or postgres:\/\/, postgresql\+asyncpg:\/\/, postgresql\+psycopg:\/\/, postgresql\+psycopg2:\/\/\): use postgresql:\/\/USER:PASSWORD@HOST:PORT\/DATABASE$/);
    expect(notUrl.code).toBe(2);
    const wrongScheme = await runCli(['backup', '--database-url', 'mysql://root:s3cret@db/meatdb'], { env: env('ignored') });
    const line = expectOneErrorLine(wrongScheme, /must start with postgresql:\/\//);
    expect(line).not.toContain('s3cret');
    const badPort = await runCli(['backup', '--database-url', 'postgresql://u:s3cret@db:0/meatdb'], { env: env('ignored') });
    expect(expectOneErrorLine(badPort, /has port "0": give a number from 1 to 65535$/)).not.toContain('s3cret');
  });

  test('GIVEN only a pg_dump older than the server WHEN backing up THEN it refuses before dumping and says what to install', async () => {
    const bucket = await freshBucket(client, 'fail-old-pgdump');
    const lib = join(work, 'pglib');
    mkdirSync(join(lib, '14', 'bin'), { recursive: true });
    writeFileSync(join(lib, '14', 'bin', 'pg_dump'), '#!/bin/sh\necho "pg_dump (PostgreSQL) 14.19"\n');
    chmodSync(join(lib, '14', 'bin', 'pg_dump'), 0o755);
    const res = await runCli(['backup'], { env: env(bucket, { PG_LIB_DIR: lib }) });
    expectOneErrorLine(res, /^meatbackup: server is PostgreSQL 15 but the newest pg_dump here is 14: install postgresql-client-15 or set PG_DUMP_PATH$/);
    expect(await bucketContents(client, bucket)).toEqual({ versions: [], uploads: [] });
  });

  test('GIVEN a pg_dump that fails at once WHEN backing up THEN its own words are the line and no object appears', async () => {
    const bucket = await freshBucket(client, 'fail-pgdump-error');
    const fake = join(work, 'failing-pg_dump');
    writeFileSync(fake, '#!/bin/sh\nif [ "$1" = --version ]; then echo "pg_dump (PostgreSQL) 15.99"; exit 0; fi\necho "pg_dump: error: query failed: ERROR:  permission denied for table big" >&2\nexit 1\n');
    chmodSync(fake, 0o755);
    const res = await runCli(['backup'], { env: env(bucket, { PG_DUMP_PATH: fake }) });
    expectOneErrorLine(res, /^meatbackup: pg_dump exited with code 1: error: query failed: ERROR: {2}permission denied for table big$/);
    expect(await bucketContents(client, bucket)).toEqual({ versions: [], uploads: [] });
  });
});
