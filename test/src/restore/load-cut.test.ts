/**
 * What a restore says when its load is cut from the server side, and the name it keeps the replaced database under
 * when that name reaches PostgreSQL's 63-byte limit (runbook 2.1). Real PostgreSQL and the S3 emulator, through the
 * built CLI as an operator runs it.
 */
import { cleanEnv, runCli } from '../../support/cli';
import { waitFor } from '../../../src/local/processes';
import { pgDumpSql, writeBackupFixture } from '../../support/backup-fixture';
import { expectOneErrorLine, freshBucket, useHarness } from '../backup/fixtures';

const h = useHarness('load-cut');

function env(database: string, bucket: string): NodeJS.ProcessEnv {
  return cleanEnv({ ...h.s3.env, ...h.pg.env(database), PGDATABASE: database, BACKUP_BUCKET: bucket });
}

const databases = async (): Promise<string[]> => (await h.pg.query<{ datname: string }>('select datname from pg_database order by 1')).map((r) => r.datname);

describe('GIVEN a restore whose psql session is terminated mid-load (pg_terminate_backend)', () => {
  test('THEN its one line says the connection was lost during the load, at which line, and that the fresh database was dropped; meatdb is unchanged', async () => {
    const bucket = await freshBucket(h.client, 'terminated');
    await h.pg.query('create database cutload');
    await h.pg.query("create table marker (v text); insert into marker values ('live');", 'cutload');
    // Line 3 of the SQL sleeps, so the load is surely running when its backend is ended.
    const sql = "create table marker (v text);\ninsert into marker values ('restored');\nselect pg_sleep(60);\n";
    const backup = await writeBackupFixture(h.client, bucket, { sql, database: 'cutload', takenAt: new Date('2025-09-17T10:30:00Z') });
    const before = await databases();

    const run = runCli(['restore', backup.key, '--yes'], { env: env('cutload', bucket) });
    let fresh = '';
    await waitFor(async () => {
      const rows = await h.pg.query<{ datname: string; pid: number }>(
        "select datname, pid from pg_stat_activity where query like 'select pg_sleep(%' and datname like 'cutload\\_restore\\_%'",
      );
      if (!rows[0]) return false;
      fresh = rows[0].datname;
      await h.pg.query(`select pg_terminate_backend(${rows[0].pid})`);
      return true;
    }, 60_000, 'the load reaching pg_sleep');
    const result = await run;

    expect(result.code).toBe(1);
    const line = expectOneErrorLine(
      result,
      new RegExp(
        `^meatbackup: the connection to the server was lost during the load, at line 3 of the backup's SQL \\(FATAL: terminating connection due to administrator command\\); the fresh database ${fresh} was dropped and cutload was not changed$`,
      ),
    );
    expect(line).not.toMatch(/could not connect/);
    expect(await databases()).toEqual(before);
    expect(await h.pg.query('select v from marker', 'cutload')).toEqual([{ v: 'live' }]);
  });
});

describe('GIVEN a target database that is itself a kept copy, named so that its kept name passes 63 bytes', () => {
  test('WHEN I restore into it THEN the database it replaced is kept under a name with both stamps whole, within 63 bytes', async () => {
    const bucket = await freshBucket(h.client, 'kept-limit');
    // 35 bytes: with `_pre_restore_<stamp>` (29) one byte over PostgreSQL's limit.
    const target = 'meatdb_pre_restore_20250917T203212Z';
    await h.pg.query(`create database "${target}"`);
    await h.pg.query("create table marker (v text); insert into marker values ('replaced');", target);
    await h.pg.query('create database keptsource');
    await h.pg.query("create table marker (v text); insert into marker values ('restored');", 'keptsource');
    const backup = await writeBackupFixture(h.client, bucket, { sql: pgDumpSql(h.pg.env(), 'keptsource'), database: 'keptsource', takenAt: new Date('2025-09-18T03:00:00Z') });

    const result = await runCli(['restore', backup.key, '--from-database', 'keptsource', '--target-db', target, '--yes', '--json'], { env: env('postgres', bucket) });

    expect(result.code).toBe(0);
    const keptAs = (JSON.parse(result.stdout) as { keptAs: string }).keptAs;
    expect(keptAs).toMatch(/^meatd_pre_restore_20250917T203212Z_pre_restore_\d{8}T\d{6}Z$/);
    expect(Buffer.byteLength(keptAs)).toBe(63);
    expect(await h.pg.query('select v from marker', keptAs)).toEqual([{ v: 'replaced' }]);
    expect(await h.pg.query('select v from marker', target)).toEqual([{ v: 'restored' }]);
  });
});
