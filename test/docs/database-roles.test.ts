/**
 * The database roles of docs/deploying-aws.md, "Database roles", as an operator creates them: the SQL block of that
 * section is run as the superuser of a real PostgreSQL cluster whose meatdb belongs to an application owner role, and
 * then a backup, a restore test (scratch mode) and a restore each run under their own role through the CLI, against
 * the S3 emulator. Each succeeds, and each role is refused what its job does not need.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { freshBucket, useHarness } from '../src/backup/fixtures';
import { cleanEnv, runCli } from '../support/cli';

const PAGE = join(__dirname, '..', '..', 'docs', 'deploying-aws.md');

/** The ```sql block of the page's "Database roles" section, as an operator copies it. */
function rolesSql(): string {
  const page = readFileSync(PAGE, 'utf8');
  const section = page.slice(page.indexOf('## Database roles'));
  const block = /```sql\n([\s\S]*?)```/.exec(section.slice(0, section.indexOf('\n## ', 3)));
  if (!block) throw new Error('docs/deploying-aws.md has no ```sql block under "Database roles"');
  return block[1];
}

const h = useHarness('database-roles', async ({ pg }) => {
  // GIVEN meatdb as an application has it: its owner role owns the database and everything in it
  await pg.query('create role meatlizard_app login');
  await pg.query('create role meatlizard_reader login');
  await pg.query('create database meatdb owner meatlizard_app');
  await pg.query(
    `set role meatlizard_app;
     create table users (id bigserial primary key, name text not null);
     create table messages (id bigserial primary key, user_id bigint references users, body text);
     create view message_counts as select user_id, count(*) from messages group by user_id;
     insert into users (name) select 'user ' || g from generate_series(1, 200) g;
     insert into messages (user_id, body) select 1 + g % 200, 'hello ' || g from generate_series(1, 2000) g;
     grant select on users to meatlizard_reader;
     analyze;`,
    'meatdb',
  );
});

describe('GIVEN the database roles of docs/deploying-aws.md, created by its SQL', () => {
  let bucket: string;
  const asRole = (user: string, extra: Record<string, string> = {}) =>
    cleanEnv({ ...h.s3.env, BACKUP_BUCKET: bucket, PGHOST: '127.0.0.1', PGPORT: String(h.pg.port), PGUSER: user, PGDATABASE: 'meatdb', PGSSLMODE: 'disable', ...extra });
  const count = async (table: string, database = 'meatdb') => Number((await h.pg.query<{ n: string }>(`select count(*) as n from ${table}`, database))[0].n);

  beforeAll(async () => {
    bucket = await freshBucket(h.client, 'db-roles');
    await h.pg.query(rolesSql());
  });

  test('THEN none of the roles is a superuser, and each job\'s role has what the page says and no more', async () => {
    const roles = await h.pg.query<{ rolname: string; rolsuper: boolean; rolcreatedb: boolean; rolbypassrls: boolean }>(
      "select rolname, rolsuper, rolcreatedb, rolbypassrls from pg_roles where rolname like 'meatbackup_%' order by rolname",
    );
    expect(roles).toEqual([
      { rolname: 'meatbackup_backup', rolsuper: false, rolcreatedb: false, rolbypassrls: false },
      { rolname: 'meatbackup_restore', rolsuper: false, rolcreatedb: true, rolbypassrls: false },
      { rolname: 'meatbackup_restore_test', rolsuper: false, rolcreatedb: true, rolbypassrls: false },
    ]);
  });

  test('WHEN the backup runs as meatbackup_backup THEN it succeeds, and that role can read but not write or create a database', async () => {
    const backup = await runCli(['backup', '--json'], { env: asRole('meatbackup_backup') });
    expect({ code: backup.code, stderr: backup.stderr }).toEqual({ code: 0, stderr: expect.any(String) });
    const asBackup = async (sql: string) => {
      const { Client } = await import('pg');
      const client = new Client({ host: '127.0.0.1', port: h.pg.port, user: 'meatbackup_backup', database: 'meatdb' });
      await client.connect();
      try {
        await client.query(sql);
        return 'allowed';
      } catch (err) {
        return (err as Error).message;
      } finally {
        await client.end();
      }
    };
    expect(await asBackup('select count(*) from messages')).toBe('allowed');
    expect(await asBackup("insert into users (name) values ('intruder')")).toMatch(/permission denied for table users/);
    expect(await asBackup('create database meatbackup_nope')).toMatch(/permission denied to create database/);
  });

  test('WHEN the restore test runs in scratch mode as meatbackup_restore_test THEN it passes and leaves no scratch database', async () => {
    const tested = await runCli(['restore-test', 'latest', '--mode', 'scratch', '--assert', 'select count(*) = 2000 from messages'], { env: asRole('meatbackup_restore_test') });
    expect({ code: tested.code, stderr: tested.stderr }).toEqual({ code: 0, stderr: expect.any(String) });
    const scratch = await h.pg.query("select datname from pg_database where datname like 'meatdb_restore_test_%'");
    expect(scratch).toEqual([]);
  });

  test('WHEN the restore runs as meatbackup_restore while the reader is connected THEN the damaged meatdb is replaced, its sessions ended, and the old one kept', async () => {
    // GIVEN a damaged database and a session of another role on it
    await h.pg.query('delete from messages', 'meatdb');
    const { Client } = await import('pg');
    const reader = new Client({ host: '127.0.0.1', port: h.pg.port, user: 'meatlizard_reader', database: 'meatdb' });
    reader.on('error', () => undefined);
    await reader.connect();
    // WHEN
    const restored = await runCli(['restore', 'latest', '--yes', '--json'], { env: asRole('meatbackup_restore') });
    await reader.end().catch(() => undefined);
    // THEN
    expect({ code: restored.code, stderr: restored.stderr }).toEqual({ code: 0, stderr: expect.any(String) });
    expect(await count('messages')).toBe(2000);
    const owners = await h.pg.query<{ datname: string; owner: string }>(
      "select datname, pg_get_userbyid(datdba) as owner from pg_database where datname = 'meatdb' or datname like 'meatdb_pre_restore_%' order by datname",
    );
    expect(owners).toEqual([
      { datname: 'meatdb', owner: 'meatlizard_app' },
      { datname: expect.stringMatching(/^meatdb_pre_restore_/), owner: 'meatlizard_app' },
    ]);
    expect(await count('messages', owners[1].datname)).toBe(0);
    // the objects belong to the application's role again, and its grants are back
    const tables = await h.pg.query<{ tablename: string; tableowner: string }>("select tablename, tableowner from pg_tables where schemaname = 'public' order by 1", 'meatdb');
    expect(tables).toEqual([
      { tablename: 'messages', tableowner: 'meatlizard_app' },
      { tablename: 'users', tableowner: 'meatlizard_app' },
    ]);
    const grants = await h.pg.query("select 1 from information_schema.role_table_grants where grantee = 'meatlizard_reader' and table_name = 'users' and privilege_type = 'SELECT'", 'meatdb');
    expect(grants).toHaveLength(1);
  });
});
