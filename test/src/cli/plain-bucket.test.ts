/**
 * An S3-compatible bucket that is not AWS's: no versioning, no Object Lock, no SSE-KMS. Backup, list, verify and
 * restore work on it (restore and verify pin the object's ETag where there is no version to pin) and each says once,
 * in one line, which protection the bucket lacks; promote and replication-check, which work on S3 replication's
 * versioned copy, refuse it in one line that says they need versioning, and change nothing.
 */
import { CreateBucketCommand, ListObjectsV2Command, PutBucketEncryptionCommand } from '@aws-sdk/client-s3';
import { cleanEnv, runCli } from '../../support/cli';
import { bucketName } from '../backup/fixtures';
import { useHarness } from '../../support/harness';

/** The lines that say what the bucket lacks, on a TTY-less stderr (JSON log lines) or on stdout (a result's note). */
function lacksLines(output: string, bucket: string): string[] {
  return output.split('\n').filter((l) => l.includes(`bucket ${bucket} has no `));
}

describe('a plain S3-compatible bucket (no versioning, no Object Lock)', () => {
  const h = useHarness('plain-bucket', async ({ pg }) => {
    await pg.query('create database meatdb');
    await pg.query("create table messages (id int primary key, body text); insert into messages values (1, 'before the backup')", 'meatdb');
  });
  const env = (bucket: string) => cleanEnv({ ...h.s3.env, BACKUP_BUCKET: bucket, DATABASE_URL: h.pg.url('meatdb') });

  test('GIVEN a bucket without versioning or Object Lock WHEN backing up, listing, verifying and restoring THEN each works and says once what the bucket lacks', async () => {
    const bucket = bucketName('plain');
    await h.client.send(new CreateBucketCommand({ Bucket: bucket }));
    const backup = await runCli(['backup', '--json'], { env: env(bucket) });
    expect(backup.stderr).not.toMatch(/^meatbackup: /m);
    expect(backup.code).toBe(0);
    // the backup saw all three: the upload's version id and encryption, and the bucket's Object Lock configuration
    expect(lacksLines(backup.stderr, bucket)).toEqual([
      expect.stringContaining(`bucket ${bucket} has no versioning, Object Lock or SSE-KMS: a deleted or overwritten backup cannot be brought back; nothing keeps a backup from being deleted; backups are encrypted at rest only as the store itself does`),
    ]);
    expect(JSON.parse(lacksLines(backup.stderr, bucket)[0])).toMatchObject({ level: 'warn', lacks: ['versioning', 'objectLock', 'kms'] });
    const { key } = JSON.parse(backup.stdout) as { key: string };

    const list = await runCli(['list'], { env: env(bucket) });
    expect(list.code).toBe(0);
    expect(list.stdout).toContain(`${key}  `);
    expect(list.stdout).toContain('size as recorded');
    expect(lacksLines(list.stderr, bucket)).toEqual([expect.stringContaining(`bucket ${bucket} has no versioning: a deleted or overwritten backup cannot be brought back`)]);

    const verify = await runCli(['verify', 'latest'], { env: env(bucket) });
    expect(verify.code).toBe(0);
    expect(verify.stdout).toMatch(/^sha256 {3}[0-9a-f]{64}, as recorded$/m);
    expect(lacksLines(verify.stderr + verify.stdout, bucket)).toEqual([expect.stringContaining(`bucket ${bucket} has no versioning or SSE-KMS: `)]);

    await h.pg.query("update messages set body = 'damaged'", 'meatdb');
    const restore = await runCli(['restore', 'latest', '--yes'], { env: env(bucket) });
    expect(restore.stderr).not.toMatch(/^meatbackup: /m);
    expect(restore.code).toBe(0);
    expect(lacksLines(restore.stderr + restore.stdout, bucket)).toEqual([expect.stringContaining(`"level":"warn","message":"bucket ${bucket} has no versioning or SSE-KMS: `)]);
    expect(await h.pg.query('select body from messages', 'meatdb')).toEqual([{ body: 'before the backup' }]);
  }, 120_000);

  test('GIVEN a bucket as the stacks make it (versioning, Object Lock, SSE-KMS) WHEN backing up, listing, verifying and restoring THEN none says a protection is missing', async () => {
    const bucket = bucketName('protected');
    await h.client.send(new CreateBucketCommand({ Bucket: bucket, ObjectLockEnabledForBucket: true }));
    await h.client.send(
      new PutBucketEncryptionCommand({
        Bucket: bucket,
        ServerSideEncryptionConfiguration: { Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: 'alias/meatbackup-test' }, BucketKeyEnabled: true }] },
      }),
    );
    for (const args of [['backup'], ['list'], ['verify', 'latest'], ['restore', 'latest', '--yes', '--target-db', 'meatdb_protected', '--from-database', 'meatdb']]) {
      const r = await runCli(args, { env: env(bucket) });
      expect({ args, code: r.code, stderr: r.code === 0 ? '' : r.stderr }).toEqual({ args, code: 0, stderr: '' });
      expect({ args, lacks: lacksLines(r.stderr + r.stdout, bucket) }).toEqual({ args, lacks: [] });
    }
  }, 120_000);

  test('GIVEN a plain bucket with a backup WHEN promote or replication-check is pointed at it THEN each refuses in one line that says it needs versioning, and nothing is written', async () => {
    const bucket = bucketName('plainrepl');
    await h.client.send(new CreateBucketCommand({ Bucket: bucket }));
    expect((await runCli(['backup'], { env: env(bucket) })).code).toBe(0);
    const before = (await h.client.send(new ListObjectsV2Command({ Bucket: bucket }))).Contents?.map((o) => o.Key);

    const target = bucketName('promoted');
    const promote = await runCli(['promote', '--from', bucket, '--to', target, '--yes'], { env: env(bucket) });
    expect(promote.code).toBe(2);
    expect(promote.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(new RegExp(`^meatbackup: bucket ${bucket} has no versioning \\(backups/meatdb-[^ ]+ has no version id\\): promote copies the replica that S3 replication keeps .*; nothing was changed$`)),
    ]);
    // the target was not created
    expect(await h.client.send(new ListObjectsV2Command({ Bucket: target })).then(() => 'exists', () => 'missing')).toBe('missing');

    const check = await runCli(['replication-check', '--replica', bucket], { env: env(bucket) });
    expect(check.code).toBe(2);
    expect(check.stderr.trim().split('\n')).toEqual([expect.stringMatching(new RegExp(`^meatbackup: bucket ${bucket} has no versioning \\(backups/meatdb-[^ ]+\\.sql\\.gz has no version id\\): replication-check checks the copy S3 replication keeps .*; nothing was changed$`))]);
    expect((await h.client.send(new ListObjectsV2Command({ Bucket: bucket }))).Contents?.map((o) => o.Key)).toEqual(before);
  }, 120_000);
});
