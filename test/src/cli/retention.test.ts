process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
import { ListObjectsV2Command, PutBucketLifecycleConfigurationCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { gzipSync } from 'node:zlib';
import { retentionClass } from '../../../src/backup/retention';
import { parseBackupKey } from '../../../src/contract';
import { cleanEnv, runCli } from '../../support/cli';
import { bucketContents, expectOneErrorLine, freshBucket, freshLockedBucket, stderrLines, useHarness } from '../backup/fixtures';

const DAY_MS = 86_400_000;
const LIFECYCLE_DAYS = { daily: 14, weekly: 56, monthly: 365 } as const;

/** What `meatbackup backup --json` prints, as far as these tests read it. */
interface BackupJson {
  key: string;
  takenAt: string;
  retention: { class: string; lockedUntil?: string };
  globals: { key: string };
}

/** S3's expiry: creation + days, rounded up to the next midnight UTC; as the date list prints. */
function expectedExpiry(created: Date, days: number): string {
  return new Date(Math.ceil((created.getTime() + days * DAY_MS) / DAY_MS) * DAY_MS).toISOString().slice(0, 10);
}

describe('retention classes, expiry, Object Lock and delete, from the command line', () => {
  const h = useHarness('cli-retention', async ({ pg }) => {
    await pg.query('create database meatdb');
    await pg.query("create table users (id serial primary key, name text); insert into users (name) values ('ada'), ('grace')", 'meatdb');
  });
  const env = (bucket: string, extra: Record<string, string> = {}) => cleanEnv({ ...h.s3.env, BACKUP_BUCKET: bucket, DATABASE_URL: h.pg.url('meatdb'), ...extra });

  async function backup(bucket: string): Promise<BackupJson> {
    const res = await runCli(['backup', '--json'], { env: env(bucket) });
    expect(stderrLines(res.stderr).text).toEqual([]);
    expect(res.code).toBe(0);
    return JSON.parse(res.stdout) as BackupJson;
  }

  describe('on a bucket with Object Lock and lifecycle rules per retention tag', () => {
    let bucket: string;
    let first: BackupJson;
    let second: BackupJson;
    const handMade = 'backups/meatdb-2020-01-06T02:00:00.sql.gz';

    beforeAll(async () => {
      bucket = await freshLockedBucket(h.client, 'cli-retention');
      await h.client.send(new PutBucketLifecycleConfigurationCommand({
        Bucket: bucket,
        LifecycleConfiguration: {
          Rules: Object.entries(LIFECYCLE_DAYS).map(([cls, days]) => ({
            ID: `expire-${cls}`,
            Status: 'Enabled',
            Filter: { And: { Prefix: 'backups/', Tags: [{ Key: 'retention', Value: cls }] } },
            Expiration: { Days: days },
          })),
        },
      }));
      // A backup from before tagging by the backup itself: tagged by hand, no manifest, no lock.
      await h.client.send(new PutObjectCommand({ Bucket: bucket, Key: handMade, Body: gzipSync('x'), Tagging: 'retention=weekly' }));
      first = await backup(bucket);
      await new Promise((r) => setTimeout(r, 1100));
      second = await backup(bucket);
    }, 60_000);

    test('GIVEN two backups WHEN taken THEN the first of the month is monthly, the next one is classed by the same rule, and both are locked for 35 days', () => {
      expect(first.retention).toEqual({ class: 'monthly', lockedUntil: new Date(Date.parse(first.takenAt) + 35 * DAY_MS).toISOString() });
      expect(second.retention).toEqual({
        class: retentionClass(new Date(second.takenAt), [new Date(first.takenAt)]),
        lockedUntil: new Date(Date.parse(second.takenAt) + 35 * DAY_MS).toISOString(),
      });
    });

    test('GIVEN those backups WHEN an operator runs `meatbackup list` THEN each shows its class, the expiry its lifecycle rule gives it, and its lock date', async () => {
      const listed = await h.client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'backups/' }));
      const created = (key: string): Date => listed.Contents!.find((o) => o.Key === key)!.LastModified!;
      const res = await runCli(['list'], { env: env(bucket) });
      expect(res.code).toBe(0);
      const rows = res.stdout.trimEnd().split('\n').map((l) => l.split(/\s{2,}/));
      expect(rows[0]).toEqual(['KEY', 'SIZE', 'AGE', 'CLASS', 'EXPIRES', 'LOCKED UNTIL', 'SIZE CHECK', 'LAST CHECK', 'SERVER / PG_DUMP']);
      const cells = (row: string[]) => [row[0], row[3], row[4], row[5]];
      const locked = (b: BackupJson) => `${b.retention.lockedUntil!.slice(0, 19)}Z`;
      const cls = second.retention.class as keyof typeof LIFECYCLE_DAYS;
      expect(rows.slice(1).map(cells)).toEqual([
        [second.key, cls, expectedExpiry(created(second.key), LIFECYCLE_DAYS[cls]), locked(second)],
        [first.key, 'monthly', expectedExpiry(created(first.key), 365), locked(first)],
        [handMade, 'weekly', expectedExpiry(created(handMade), 56), '-'],
      ]);

      const json = await runCli(['list', '--json'], { env: env(bucket) });
      const doc = JSON.parse(json.stdout) as { backups: { key: string; retention: Record<string, unknown> }[] };
      expect(doc.backups[1]).toMatchObject({
        key: first.key,
        retention: { class: 'monthly', expires: `${expectedExpiry(created(first.key), 365)}T00:00:00.000Z`, expiryRule: 'expire-monthly', lockedUntil: first.retention.lockedUntil },
      });
      expect(doc.backups[2].retention).toEqual({ class: 'weekly', expires: `${expectedExpiry(created(handMade), 56)}T00:00:00.000Z`, expiryRule: 'expire-weekly', lockedUntil: null });
    });

    test('GIVEN a locked backup WHEN an operator runs `meatbackup delete --yes` THEN one line says until when it is locked and how it goes, and nothing is deleted', async () => {
      // A restore-test result (not locked) beside it: it must survive the refusal too.
      await h.client.send(new PutObjectCommand({ Bucket: bucket, Key: `${first.key}.restore-test.json`, Body: '{}' }));
      const before = await bucketContents(h.client, bucket);
      const res = await runCli(['delete', first.key, '--yes'], { env: env(bucket) });
      const until = `${first.retention.lockedUntil!.slice(0, 19)}Z`;
      expectOneErrorLine(res, new RegExp(`^meatbackup: backup ${first.key.replace(/[.]/g, '\\.')} is under Object Lock \\(governance\\) until ${until}: it cannot be deleted before then; it expires by the bucket's lifecycle rules$`));
      expect(res.code).toBe(1);
      expect(await bucketContents(h.client, bucket)).toEqual(before);
      expect(before.versions).toEqual(expect.arrayContaining([first.key, `${first.key}.manifest.json`, `${first.key}.globals.sql.gz`, `${first.key}.restore-test.json`]));
    });

    test('GIVEN locked backups WHEN verified THEN verify works unchanged, checking the globals object too', async () => {
      const res = await runCli(['verify', first.key], { env: env(bucket) });
      expect(res.code).toBe(0);
      expect(res.stdout).toMatch(new RegExp(`\nglobals  ${first.globals.key.replace(/[.]/g, '\\.')}, [\\d.]+ (B|KiB), sha256 as recorded\n`));
    });
  });

  describe('on a bucket without Object Lock', () => {
    test('GIVEN a backup WHEN deleted without --yes and without a terminal THEN it refuses and deletes nothing', async () => {
      const bucket = await freshBucket(h.client, 'cli-delete-no-yes');
      const b = await backup(bucket);
      const res = await runCli(['delete', b.key], { env: env(bucket) });
      expectOneErrorLine(res, new RegExp(`^meatbackup: deleting backup ${b.key.replace(/[.]/g, '\\.')} removes 3 object versions of .* for good: pass --yes to confirm; nothing was deleted$`));
      expect(res.code).toBe(2);
      expect((await bucketContents(h.client, bucket)).versions).toHaveLength(3);
    });

    test('GIVEN a backup with its sidecars and an extra version WHEN deleted with --yes THEN every version of it and of its sidecars is gone, and nothing else', async () => {
      const bucket = await freshBucket(h.client, 'cli-delete');
      const b = await backup(bucket);
      await new Promise((r) => setTimeout(r, 1100));
      const other = await backup(bucket);
      await h.client.send(new PutObjectCommand({ Bucket: bucket, Key: `${b.key}.restore-test.json`, Body: '{"ok":true}' }));
      await h.client.send(new PutObjectCommand({ Bucket: bucket, Key: `${b.key}.restore-test.json`, Body: '{"ok":false}' }));
      const res = await runCli(['delete', b.key.replace('backups/', ''), '--yes', '--json'], { env: env(bucket) });
      expect(stderrLines(res.stderr).text).toEqual([]);
      expect(res.code).toBe(0);
      const doc = JSON.parse(res.stdout) as { ok: boolean; key: string; deleted: { key: string; deleteMarker: boolean }[] };
      expect(doc).toMatchObject({ ok: true, key: b.key });
      expect(doc.deleted.map((d) => d.key)).toEqual([b.key, `${b.key}.manifest.json`, `${b.key}.globals.sql.gz`, `${b.key}.restore-test.json`, `${b.key}.restore-test.json`]);
      expect((await bucketContents(h.client, bucket)).versions).toEqual([other.key, `${other.key}.globals.sql.gz`, `${other.key}.manifest.json`]);
      expect(parseBackupKey(other.key)).toBeDefined();
    });

    test('GIVEN names an operator might type WHEN deleting THEN "latest" and unknown names are refused and nothing is deleted', async () => {
      const bucket = await freshBucket(h.client, 'cli-delete-refused');
      const b = await backup(bucket);
      const latest = await runCli(['delete', 'latest', '--yes'], { env: env(bucket) });
      expectOneErrorLine(latest, /^meatbackup: delete needs the backup's name, not "latest": see `meatbackup list`; nothing was deleted$/);
      expect(latest.code).toBe(2);
      const missing = await runCli(['delete', 'meatdb-2019-01-01T00:00:00.sql.gz', '--yes'], { env: env(bucket) });
      expectOneErrorLine(missing, new RegExp(`^meatbackup: backup backups/meatdb-2019-01-01T00:00:00\\.sql\\.gz not found in bucket ${bucket}: nothing was deleted; see \`meatbackup list\`$`));
      expect((await bucketContents(h.client, bucket)).versions).toEqual([b.key, `${b.key}.globals.sql.gz`, `${b.key}.manifest.json`]);
      const help = await runCli(['delete', '--help'], { env: env(bucket) });
      for (const flag of ['--yes', '--json', '--bucket', '--prefix']) expect(help.stdout).toContain(flag);
    });

    test('GIVEN a backup whose globals object was altered WHEN verified THEN it fails with one line naming the globals object', async () => {
      const bucket = await freshBucket(h.client, 'cli-verify-globals');
      const b = await backup(bucket);
      await h.client.send(new PutObjectCommand({ Bucket: bucket, Key: b.globals.key, Body: gzipSync('CREATE ROLE intruder SUPERUSER;\n') }));
      const res = await runCli(['verify', b.key], { env: env(bucket) });
      const g = b.globals.key.replace(/[.]/g, '\\.');
      expectOneErrorLine(res, new RegExp(`^meatbackup: backup ${b.key.replace(/[.]/g, '\\.')} failed verification: (its globals object ${g}: [^;]+; )?its globals object ${g}: its sha256 is [0-9a-f]{12}… but the manifest records [0-9a-f]{12}…; do not restore it$`));
    });
  });
});
