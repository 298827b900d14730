process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { backupKeyFromRef, resolveBackupRef } from '../../../src/catalog/resolve';
import { UserError } from '../../../src/core/errors';
import { type LocalS3, startLocalS3 } from '../../../src/local/s3-emulator';
import { freshBucket } from '../backup/fixtures';

describe('resolving what an operator types to one backup (`latest`, a file name, a full key)', () => {
  test('GIVEN a file name or a full key under the prefix WHEN resolved THEN both name the same key', () => {
    expect(backupKeyFromRef('meatdb-2025-09-17T10:30:00.sql.gz').key).toBe('backups/meatdb-2025-09-17T10:30:00.sql.gz');
    expect(backupKeyFromRef('backups/meatdb-2025-09-17T10:30:00.sql.gz')).toMatchObject({ key: 'backups/meatdb-2025-09-17T10:30:00.sql.gz', database: 'meatdb' });
    expect(backupKeyFromRef('nightly/meatdb-2025-09-17T10:30:00.sql.gz', 'nightly').key).toBe('nightly/meatdb-2025-09-17T10:30:00.sql.gz');
  });

  test.each([
    ['meatdb.sql', /is not a backup name/],
    ['backups/meatdb-2025-02-30T10:30:00.sql.gz', /is not a backup name/],
    ['backups/meatdb-2025-09-17T10:30:00.sql.gz.manifest.json', /is not a backup name/],
    ['../backups/meatdb-2025-09-17T10:30:00.sql.gz', /is outside backups\//],
    ['backups/old/meatdb-2025-09-17T10:30:00.sql.gz', /is outside backups\//],
    ['transcripts/meatdb-2025-09-17T10:30:00.sql.gz', /is outside backups\//],
    ['/backups/meatdb-2025-09-17T10:30:00.sql.gz', /is outside backups\//],
  ])('GIVEN %s WHEN resolved THEN it is refused before S3 is asked', (ref, message) => {
    expect(() => backupKeyFromRef(ref)).toThrow(UserError);
    expect(() => backupKeyFromRef(ref)).toThrow(message);
  });

  describe('against the S3 emulator', () => {
    let s3: LocalS3;
    let client: S3Client;
    let bucket: string;
    beforeAll(async () => {
      s3 = await startLocalS3();
      client = s3.client();
      bucket = await freshBucket(client, 'resolve');
      for (const stamp of ['2025-09-15T10:30:00', '2025-09-17T10:30:00', '2025-09-16T10:30:00']) {
        await client.send(new PutObjectCommand({ Bucket: bucket, Key: `backups/meatdb-${stamp}.sql.gz`, Body: stamp }));
      }
      // Not backups: a nested folder and a manifest. Neither may ever be "latest".
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'backups/old/meatdb-2030-01-01T00:00:00.sql.gz', Body: 'x' }));
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'backups/meatdb-2025-09-17T10:30:00.sql.gz.manifest.json', Body: '{}' }));
    });
    afterAll(async () => {
      await s3?.stop();
    });

    test('GIVEN three backups WHEN "latest" is resolved THEN the newest by its name is chosen, with size and version', async () => {
      const latest = await resolveBackupRef(client, bucket, 'backups/', 'latest');
      expect(latest).toMatchObject({ key: 'backups/meatdb-2025-09-17T10:30:00.sql.gz', database: 'meatdb', sizeBytes: 19 });
      expect(latest.versionId).toBeTruthy();
    });

    test('GIVEN a file name WHEN resolved THEN the object under the prefix is found', async () => {
      expect((await resolveBackupRef(client, bucket, 'backups/', 'meatdb-2025-09-15T10:30:00.sql.gz')).key).toBe('backups/meatdb-2025-09-15T10:30:00.sql.gz');
    });

    test('GIVEN a name that does not exist WHEN resolved THEN the error lists the newest names that do', async () => {
      await expect(resolveBackupRef(client, bucket, 'backups/', 'meatdb-2024-01-01T00:00:00.sql.gz')).rejects.toThrow(
        `backup meatdb-2024-01-01T00:00:00.sql.gz not found under s3://${bucket}/backups/; newest there: meatdb-2025-09-17T10:30:00.sql.gz, meatdb-2025-09-16T10:30:00.sql.gz, meatdb-2025-09-15T10:30:00.sql.gz`,
      );
    });

    test('GIVEN an empty prefix WHEN "latest" is resolved THEN it says there are none and how to take one', async () => {
      await expect(resolveBackupRef(client, bucket, 'nightly/', 'latest')).rejects.toThrow(`there are no backups under s3://${bucket}/nightly/: take one with \`meatbackup backup\``);
    });

    describe('GIVEN a prefix holding backups of two databases, the newest of them of postgres', () => {
      beforeAll(async () => {
        for (const key of ['mixed/meatdb-2025-09-17T10:30:00.sql.gz', 'mixed/meatdb-2025-09-16T10:30:00.sql.gz', 'mixed/postgres-2025-09-18T03:00:00.sql.gz']) {
          await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: key }));
        }
      });

      test('WHEN "latest" is resolved for meatdb THEN it is the newest backup of meatdb, not the newer one of postgres', async () => {
        expect((await resolveBackupRef(client, bucket, 'mixed/', 'latest', { database: 'meatdb' })).key).toBe('mixed/meatdb-2025-09-17T10:30:00.sql.gz');
        expect((await resolveBackupRef(client, bucket, 'mixed/', 'latest', { database: 'postgres' })).key).toBe('mixed/postgres-2025-09-18T03:00:00.sql.gz');
      });

      test('WHEN "latest" is resolved for a database without backups THEN it says which databases have some', async () => {
        await expect(resolveBackupRef(client, bucket, 'mixed/', 'latest', { database: 'shop' })).rejects.toThrow(
          `there is no backup of database shop under s3://${bucket}/mixed/, only of postgres, meatdb: "latest" means the newest backup of shop`,
        );
      });

      test('WHEN "latest" is resolved for no database in particular THEN it is refused as ambiguous, with how to say which', async () => {
        const refused = resolveBackupRef(client, bucket, 'mixed/', 'latest', { databaseHint: 'pass --database NAME' });
        await expect(refused).rejects.toThrow(`"latest" is ambiguous: s3://${bucket}/mixed/ holds backups of 2 databases (postgres, meatdb): pass --database NAME`);
        await expect(refused).rejects.toMatchObject({ exitCode: 2 });
      });
    });

    test('GIVEN a bucket that does not exist WHEN a name is resolved THEN it says the bucket is missing, not the backup', async () => {
      await expect(resolveBackupRef(client, 'no-such-bucket', 'backups/', 'meatdb-2025-09-15T10:30:00.sql.gz')).rejects.toThrow('bucket no-such-bucket does not exist');
    });
  });
});
