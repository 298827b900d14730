/**
 * A backup and its manifest copied over another backup's key (runbook 2.1, "restore the right data"): the sha256
 * matches, so only the manifest's own record of which backup it is can tell. Real PostgreSQL and the S3 emulator,
 * through the built CLI, on a versioned and on an unversioned bucket.
 */
import { CopyObjectCommand, CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { sidecarKey } from '../../../src/contract';
import { cleanEnv, runCli } from '../../support/cli';
import { pgDumpSql, writeBackupFixture } from '../../support/backup-fixture';
import { expectOneErrorLine, freshBucket, useHarness } from '../backup/fixtures';

const h = useHarness('copied-over');

function env(database: string, bucket: string): NodeJS.ProcessEnv {
  return cleanEnv({ ...h.s3.env, ...h.pg.env(database), PGDATABASE: database, BACKUP_BUCKET: bucket });
}

async function marker(database: string): Promise<string> {
  return (await h.pg.query<{ v: string }>('select v from marker', database))[0].v;
}

async function backedUp(bucket: string, name: string, value: string, takenAt: string) {
  await h.pg.query(`drop database if exists "${name}"`);
  await h.pg.query(`create database "${name}"`);
  await h.pg.query(`create table marker (v text); insert into marker values ('${value}');`, name);
  return writeBackupFixture(h.client, bucket, { sql: pgDumpSql(h.pg.env(), name), database: name, takenAt: new Date(takenAt) });
}

async function copy(s3: S3Client, bucket: string, from: string, to: string, toBucket = bucket): Promise<void> {
  await s3.send(new CopyObjectCommand({ Bucket: toBucket, Key: to, CopySource: `${bucket}/${encodeURI(from)}` }));
}

async function plainBucket(label: string): Promise<string> {
  const name = `${label}-${process.pid}`.slice(0, 63);
  await h.client.send(new CreateBucketCommand({ Bucket: name }));
  return name;
}

describe.each([
  ['a versioned bucket', (label: string) => freshBucket(h.client, label)],
  ['an unversioned bucket', plainBucket],
])('GIVEN %s where otherdb-T1 and its manifest were copied over meatdb-T2', (_kind, makeBucket) => {
  let bucket: string;
  let target: string;
  let db: string;
  let other: string;

  beforeAll(async () => {
    const suffix = _kind.startsWith('a versioned') ? 'v' : 'u';
    bucket = await makeBucket(`copied-${suffix}`);
    db = `copydb_${suffix}`;
    other = `copyother_${suffix}`;
    const source = await backedUp(bucket, other, 'the other database', '2025-09-17T10:30:00Z');
    const mine = await backedUp(bucket, db, 'meatdb at backup time', '2025-09-18T03:00:00Z');
    await copy(h.client, bucket, source.key, mine.key);
    await copy(h.client, bucket, source.manifestKey, sidecarKey(mine.key, 'manifest'));
    target = mine.key;
    await h.pg.query(`update marker set v = 'meatdb now'`, db);
  });

  test('WHEN I verify it THEN it is refused in one line naming both backups', async () => {
    const result = await runCli(['verify', target], { env: env(db, bucket) });

    expect(result.code).toBe(1);
    expectOneErrorLine(
      result,
      new RegExp(`^meatbackup: the manifest ${target.replace(/[.]/g, '\\.')}\\.manifest\\.json in bucket \\S+ is not this backup's: it was written for backups/${other}-2025-09-17T10:30:00\\.sql\\.gz \\(database ${other}\\), not for ${db}-2025-09-18T03:00:00\\.sql\\.gz: a backup and its manifest were copied over this key; .*nothing was changed`),
    );
    expect(result.stdout).not.toMatch(/verified/);
  });

  test('WHEN I restore it into meatdb, even with --from-database meatdb, THEN it is refused before anything is touched', async () => {
    const before = await h.pg.query('select datname from pg_database order by 1');

    const result = await runCli(['restore', target, '--from-database', db, '--yes'], { env: env(db, bucket) });

    expectOneErrorLine(result, /is not this backup's: it was written for backups\/copyother_\w-2025-09-17T10:30:00\.sql\.gz \(database copyother_\w\)/);
    expect(await h.pg.query('select datname from pg_database order by 1')).toEqual(before);
    expect(await marker(db)).toBe('meatdb now');
  });

  test('WHEN I restore latest THEN it is refused too, and list marks the row instead of vouching for it', async () => {
    const result = await runCli(['restore', 'latest', '--yes'], { env: env(db, bucket) });
    expectOneErrorLine(result, /is not this backup's/);
    expect(await marker(db)).toBe('meatdb now');

    const list = await runCli(['list', '--json'], { env: env(db, bucket) });
    expect(list.code).toBe(0);
    const rows = (JSON.parse(list.stdout) as { backups: Array<{ key: string; manifestProblem?: string }> }).backups;
    expect(rows.find((r) => r.key === target)?.manifestProblem).toMatch(/written for backups\/copyother_\w-2025-09-17T10:30:00\.sql\.gz/);
  });
});

describe('GIVEN a backup and its manifest copied into another versioned bucket (a copy keeps neither version id)', () => {
  test('WHEN I verify the copy THEN the version line names the version read, not the one the manifest recorded', async () => {
    const from = await freshBucket(h.client, 'copied-from');
    const to = await freshBucket(h.client, 'copied-to');
    const backup = await backedUp(from, 'copyver', 'x', '2025-09-17T10:30:00Z');
    await copy(h.client, from, backup.key, backup.key, to);
    await copy(h.client, from, backup.manifestKey, backup.manifestKey, to);

    const result = await runCli(['verify', backup.key], { env: env('copyver', to) });

    expect(result.code).toBe(0);
    const line = result.stdout.split('\n').find((l) => l.startsWith('version'));
    expect(line).toMatch(new RegExp(`^version {2}\\S+ \\(the current one: the manifest recorded ${backup.versionId}, which this bucket does not have\\)$`));
    expect(line).not.toContain(`version  ${backup.versionId}`);
  });
});
