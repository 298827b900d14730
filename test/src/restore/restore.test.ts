/**
 * The runbook's "restore a chosen backup", against a real PostgreSQL and the S3 emulator, through the built CLI
 * (run `npm run build` first) and, where ECS has to be faked, through restoreBackup in-process.
 */
import { CreateBucketCommand, GetObjectCommand, PutBucketVersioningCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { DescribeServicesCommand, DescribeTasksCommand, ECSClient, ListTasksCommand, UpdateServiceCommand } from '@aws-sdk/client-ecs';
import { mockClient } from 'aws-sdk-client-mock';
import { createLogger } from '../../../src/core/log';
import { restoreBackup } from '../../../src/restore/restore';
import { ecsService } from '../../../src/restore/web-service';
import { createFreshDatabase, describeDatabase, swapDatabases } from '../../../src/restore/database-swap';
import { hashPinnedObject, pinBackupObject } from '../../../src/restore/fetch-verified';
import { withClient } from '../../../src/postgres/client';
import { Client } from 'pg';
import { spawn } from 'node:child_process';
import { type CliResult, CLI, cleanEnv, runCli } from '../../support/cli';
import { type FixtureBackup, alterBackupObject, pgDumpSql, writeBackupFixture } from '../../support/backup-fixture';
import { useHarness } from '../backup/fixtures';
import { AWKWARD_SCHEMA_SQL } from './awkward-schema';
import { installedDecompressor } from '../../support/compressors';
import { thisProcess } from '../../../src/restore/restore-lock';

const VERSIONED = 'restore-versioned';
const PLAIN = 'restore-plain';

// Both buckets are made once; every test writes under its own prefix and creates its own databases.
const h = useHarness('restore', async ({ client }) => {
  await client.send(new CreateBucketCommand({ Bucket: VERSIONED }));
  await client.send(new PutBucketVersioningCommand({ Bucket: VERSIONED, VersioningConfiguration: { Status: 'Enabled' } }));
  await client.send(new CreateBucketCommand({ Bucket: PLAIN }));
});

function env(database: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return cleanEnv({ ...h.s3.env, ...h.pg.env(database), BACKUP_BUCKET: VERSIONED, ...extra });
}

async function createDatabase(name: string, sql?: string): Promise<void> {
  await h.pg.query(`create database "${name}"`);
  if (sql) await h.pg.query(sql, name);
}

async function databases(): Promise<string[]> {
  return (await h.pg.query<{ datname: string }>('select datname from pg_database order by 1')).map((r) => r.datname);
}

/** pg_dump of a database without the per-run `\restrict` key lines recent pg_dump releases add. */
function dumpOf(database: string): string {
  return pgDumpSql(h.pg.env(database), database)
    .split('\n')
    .filter((line) => !/^\\(un)?restrict /.test(line))
    .join('\n');
}

function json(result: CliResult): Record<string, unknown> {
  if (result.code !== 0) throw new Error(`exit ${result.code}: ${result.stderr}`);
  return JSON.parse(result.stdout) as Record<string, unknown>;
}

/** A real backup of `database` with `meatbackup backup`, under `prefix`. */
async function backupWithCli(database: string, prefix: string): Promise<string> {
  const out = json(await runCli(['backup', '--prefix', prefix, '--json'], { env: env(database) }));
  return out.key as string;
}

const MEATDB_SQL = `
create table users (id int primary key, name text not null);
insert into users select g, 'user ' || g from generate_series(1, 100) g;
`;

describe('GIVEN backups taken with `meatbackup backup`', () => {
  test('WHEN I restore one into a new database THEN pg_dump of the restored database is identical to the source', async () => {
    await createDatabase('source', AWKWARD_SCHEMA_SQL);
    await backupWithCli('source', 'awkward/');

    const result = await runCli(['restore', 'latest', '--prefix', 'awkward/', '--from-database', 'source', '--target-db', 'réstauré 数据', '--json'], { env: env('source') });
    const out = json(result);

    expect(out).toMatchObject({ target: 'réstauré 数据', replaces: false, sourceDatabase: 'source' });
    expect(await databases()).toContain('réstauré 数据');
    expect(await databases()).not.toEqual(expect.arrayContaining([expect.stringMatching(/_restore_/)]));
    const source = dumpOf('source');
    expect(source).toContain('Täble 数据');
    expect(source).toContain('lo_create');
    expect(dumpOf('réstauré 数据')).toBe(source);
    // Progress and the EMF metric go to stderr as JSON lines when there is no terminal.
    const metric = result.stderr.split('\n').filter((l) => l.includes('"_aws"')).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(metric).toEqual([expect.objectContaining({ event: 'restore', Database: 'réstauré 数据', RestoreSuccess: 1 })]);
  });

  test('WHEN I restore over the live database with --yes THEN it holds the backup and the replaced database is kept with the rows written after the backup', async () => {
    await createDatabase('meatdb', MEATDB_SQL);
    await h.pg.query(`alter database meatdb set work_mem = '7MB'`);
    await h.pg.query(`alter database meatdb set search_path = "$user", public, "we ird"`);
    await h.pg.query(`comment on database meatdb is 'the platform database'`);
    await h.pg.query('create role meat_readonly');
    await h.pg.query('revoke temporary on database meatdb from public');
    await h.pg.query('grant connect on database meatdb to meat_readonly');
    const key = await backupWithCli('meatdb', 'live/');
    await h.pg.query(`insert into users values (101, 'written after the backup')`, 'meatdb');
    const settingsBefore = await h.pg.query(`select setconfig from pg_db_role_setting s join pg_database d on d.oid = s.setdatabase where d.datname = 'meatdb'`);
    const aclBefore = await h.pg.query(`select datacl::text as acl, shobj_description(oid, 'pg_database') as comment from pg_database where datname = 'meatdb'`);

    const result = await runCli(['restore', key.split('/').pop()!, '--prefix', 'live/', '--yes'], { env: env('meatdb') });

    expect(result.code).toBe(0);
    const kept = /kept\s+the database it replaced, as (\S+):/.exec(result.stdout)?.[1];
    expect(kept).toMatch(/^meatdb_pre_restore_\d{8}T\d{6}Z$/);
    expect(await h.pg.query('select count(*)::int as n from users', 'meatdb')).toEqual([{ n: 100 }]);
    expect(await h.pg.query('select name from users where id = 101', kept)).toEqual([{ name: 'written after the backup' }]);
    // What pg_dump leaves out travelled with the swap: settings, grants, comment.
    const settingsAfter = await h.pg.query(`select setconfig from pg_db_role_setting s join pg_database d on d.oid = s.setdatabase where d.datname = 'meatdb'`);
    expect(settingsAfter).toEqual(settingsBefore);
    expect(await h.pg.query(`select datacl::text as acl, shobj_description(oid, 'pg_database') as comment from pg_database where datname = 'meatdb'`)).toEqual(aclBefore);
    expect(await h.pg.query('show search_path', 'meatdb')).toEqual([{ search_path: '"$user", public, "we ird"' }]);
  });

  test('WHEN the bucket is not versioned THEN the restore reads the current object, checked by its sha256 alone, without notes', async () => {
    await createDatabase('unversioned', MEATDB_SQL);
    const out = json(await runCli(['backup', '--bucket', PLAIN, '--prefix', 'unversioned/', '--json'], { env: env('unversioned') }));
    const restored = json(await runCli(['restore', out.key as string, '--bucket', PLAIN, '--prefix', 'unversioned/', '--from-database', 'unversioned', '--target-db', 'unversioned_copy', '--json'], { env: env('unversioned') }));
    expect(restored).toMatchObject({ target: 'unversioned_copy', notes: [] });
    expect(restored).not.toHaveProperty('versionId');
    expect(dumpOf('unversioned_copy')).toBe(dumpOf('unversioned'));
  });

  test('WHEN I name a backup that does not exist THEN the error lists the ones that do and nothing is changed', async () => {
    await createDatabase('missingdb', MEATDB_SQL);
    await writeBackupFixture(h.client, VERSIONED, { sql: pgDumpSql(h.pg.env(), 'missingdb'), database: 'missingdb', takenAt: new Date('2025-09-17T10:30:00Z'), prefix: 'missing/' });
    const before = await databases();
    const result = await runCli(['restore', 'missingdb-2001-01-01T00:00:00.sql.gz', '--prefix', 'missing/', '--yes'], { env: env('missingdb') });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^meatbackup: backup missingdb-2001-01-01T00:00:00\.sql\.gz not found under s3:\/\/restore-versioned\/missing\/; newest there: missingdb-2025-09-17T10:30:00\.sql\.gz\n$/);
    expect(await databases()).toEqual(before);
  });

  test('WHEN I name a key outside the prefix THEN it is refused before S3 is asked', async () => {
    const result = await runCli(['restore', 'other/meatdb-2025-09-17T10:30:00.sql.gz', '--yes'], { env: env('meatdb') });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^meatbackup: .*outside backups\//);
  });
});

describe('GIVEN a live database and no terminal', () => {
  test('WHEN I restore over it without --yes THEN it is refused in one line and nothing changes', async () => {
    await createDatabase('noyes', MEATDB_SQL);
    const backup = await writeBackupFixture(h.client, VERSIONED, { sql: pgDumpSql(h.pg.env(), 'noyes'), database: 'noyes', takenAt: new Date('2025-09-17T10:30:00Z'), prefix: 'noyes/' });
    const before = await databases();

    const result = await runCli(['restore', backup.key], { env: env('noyes', { BACKUP_PREFIX: 'noyes/' }) });

    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^meatbackup: restoring noyes\/noyes-2025-09-17T10:30:00\.sql\.gz replaces database noyes \(the current one would be kept as noyes_pre_restore_\d{8}T\d{6}Z\): pass --yes to confirm; nothing was changed\n$/);
    expect(await databases()).toEqual(before);
  });
});

/** Runs the CLI on a pseudo-terminal (util-linux `script`) and answers its question with `answer`. */
function runOnTerminal(args: string[], env: NodeJS.ProcessEnv, answer: string): Promise<{ code: number | null; output: string }> {
  const quoted = [process.execPath, CLI, ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qec', quoted, '/dev/null'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    let answered = false;
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString();
      if (!answered && output.includes('[y/N]')) {
        answered = true;
        child.stdin.write(`${answer}\n`);
      }
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

describe('GIVEN a live database and an operator at a terminal', () => {
  test.each([
    ['n', 1, /restore cancelled: database onterm was not replaced and nothing was changed/],
    ['y', 0, /kept\s+the database it replaced, as onterm_pre_restore_\d{8}T\d{6}Z/],
  ])('WHEN the restore asks and the answer is %s THEN it exits %i', async (answer, code, said) => {
    if ((await databases()).includes('onterm')) await h.pg.query('drop database onterm');
    await createDatabase('onterm', MEATDB_SQL);
    const backup = await writeBackupFixture(h.client, VERSIONED, { sql: pgDumpSql(h.pg.env(), 'onterm'), database: 'onterm', takenAt: new Date('2025-09-17T10:30:00Z'), prefix: 'onterm/' });
    const before = await databases();

    const result = await runOnTerminal(['restore', backup.key, '--prefix', 'onterm/'], env('onterm'), answer);

    expect(result.output).toMatch(/replaces\s+database onterm on 127\.0\.0\.1:\d+ as postgres/);
    expect(result.output).toMatch(/Replace database onterm with this backup\? \[y\/N\]/);
    expect(result.output).toMatch(said);
    expect(result.code).toBe(code);
    if (answer === 'n') expect(await databases()).toEqual(before);
    else expect((await databases()).filter((d) => d.startsWith('onterm'))).toEqual(['onterm', expect.stringMatching(/^onterm_pre_restore_/)]);
  });
});

describe('GIVEN a backup altered after upload', () => {
  test.each([
    ['one byte flipped', (b: Buffer) => (b.writeUInt8(b.readUInt8(b.length >> 1) ^ 0xff, b.length >> 1), b), /its sha256 is [0-9a-f]+… but the manifest records/],
    ['cut short', (b: Buffer) => b.subarray(0, b.length - 100), /it is \d+ bytes .* but the manifest records \d+/],
  ])('WHEN it was %s and I restore it THEN it is refused before any database is touched', async (_what, alter, reason) => {
    const db = `altered_${_what.replace(/\W/g, '_')}`;
    await createDatabase(db, MEATDB_SQL);
    const backup = await writeBackupFixture(h.client, PLAIN, { sql: pgDumpSql(h.pg.env(), db), database: db, takenAt: new Date('2025-09-17T10:30:00Z') });
    await alterBackupObject(h.client, PLAIN, backup, alter);
    const dumpBefore = dumpOf(db);
    const before = await databases();

    const result = await runCli(['restore', backup.key, '--bucket', PLAIN, '--yes'], { env: env(db) });

    expect(result.code).toBe(1);
    expect(result.stderr.split('\n').filter((l) => l.startsWith('meatbackup:'))).toEqual([
      expect.stringMatching(new RegExp(`^meatbackup: backup backups/${db}-2025-09-17T10:30:00\\.sql\\.gz does not match its manifest: .*; it was altered or truncated after upload, so it is refused and nothing was changed$`)),
    ]);
    expect(result.stderr).toMatch(reason);
    expect(await databases()).toEqual(before);
    expect(dumpOf(db)).toBe(dumpBefore);
  });

  test('WHEN the bucket is versioned and the key was overwritten THEN the version the manifest recorded is restored and the output says so', async () => {
    await createDatabase('versioned_src', MEATDB_SQL);
    const backup = await writeBackupFixture(h.client, VERSIONED, { sql: pgDumpSql(h.pg.env(), 'versioned_src'), database: 'versioned_src', takenAt: new Date('2025-09-17T10:30:00Z'), prefix: 'overwritten/' });
    await alterBackupObject(h.client, VERSIONED, backup, () => Buffer.from('not a backup'));

    const out = json(await runCli(['restore', backup.key, '--prefix', 'overwritten/', '--from-database', 'versioned_src', '--target-db', 'versioned_copy', '--json'], { env: env('versioned_src') }));

    expect(out).toMatchObject({ versionId: backup.versionId, notes: [expect.stringMatching(/written again after the backup/)] });
    expect(dumpOf('versioned_copy')).toBe(dumpOf('versioned_src'));
  });
});

describe('GIVEN a backup whose bytes change while it is being restored', () => {
  test('WHEN it is read in ranges in parallel THEN the hash is the manifest\'s', async () => {
    await createDatabase('ranged', AWKWARD_SCHEMA_SQL);
    const backup = await writeBackupFixture(h.client, PLAIN, { sql: pgDumpSql(h.pg.env(), 'ranged'), database: 'ranged', takenAt: new Date('2025-09-17T10:30:00Z'), prefix: 'ranged/' });
    const { pin } = await pinBackupObject(h.client, PLAIN, backup.key, backup.manifest);
    const seen: number[] = [];
    const digest = await hashPinnedObject(h.client, pin, { concurrency: 3, partBytes: 8192, onProgress: (b) => seen.push(b) });
    expect(digest).toEqual({ sha256: backup.manifest.sha256, sizeBytes: backup.bytes.length });
    expect(seen.length).toBe(Math.ceil(backup.bytes.length / 8192));
  });

  test('WHEN it is overwritten between the check and the load THEN the load fails on the sha256, the fresh database is dropped and the live one untouched', async () => {
    await createDatabase('raced', MEATDB_SQL);
    const backup = await writeBackupFixture(h.client, PLAIN, { sql: pgDumpSql(h.pg.env(), 'raced'), database: 'raced', takenAt: new Date('2025-09-17T10:30:00Z'), prefix: 'raced/' });
    let whole = 0;
    // The first whole-object GET is the check; before the second (the load) someone overwrites the object.
    const racing = {
      send: async (command: { input: unknown }, options?: unknown) => {
        if (command instanceof GetObjectCommand && !command.input.Range && command.input.Key === backup.key && ++whole === 2) {
          await alterBackupObject(h.client, PLAIN, backup, (b) => (b.writeUInt8(b.readUInt8(b.length - 20) ^ 1, b.length - 20), b));
        }
        return (h.client.send as (c: unknown, o?: unknown) => Promise<unknown>)(command, options);
      },
    } as unknown as S3Client;
    const dumpBefore = dumpOf('raced');
    const before = await databases();

    await expect(
      restoreBackup({ decompressor: installedDecompressor(), lockHolder: thisProcess(process.env),
        s3: racing, bucket: PLAIN, prefix: 'raced/', ref: backup.key, conn: h.pg.connection('raced'), confirmReplace: async () => true,
        logger: createLogger({ tty: false, stderr: { write: () => true } as unknown as NodeJS.WritableStream }), hash: { concurrency: 1 },
      }),
    ).rejects.toThrow(/does not match its manifest: on the restore pass its sha256 is .*; it was altered or truncated after upload, so it is refused and nothing was changed/);

    expect(whole).toBe(2);
    expect(await databases()).toEqual(before);
    expect(dumpOf('raced')).toBe(dumpBefore);
  });
});

describe('GIVEN a correctly recorded backup with broken SQL inside', () => {
  test('WHEN the restore fails half-way THEN the live database is untouched and no fresh database is left behind', async () => {
    await createDatabase('halfway', MEATDB_SQL);
    const good = pgDumpSql(h.pg.env(), 'halfway');
    const broken = good.replace(/(COPY public\.users[^\n]*\n)/, '$1' + 'this is not a row\n');
    expect(broken).not.toBe(good);
    const backup = await writeBackupFixture(h.client, VERSIONED, { sql: broken, database: 'halfway', takenAt: new Date('2025-09-17T10:30:00Z'), prefix: 'broken/' });
    const dumpBefore = dumpOf('halfway');
    const before = await databases();

    // One psql stream (--jobs 1): psql's own line; the parallel load's failure is in parallel-load.test.ts.
    const result = await runCli(['restore', backup.key.split('/').pop()!, '--prefix', 'broken/', '--yes', '--jobs', '1'], { env: env('halfway') });

    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^meatbackup: the backup's SQL failed \(exit 3\): line \d+ of the backup's SQL: ERROR: invalid input syntax for type integer: "this is not a row"/m);
    expect(await databases()).toEqual(before);
    expect(dumpOf('halfway')).toBe(dumpBefore);
  });
});

describe('GIVEN a backup written broken (its gzip ends mid-stream) and recorded as it is', () => {
  // igzip writes into psql's input itself: dying mid-stream, it must not end that input and let psql run what it
  // got. Either decompressor: the load fails as a broken backup, and nothing of it stays.
  test.each([
    ['igzip -d', {}, /igzip -d exited with code 1: .*complete gzip/],
    ['zlib', { PATH: '/nonexistent' }, /unexpected end of file/],
  ])('WHEN restored with %s THEN it fails as not valid gzip, the live database untouched and no fresh database left', async (name, extra, complaint) => {
    // GIVEN a dump with many rows, cut in the middle of its gzip, and a manifest of exactly those bytes
    const db = `cut_${name.replace(/\W/g, '')}`;
    await createDatabase(db, `${MEATDB_SQL}\ncreate table filler as select g as id, md5(g::text) as t from generate_series(1, 60000) g;`);
    const backup = await writeBackupFixture(h.client, VERSIONED, { sql: pgDumpSql(h.pg.env(), db), database: db, takenAt: new Date('2025-09-17T10:30:00Z'), prefix: 'cut/', memberBytes: 16 * 1024 * 1024 });
    const cut = await alterBackupObject(h.client, VERSIONED, backup, (bytes) => bytes.subarray(0, Math.floor(bytes.length / 2)));
    await recordAsIs(h.client, backup, cut);
    const dumpBefore = dumpOf(db);
    const before = await databases();

    // WHEN
    const result = await runCli(['restore', backup.key, '--prefix', 'cut/', '--yes'], { env: env(db, extra) });

    // THEN
    expect(result.code).toBe(1);
    const line = result.stderr.trimEnd().split('\n').pop()!;
    expect(line).toMatch(new RegExp(`^meatbackup: backup ${backup.key.replace(/[.]/g, '\\.')} matches its manifest but is not valid gzip \\(`));
    expect(line).toMatch(complaint);
    expect(line).toMatch(/it was written broken; pick another backup$/);
    expect(await databases()).toEqual(before);
    expect(dumpOf(db)).toBe(dumpBefore);
  });
});

/** Rewrites a fixture's manifest for `bytes`, as a backup run that wrote them broken would have recorded them. */
async function recordAsIs(client: S3Client, backup: FixtureBackup, bytes: Buffer): Promise<void> {
  const manifest = { ...backup.manifest, sizeBytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
  delete manifest.versionId;
  await client.send(new PutObjectCommand({ Bucket: VERSIONED, Key: backup.manifestKey, Body: `${JSON.stringify(manifest, null, 2)}\n`, ContentType: 'application/json' }));
}

describe('GIVEN a restore loading into its fresh database', () => {
  test('WHEN the task gets SIGTERM THEN psql is killed, the fresh database dropped, the exit non-zero and the live database untouched', async () => {
    await createDatabase('sigterm', MEATDB_SQL);
    const slow = `${pgDumpSql(h.pg.env(), 'sigterm')}\nselect pg_sleep(120);\ncreate table never_reached (x int);\n`;
    const backup = await writeBackupFixture(h.client, VERSIONED, { sql: slow, database: 'sigterm', takenAt: new Date('2025-09-17T10:30:00Z'), prefix: 'sigterm/' });
    const dumpBefore = dumpOf('sigterm');
    const before = await databases();

    let pid = 0;
    const running = runCli(['restore', backup.key, '--prefix', 'sigterm/', '--yes'], { env: env('sigterm'), onSpawn: (p) => (pid = p) });
    for (let i = 0; i < 300; i += 1) {
      const sleeping = await h.pg.query(`select 1 from pg_stat_activity where query like 'select pg_sleep(120)%' and datname like 'sigterm_restore_%'`);
      if (sleeping.length > 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    process.kill(pid, 'SIGTERM');
    const result = await running;

    expect(result.code).toBe(143);
    expect(result.stderr).toMatch(/^meatbackup: interrupted by SIGTERM; nothing was left half-done\n$/m);
    expect(await databases()).toEqual(before);
    expect(dumpOf('sigterm')).toBe(dumpBefore);
    expect(await h.pg.query(`select 1 from pg_stat_activity where query like 'select pg_sleep(120)%'`)).toEqual([]);
  });
});

describe('GIVEN a web service in front of the live database (ECS mocked)', () => {
  const ecsMock = mockClient(ECSClient);
  afterEach(() => ecsMock.reset());
  const web = { cluster: 'meat-cluster', service: 'web' };
  const quiet = (): ReturnType<typeof createLogger> => createLogger({ tty: false, stderr: { write: () => true } as unknown as NodeJS.WritableStream });

  async function fixtureFor(db: string) {
    await createDatabase(db, MEATDB_SQL);
    return writeBackupFixture(h.client, VERSIONED, { sql: pgDumpSql(h.pg.env(), db), database: db, takenAt: new Date('2025-09-17T10:30:00Z'), prefix: `${db}/` });
  }

  test('WHEN the restore replaces the database THEN the service is scaled to 0 only for the swap, waited for, and set back to its count', async () => {
    const backup = await fixtureFor('withweb');
    await h.pg.query(`insert into users values (500, 'after backup')`, 'withweb');
    let databasesWhenStopped: string[] = [];
    let stopped = false;
    ecsMock.on(DescribeServicesCommand).callsFake(() => ({ services: [{ status: 'ACTIVE', desiredCount: stopped ? 0 : 3, runningCount: stopped ? 0 : 3, pendingCount: 0 }] }));
    ecsMock.on(ListTasksCommand).callsFake(() => ({ taskArns: stopped ? [] : ['arn:aws:ecs:eu-west-1:1:task/meat-cluster/a'] }));
    ecsMock.on(DescribeTasksCommand).resolves({ tasks: [{ taskArn: 'arn:aws:ecs:eu-west-1:1:task/meat-cluster/a', lastStatus: 'STOPPED' }] });
    ecsMock.on(UpdateServiceCommand).callsFake(async (input: { desiredCount: number }) => {
      if (input.desiredCount === 0) {
        stopped = true;
        databasesWhenStopped = await databases();
      }
      return {};
    });

    const result = await restoreBackup({ decompressor: installedDecompressor(), lockHolder: thisProcess(process.env),
      s3: h.client, bucket: VERSIONED, prefix: 'withweb/', ref: backup.key, conn: h.pg.connection('withweb'),
      stopServices: ecsService(() => new ECSClient({ region: 'eu-west-1' }), web, { pollMs: 10 }), confirmReplace: async () => true,
      logger: quiet(),
    });

    expect(ecsMock.commandCalls(UpdateServiceCommand).map((c) => c.args[0].input)).toEqual([
      { cluster: 'meat-cluster', service: 'web', desiredCount: 0 },
      { cluster: 'meat-cluster', service: 'web', desiredCount: 3 },
    ]);
    // The service went down only once the fresh database was loaded, i.e. just for the swap.
    expect(databasesWhenStopped).toContain(result.freshName);
    expect(result).toMatchObject({ replaces: true, stoppedServices: 'ECS service meat-cluster/web', restarted: 'meat-cluster/web (desired count 3)' });
    expect(await h.pg.query('select count(*)::int as n from users', 'withweb')).toEqual([{ n: 100 }]);
    expect(await h.pg.query('select count(*)::int as n from users', result.keptAs)).toEqual([{ n: 101 }]);
  });

  test('WHEN its tasks never stop THEN the restore fails, the service gets its count back, and the live database is untouched', async () => {
    await fixtureFor('webstuck');
    ecsMock.on(DescribeServicesCommand).resolves({ services: [{ status: 'ACTIVE', desiredCount: 2, runningCount: 2, pendingCount: 0 }] });
    ecsMock.on(ListTasksCommand).resolves({ taskArns: ['arn:aws:ecs:eu-west-1:1:task/meat-cluster/b'] });
    ecsMock.on(DescribeTasksCommand).resolves({ tasks: [{ taskArn: 'arn:aws:ecs:eu-west-1:1:task/meat-cluster/b', lastStatus: 'RUNNING' }] });
    ecsMock.on(UpdateServiceCommand).resolves({});
    const dumpBefore = dumpOf('webstuck');
    const before = await databases();

    await expect(
      restoreBackup({ decompressor: installedDecompressor(), lockHolder: thisProcess(process.env),
        s3: h.client, bucket: VERSIONED, prefix: 'webstuck/', ref: 'latest', conn: h.pg.connection('webstuck'),
        stopServices: ecsService(() => new ECSClient({ region: 'eu-west-1' }), web, { pollMs: 10, timeoutMs: 200 }), confirmReplace: async () => true,
        logger: quiet(),
      }),
    ).rejects.toThrow(/web service meat-cluster\/web still has 2 task\(s\) running after 0\.2s/);

    expect(ecsMock.commandCalls(UpdateServiceCommand).map((c) => c.args[0].input.desiredCount)).toEqual([0, 2]);
    expect(await databases()).toEqual(before);
    expect(dumpOf('webstuck')).toBe(dumpBefore);
  });

  test('WHEN the ECS service does not exist THEN the plan says so before the confirmation and before any byte is read, and nothing changes', async () => {
    const backup = await fixtureFor('noservice');
    ecsMock.on(DescribeServicesCommand).resolves({ services: [], failures: [{ reason: 'MISSING' }] });
    const before = await databases();
    let asked = false;
    await expect(
      restoreBackup({ decompressor: installedDecompressor(), lockHolder: thisProcess(process.env),
        s3: h.client, bucket: VERSIONED, prefix: 'noservice/', ref: backup.key, conn: h.pg.connection('noservice'),
        stopServices: ecsService(() => new ECSClient({ region: 'eu-west-1' }), { cluster: 'meat-cluster', service: 'wbe' }),
        confirmReplace: async () => (asked = true), logger: quiet(),
      }),
    ).rejects.toThrow('web service meat-cluster/wbe does not exist: check --stop-ecs-service or WEB_SERVICE');
    expect(asked).toBe(false);
    expect(ecsMock.commandCalls(UpdateServiceCommand)).toHaveLength(0);
    expect(await databases()).toEqual(before);
  });
});

describe('GIVEN the database-level steps on a real server', () => {
  test('WHEN a fresh database is created like the live one THEN it has the same owner, encoding and locale', async () => {
    await h.pg.query('create role meat_owner');
    await h.pg.query(`create database likeme owner meat_owner template template0 encoding 'UTF8' lc_collate 'C' lc_ctype 'C'`);
    await withClient(h.pg.connection(), async (admin) => {
      const live = (await describeDatabase(admin, 'likeme'))!;
      await createFreshDatabase(admin, 'likeme_fresh', live);
      const fresh = (await describeDatabase(admin, 'likeme_fresh'))!;
      expect({ ...fresh, name: 'likeme' }).toEqual(live);
      expect(live).toMatchObject({ owner: 'meat_owner', encoding: 'UTF8', collate: 'C', ctype: 'C' });
    });
  });

  test('WHEN a client sits on the live database during the swap THEN its session is ended and both names move together', async () => {
    await createDatabase('swaplive', 'create table marker (v text); insert into marker values (\'live\')');
    await createDatabase('swapfresh', 'create table marker (v text); insert into marker values (\'fresh\')');
    const app = new Client(h.pg.connection('swaplive'));
    await app.connect();
    const ended = new Promise((resolve) => app.on('error', resolve));
    const terminated: number[] = [];
    await withClient(h.pg.connection(), (admin) =>
      swapDatabases(admin, { live: 'swaplive', fresh: 'swapfresh', kept: 'swaplive_kept' }, { onTerminated: (n) => terminated.push(n) }),
    );
    await expect(ended).resolves.toBeDefined();
    await app.end().catch(() => undefined);
    expect(terminated).toEqual([1]);
    expect(await h.pg.query('select v from marker', 'swaplive')).toEqual([{ v: 'fresh' }]);
    expect(await h.pg.query('select v from marker', 'swaplive_kept')).toEqual([{ v: 'live' }]);
  });

  test('WHEN the second rename fails THEN the first is rolled back and the live name still points at the live database', async () => {
    await createDatabase('swapalone', 'create table marker (v text); insert into marker values (\'live\')');
    await expect(
      withClient(h.pg.connection(), (admin) => swapDatabases(admin, { live: 'swapalone', fresh: 'no_such_fresh', kept: 'swapalone_kept' })),
    ).rejects.toThrow(/database "no_such_fresh" does not exist/);
    expect(await h.pg.query('select v from marker', 'swapalone')).toEqual([{ v: 'live' }]);
    expect(await databases()).not.toContain('swapalone_kept');
  });
});
