/**
 * Restore, verify and restore-test when S3 stops answering mid-download (packets dropped, not refused: a TCP proxy
 * in front of the emulator freezes), on a real cluster: a stall ends the command with one line and nothing changed,
 * SIGTERM ends it within seconds, and psql busy while the download waits is not a stall.
 */
import { runBackup } from '../../../src/backup/backup';
import { nullLogger } from '../../support/null-logger';
import { restoreBackup } from '../../../src/restore/restore';
import { cleanEnv, runCli } from '../../support/cli';
import { useFreezableProxy } from '../../support/freezable-proxy';
import { expectOneErrorLine, freshBucket, useHarness } from '../backup/fixtures';
import { compressorFor, installedDecompressor } from '../../support/compressors';
import { thisProcess } from '../../../src/restore/restore-lock';

const MiB = 1024 * 1024;

/** Poorly compressible rows (hex of random md5s): ~30 MB of SQL, ~15 MB stored. */
const NOISE = 'create table noise as select g as id, md5(random()::text) || md5(random()::text) || md5(random()::text) as hex from generate_series(1, 300000) g';

/**
 * A table loaded before the noise whose rows take half a second each to check: while psql waits for the server,
 * it reads no input and the download waits for it, legitimately.
 */
const SLOW_FIRST = `
  create function slow_ok(int) returns boolean language sql as $$ select pg_sleep(0.5) is not null $$;
  create table a_slow (id int check (slow_ok(id)));
  insert into a_slow select generate_series(1, 12);`;

let bucket: string;
const backups: Record<string, { key: string; sizeBytes: number }> = {};

const h = useHarness('restore-stall', async (hh) => {
  bucket = await freshBucket(hh.client, 'restore-stall');
  for (const [db, sql] of [
    ['meatdb', NOISE],
    ['slowdb', `${SLOW_FIRST}; ${NOISE}`],
  ] as const) {
    await hh.pg.query(`create database ${db}`);
    await hh.pg.query(sql, db);
    const done = await runBackup({ compressor: compressorFor(), s3: hh.client, bucket, connection: hh.pg.connection(db) });
    backups[db] = { key: done.key, sizeBytes: done.manifest.sizeBytes };
  }
  // What the live database holds now, which no failed restore may change: a row the backup does not have.
  await hh.pg.query("create table after_backup as select 'kept' as what", 'meatdb');
});

/** The databases on the server, and meatdb's identity and its row written after the backup. */
async function serverState(): Promise<{ databases: string[]; meatdb: unknown }> {
  const databases = (await h.pg.query<{ datname: string }>('select datname from pg_database order by 1')).map((r) => r.datname);
  const [meatdb] = await h.pg.query("select oid::text from pg_database where datname = 'meatdb'");
  const [row] = await h.pg.query('select what from after_backup', 'meatdb');
  return { databases, meatdb: { ...(meatdb as object), ...(row as object) } };
}

describe('GIVEN S3 freezes in the middle of a restore\'s download', () => {
  const p = useFreezableProxy(() => h.s3.endpoint);
  const env = (extra: Record<string, string> = {}) =>
    cleanEnv({ ...h.s3.env, AWS_ENDPOINT_URL_S3: p.proxy.url, ...h.pg.env('meatdb'), PGDATABASE: 'meatdb', BACKUP_BUCKET: bucket, ...extra });

  test('WHEN nothing comes for --stall-timeout THEN restore ends with one line naming the download and how far it got, and meatdb is untouched', async () => {
    const before = await serverState();
    // The check reads the whole object once; the freeze comes 4 MiB into the load's read.
    const frozen = p.proxy.freezeAfter(backups.meatdb.sizeBytes + 4 * MiB, 'down');
    const run = runCli(['restore', backups.meatdb.key, '--yes', '--stall-timeout', '2'], { env: env() });
    await frozen;
    const res = await run;
    expectOneErrorLine(res, /^meatbackup: S3 download of backups\/meatdb-\S+\.sql\.gz at \d+\.\d MiB made no progress for 2s \(stall timeout: --stall-timeout or STALL_TIMEOUT_SECONDS\)$/);
    expect(res.code).toBe(1);
    expect(await serverState()).toEqual(before);
  });

  test.each([
    ['mid-download (the load)', () => p.proxy.freezeAfter(backups.meatdb.sizeBytes + 4 * MiB, 'down')],
    ['at its first HeadObject (a small request that listens to no signal)', () => p.proxy.freezeOnRequest(/^HEAD /)],
  ])('WHEN S3 freezes %s and the restore task gets SIGTERM THEN it ends within seconds with one line, and meatdb is untouched', async (_when, freeze) => {
    const before = await serverState();
    const frozen = freeze();
    let pid = 0;
    const run = runCli(['restore', backups.meatdb.key, '--yes'], { env: env({ STALL_TIMEOUT_SECONDS: '600' }), onSpawn: (p) => (pid = p) });
    await frozen;
    const signalled = Date.now();
    process.kill(pid, 'SIGTERM');
    const res = await run;
    expect((Date.now() - signalled) / 1000).toBeLessThan(10);
    expectOneErrorLine(res, /^meatbackup: interrupted by SIGTERM; nothing was left half-done$/);
    expect(res.code).toBe(143);
    expect(await serverState()).toEqual(before);
  });

  test('WHEN verify reads a frozen download THEN it ends with one line naming the download', async () => {
    const frozen = p.proxy.freezeAfter(4 * MiB, 'down');
    const run = runCli(['verify', backups.meatdb.key], { env: env({ STALL_TIMEOUT_SECONDS: '2' }) });
    await frozen;
    expectOneErrorLine(await run, /^meatbackup: S3 download of backups\/meatdb-\S+\.sql\.gz at \d+\.\d MiB made no progress for 2s \(stall timeout: --stall-timeout or STALL_TIMEOUT_SECONDS\)$/);
  });

  test('WHEN a restore test\'s load freezes THEN it ends with one line naming the download, and its scratch database is gone', async () => {
    const before = await serverState();
    const frozen = p.proxy.freezeAfter(backups.meatdb.sizeBytes + 4 * MiB, 'down');
    const run = runCli(['restore-test', backups.meatdb.key, '--stall-timeout', '2'], { env: env() });
    await frozen;
    const res = await run;
    expectOneErrorLine(res, /^meatbackup: S3 download of backups\/meatdb-\S+\.sql\.gz at \d+\.\d MiB made no progress for 2s \(stall timeout: --stall-timeout or STALL_TIMEOUT_SECONDS\)$/);
    expect(await serverState()).toEqual(before);
  });
});

describe('GIVEN psql is busy (a slow check on the first table) while the download waits for it', () => {
  test('WHEN the wait is longer than the stall timeout THEN it is not a stall: the restore completes', async () => {
    const result = await restoreBackup({ decompressor: installedDecompressor(), lockHolder: thisProcess(process.env),
      s3: h.client,
      bucket,
      prefix: 'backups/',
      ref: backups.slowdb.key,
      conn: h.pg.connection('slowdb'),
      targetDb: 'slowdb_copy',
      fromDatabase: 'slowdb',
      logger: nullLogger(),
      stallSeconds: 2,
    });
    expect(result.target).toBe('slowdb_copy');
    expect(await h.pg.query('select count(*)::int as n from a_slow', 'slowdb_copy')).toEqual([{ n: 12 }]);
    expect(await h.pg.query('select count(*)::int as n from noise', 'slowdb_copy')).toEqual([{ n: 300000 }]);
  });
});
