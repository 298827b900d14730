/**
 * `meatbackup restore --with-globals` onto a brand-new server: a second throwaway cluster that lacks the source's
 * roles, against the S3 emulator, through the built CLI (run `npm run build` first).
 */
import { CreateBucketCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { type LocalCluster, startLocalCluster } from '../../../src/local/postgres-cluster';
import { type LocalS3, startLocalS3 } from '../../../src/local/s3-emulator';
import { readManifest } from '../../../src/catalog/catalog';
import { type CliResult, cleanEnv, runCli } from '../../support/cli';
import { comparableDump, patchManifest, pgDumpSql, pgDumpallGlobals, putGlobals, writeBackupFixture } from '../../support/backup-fixture';

const BUCKET = 'globals-tests';

let source: LocalCluster;
let fresh: LocalCluster;
let s3: LocalS3;
let client: S3Client;
let backupKey: string;

const SOURCE_ROLES = `
create role meat_owner nologin;
create role meat_app login connection limit 10 in role meat_owner;
alter role meat_app set statement_timeout = '30s';
create role meat_readonly nologin;
`;

const MEATDB_SQL = `
create table users (id int primary key, name text not null);
insert into users select g, 'user ' || g from generate_series(1, 100) g;
alter table users owner to meat_owner;
grant select on users to meat_readonly;
`;

function dumpOf(cluster: LocalCluster, database: string): string {
  return comparableDump(cluster.env(database), database);
}

function freshEnv(): NodeJS.ProcessEnv {
  return cleanEnv({ ...s3.env, ...fresh.env('meatdb'), BACKUP_BUCKET: BUCKET });
}

async function freshDatabases(): Promise<string[]> {
  return (await fresh.query<{ datname: string }>('select datname from pg_database order by 1')).map((r) => r.datname);
}

/** The roles of the fresh server as an operator would compare them: attributes, settings, memberships. */
async function freshRoles(): Promise<unknown[]> {
  return fresh.query(`
    select r.rolname, r.rolcanlogin, r.rolconnlimit, r.rolconfig,
           array(select g.rolname::text from pg_auth_members m join pg_roles g on g.oid = m.roleid where m.member = r.oid order by 1) as member_of
      from pg_roles r where r.rolname not like 'pg\\_%' order by 1`);
}

function errorLines(result: CliResult): string[] {
  return result.stderr.split('\n').filter((l) => l.startsWith('meatbackup:'));
}

beforeAll(async () => {
  [source, fresh, s3] = await Promise.all([startLocalCluster(), startLocalCluster(), startLocalS3()]);
  client = s3.client();
  await client.send(new CreateBucketCommand({ Bucket: BUCKET }));
  await source.query(SOURCE_ROLES);
  await source.query('create database meatdb');
  await source.query(MEATDB_SQL, 'meatdb');
  const result = await runCli(['backup', '--json'], { env: cleanEnv({ ...s3.env, ...source.env('meatdb'), BACKUP_BUCKET: BUCKET }) });
  if (result.code !== 0) throw new Error(`backup failed: ${result.stderr}`);
  backupKey = (JSON.parse(result.stdout) as { key: string }).key;
  // A backup made before backups stored their globals gets the ones it would have stored.
  if (!(await readManifest(client, BUCKET, backupKey))?.globals) {
    const globals = await putGlobals(client, BUCKET, backupKey, pgDumpallGlobals(source.env()));
    await patchManifest(client, BUCKET, backupKey, (m) => ({ ...m, globals }));
  }
});
afterAll(async () => {
  await Promise.all([source?.stop(), fresh?.stop(), s3?.stop()]);
});

describe('GIVEN a backup whose objects belong to and are granted to roles that exist only on its server', () => {
  test('WHEN it is restored onto a new server without --with-globals THEN psql stops at the missing role and nothing is left behind', async () => {
    const before = await freshDatabases();

    const result = await runCli(['restore', 'latest', '--target-db', 'meatdb'], { env: freshEnv() });

    expect(result.code).toBe(1);
    expect(errorLines(result)).toEqual([expect.stringMatching(/^meatbackup: the backup's SQL failed \(exit 3\): line \d+ of the backup's SQL: ERROR: role "meat_owner" does not exist$/)]);
    expect(await freshDatabases()).toEqual(before);
  });

  test('WHEN it is restored with --with-globals THEN the missing roles are created with their attributes and memberships, an existing one is kept, and the data is the source\'s', async () => {
    await fresh.query('create role meat_readonly nologin connection limit 3');

    const result = await runCli(['restore', 'latest', '--target-db', 'meatdb', '--with-globals'], { env: freshEnv() });

    expect(errorLines(result)).toEqual([]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^roles {5}created meat_app, meat_owner; kept 2 existing; 1 membership\(s\) granted$/m);
    expect(result.stdout).toMatch(/^note {6}created role\(s\) meat_app, meat_owner without passwords \(backups store none\): set them with ALTER ROLE … PASSWORD/m);
    expect(await freshRoles()).toEqual([
      { rolname: 'meat_app', rolcanlogin: true, rolconnlimit: 10, rolconfig: ['statement_timeout=30s'], member_of: ['meat_owner'] },
      { rolname: 'meat_owner', rolcanlogin: false, rolconnlimit: -1, rolconfig: null, member_of: [] },
      // Existing roles are kept exactly as they were.
      { rolname: 'meat_readonly', rolcanlogin: false, rolconnlimit: 3, rolconfig: null, member_of: [] },
      { rolname: 'postgres', rolcanlogin: true, rolconnlimit: -1, rolconfig: null, member_of: [] },
    ]);
    expect(dumpOf(fresh, 'meatdb')).toBe(dumpOf(source, 'meatdb'));
  });

  test('WHEN the same restore runs again THEN the roles are all kept and nothing about them changes', async () => {
    const rolesBefore = await freshRoles();

    const result = await runCli(['restore', 'latest', '--target-db', 'meatdb', '--with-globals', '--yes', '--json'], { env: freshEnv() });

    expect(errorLines(result)).toEqual([]);
    expect(JSON.parse(result.stdout)).toMatchObject({ replaces: true, withGlobals: true, globals: { createdRoles: [], keptRoles: ['meat_app', 'meat_owner', 'meat_readonly', 'postgres'], memberships: [] } });
    expect(await freshRoles()).toEqual(rolesBefore);
    expect(dumpOf(fresh, 'meatdb')).toBe(dumpOf(source, 'meatdb'));
  });
});

describe('GIVEN backups whose globals cannot be applied', () => {
  test('WHEN the manifest records no globals THEN --with-globals is refused before anything is read or changed', async () => {
    const backup = await writeBackupFixture(client, BUCKET, { sql: pgDumpSql(source.env(), 'meatdb'), database: 'meatdb', takenAt: new Date('2025-09-17T10:30:00Z'), prefix: 'noglobals/' });
    const before = await freshDatabases();

    const result = await runCli(['restore', backup.key, '--prefix', 'noglobals/', '--from-database', 'meatdb', '--target-db', 'other', '--with-globals'], { env: freshEnv() });

    expect(result.code).toBe(1);
    expect(errorLines(result)).toEqual([
      `meatbackup: backup ${backup.key} has no globals recorded in its manifest (it was taken before backups stored roles): nothing was changed; create its roles on the server by hand, then restore without --with-globals`,
    ]);
    expect(await freshDatabases()).toEqual(before);
  });

  test('WHEN the globals were altered after upload THEN they are refused by their sha256 and no role or database is created', async () => {
    const backup = await writeBackupFixture(client, BUCKET, {
      sql: pgDumpSql(source.env(), 'meatdb'), database: 'meatdb', takenAt: new Date('2025-09-17T10:30:00Z'), prefix: 'altered/', globals: 'CREATE ROLE intruder;\n',
    });
    await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: backup.manifest.globals!.key, Body: 'not what was recorded' }));
    const roles = await freshRoles();
    const before = await freshDatabases();

    const result = await runCli(['restore', backup.key, '--prefix', 'altered/', '--from-database', 'meatdb', '--target-db', 'other', '--with-globals'], { env: freshEnv() });

    expect(result.code).toBe(1);
    expect(errorLines(result)).toEqual([expect.stringMatching(/^meatbackup: globals altered\/meatdb-.*\.globals\.sql\.gz do not match the manifest \(21 bytes, .*\): altered after upload, refused; nothing was changed$/)]);
    expect(await freshRoles()).toEqual(roles);
    expect(await freshDatabases()).toEqual(before);
  });

  test('WHEN one statement of the globals fails THEN none of them are applied and the restore stops naming it', async () => {
    const backup = await writeBackupFixture(client, BUCKET, {
      sql: pgDumpSql(source.env(), 'meatdb'), database: 'meatdb', takenAt: new Date('2025-09-17T10:30:00Z'), prefix: 'failing/',
      globals: 'CREATE ROLE half_made;\nALTER ROLE half_made WITH LOGIN;\nGRANT no_such_role TO half_made GRANTED BY postgres;\n',
    });
    const roles = await freshRoles();
    const before = await freshDatabases();

    const result = await runCli(['restore', backup.key, '--prefix', 'failing/', '--from-database', 'meatdb', '--target-db', 'other', '--with-globals'], { env: freshEnv() });

    expect(result.code).toBe(1);
    expect(errorLines(result)).toEqual([
      'meatbackup: could not apply the backup\'s globals: role "no_such_role" does not exist, at "GRANT no_such_role TO half_made GRANTED BY postgres"; none of them were applied',
    ]);
    expect(await freshRoles()).toEqual(roles);
    expect(await freshDatabases()).toEqual(before);
  });
});
