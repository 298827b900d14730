/**
 * `meatbackup restore-test` against a real PostgreSQL and the S3 emulator, through the built CLI (run
 * `npm run build` first) and, where the clock must be fixed, through runRestoreTest in-process.
 */
import { existsSync } from 'node:fs';
import { CreateBucketCommand, GetObjectCommand, GetObjectRetentionCommand, GetObjectTaggingCommand, ListObjectVersionsCommand, PutBucketVersioningCommand } from '@aws-sdk/client-s3';
import { createLogger } from '../../../src/core/log';
import { type RestoreTestResult, restoreTestResultSchema } from '../../../src/contract';
import { readManifest } from '../../../src/catalog/catalog';
import { readRestoreTestResult } from '../../../src/restore-test/record-result';
import { runRestoreTest } from '../../../src/restore-test/restore-test';
import { type CliResult, cleanEnv, runCli } from '../../support/cli';
import { useHarness } from '../../support/harness';
import { alterBackupObject, catalogOf, comparableDump, patchManifest, pgDumpSql, pgDumpallGlobals, putGlobals, writeBackupFixture } from '../../support/backup-fixture';
import { installedDecompressor } from '../../support/compressors';

const BUCKET = 'restore-tests';

const h = useHarness('restore-test', async ({ client, pg }) => {
  await client.send(new CreateBucketCommand({ Bucket: BUCKET }));
  await client.send(new PutBucketVersioningCommand({ Bucket: BUCKET, VersioningConfiguration: { Status: 'Enabled' } }));
  // The platform's tables belong to a role of its own, as they do in production.
  await pg.query('create role meat_owner nologin');
});

function env(database: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return cleanEnv({ ...h.s3.env, ...h.pg.env(database), BACKUP_BUCKET: BUCKET, ...extra });
}

async function databases(): Promise<string[]> {
  return (await h.pg.query<{ datname: string }>('select datname from pg_database order by 1')).map((r) => r.datname);
}

function dumpOf(database: string): string {
  return comparableDump(h.pg.env(database), database);
}

async function storedResult(key: string): Promise<RestoreTestResult> {
  const res = await h.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: `${key}.restore-test.json` }));
  return restoreTestResultSchema.parse(JSON.parse(await res.Body!.transformToString('utf8')));
}

function metrics(result: CliResult): Record<string, unknown>[] {
  return result.stderr.split('\n').filter((l) => l.includes('"_aws"')).map((l) => JSON.parse(l) as Record<string, unknown>);
}

function errorLines(result: CliResult): string[] {
  return result.stderr.split('\n').filter((l) => l.startsWith('meatbackup:'));
}

const quiet = (): ReturnType<typeof createLogger> => createLogger({ tty: false, stderr: { write: () => true } as unknown as NodeJS.WritableStream });

const MEATDB_SQL = `
create table users (id int primary key, name text not null);
create table messages (id bigserial primary key, user_id int references users, body text);
create index on messages (user_id);
create view active_users as select * from users where id > 10;
create function user_count() returns bigint language sql as 'select count(*) from users';
insert into users select g, 'user ' || g from generate_series(1, 3000) g;
insert into messages (user_id, body) select 1 + g % 3000, 'hello ' || g from generate_series(1, 5000) g;
alter table users owner to meat_owner;
analyze;
`;

/** A database like the platform's, once per name. */
async function liveDatabase(name: string): Promise<void> {
  if ((await databases()).includes(name)) return;
  await h.pg.query(`create database "${name}"`);
  await h.pg.query(MEATDB_SQL, name);
}

/** A fixture of `database` whose manifest records its real catalog summary, with `change` applied to it. */
async function fixtureOf(database: string, prefix: string, change: (c: Awaited<ReturnType<typeof catalogOf>>) => void = () => undefined) {
  await liveDatabase(database);
  const catalog = await catalogOf(h.pg.connection(database));
  change(catalog);
  return writeBackupFixture(h.client, BUCKET, { sql: pgDumpSql(h.pg.env(), database), database, takenAt: new Date('2025-09-17T10:30:00Z'), prefix, manifest: { catalog } });
}

describe('GIVEN a good backup taken with `meatbackup backup`', () => {
  test('WHEN its restore is tested THEN it passes, the result is recorded, the scratch database is gone and the live one untouched', async () => {
    await liveDatabase('meatdb');
    const backup = JSON.parse((await runCli(['backup', '--prefix', 'good/', '--json'], { env: env('meatdb') })).stdout) as { key: string };
    // A backup made before backups recorded their catalog summary gets the one it would have recorded.
    const catalog = await catalogOf(h.pg.connection('meatdb'));
    await patchManifest(h.client, BUCKET, backup.key, (m) => (m.catalog ? m : { ...m, catalog }));
    const dumpBefore = dumpOf('meatdb');
    const before = await databases();

    const result = await runCli(
      ['restore-test', 'latest', '--prefix', 'good/', '--assert', 'select count(*) = 3000 from users', '--assert', 'select user_count() > 0', '--json'],
      { env: env('meatdb') },
    );

    expect(errorLines(result)).toEqual([]);
    expect(result.code).toBe(0);
    const out = JSON.parse(result.stdout) as RestoreTestResult & { resultKey: string };
    expect(out).toMatchObject({
      key: backup.key,
      ok: true,
      mode: 'scratch',
      differences: [],
      assertions: [
        { sql: 'select count(*) = 3000 from users', ok: true },
        { sql: 'select user_count() > 0', ok: true },
      ],
      resultKey: `${backup.key}.restore-test.json`,
    });
    const { resultKey: _resultKey, notes: _notes, ...recorded } = out as RestoreTestResult & { resultKey: string; notes: string[] };
    expect(await storedResult(backup.key)).toEqual(recorded);
    expect(await readRestoreTestResult(h.client, BUCKET, backup.key)).toMatchObject({ ok: true, key: backup.key });
    // The result carries its backup's retention class, so the lifecycle rules expire both together.
    const tags = await h.client.send(new GetObjectTaggingCommand({ Bucket: BUCKET, Key: `${backup.key}.restore-test.json` }));
    const recordedClass = (await readManifest(h.client, BUCKET, backup.key))?.retention?.class;
    expect(recordedClass).toMatch(/^(daily|weekly|monthly)$/);
    expect(tags.TagSet).toEqual([{ Key: 'retention', Value: recordedClass }]);
    // The scratch database existed only during the test, and the live one is byte for byte what it was.
    expect(result.stderr).toMatch(/created scratch database meatdb_restore_test_\d{8}T\d{6}Z/);
    expect(await databases()).toEqual(before);
    expect(dumpOf('meatdb')).toBe(dumpBefore);
    expect(metrics(result)).toEqual([expect.objectContaining({ event: 'restore-test', Database: 'meatdb', RestoreTestSuccess: 1, RestoreTestSeconds: expect.any(Number) })]);
  });

  test('WHEN it is tested twice THEN the newest result overwrites the previous one', async () => {
    // GIVEN a good backup of its own (not the previous test's)
    await fixtureOf('meatdb', 'twice/');
    const first = JSON.parse((await runCli(['restore-test', '--prefix', 'twice/', '--json'], { env: env('meatdb') })).stdout) as RestoreTestResult;
    const second = JSON.parse((await runCli(['restore-test', '--prefix', 'twice/', '--json'], { env: env('meatdb') })).stdout) as RestoreTestResult;
    expect(first.ok).toBe(true);
    expect(second.testedAt > first.testedAt || second.testedAt === first.testedAt).toBe(true);
    expect((await storedResult(second.key)).testedAt).toBe(second.testedAt);
  });
});

describe('GIVEN a backup whose recorded summary does not match its content', () => {
  test('WHEN its restore is tested THEN it fails in one line naming what differed, the result says so, and nothing is left behind', async () => {
    const backup = await fixtureOf('meatdb', 'mismatch/', (c) => {
      c.tables.push({ schema: 'public', name: 'ghost', estimatedRows: 10, sizeBytes: 8192 });
      c.counts.tables += 1;
      c.counts.indexes += 2;
    });
    const dumpBefore = dumpOf('meatdb');
    const before = await databases();

    const result = await runCli(['restore-test', backup.key, '--prefix', 'mismatch/'], { env: env('meatdb') });

    expect(result.code).toBe(1);
    expect(errorLines(result)).toEqual([
      `meatbackup: restore test of ${backup.key} failed: tables: 3 recorded, 2 restored (and 2 more); result recorded at s3://${BUCKET}/${backup.key}.restore-test.json`,
    ]);
    expect(result.stdout).toMatch(/^FAILED {4}s3:\/\//);
    expect(await storedResult(backup.key)).toMatchObject({
      ok: false,
      differences: ['tables: 3 recorded, 2 restored', 'indexes: 5 recorded, 3 restored', 'table public.ghost is recorded but missing from the restored copy'],
    });
    expect(await databases()).toEqual(before);
    expect(dumpOf('meatdb')).toBe(dumpBefore);
    expect(metrics(result)).toEqual([expect.objectContaining({ Database: 'meatdb', RestoreTestSuccess: 0 })]);
  });

  test('WHEN a table comes back with far fewer rows than recorded THEN the row check fails it', async () => {
    const backup = await fixtureOf('meatdb', 'rows/', (c) => {
      Object.assign(c.tables.find((t) => t.name === 'users')!, { estimatedRows: 250_000, liveRows: 250_000 });
    });

    const result = await runCli(['restore-test', backup.key, '--prefix', 'rows/'], { env: env('meatdb') });

    expect(result.code).toBe(1);
    expect(errorLines(result)[0]).toMatch(/failed: rows of public\.users: 3000 restored, fewer than the 250000 the backup recorded \(live rows counted\), by more than 20% or 1000 rows; result recorded/);
  });

  test('WHEN the backup recorded no catalog summary (made before backups did) THEN it passes with a note', async () => {
    await liveDatabase('meatdb');
    const backup = await writeBackupFixture(h.client, BUCKET, { sql: pgDumpSql(h.pg.env(), 'meatdb'), database: 'meatdb', takenAt: new Date('2025-09-17T10:30:00Z'), prefix: 'old/' });

    const result = await runCli(['restore-test', backup.key, '--prefix', 'old/'], { env: env('meatdb') });

    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^passed {4}s3:\/\/restore-tests\/old\/meatdb-2025-09-17T10:30:00\.sql\.gz\ninto {6}scratch database meatdb_restore_test_\d{8}T\d{6}Z on 127\.0\.0\.1:\d+ as postgres \(scratch mode\), removed afterwards\n/);
    expect(result.stdout).toMatch(/^catalog {3}2 table\(s\); not checked: the backup recorded no catalog summary$/m);
    expect(result.stdout).not.toMatch(/^differs/m);
    expect(await storedResult(backup.key)).toMatchObject({ ok: true, differences: [expect.stringMatching(/^no catalog summary recorded \(backup made before backups recorded one\)/)] });
  });
});

describe('GIVEN a bucket with Object Lock', () => {
  test('WHEN a backup in it is tested twice THEN each result is written unlocked and the newest is the current version', async () => {
    await h.client.send(new CreateBucketCommand({ Bucket: 'restore-tests-locked', ObjectLockEnabledForBucket: true }));
    await liveDatabase('meatdb');
    const catalog = await catalogOf(h.pg.connection('meatdb'));
    const backup = await writeBackupFixture(h.client, 'restore-tests-locked', { sql: pgDumpSql(h.pg.env(), 'meatdb'), database: 'meatdb', takenAt: new Date('2025-09-17T10:30:00Z'), manifest: { catalog } });

    for (let run = 0; run < 2; run += 1) {
      const result = await runCli(['restore-test', backup.key, '--bucket', 'restore-tests-locked'], { env: env('meatdb') });
      expect(errorLines(result)).toEqual([]);
    }

    const resultKey = `${backup.key}.restore-test.json`;
    const versions = await h.client.send(new ListObjectVersionsCommand({ Bucket: 'restore-tests-locked', Prefix: resultKey }));
    expect(versions.Versions?.map((v) => v.Key)).toEqual([resultKey, resultKey]);
    await expect(h.client.send(new GetObjectRetentionCommand({ Bucket: 'restore-tests-locked', Key: resultKey }))).rejects.toThrow();
    expect(await readRestoreTestResult(h.client, 'restore-tests-locked', backup.key)).toMatchObject({ ok: true });
  });
});

describe('GIVEN SQL assertions', () => {
  test('WHEN one is false and one errors THEN the test fails naming the first, both are recorded, and the database is gone', async () => {
    const backup = await fixtureOf('meatdb', 'asserts/');
    const before = await databases();

    const result = await runCli(['restore-test', backup.key, '--prefix', 'asserts/'], {
      env: env('meatdb', { RESTORE_TEST_ASSERTIONS: JSON.stringify(['select count(*) > 0 from users', 'select count(*) > 5000 from users', 'select count(*) > 0 from no_such_table']) }),
    });

    expect(result.code).toBe(1);
    expect(errorLines(result)).toEqual([
      `meatbackup: restore test of ${backup.key} failed: assertion "select count(*) > 5000 from users" failed: it returned false, not true (and 1 more); result recorded at s3://${BUCKET}/${backup.key}.restore-test.json`,
    ]);
    expect((await storedResult(backup.key)).assertions).toEqual([
      { sql: 'select count(*) > 0 from users', ok: true },
      { sql: 'select count(*) > 5000 from users', ok: false, error: 'it returned false, not true' },
      { sql: 'select count(*) > 0 from no_such_table', ok: false, error: 'relation "no_such_table" does not exist' },
    ]);
    expect(await databases()).toEqual(before);
  });

  test.each([
    ['two rows', 'select true from generate_series(1, 2)', 'it returned 2 rows, not one'],
    ['two columns', 'select true, true', 'it returned 2 columns, not one'],
    ['NULL', 'select null::boolean', 'it returned NULL, not true'],
    ['a write', 'delete from users', 'cannot execute DELETE in a read-only transaction'],
  ])('WHEN an assertion returns %s THEN it fails', async (_what, sql, error) => {
    const backup = await fixtureOf('meatdb', 'shapes/');
    const result = await runCli(['restore-test', backup.key, '--prefix', 'shapes/', '--assert', sql, '--json'], { env: env('meatdb') });
    expect(result.code).toBe(1);
    expect((JSON.parse(result.stdout) as RestoreTestResult).assertions).toEqual([{ sql, ok: false, error }]);
  });

  test('WHEN RESTORE_TEST_ASSERTIONS is not a JSON array of strings THEN it is a usage error before anything runs', async () => {
    const result = await runCli(['restore-test', '--prefix', 'asserts/'], { env: env('meatdb', { RESTORE_TEST_ASSERTIONS: 'select 1' }) });
    expect(result.code).toBe(2);
    expect(errorLines(result)).toEqual(['meatbackup: RESTORE_TEST_ASSERTIONS=select 1: give a JSON array of SQL strings, each returning one true, e.g. ["select count(*) > 0 from users"]']);
  });
});

describe('GIVEN a backup that cannot be restored', () => {
  test('WHEN it was altered after upload THEN no database is created and the failure is recorded', async () => {
    const backup = await fixtureOf('meatdb', 'altered/');
    await alterBackupObject(h.client, BUCKET, backup, (b) => b.subarray(0, b.length - 10));
    await patchManifest(h.client, BUCKET, backup.key, (m) => ({ ...m, versionId: undefined }));
    const before = await databases();

    const result = await runCli(['restore-test', backup.key, '--prefix', 'altered/'], { env: env('meatdb') });

    expect(result.code).toBe(1);
    expect(errorLines(result)[0]).toMatch(/failed: backup altered\/meatdb-2025-09-17T10:30:00\.sql\.gz does not match its manifest: it is \d+ bytes/);
    expect(result.stderr).not.toMatch(/created scratch database/);
    expect(await storedResult(backup.key)).toMatchObject({ ok: false, error: expect.stringMatching(/does not match its manifest/) });
    expect(await databases()).toEqual(before);
  });

  test('WHEN its SQL fails half-way THEN the scratch database is dropped and psql\'s error is recorded', async () => {
    await liveDatabase('meatdb');
    const broken = pgDumpSql(h.pg.env(), 'meatdb').replace(/(COPY public\.users[^\n]*\n)/, '$1this is not a row\n');
    const backup = await writeBackupFixture(h.client, BUCKET, { sql: broken, database: 'meatdb', takenAt: new Date('2025-09-17T10:30:00Z'), prefix: 'broken/' });
    const before = await databases();

    // One psql stream (--jobs 1): psql's own line; the parallel load's failure is in parallel-load.test.ts.
    const result = await runCli(['restore-test', backup.key, '--prefix', 'broken/', '--jobs', '1'], { env: env('meatdb') });

    expect(result.code).toBe(1);
    expect(errorLines(result)[0]).toMatch(/failed: the backup's SQL failed \(exit 3\): line \d+ of the backup's SQL: ERROR: invalid input syntax for type integer: "this is not a row"/);
    expect(result.stderr).toMatch(/dropped scratch database meatdb_restore_test_/);
    expect(await databases()).toEqual(before);
  });

  test('WHEN the scratch name is already taken THEN that database is refused, not touched, and the failure recorded', async () => {
    const backup = await fixtureOf('meatdb', 'taken/');
    await h.pg.query('create database "meatdb_restore_test_20250918T000000Z"');
    await h.pg.query('create table mine (x int)', 'meatdb_restore_test_20250918T000000Z');

    const outcome = await runRestoreTest({ decompressor: installedDecompressor(),
      s3: h.client, bucket: BUCKET, prefix: 'taken/', ref: 'latest', mode: 'scratch', assertions: [],
      conn: h.pg.connection('meatdb'), logger: quiet(), now: () => new Date('2025-09-18T00:00:00Z'),
    });

    expect(outcome.result).toMatchObject({
      key: backup.key,
      ok: false,
      error: expect.stringMatching(/^database meatdb_restore_test_20250918T000000Z already exists on .*: another restore test is running, or one left it behind; it was not touched/),
    });
    expect(await h.pg.query('select count(*)::int as n from mine', 'meatdb_restore_test_20250918T000000Z')).toEqual([{ n: 0 }]);
    await h.pg.query('drop database "meatdb_restore_test_20250918T000000Z"');
  });

  test('WHEN the task gets SIGTERM during the load THEN psql is killed, the scratch database dropped, nothing is recorded against the backup, and it exits 143', async () => {
    await liveDatabase('meatdb');
    const slow = `${pgDumpSql(h.pg.env(), 'meatdb')}\nselect pg_sleep(120);\n`;
    const backup = await writeBackupFixture(h.client, BUCKET, { sql: slow, database: 'meatdb', takenAt: new Date('2025-09-17T10:30:00Z'), prefix: 'sigterm/' });
    const before = await databases();

    let pid = 0;
    const running = runCli(['restore-test', backup.key, '--prefix', 'sigterm/'], { env: env('meatdb'), onSpawn: (p) => (pid = p) });
    for (let i = 0; i < 300; i += 1) {
      const sleeping = await h.pg.query(`select 1 from pg_stat_activity where query like 'select pg_sleep(120)%' and datname like 'meatdb_restore_test_%'`);
      if (sleeping.length > 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    process.kill(pid, 'SIGTERM');
    const result = await running;

    expect(result.code).toBe(143);
    expect(errorLines(result)).toEqual(['meatbackup: interrupted by SIGTERM; nothing was left half-done']);
    expect(await databases()).toEqual(before);
    expect(await h.pg.query(`select 1 from pg_stat_activity where query like 'select pg_sleep(120)%'`)).toEqual([]);
    // An interruption says nothing about the backup: no FAILED result, no RestoreTestSuccess 0 for the failed-test alarm.
    await expect(storedResult(backup.key)).rejects.toThrow(/NoSuchKey|does not exist/);
    expect(metrics(result)).toEqual([expect.objectContaining({ Database: 'meatdb', RestoreTestCannotTest: 0 })]);
    expect(metrics(result)[0]).not.toHaveProperty('RestoreTestSuccess');
  });

  test('WHEN there is no backup at all THEN it fails in one line and the metric still reports the failure', async () => {
    const result = await runCli(['restore-test', '--prefix', 'nothing-here/'], { env: env('meatdb') });
    expect(result.code).toBe(1);
    expect(errorLines(result)).toEqual([`meatbackup: there are no backups under s3://${BUCKET}/nothing-here/: take one with \`meatbackup backup\``]);
    expect(metrics(result)).toEqual([expect.objectContaining({ Database: 'meatdb', RestoreTestSuccess: 0 })]);
  });
});

describe('GIVEN cluster mode', () => {
  test('WHEN a backup whose objects belong to a role of the source is tested THEN a throwaway cluster gets its globals, passes, and is removed; the server is not touched', async () => {
    const backup = await fixtureOf('meatdb', 'cluster/');
    const globals = await putGlobals(h.client, BUCKET, backup.key, pgDumpallGlobals(h.pg.env()));
    await patchManifest(h.client, BUCKET, backup.key, (m) => ({ ...m, globals }));
    const before = await databases();
    const dumpBefore = dumpOf('meatdb');

    const result = await runCli(['restore-test', backup.key, '--prefix', 'cluster/', '--mode', 'cluster', '--assert', "select pg_get_userbyid(relowner) = 'meat_owner' from pg_class where relname = 'users'"], {
      env: env('meatdb'),
    });

    expect(errorLines(result)).toEqual([]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^into {6}database meatdb_restore_test_\d{8}T\d{6}Z in a throwaway PostgreSQL \d+ cluster \(cluster mode\), removed afterwards$/m);
    const started = result.stderr.split('\n').filter((l) => l.includes('started a throwaway')).map((l) => JSON.parse(l) as { dataDir: string });
    expect(started).toHaveLength(1);
    expect(existsSync(started[0].dataDir)).toBe(false);
    expect(await storedResult(backup.key)).toMatchObject({ ok: true, mode: 'cluster', differences: [] });
    expect(await databases()).toEqual(before);
    expect(dumpOf('meatdb')).toBe(dumpBefore);
  });

  test('WHEN RESTORE_TEST_MODE picks cluster and the backup comes from a newer major than the installed server THEN it is refused clearly', async () => {
    await liveDatabase('meatdb');
    const backup = await writeBackupFixture(h.client, BUCKET, {
      sql: 'select 1;', database: 'meatdb', takenAt: new Date('2025-09-17T10:30:00Z'), prefix: 'future/', manifest: { serverVersion: '99.1' },
    });

    const result = await runCli(['restore-test', backup.key, '--prefix', 'future/'], { env: env('meatdb', { RESTORE_TEST_MODE: 'cluster' }) });

    expect(result.code).toBe(1);
    expect(errorLines(result)[0]).toMatch(
      /failed: the backup comes from PostgreSQL 99\.1 but the newest server installed here is \d+: a dump does not load into an older major; install the PostgreSQL server \(apt-get install postgresql-99\) or use --mode scratch; result recorded/,
    );
    expect(await storedResult(backup.key)).toMatchObject({ ok: false, mode: 'cluster' });
  });

  test('WHEN --mode is neither scratch nor cluster THEN it is a usage error', async () => {
    const result = await runCli(['restore-test', '--mode', 'rds'], { env: env('meatdb') });
    expect(result.code).toBe(2);
    expect(errorLines(result)).toEqual(['meatbackup: --mode is "rds": use scratch or cluster']);
  });
});
