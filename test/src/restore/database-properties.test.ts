/**
 * Disaster recovery keeps what pg_dump's plain output does not carry: the database's settings (ALTER DATABASE … SET,
 * ALTER ROLE … IN DATABASE … SET), its comment, owner, grants and connection limit. Given a backup taken with
 * `meatbackup backup`, when the database is gone and is restored, then they come back from what the backup recorded.
 * Real PostgreSQL and the S3 emulator, through the built CLI.
 */
import { cleanEnv, runCli } from '../../support/cli';
import { freshBucket, useHarness } from '../backup/fixtures';

const h = useHarness('database-properties');

function env(database: string, bucket: string): NodeJS.ProcessEnv {
  return cleanEnv({ ...h.s3.env, ...h.pg.env(database), PGDATABASE: database, BACKUP_BUCKET: bucket });
}

/** Everything about database `name` that pg_dump without --create leaves out. */
async function properties(name: string) {
  const [db] = await h.pg.query<{ owner: string; acl: string | null; comment: string | null; connlimit: number }>(
    `select pg_get_userbyid(datdba) as owner, datacl::text as acl, shobj_description(oid, 'pg_database') as comment, datconnlimit as connlimit
       from pg_database where datname = '${name}'`,
  );
  const settings = await h.pg.query<{ role: string | null; config: string[] }>(
    `select case when s.setrole = 0 then null else pg_get_userbyid(s.setrole) end as role, s.setconfig as config
       from pg_db_role_setting s join pg_database d on d.oid = s.setdatabase where d.datname = '${name}' order by 1 nulls first`,
  );
  return { ...db, settings };
}

describe('GIVEN a database with its own settings, comment, owner, grants and connection limit, and a backup of it', () => {
  test('WHEN the database is dropped and the backup restored THEN they all come back, and the plan says they came from the backup', async () => {
    const bucket = await freshBucket(h.client, 'db-properties');
    await h.pg.query(`create role dr_owner login; create role dr_reader login`);
    await h.pg.query(`create database drdb owner dr_owner connection limit 40`);
    await h.pg.query(`comment on database drdb is 'the platform''s data'`);
    await h.pg.query(`revoke all on database drdb from public; grant connect on database drdb to dr_reader`);
    await h.pg.query(`alter database drdb set timezone = 'Europe/Berlin'; alter database drdb set statement_timeout = '42s'`);
    await h.pg.query(`alter database drdb set search_path = app, "$user", public`);
    await h.pg.query(`alter role dr_reader in database drdb set work_mem = '8MB'`);
    await h.pg.query(`create schema app; create table app.marker (v text); insert into app.marker values ('backed up')`, 'drdb');
    const before = await properties('drdb');

    const backup = await runCli(['backup', '--json'], { env: env('drdb', bucket) });
    expect(backup.code).toBe(0);
    const { key } = JSON.parse(backup.stdout) as { key: string };
    await h.pg.query('drop database drdb');

    const restore = await runCli(['restore', key, '--yes'], { env: env('drdb', bucket) });

    expect(restore.code).toBe(0);
    expect(restore.stdout).toMatch(/^settings {2}database owner, grants, comment and settings from the backup$/m);
    expect(await properties('drdb')).toEqual(before);
    expect(await h.pg.query(`select current_setting('TimeZone') as tz, current_setting('statement_timeout') as st`, 'drdb')).toEqual([{ tz: 'Europe/Berlin', st: '42s' }]);
    expect(await h.pg.query('select v from marker', 'drdb')).toEqual([{ v: 'backed up' }]);
  });
});
