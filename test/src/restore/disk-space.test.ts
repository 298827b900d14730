/**
 * A restore that would fill the disk (runbook 2.1): a restore keeps two copies, and a disk filled by the load takes
 * the whole server down (WAL cannot be written, the server stops and cannot finish recovery). Given a server whose
 * data directory sits on a small filesystem (a tmpfs mounted for this suite), the restore states what it needs,
 * refuses when that is known not to fit, and when a load still outgrows the disk (a backup whose recorded size is
 * stale) it is stopped before the disk fills, the fresh database is dropped and the server works as before.
 * Real PostgreSQL, the S3 emulator, the built CLI.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { type LocalCluster, startLocalCluster } from '../../../src/local/postgres-cluster';
import { type LocalS3, startLocalS3 } from '../../../src/local/s3-emulator';
import { isRoot } from '../../../src/local/processes';
import { freeBytes } from '../../../src/restore/disk-space';
import { cleanEnv, runCli } from '../../support/cli';
import { catalogOf, pgDumpSql, writeBackupFixture } from '../../support/backup-fixture';
import { expectOneErrorLine, freshBucket } from '../backup/fixtures';

const MiB = 1024 * 1024;

let mount: string;
let pg: LocalCluster;
let s3: LocalS3;
let client: S3Client;
let meatdbSql: string | undefined;
const filler = (): string => join(mount, 'filler');

beforeAll(async () => {
  if (!isRoot()) throw new Error('this suite mounts a small tmpfs for the server\'s data directory: run it as root (CI does)');
  mount = mkdtempSync(join(tmpdir(), 'meatbackup-small-disk-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=320m,mode=0755', 'tmpfs', mount]);
  [pg, s3] = await Promise.all([startLocalCluster({ parentDir: mount, settings: ['max_wal_size=32MB', 'min_wal_size=32MB'] }), startLocalS3()]);
  client = s3.client();
  // meatdb: about 60 MiB on disk.
  await pg.query('create database meatdb');
  await pg.query(`create table messages as select g as id, md5(g::text) || md5((g * 7)::text) as body from generate_series(1, 600000) g`, 'meatdb');
  await pg.query('checkpoint');
});

afterAll(async () => {
  await Promise.all([pg?.stop(), s3?.stop()]);
  if (mount) {
    execFileSync('umount', [mount]);
    rmSync(mount, { recursive: true, force: true });
  }
});

/** Leaves `bytes` free on the small filesystem (a filler file takes the rest). */
function leaveFree(bytes: number): void {
  rmSync(filler(), { force: true });
  execFileSync('fallocate', ['-l', String(freeBytes(mount) - bytes), filler()]);
}

function env(bucket: string): NodeJS.ProcessEnv {
  return cleanEnv({ ...s3.env, ...pg.env('meatdb'), BACKUP_BUCKET: bucket });
}

async function databases(): Promise<string[]> {
  return (await pg.query<{ datname: string }>('select datname from pg_database order by 1')).map((r) => r.datname);
}

/**
 * A backup of meatdb as it is now; `recordedBytes` overrides the database size its catalog summary recorded, `sql`
 * what it holds (a role that is not superuser cannot load pg_dump's OWNER TO statements).
 */
async function backupOfMeatdb(bucket: string, options: { recordedBytes?: number; sql?: string } = {}) {
  const catalog = await catalogOf(pg.connection('meatdb'));
  if (options.recordedBytes !== undefined) catalog.totalBytes = options.recordedBytes;
  const sql = options.sql ?? (meatdbSql ??= pgDumpSql(pg.env(), 'meatdb'));
  return writeBackupFixture(client, bucket, { sql, database: 'meatdb', takenAt: new Date('2025-09-17T10:30:00Z'), manifest: { catalog } });
}

afterEach(() => {
  if (mount) rmSync(filler(), { force: true });
});

describe('GIVEN meatdb on a server whose disk has room for little more than one copy', () => {
  test('WHEN I restore THEN it is refused before anything is created, naming what it needs and what is free', async () => {
    const bucket = await freshBucket(client, 'space-refused');
    const backup = await backupOfMeatdb(bucket);
    const size = backup.manifest.catalog!.totalBytes;
    // Room for the copy itself, not for the copy and the WAL headroom beside it: a restore that would "just fit".
    leaveFree(size + 24 * MiB);
    const before = await databases();

    const result = await runCli(['restore', 'latest', '--yes'], { env: env(bucket) });

    expectOneErrorLine(result, /^meatbackup: not enough disk space to restore meatdb: it needs [\d.]+ MiB on the filesystem of \/.*, which has [\d.]+ MiB free \(the fresh copy beside the one it replaces, with headroom for WAL and checkpoints\); .*nothing was changed$/);
    expect(result.code).toBe(1);
    expect(await databases()).toEqual(before);
    await pg.query('insert into messages values (0, \'still writable\')', 'meatdb');
  });

  test('WHEN the recorded size is stale and the load outgrows the disk THEN the load is stopped before the disk fills, the fresh database is dropped and the server works as before', async () => {
    const bucket = await freshBucket(client, 'space-stale');
    // The backup says the database was 1 MiB: the check passes, the load does not fit.
    await backupOfMeatdb(bucket, { recordedBytes: MiB });
    leaveFree(80 * MiB);
    const before = await databases();
    const freeBefore = freeBytes(mount);

    const result = await runCli(['restore', 'latest', '--yes'], { env: env(bucket) });

    expectOneErrorLine(result, /^meatbackup: the load was stopped with [\d.]+ (KiB|MiB) left free on the filesystem of \/.*, before the disk filled: the backup needs more space than its recorded size; free space on the server and restore again$/);
    expect(result.stderr).toMatch(/dropped the fresh database meatdb_restore_\w+; meatdb was not changed/);
    expect(await databases()).toEqual(before);
    // The server still checkpoints and takes writes, and the space the load took is free again.
    await pg.query('checkpoint');
    await pg.query('insert into messages values (0, \'still writable\')', 'meatdb');
    expect(freeBytes(mount)).toBeGreaterThan(freeBefore - 40 * MiB);
  });

  test('WHEN it fits THEN the plan states the space needed and where, and the restore succeeds', async () => {
    const bucket = await freshBucket(client, 'space-fits');
    const backup = await backupOfMeatdb(bucket);

    const result = await runCli(['restore', 'latest', '--yes', '--json', '--from-database', 'meatdb', '--target-db', 'meatdb_copy'], { env: env(bucket) });

    expect(result.code === 0 ? '' : result.stderr).toBe('');
    const out = JSON.parse(result.stdout) as { space: { fits: boolean; need: { totalBytes: number; parts: { what: string; bytes: number }[] }; source: { kind: string } } };
    expect(out.space.fits).toBe(true);
    expect(out.space.source.kind).toBe('filesystem');
    expect(out.space.need.parts[0]).toEqual({ what: 'the fresh copy (the database size recorded at backup time)', bytes: backup.manifest.catalog!.totalBytes, directory: expect.stringMatching(/\/base$/) });
    expect(out.space.need.parts[2]).toMatchObject({ bytes: 32 * MiB, directory: expect.stringMatching(/\/pg_wal$/) });
    await pg.query('drop database meatdb_copy');
  });
});

describe('GIVEN the same server and a restore test in scratch mode (a second copy beside the live database)', () => {
  test('WHEN the copy is known not to fit THEN it cannot test here (exit 5), naming what it needs and what is free, and creates nothing', async () => {
    const bucket = await freshBucket(client, 'scratch-refused');
    const backup = await backupOfMeatdb(bucket);
    leaveFree(backup.manifest.catalog!.totalBytes + 24 * MiB);
    const before = await databases();

    const result = await runCli(['restore-test', 'latest', '--mode', 'scratch'], { env: env(bucket) });

    expect(result.code).toBe(5);
    expect(result.stderr.trimEnd().split('\n').pop()).toMatch(
      /^meatbackup: restore test of backups\/meatdb-2025-09-17T10:30:00\.sql\.gz: cannot test here: not enough disk space on the server for the scratch copy: it needs [\d.]+ MiB on the filesystem of \/.*, which has [\d.]+ MiB free .*this says nothing against the backup/,
    );
    expect(await databases()).toEqual(before);
    await pg.query('insert into messages values (0, \'still writable\')', 'meatdb');
  });

  test('WHEN the recorded size is stale and the load outgrows the disk THEN the load stops before the disk fills, it cannot test here, and the scratch database is gone', async () => {
    const bucket = await freshBucket(client, 'scratch-stale');
    await backupOfMeatdb(bucket, { recordedBytes: MiB });
    leaveFree(80 * MiB);
    const before = await databases();

    const result = await runCli(['restore-test', 'latest', '--mode', 'scratch'], { env: env(bucket) });

    expect(result.code).toBe(5);
    expect(result.stderr.trimEnd().split('\n').pop()).toMatch(/cannot test here: the load was stopped with [\d.]+ (KiB|MiB) left free on the filesystem of \/.*, before the disk filled: .*this says nothing against the backup/);
    expect(await databases()).toEqual(before);
    await pg.query('checkpoint');
    await pg.query('insert into messages values (0, \'still writable\')', 'meatdb');
  });

  test('WHEN the operator says how much space there is (a disk not seen from here) THEN that is checked too', async () => {
    const bucket = await freshBucket(client, 'scratch-operator');
    await backupOfMeatdb(bucket, { sql: 'create table small (x int);\n' });
    await pg.query('create role scratch_tester login createdb').catch(() => undefined);

    const result = await runCli(['restore-test', 'latest', '--mode', 'scratch', '--space-available', '50MiB'], { env: { ...env(bucket), PGUSER: 'scratch_tester' } });

    expect(result.code).toBe(5);
    expect(result.stderr.trimEnd().split('\n').pop()).toMatch(/not enough disk space on the server for the scratch copy: it needs [\d.]+ MiB, and --space-available says 50\.0 MiB/);
  });
});

describe('GIVEN a server whose disk this process cannot see (a role without pg_read_all_settings)', () => {
  beforeAll(async () => {
    await pg.query('create role restorer login createdb');
  });

  test('WHEN the operator says how much space there is and the restore needs more THEN it is refused in one line', async () => {
    const bucket = await freshBucket(client, 'space-operator');
    await backupOfMeatdb(bucket, { sql: 'create table small (x int);\n' });
    const before = await databases();

    const result = await runCli(['restore', 'latest', '--from-database', 'meatdb', '--target-db', 'newdb', '--space-available', '50MiB'], {
      env: { ...env(bucket), PGUSER: 'restorer' },
    });

    expectOneErrorLine(result, /^meatbackup: not enough disk space to restore newdb: it needs [\d.]+ MiB, and --space-available says 50\.0 MiB \(.*\); .*nothing was changed$/);
    expect(await databases()).toEqual(before);
  });

  test('WHEN nothing says THEN the plan says the space was not checked and why', async () => {
    const bucket = await freshBucket(client, 'space-unknown');
    await backupOfMeatdb(bucket, { sql: 'create table small (x int);\ninsert into small values (1);\n' });

    const result = await runCli(['restore', 'latest', '--from-database', 'meatdb', '--target-db', 'newdb2', '--json'], { env: { ...env(bucket), PGUSER: 'restorer' } });

    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/disk space: needs [\d.]+ MiB: .*; free space not checked: the role may not read the data directory setting/);
    await pg.query('drop database newdb2');
  });
});
