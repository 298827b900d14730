/**
 * What `status` reports about the backups (src/ops/backup-health.ts) against the S3 emulator: the newest verified
 * backup, its restore-test result or the newest older one's (saying which), and the ages it emits as EMF metrics.
 */
import { Writable } from 'node:stream';
import { CreateBucketCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { METRICS, type RestoreTestResult, sidecarKey } from '../../../src/contract';
import { createLogger } from '../../../src/core/log';
import { type LocalS3, startLocalS3 } from '../../../src/local/s3-emulator';
import { type BackupHealth, backupHealth, describeHealth, emitHealthMetrics } from '../../../src/ops/backup-health';
import { writeBackupFixture } from '../../support/backup-fixture';

const NOW = new Date('2025-09-21T09:00:00Z');
/** Where status says it looked, when a database has no backup there. */
const WHERE = 's3://health/backups/';
const DAY = 86_400;

let s3: LocalS3;
let client: S3Client;
let buckets = 0;

async function bucketWith(...setup: Array<(bucket: string) => Promise<unknown>>): Promise<string> {
  buckets += 1;
  const bucket = `health-${buckets}`;
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  for (const step of setup) await step(bucket);
  return bucket;
}

const backup = (database: string, takenAt: string, options: { withoutManifest?: boolean } = {}) => (bucket: string) =>
  writeBackupFixture(client, bucket, { sql: 'select 1;\n', database, takenAt: new Date(takenAt), ...options });

function result(key: string, changes: Partial<RestoreTestResult> = {}): RestoreTestResult {
  return {
    format: 'meatbackup/restore-test@1',
    key,
    ok: true,
    testedAt: '2025-09-21T05:00:00.000Z',
    seconds: 42,
    mode: 'cluster',
    differences: [],
    assertions: [{ sql: 'select count(*) > 0 from users', ok: true }],
    ...changes,
  };
}

const restoreTest = (key: string, body: RestoreTestResult | string) => (bucket: string) =>
  client.send(new PutObjectCommand({ Bucket: bucket, Key: sidecarKey(key, 'restoreTest'), Body: typeof body === 'string' ? body : JSON.stringify(body) }));

/** The EMF records emitHealthMetrics writes, parsed. */
function metricsOf(health: BackupHealth): Array<Record<string, unknown>> {
  let out = '';
  const sink = new Writable({ write: (chunk, _enc, done) => ((out += chunk.toString()), done()) });
  emitHealthMetrics(health, createLogger({ tty: false, quiet: true, stderr: sink, now: () => NOW.getTime() }));
  return out.split('\n').filter(Boolean).map((line) => JSON.parse(line));
}

const K = (stamp: string, database = 'meatdb') => `backups/${database}-${stamp}.sql.gz`;

beforeAll(async () => {
  s3 = await startLocalS3();
  client = s3.client();
});
afterAll(async () => {
  await s3?.stop();
});

describe('GIVEN the newest backup passed its restore test', () => {
  let health: BackupHealth;
  beforeAll(async () => {
    const bucket = await bucketWith(
      backup('meatdb', '2025-09-20T03:00:00Z'),
      backup('meatdb', '2025-09-21T03:00:00Z'),
      restoreTest(K('2025-09-21T03:00:00'), result(K('2025-09-21T03:00:00'))),
    );
    health = await backupHealth(client, bucket, 'backups/', NOW);
  });

  test('WHEN reported THEN the newest backup and its own passing result come back with their ages', () => {
    expect(health.databases).toEqual([
      {
        database: 'meatdb',
        backups: 2,
        newestBackup: {
          key: K('2025-09-21T03:00:00'),
          database: 'meatdb',
          takenAt: '2025-09-21T03:00:00.000Z',
          age: '6h00m',
          ageSeconds: 6 * 3600,
          sizeBytes: expect.any(Number),
          unverifiedNewer: 0,
        },
        restoreTest: {
          key: K('2025-09-21T03:00:00'),
          ofNewestBackup: true,
          resultKey: `${K('2025-09-21T03:00:00')}.restore-test.json`,
          ok: true,
          testedAt: '2025-09-21T05:00:00.000Z',
          age: '4h00m',
          ageSeconds: 4 * 3600,
          mode: 'cluster',
          differences: [],
          failedAssertions: [],
        },
        restoreTestAgeSeconds: 4 * 3600,
      },
    ]);
    expect(health.databases[0].newestBackup?.sizeBytes).toBeGreaterThan(0);
    expect(describeHealth(health.databases[0], WHERE)).toEqual([`newest backup ${K('2025-09-21T03:00:00')} (6h00m old)`, 'its restore test passed 4h00m ago']);
  });

  test('WHEN its metrics are written THEN one EMF record carries both ages for the database', () => {
    expect(metricsOf(health)).toEqual([
      {
        _aws: {
          Timestamp: NOW.getTime(),
          CloudWatchMetrics: [
            {
              Namespace: METRICS.namespace,
              Dimensions: [[METRICS.dimensionDatabase]],
              Metrics: [
                { Name: METRICS.newestBackupAgeSeconds, Unit: 'Seconds' },
                { Name: METRICS.restoreTestAgeSeconds, Unit: 'Seconds' },
              ],
            },
          ],
        },
        event: 'backup-health',
        Database: 'meatdb',
        [METRICS.newestBackupAgeSeconds]: 6 * 3600,
        [METRICS.restoreTestAgeSeconds]: 4 * 3600,
      },
    ]);
  });
});

describe('GIVEN the newest backup has no result yet and an older one failed its test', () => {
  test('WHEN reported THEN the older result is given, saying it is not the newest backup\'s, with what failed', async () => {
    // GIVEN
    const older = K('2025-09-14T03:00:00');
    const bucket = await bucketWith(
      backup('meatdb', '2025-09-13T03:00:00Z'),
      restoreTest(K('2025-09-13T03:00:00'), result(K('2025-09-13T03:00:00'), { testedAt: '2025-09-13T05:00:00.000Z' })),
      backup('meatdb', '2025-09-14T03:00:00Z'),
      restoreTest(
        older,
        result(older, {
          ok: false,
          testedAt: '2025-09-14T05:00:00.000Z',
          differences: ['public.users: 0 rows restored, about 1200 recorded'],
          assertions: [{ sql: 'select count(*) > 0 from users', ok: false, error: 'returned false' }],
        }),
      ),
      backup('meatdb', '2025-09-21T03:00:00Z'),
    );
    // WHEN
    const health = await backupHealth(client, bucket, 'backups', NOW);
    // THEN
    const [db] = health.databases;
    expect(db.newestBackup?.key).toBe(K('2025-09-21T03:00:00'));
    expect(db.restoreTest).toEqual({
      key: older,
      ofNewestBackup: false,
      resultKey: `${older}.restore-test.json`,
      ok: false,
      testedAt: '2025-09-14T05:00:00.000Z',
      age: '7d',
      ageSeconds: 7 * DAY + 4 * 3600,
      mode: 'cluster',
      differences: ['public.users: 0 rows restored, about 1200 recorded'],
      failedAssertions: [{ sql: 'select count(*) > 0 from users', error: 'returned false' }],
    });
    expect(db.restoreTestAgeSeconds).toBe(7 * DAY + 4 * 3600);
    expect(describeHealth(db, WHERE)[1]).toBe(
      `not restore-tested yet; the newest tested backup is ${older}, whose restore test FAILED (public.users: 0 rows restored, about 1200 recorded) 7d ago`,
    );
  });
});

describe('GIVEN the newest backup could not be tested here (its target lacked an extension)', () => {
  test('WHEN reported THEN it is told apart from a failed test, naming the extension', async () => {
    // GIVEN
    const key = K('2025-09-21T03:00:00');
    const error = 'cannot test here: needs extension vector (0.8.0), which the throwaway PostgreSQL 18 cluster does not offer: use scratch mode';
    const bucket = await bucketWith(
      backup('meatdb', '2025-09-21T03:00:00Z'),
      restoreTest(key, result(key, { ok: false, assertions: [], error, cannotTest: { missingExtensions: [{ name: 'vector', version: '0.8.0' }] } })),
    );
    // WHEN
    const [db] = (await backupHealth(client, bucket, 'backups/', NOW)).databases;
    // THEN
    expect(db.restoreTest).toMatchObject({ ok: false, error, cannotTest: { missingExtensions: [{ name: 'vector', version: '0.8.0' }] } });
    expect(describeHealth(db, WHERE)[1]).toBe(`its restore test COULD NOT RUN (${error}) 4h00m ago`);
  });
});

describe('GIVEN backups that were never restore-tested', () => {
  test('WHEN reported THEN there is no result, and the restore-test age counts from the oldest backup', async () => {
    // GIVEN
    const bucket = await bucketWith(backup('meatdb', '2025-09-11T03:00:00Z'), backup('meatdb', '2025-09-21T03:00:00Z'));
    // WHEN
    const health = await backupHealth(client, bucket, 'backups/', NOW);
    // THEN
    expect(health.databases[0]).toMatchObject({ restoreTest: null, restoreTestAgeSeconds: 10 * DAY + 6 * 3600 });
    expect(describeHealth(health.databases[0], WHERE)[1]).toBe('no restore test of any meatdb backup yet');
    expect(metricsOf(health)[0]).toMatchObject({ [METRICS.newestBackupAgeSeconds]: 6 * 3600, [METRICS.restoreTestAgeSeconds]: 10 * DAY + 6 * 3600 });
  });
});

describe('GIVEN the newest backup object has no manifest (its run never completed)', () => {
  test('WHEN reported THEN the newest verified backup is the newest, and the unverified one is counted', async () => {
    // GIVEN
    const bucket = await bucketWith(backup('meatdb', '2025-09-20T03:00:00Z'), backup('meatdb', '2025-09-21T03:00:00Z', { withoutManifest: true }));
    // WHEN
    const health = await backupHealth(client, bucket, 'backups/', NOW);
    // THEN
    expect(health.databases[0].newestBackup).toMatchObject({ key: K('2025-09-20T03:00:00'), ageSeconds: DAY + 6 * 3600, unverifiedNewer: 1 });
    expect(describeHealth(health.databases[0], WHERE)[0]).toBe(`newest backup ${K('2025-09-20T03:00:00')} (30h00m old; 1 newer without a manifest)`);
  });
});

describe('GIVEN the deployment names its database', () => {
  test('WHEN the bucket holds no backup of it THEN status says there are none there, not that none is verified', async () => {
    // GIVEN an empty bucket
    const bucket = await bucketWith();
    // WHEN
    const health = await backupHealth(client, bucket, 'backups/', NOW, 'meatdb');
    // THEN
    expect(health.databases).toEqual([{ database: 'meatdb', backups: 0, newestBackup: null, restoreTest: null }]);
    expect(describeHealth(health.databases[0], `s3://${bucket}/backups/`)).toEqual([`meatdb: no backups under s3://${bucket}/backups/`]);
    expect(metricsOf(health)).toEqual([]);
  });

  test('WHEN its only backups have no manifest THEN status counts them and says none is verified', async () => {
    // GIVEN two backups whose runs never completed
    const bucket = await bucketWith(backup('meatdb', '2025-09-20T03:00:00Z', { withoutManifest: true }), backup('meatdb', '2025-09-21T03:00:00Z', { withoutManifest: true }));
    // WHEN
    const health = await backupHealth(client, bucket, 'backups/', NOW, 'meatdb');
    // THEN
    expect(describeHealth(health.databases[0], WHERE)).toEqual(['meatdb: no verified backup (2 backups, none with a manifest)']);
  });
});

describe('GIVEN an unreadable restore-test result', () => {
  test('WHEN reported THEN it counts as a failed test that says the result is not readable', async () => {
    // GIVEN
    const key = K('2025-09-21T03:00:00');
    const bucket = await bucketWith(backup('meatdb', '2025-09-21T03:00:00Z'), restoreTest(key, '{"format": "meatbackup/restore-test@1", "ok": tr'));
    // WHEN
    const health = await backupHealth(client, bucket, 'backups/', NOW);
    // THEN
    expect(health.databases[0].restoreTest).toMatchObject({
      key,
      ofNewestBackup: true,
      ok: false,
      error: `${key}.restore-test.json is not a restore-test result (altered or truncated): run the restore test again`,
    });
    // its age is the object's: written just now by the emulator
    expect(health.databases[0].restoreTest?.ageSeconds).toBeLessThan(DAY * 365 * 10);
  });
});

describe('GIVEN backups of two databases and files that are not backups', () => {
  test('WHEN reported THEN each database has its own entry and metrics, newest first, and the rest is ignored', async () => {
    // GIVEN
    const bucket = await bucketWith(
      backup('meatdb', '2025-09-20T03:00:00Z'),
      backup('analytics', '2025-09-21T01:00:00Z'),
      (b) => client.send(new PutObjectCommand({ Bucket: b, Key: 'backups/notes.txt', Body: 'x' })),
      (b) => client.send(new PutObjectCommand({ Bucket: b, Key: 'backups/old/meatdb-2025-09-21T08:00:00.sql.gz', Body: 'x' })),
    );
    // WHEN
    const health = await backupHealth(client, bucket, 'backups/', NOW);
    // THEN
    expect(health.databases.map((d) => [d.database, d.newestBackup?.ageSeconds])).toEqual([
      ['analytics', 8 * 3600],
      ['meatdb', DAY + 6 * 3600],
    ]);
    expect(metricsOf(health).map((m) => [m.Database, m[METRICS.newestBackupAgeSeconds]])).toEqual([
      ['analytics', 8 * 3600],
      ['meatdb', DAY + 6 * 3600],
    ]);
  });
});

describe('GIVEN an empty bucket', () => {
  test('WHEN reported THEN there is nothing to report and no metric is written (the backup alarm covers it)', async () => {
    const health = await backupHealth(client, await bucketWith(), 'backups/', NOW);
    expect(health).toEqual({ bucket: expect.any(String), prefix: 'backups/', databases: [] });
    expect(metricsOf(health)).toEqual([]);
  });
});

describe('GIVEN a bucket that does not exist', () => {
  test('WHEN reported THEN the error says which bucket could not be listed', async () => {
    await expect(backupHealth(client, 'no-such-health-bucket', 'backups/', NOW)).rejects.toThrow(/could not list backups in bucket no-such-health-bucket/);
  });
});
