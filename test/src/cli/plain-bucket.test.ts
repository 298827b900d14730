/**
 * An S3-compatible bucket that is not AWS's: no versioning, no Object Lock. Backup, list, verify and restore work on
 * it (restore and verify pin the object's ETag where there is no version to pin).
 */
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { cleanEnv, runCli } from '../../support/cli';
import { bucketName } from '../backup/fixtures';
import { useHarness } from '../../support/harness';

describe('a plain S3-compatible bucket (no versioning, no Object Lock)', () => {
  const h = useHarness('plain-bucket', async ({ pg }) => {
    await pg.query('create database meatdb');
    await pg.query("create table messages (id int primary key, body text); insert into messages values (1, 'before the backup')", 'meatdb');
  });
  const env = (bucket: string) => cleanEnv({ ...h.s3.env, BACKUP_BUCKET: bucket, DATABASE_URL: h.pg.url('meatdb') });

  test('GIVEN a bucket without versioning or Object Lock WHEN backing up, listing, verifying and restoring THEN each works', async () => {
    const bucket = bucketName('plain');
    await h.client.send(new CreateBucketCommand({ Bucket: bucket }));
    const backup = await runCli(['backup', '--json'], { env: env(bucket) });
    expect(backup.stderr).not.toMatch(/^meatbackup: /m);
    expect(backup.code).toBe(0);
    const { key } = JSON.parse(backup.stdout) as { key: string };
    const list = await runCli(['list'], { env: env(bucket) });
    expect(list.code).toBe(0);
    expect(list.stdout).toContain(`${key}  `);
    expect(list.stdout).toContain('size as recorded');
    const verify = await runCli(['verify', 'latest'], { env: env(bucket) });
    expect(verify.code).toBe(0);
    expect(verify.stdout).toMatch(/^sha256 {3}[0-9a-f]{64}, as recorded$/m);
    await h.pg.query("update messages set body = 'damaged'", 'meatdb');
    const restore = await runCli(['restore', 'latest', '--yes'], { env: env(bucket) });
    expect(restore.stderr).not.toMatch(/^meatbackup: /m);
    expect(restore.code).toBe(0);
    expect(await h.pg.query('select body from messages', 'meatdb')).toEqual([{ body: 'before the backup' }]);
  }, 120_000);
});
