/**
 * What a restore refuses before it changes anything (runbook 2.1, "3 a.m. safety"): the wrong database's backup,
 * a system database as the target, and a second restore of a database while one runs. Real PostgreSQL and the S3
 * emulator, through the built CLI as an operator runs it.
 */
import { type CliResult, cleanEnv, runCli } from '../../support/cli';
import { pgDumpSql, writeBackupFixture } from '../../support/backup-fixture';
import { acquireRestoreLock, thisProcess } from '../../../src/restore/restore-lock';
import { expectOneErrorLine, freshBucket, useHarness } from '../backup/fixtures';

const h = useHarness('restore-guards');

const USERS_SQL = `
create table users (id int primary key, name text not null);
insert into users select g, 'user ' || g from generate_series(1, 20) g;
`;

function env(database: string, bucket: string): NodeJS.ProcessEnv {
  return cleanEnv({ ...h.s3.env, ...h.pg.env(database), PGDATABASE: database, BACKUP_BUCKET: bucket });
}

async function databases(): Promise<string[]> {
  return (await h.pg.query<{ datname: string }>('select datname from pg_database order by 1')).map((r) => r.datname);
}

async function createDatabase(name: string, sql: string): Promise<void> {
  await h.pg.query(`create database "${name}"`);
  await h.pg.query(sql, name);
}

async function marker(database: string): Promise<string> {
  return (await h.pg.query<{ v: string }>('select v from marker', database))[0].v;
}

function json(result: CliResult): Record<string, unknown> {
  if (result.code !== 0) throw new Error(`exit ${result.code}: ${result.stderr}`);
  return JSON.parse(result.stdout) as Record<string, unknown>;
}

/** A database `name` whose one-row table `marker` says `value`, and a backup of it taken at `takenAt`. */
async function backedUp(bucket: string, name: string, value: string, takenAt: string, prefix = 'backups/') {
  await createDatabase(name, `create table marker (v text); insert into marker values ('${value}');`);
  return writeBackupFixture(h.client, bucket, { sql: pgDumpSql(h.pg.env(), name), database: name, takenAt: new Date(takenAt), prefix });
}

describe('GIVEN a bucket with backups of two databases, the newest of them of another database', () => {
  test('WHEN I restore latest into meatdb THEN the newest backup of meatdb is restored, not the newer one of the other database', async () => {
    const bucket = await freshBucket(h.client, 'latest-of-target');
    const mine = await backedUp(bucket, 'latestdb', 'latestdb at backup time', '2025-09-17T10:30:00Z');
    await backedUp(bucket, 'latestother', 'the other database', '2025-09-18T03:00:00Z');
    await h.pg.query(`update marker set v = 'changed after the backup'`, 'latestdb');

    const out = json(await runCli(['restore', 'latest', '--yes', '--json'], { env: env('latestdb', bucket) }));

    expect(out).toMatchObject({ key: mine.key, sourceDatabase: 'latestdb', target: 'latestdb', replaces: true });
    expect(await marker('latestdb')).toBe('latestdb at backup time');
  });

  test('WHEN I name a backup of the other database to restore into meatdb THEN it is refused in one line and nothing changes', async () => {
    const bucket = await freshBucket(h.client, 'cross-db');
    await backedUp(bucket, 'crossdb', 'crossdb', '2025-09-17T10:30:00Z');
    const other = await backedUp(bucket, 'crossother', 'other', '2025-09-18T03:00:00Z');
    const before = await databases();

    const result = await runCli(['restore', other.key, '--yes'], { env: env('crossdb', bucket) });

    expect(result.code).toBe(2);
    expectOneErrorLine(
      result,
      /^meatbackup: crossother-2025-09-18T03:00:00\.sql\.gz is a backup of database crossother, not of crossdb: to restore it into crossdb anyway, add --from-database crossother; nothing was changed$/,
    );
    expect(await databases()).toEqual(before);
    expect(await marker('crossdb')).toBe('crossdb');
  });

  test('WHEN I restore latest into a database that has no backups, only another one has THEN the first refusal already names --from-database with it', async () => {
    const bucket = await freshBucket(h.client, 'latest-other');
    await backedUp(bucket, 'onlyother', 'the other database', '2025-09-17T10:30:00Z');
    await createDatabase('nobackups', `create table marker (v text); insert into marker values ('untouched');`);
    const before = await databases();

    const result = await runCli(['restore', 'latest', '--yes'], { env: env('nobackups', bucket) });

    expectOneErrorLine(
      result,
      /^meatbackup: there is no backup of database nobackups under s3:\/\/\S+\/backups\/, only of onlyother: "latest" means the newest backup of nobackups; to restore the newest backup of onlyother into nobackups anyway, add --from-database onlyother; nothing was changed$/,
    );
    expect(await databases()).toEqual(before);
    expect(await marker('nobackups')).toBe('untouched');
  });

  test('WHEN I say --from-database THEN its latest backup is restored into the target and the plan and result name both', async () => {
    const bucket = await freshBucket(h.client, 'from-db');
    await backedUp(bucket, 'fromsrc', 'from the source', '2025-09-17T10:30:00Z');
    await createDatabase('fromtarget', `create table marker (v text); insert into marker values ('target before');`);

    const wrong = await runCli(['restore', 'latest', '--from-database', 'nosuchdb', '--yes'], { env: env('fromtarget', bucket) });
    expectOneErrorLine(wrong, /there is no backup of database nosuchdb under s3:\/\/\S+\/backups\/, only of fromsrc/);

    const result = await runCli(['restore', 'latest', '--from-database', 'fromsrc', '--yes'], { env: env('fromtarget', bucket) });

    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^restored {2}s3:\/\/\S+\/backups\/fromsrc-2025-09-17T10:30:00\.sql\.gz \(a backup of database fromsrc, restored into fromtarget; /m);
    expect(result.stdout).toMatch(/^into {6}database fromtarget on /m);
    expect(await marker('fromtarget')).toBe('from the source');
    expect(await marker('fromsrc')).toBe('from the source');
  });
});

describe('GIVEN a system database as the target', () => {
  test.each(['template0', 'template1', 'postgres'])('WHEN I restore into %s THEN it is refused in one line, before anything is touched', async (target) => {
    const bucket = await freshBucket(h.client, `system-${target}`);
    const backup = await backedUp(bucket, `sys_src_${target}`, 'x', '2025-09-17T10:30:00Z');
    const before = await h.pg.query('select datname, datistemplate, datallowconn from pg_database order by 1');

    const result = await runCli(['restore', backup.key, '--target-db', target, '--from-database', `sys_src_${target}`, '--yes'], { env: env(`sys_src_${target}`, bucket) });

    expect(result.code).toBe(2);
    expectOneErrorLine(result, new RegExp(`^meatbackup: database ${target} is the system maintenance database|^meatbackup: database ${target} is a system template database`));
    expect(result.stderr).toMatch(/a restore never replaces it; .*nothing was changed$/m);
    expect(await h.pg.query('select datname, datistemplate, datallowconn from pg_database order by 1')).toEqual(before);
  });

  test('WHEN the target is a database marked as a template THEN it is refused too, and stays a template', async () => {
    const bucket = await freshBucket(h.client, 'custom-template');
    const backup = await backedUp(bucket, 'tplsrc', 'x', '2025-09-17T10:30:00Z');
    await createDatabase('tpl_custom', 'create table marker (v text)');
    await h.pg.query('alter database tpl_custom is_template true');
    const before = await databases();

    const result = await runCli(['restore', backup.key, '--target-db', 'tpl_custom', '--from-database', 'tplsrc', '--yes'], { env: env('tplsrc', bucket) });

    expectOneErrorLine(result, /^meatbackup: database tpl_custom is a template database \(datistemplate is set\): a restore never replaces it; .*nothing was changed$/);
    expect(result.code).toBe(2);
    expect(await databases()).toEqual(before);
    expect(await h.pg.query(`select datistemplate from pg_database where datname = 'tpl_custom'`)).toEqual([{ datistemplate: true }]);
  });
});

describe('GIVEN a restore of a database that is running', () => {
  test('WHEN a second restore of the same database starts THEN it is refused at once, saying from where and since when, and changes nothing', async () => {
    const bucket = await freshBucket(h.client, 'race');
    await createDatabase('racedb', USERS_SQL);
    // A backup whose load sleeps: the first restore stays in its load until the test ends it.
    const slow = `${pgDumpSql(h.pg.env(), 'racedb')}\nselect pg_sleep(120);\n`;
    const backup = await writeBackupFixture(h.client, bucket, { sql: slow, database: 'racedb', takenAt: new Date('2025-09-17T10:30:00Z') });
    const before = await databases();

    let firstPid = 0;
    const first = runCli(['restore', backup.key, '--yes'], { env: env('racedb', bucket), onSpawn: (p) => (firstPid = p) });
    let loading = false;
    for (let i = 0; i < 600 && !loading; i += 1) {
      loading = (await h.pg.query(`select 1 from pg_stat_activity where query like 'select pg_sleep(120)%' and datname like 'racedb_restore_%'`)).length > 0;
      if (!loading) await new Promise((r) => setTimeout(r, 100));
    }
    expect(loading).toBe(true);
    const whileLoading = await databases();

    const second = await runCli(['restore', backup.key, '--yes'], { env: env('racedb', bucket) });

    expectOneErrorLine(
      second,
      /^meatbackup: a restore of database racedb is already running \(from \S+@\S+, since \d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z\): wait for it to finish, then run this one again; nothing was changed$/,
    );
    expect(second.code).toBe(1);
    expect(await databases()).toEqual(whileLoading);

    process.kill(firstPid, 'SIGTERM');
    expect((await first).code).toBe(143);
    expect(await databases()).toEqual(before);

    // Once the first has ended, the lock is free again.
    const lock = await acquireRestoreLock(h.pg.connection(), 'racedb', { from: thisProcess(process.env) });
    await lock.release();
  });
});
