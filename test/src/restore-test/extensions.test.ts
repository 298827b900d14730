/**
 * Extensions in restore tests, against a real PostgreSQL 15 (contrib only) and the S3 emulator, through the built CLI
 * (run `npm run build` first): what a backup records of its extensions, "cannot test here" when the target lacks
 * one, and backups recorded before extensions were.
 */
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { type Extension, type Manifest, type RestoreTestResult, restoreTestResultSchema } from '../../../src/contract';
import { checkExtensions, missingExtensionInError } from '../../../src/restore-test/extensions';
import { EXIT_CANNOT_TEST } from '../../../src/restore-test/restore-test';
import { type CliResult, cleanEnv, runCli } from '../../support/cli';
import { catalogOf, comparableDump, pgDumpSql, writeBackupFixture } from '../../support/backup-fixture';
import { bucketContents, freshBucket, useHarness } from '../backup/fixtures';

const h = useHarness('extensions', async ({ pg }) => {
  // The platform's database with a contrib extension in use, as a database on the server.
  await pg.query('create database meatdb');
  await pg.query(
    `create extension citext;
     create table users (id int primary key, email citext not null unique);
     insert into users select g, 'User' || g || '@Example.org' from generate_series(1, 500) g;
     analyze;`,
    'meatdb',
  );
});

function env(bucket: string, database = 'meatdb'): NodeJS.ProcessEnv {
  return cleanEnv({ ...h.s3.env, ...h.pg.env(database), BACKUP_BUCKET: bucket });
}

function errorLines(result: CliResult): string[] {
  return result.stderr.split('\n').filter((l) => l.startsWith('meatbackup:'));
}

function metrics(result: CliResult): Record<string, unknown>[] {
  return result.stderr.split('\n').filter((l) => l.includes('"_aws"')).map((l) => JSON.parse(l) as Record<string, unknown>);
}

async function databases(): Promise<string[]> {
  return (await h.pg.query<{ datname: string }>('select datname from pg_database order by 1')).map((r) => r.datname);
}

async function storedResult(bucket: string, key: string): Promise<RestoreTestResult> {
  const res = await h.client.send(new GetObjectCommand({ Bucket: bucket, Key: `${key}.restore-test.json` }));
  return restoreTestResultSchema.parse(JSON.parse(await res.Body!.transformToString('utf8')));
}

/** What a database using pgvector dumps: an extension this server (contrib only) does not have. */
const VECTOR_SQL = `
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS vector WITH SCHEMA public;
CREATE TABLE public.embeddings (id integer PRIMARY KEY, embedding public.vector(3));
`;
const VECTOR: Extension = { name: 'vector', version: '0.8.0' };
const PLPGSQL: Extension = { name: 'plpgsql', version: '1.0' };

/** A backup of a pgvector database, crafted (this machine has no pgvector), its manifest as a backup records it. */
async function vectorBackup(bucket: string, extensions: Extension[] | undefined): Promise<{ key: string; manifest: Manifest }> {
  const catalog = await catalogOf(h.pg.connection('meatdb'));
  const { extensions: _real, ...withoutExtensions } = catalog;
  return writeBackupFixture(h.client, bucket, {
    sql: VECTOR_SQL,
    database: 'meatdb',
    takenAt: new Date('2025-09-17T10:30:00Z'),
    manifest: { catalog: { ...withoutExtensions, tables: [], ...(extensions ? { extensions } : {}) } },
  });
}

describe('GIVEN a database that uses a contrib extension (citext)', () => {
  test('WHEN it is backed up THEN the manifest records its extensions, verify and list show them, and its restore test passes with them', async () => {
    const bucket = await freshBucket(h.client, 'ext-contrib');
    const backup = JSON.parse((await runCli(['backup', '--json'], { env: env(bucket) })).stdout) as { key: string };

    const listed = JSON.parse((await runCli(['list', '--json'], { env: env(bucket) })).stdout) as { backups: Array<{ key: string; extensions: Extension[] | null; manifest: Manifest }> };
    expect(listed.backups).toHaveLength(1);
    expect(listed.backups[0].extensions).toEqual([{ name: 'citext', version: expect.stringMatching(/^\d+\.\d+$/) }, PLPGSQL]);
    expect(listed.backups[0].manifest.catalog?.extensions).toEqual(listed.backups[0].extensions);
    const citext = listed.backups[0].extensions![0].version;

    const verified = await runCli(['verify', backup.key], { env: env(bucket) });
    expect(errorLines(verified)).toEqual([]);
    expect(verified.stdout).toContain(`needs    extensions citext ${citext}, plpgsql 1.0\n`);

    const before = await databases();
    const tested = await runCli(['restore-test', backup.key, '--assert', "select count(*) = 1 from users where email = 'user7@example.org'", '--json'], { env: env(bucket) });

    expect(errorLines(tested)).toEqual([]);
    expect(tested.code).toBe(0);
    expect(JSON.parse(tested.stdout)).toMatchObject({ ok: true, differences: [], assertions: [{ ok: true }] });
    expect((await storedResult(bucket, backup.key)).cannotTest).toBeUndefined();
    expect(metrics(tested)).toEqual([expect.objectContaining({ Database: 'meatdb', RestoreTestSuccess: 1, RestoreTestCannotTest: 0 })]);
    expect(await databases()).toEqual(before);
  });
});

describe('GIVEN a backup that needs an extension the target does not offer (pgvector, on a contrib-only server)', () => {
  test('WHEN its restore is tested THEN it reports "cannot test here" naming the extension, exits 5, loads nothing and changes nothing else', async () => {
    const bucket = await freshBucket(h.client, 'ext-missing');
    const backup = await vectorBackup(bucket, [PLPGSQL, VECTOR]);
    const before = await databases();
    const dumpBefore = comparableDump(h.pg.env('meatdb'), 'meatdb');
    const objectsBefore = (await bucketContents(h.client, bucket)).versions;
    const port = h.pg.port;

    const result = await runCli(['restore-test', backup.key], { env: env(bucket) });

    expect(result.code).toBe(EXIT_CANNOT_TEST);
    const message =
      `cannot test here: needs extension vector (0.8.0), which the server 127.0.0.1:${port} does not offer: ` +
      'install it on that server, or use cluster mode with an image that has it (README: extensions in restore tests); this says nothing against the backup';
    expect(errorLines(result)).toEqual([`meatbackup: restore test of ${backup.key}: ${message}; result recorded at s3://${bucket}/${backup.key}.restore-test.json`]);
    expect(result.stdout).toMatch(/^CANNOT TEST HERE s3:\/\//);
    expect(await storedResult(bucket, backup.key)).toMatchObject({ ok: false, error: message, cannotTest: { missingExtensions: [VECTOR] }, assertions: [], differences: [] });
    // the weekly alarm for a bad backup stays quiet; its own metric says it could not run
    const [metric] = metrics(result);
    expect(metric).toMatchObject({ Database: 'meatdb', RestoreTestCannotTest: 1 });
    expect(metric).not.toHaveProperty('RestoreTestSuccess');
    expect(await databases()).toEqual(before);
    expect(comparableDump(h.pg.env('meatdb'), 'meatdb')).toBe(dumpBefore);
    expect((await bucketContents(h.client, bucket)).versions).toEqual([...objectsBefore, `${backup.key}.restore-test.json`].sort());

    // and list shows it apart from a failure
    const listed = await runCli(['list'], { env: env(bucket) });
    expect(listed.stdout).toMatch(/restore test CANNOT RUN \d{4}-\d\d-\d\d/);
  });

  test('WHEN it is tested in cluster mode THEN the throwaway cluster is checked and the message says to use scratch mode or add it to the image', async () => {
    const bucket = await freshBucket(h.client, 'ext-cluster');
    const backup = await vectorBackup(bucket, [PLPGSQL, VECTOR]);

    const result = await runCli(['restore-test', backup.key, '--mode', 'cluster', '--json'], { env: env(bucket) });

    expect(result.code).toBe(EXIT_CANNOT_TEST);
    expect(errorLines(result)).toEqual([
      expect.stringMatching(
        /^meatbackup: restore test of \S+: cannot test here: needs extension vector \(0\.8\.0\), which the throwaway PostgreSQL \d+ cluster does not offer: use scratch mode \(--mode scratch, on a server that has it\) or add it to the image \(README: extensions in restore tests\); this says nothing against the backup; result recorded at /,
      ),
    ]);
    expect(JSON.parse(result.stdout)).toMatchObject({ ok: false, mode: 'cluster', cannotTest: { missingExtensions: [VECTOR] } });
  });

  test('WHEN the backup was recorded before extensions were THEN psql\'s complaint is recognised as the same "cannot test here"', async () => {
    const bucket = await freshBucket(h.client, 'ext-old');
    const backup = await vectorBackup(bucket, undefined);
    expect(backup.manifest.catalog).not.toHaveProperty('extensions');
    const before = await databases();

    const result = await runCli(['restore-test', backup.key, '--json'], { env: env(bucket) });

    expect(result.code).toBe(EXIT_CANNOT_TEST);
    expect(errorLines(result)).toEqual([expect.stringMatching(/: cannot test here: needs extension vector, which the server \S+ does not offer: .* \(the backup's SQL failed \(exit 3\): line 3 of the backup's SQL: ERROR: .*vector.*\); result recorded at /)]);
    expect(await storedResult(bucket, backup.key)).toMatchObject({ ok: false, cannotTest: { missingExtensions: [{ name: 'vector' }] } });
    expect(await databases()).toEqual(before);
  });
});

describe('GIVEN a backup whose manifest was written before extensions were recorded', () => {
  test('WHEN it is listed, verified, restored and restore-tested THEN each works and says the extensions are not recorded', async () => {
    const bucket = await freshBucket(h.client, 'ext-compat');
    const { extensions: _none, ...oldCatalog } = await catalogOf(h.pg.connection('meatdb'));
    const backup = await writeBackupFixture(h.client, bucket, {
      sql: pgDumpSql(h.pg.env(), 'meatdb'), database: 'meatdb', takenAt: new Date('2025-09-17T10:30:00Z'), manifest: { catalog: oldCatalog },
    });

    const listed = JSON.parse((await runCli(['list', '--json'], { env: env(bucket) })).stdout) as { backups: Array<{ extensions: unknown; sizeCheck: string }> };
    expect(listed.backups).toEqual([expect.objectContaining({ extensions: null, sizeCheck: 'matches-manifest' })]);
    const verified = await runCli(['verify', backup.key], { env: env(bucket) });
    expect(verified.code).toBe(0);
    expect(verified.stdout).toContain('needs    extensions not recorded (a backup from before they were)\n');
    const tested = await runCli(['restore-test', backup.key, '--json'], { env: env(bucket) });
    expect(errorLines(tested)).toEqual([]);
    expect(JSON.parse(tested.stdout)).toMatchObject({ ok: true, differences: [] });

    const restored = await runCli(['restore', backup.key, '--from-database', 'meatdb', '--target-db', 'meatdb_old_manifest', '--yes'], { env: env(bucket) });

    expect(errorLines(restored)).toEqual([]);
    expect(restored.code).toBe(0);
    expect(await h.pg.query("select count(*)::int as n from users where email = 'USER7@example.ORG'", 'meatdb_old_manifest')).toEqual([{ n: 1 }]);
  });
});

describe('extension checks', () => {
  test('GIVEN what the target offers WHEN the recorded extensions are checked THEN a missing name is missing and another default version is only a note', () => {
    const check = checkExtensions([PLPGSQL, VECTOR, { name: 'citext', version: '1.5' }], [
      { name: 'plpgsql', defaultVersion: '1.0' },
      { name: 'citext', defaultVersion: '1.6' },
    ]);
    expect(check).toEqual({ missing: [VECTOR], otherVersions: ['extension citext 1.5 recorded; the target creates 1.6, its default'] });
  });

  test.each([
    ['a missing extension', 'vector', 'the backup\'s SQL failed (exit 3): line 3 of the backup\'s SQL: ERROR: extension "vector" is not available'],
    ['a missing control file (older servers)', 'postgis', 'line 9: ERROR: could not open extension control file "/usr/share/postgresql/13/extension/postgis.control": No such file or directory'],
    ['another failure', undefined, 'line 3: ERROR: relation "vector" does not exist'],
  ])('GIVEN psql\'s error of %s WHEN classified THEN the missing extension is %s', (_what, name, message) => {
    expect(missingExtensionInError(message)).toBe(name);
  });
});
