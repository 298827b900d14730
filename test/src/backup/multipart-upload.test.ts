process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { MultipartUpload, partSizeFor } from '../../../src/backup/multipart-upload';
import { UserError } from '../../../src/core/errors';
import { type LocalS3, startLocalS3 } from '../../../src/local/s3-emulator';
import { bucketContents, freshBucket, watchCommands } from './fixtures';

const MiB = 1024 * 1024;

describe('bounded multipart upload against the S3 emulator', () => {
  let s3: LocalS3;
  let client: S3Client;
  beforeAll(async () => {
    s3 = await startLocalS3();
    client = s3.client();
  });
  afterAll(async () => {
    await s3?.stop();
  });

  const target = (bucket: string, key = 'backups/x.sql.gz') => ({ bucket, key, contentType: 'application/gzip', metadata: { 'meatbackup-database': 'meatdb' } });

  test('GIVEN 21 MiB written in 1 MiB pieces WHEN completed THEN 8 MiB parts, at most 2 in flight, CRC32 on every part, bytes intact', async () => {
    const bucket = await freshBucket(client, 'mpu-ok');
    const watcher = watchCommands(client);
    const upload = await MultipartUpload.create(client, target(bucket), { partBytes: 8 * MiB, maxInFlight: 2 });
    const data = randomBytes(21 * MiB);
    for (let i = 0; i < data.length; i += MiB) await upload.write(data.subarray(i, i + MiB));
    const done = await upload.complete();

    expect(done).toMatchObject({ parts: 3, sizeBytes: 21 * MiB });
    expect(done.versionId).toBeTruthy();
    expect(watcher.partSizes).toEqual([8 * MiB, 8 * MiB, 5 * MiB]);
    expect(watcher.maxPartsInFlight()).toBeLessThanOrEqual(2);
    const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: 'backups/x.sql.gz', ChecksumMode: 'ENABLED' }));
    expect(head).toMatchObject({ ContentType: 'application/gzip', ContentLength: 21 * MiB, Metadata: { 'meatbackup-database': 'meatdb' } });
    expect(head.ChecksumCRC32).toBeTruthy();
    const body = await (await client.send(new GetObjectCommand({ Bucket: bucket, Key: 'backups/x.sql.gz' }))).Body!.transformToByteArray();
    expect(Buffer.from(body).equals(data)).toBe(true);
    expect((await bucketContents(client, bucket)).uploads).toEqual([]);
  });

  test('GIVEN parts uploaded and in flight WHEN aborted THEN no object and no open multipart upload remain', async () => {
    const bucket = await freshBucket(client, 'mpu-abort');
    const upload = await MultipartUpload.create(client, target(bucket), { partBytes: 5 * MiB, maxInFlight: 4 });
    for (let i = 0; i < 4; i++) await upload.write(randomBytes(5 * MiB));
    expect((await bucketContents(client, bucket)).uploads).toEqual(['backups/x.sql.gz']);
    expect(await upload.abort()).toBeUndefined();
    expect(await bucketContents(client, bucket)).toEqual({ versions: [], uploads: [] });
    await expect(upload.write(Buffer.from('more'))).rejects.toThrow();
  });

  test('GIVEN the key was written by someone else meanwhile WHEN completing THEN it refuses, keeps theirs, and the abort leaves no upload', async () => {
    const bucket = await freshBucket(client, 'mpu-race');
    const upload = await MultipartUpload.create(client, target(bucket), {});
    await upload.write(Buffer.from('ours'));
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'backups/x.sql.gz', Body: 'theirs' }));
    const err = await upload.complete().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toBe(`a backup named backups/x.sql.gz already exists in bucket ${bucket} (written while this one ran): nothing was overwritten`);
    await upload.abort();
    const body = await (await client.send(new GetObjectCommand({ Bucket: bucket, Key: 'backups/x.sql.gz' }))).Body!.transformToString();
    expect(body).toBe('theirs');
    expect(await bucketContents(client, bucket)).toEqual({ versions: ['backups/x.sql.gz'], uploads: [] });
  });

  test('GIVEN a bucket that does not exist WHEN the upload starts THEN one actionable line', async () => {
    await expect(MultipartUpload.create(client, target('no-such-bucket-here'))).rejects.toThrow(
      'could not start uploading backups/x.sql.gz to bucket no-such-bucket-here: bucket no-such-bucket-here does not exist: check --bucket or BACKUP_BUCKET',
    );
  });

  test('GIVEN database sizes WHEN parts are sized THEN 8 MiB until 10,000 parts would not fit, then bigger', () => {
    expect(partSizeFor(0)).toBe(8 * MiB);
    expect(partSizeFor(50 * 1024 * MiB)).toBe(8 * MiB);
    expect(partSizeFor(1024 * 1024 * MiB)).toBe(132 * MiB);
  });
});
