/**
 * The restore lock only keeps a second restore out while its session lives (runbook 2.1, "one restore at a time").
 * Given a restore in its load, when the lock's session would end (a role's idle_session_timeout) or is ended
 * (pg_terminate_backend), then either the lock is still held or the restore stops with one line, and never do two
 * restores both report success. Real PostgreSQL and the S3 emulator, through the built CLI.
 */
import { type CliResult, cleanEnv, runCli } from '../../support/cli';
import { pgDumpSql, writeBackupFixture } from '../../support/backup-fixture';
import { RESTORE_LOCK_CLASS } from '../../../src/restore/restore-lock';
import { expectOneErrorLine, freshBucket, useHarness } from '../backup/fixtures';

const h = useHarness('lock-lost');

function env(database: string, bucket: string, user?: string): NodeJS.ProcessEnv {
  return cleanEnv({ ...h.s3.env, ...h.pg.env(database), PGDATABASE: database, BACKUP_BUCKET: bucket, ...(user ? { PGUSER: user } : {}) });
}

async function databases(): Promise<string[]> {
  return (await h.pg.query<{ datname: string }>('select datname from pg_database order by 1')).map((r) => r.datname);
}

async function waitUntil(what: string, check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 600; i += 1) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** The pid of the session holding the restore lock of `database`, if any. */
async function lockHolder(database: string): Promise<number | undefined> {
  const rows = await h.pg.query<{ pid: number }>(
    `select pid from pg_locks where locktype = 'advisory' and granted and objsubid = 2
        and classid = ${RESTORE_LOCK_CLASS}::int4::oid and objid = hashtext('${database}')::oid`,
  );
  return rows[0]?.pid;
}

/** A database with a marker row, and a backup of it whose load sleeps `seconds` at its end. */
async function slowBackup(bucket: string, name: string, seconds: number) {
  await h.pg.query(`create database "${name}"`);
  await h.pg.query(`create table marker (v text); insert into marker values ('as backed up');`, name);
  const sql = `${pgDumpSql(h.pg.env(), name)}\nselect pg_sleep(${seconds});\n`;
  const backup = await writeBackupFixture(h.client, bucket, { sql, database: name, takenAt: new Date('2025-09-17T10:30:00Z') });
  await h.pg.query(`update marker set v = 'live'`, name);
  return backup;
}

const loading = (name: string) => () =>
  h.pg.query(`select 1 from pg_stat_activity where query like 'select pg_sleep(%' and datname like '${name}_restore_%'`).then((r) => r.length > 0);

describe('GIVEN a restore in its load, run by a role with idle_session_timeout', () => {
  test('WHEN its lock session idles longer than the timeout THEN it still holds the lock and a second restore is refused', async () => {
    const bucket = await freshBucket(h.client, 'idle-timeout');
    const backup = await slowBackup(bucket, 'idledb', 15);
    await h.pg.query(`create role idle_restorer login superuser`);
    await h.pg.query(`alter role idle_restorer set idle_session_timeout = '1s'`);

    const first = runCli(['restore', backup.key, '--yes'], { env: env('idledb', bucket, 'idle_restorer') });
    await waitUntil('the load', loading('idledb'));
    await new Promise((r) => setTimeout(r, 1500));

    expect(await lockHolder('idledb')).toBeDefined();
    const second = await runCli(['restore', backup.key, '--yes'], { env: env('idledb', bucket) });
    expectOneErrorLine(second, /^meatbackup: a restore of database idledb is already running/);

    const done = await first;
    expect(done.code).toBe(0);
    expect((await h.pg.query<{ v: string }>('select v from marker', 'idledb'))[0].v).toBe('as backed up');
  });
});

describe('GIVEN a restore in its load', () => {
  test('WHEN its lock session is terminated THEN it stops with one line, drops its fresh database, and the live one is unchanged', async () => {
    const bucket = await freshBucket(h.client, 'terminated');
    const backup = await slowBackup(bucket, 'termdb', 30);
    const before = await databases();

    const first = runCli(['restore', backup.key, '--yes'], { env: env('termdb', bucket) });
    await waitUntil('the load', loading('termdb'));
    const pid = await lockHolder('termdb');
    expect(pid).toBeDefined();

    await h.pg.query(`select pg_terminate_backend(${pid})`);
    const result: CliResult = await first;

    expectOneErrorLine(
      result,
      /^meatbackup: the restore lock of database termdb was lost: its session on .+? ended \(terminating connection due to administrator command\); another restore may have started, so this one stopped before the swap and termdb was not changed by it; /,
    );
    expect(result.code).toBe(1);
    expect(await databases()).toEqual(before);
    expect((await h.pg.query<{ v: string }>('select v from marker', 'termdb'))[0].v).toBe('live');
  });
});
