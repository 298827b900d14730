process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { MAX_PART_BYTES, MultipartUpload, maxUploadBytes, partSize, partsInFlightFor } from '../../../src/backup/multipart-upload';
import { MAX_PARTS, MIN_PART_BYTES } from '../../../src/storage/s3-limits';
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

  test('GIVEN 12 parts of one size, at most 2 in flight WHEN completed THEN the parts were filled in 3 buffers, used again once stored, and the bytes are intact', async () => {
    const own = s3.client();
    const bucket = await freshBucket(own, 'mpu-reuse');
    const watcher = watchCommands(own);
    const upload = await MultipartUpload.create(own, target(bucket), { partBytes: 5 * MiB, maxInFlight: 2 });
    const data = randomBytes(60 * MiB);
    for (let i = 0; i < data.length; i += 2 * MiB) await upload.write(data.subarray(i, i + 2 * MiB));
    await upload.complete();
    expect(watcher.partSizes).toHaveLength(12);
    // Two travelling and one filling: no part needs a buffer of its own.
    expect(watcher.partBuffers.size).toBeLessThanOrEqual(3);
    const body = await (await own.send(new GetObjectCommand({ Bucket: bucket, Key: 'backups/x.sql.gz' }))).Body!.transformToByteArray();
    expect(Buffer.from(body).equals(data)).toBe(true);
  });

  test('GIVEN parts that grow every 2 parts WHEN 40 MiB are written THEN parts of 5, 5, 10, 10 and the rest, fewer in flight as they grow, bytes intact', async () => {
    const own = s3.client();
    const bucket = await freshBucket(own, 'mpu-grow');
    const watcher = watchCommands(own);
    const upload = await MultipartUpload.create(own, target(bucket), { partBytes: 5 * MiB, maxInFlight: 2, growEvery: 2 });
    const data = randomBytes(40 * MiB);
    for (let i = 0; i < data.length; i += 3 * MiB) await upload.write(data.subarray(i, i + 3 * MiB));
    const done = await upload.complete();
    expect(watcher.partSizes).toEqual([5 * MiB, 5 * MiB, 10 * MiB, 10 * MiB, 10 * MiB]);
    expect(done).toMatchObject({ parts: 5, sizeBytes: 40 * MiB });
    expect(watcher.maxPartsInFlight()).toBeLessThanOrEqual(2);
    const body = await (await own.send(new GetObjectCommand({ Bucket: bucket, Key: 'backups/x.sql.gz' }))).Body!.transformToByteArray();
    expect(Buffer.from(body).equals(data)).toBe(true);
  });
});

describe('part sizes over a whole upload', () => {
  const sizes = (first: number) => Array.from({ length: MAX_PARTS }, (_, i) => partSize(i + 1, first));
  /** Bytes held at part n: the parts that may travel at once, plus the one filling. */
  const heldAt = (first: number, n: number) => (partsInFlightFor(partSize(n, first), first) + 1) * partSize(n, first);

  test('GIVEN the default first part WHEN sizes are laid out THEN 8 MiB for the first 1,000 parts (8 GiB), doubling every 1,000, never shrinking', () => {
    const s = sizes(8 * MiB);
    expect(s.slice(0, 1000).every((n) => n === 8 * MiB)).toBe(true);
    expect(s[1000]).toBe(16 * MiB);
    expect(s[9999]).toBe(4096 * MiB);
    expect(s.every((n, i) => n >= MIN_PART_BYTES && n <= MAX_PART_BYTES && (i === 0 || n >= s[i - 1]))).toBe(true);
  });

  test('GIVEN the smallest first part S3 allows WHEN all 10,000 parts are used THEN they hold more than 5 TB', () => {
    expect(maxUploadBytes(MIN_PART_BYTES)).toBeGreaterThan(5e12);
    expect(maxUploadBytes(8 * MiB)).toBeGreaterThan(8e12);
  });

  test('GIVEN growing parts WHEN they are in flight THEN the bytes held stay at most 128 MiB until parts reach 64 MiB, i.e. for the first 120,000 MiB stored', () => {
    const first = 8 * MiB;
    let stored = 0;
    for (let n = 1; n <= MAX_PARTS && partSize(n, first) <= 64 * MiB; n += 1) {
      expect(heldAt(first, n)).toBeLessThanOrEqual(128 * MiB);
      stored += partSize(n, first);
    }
    expect(stored).toBe(120_000 * MiB);
    // Beyond that one part in flight and one filling: what S3's 10,000-part limit forces on a buffered upload.
    expect(heldAt(first, MAX_PARTS)).toBe(2 * partSize(MAX_PARTS, first));
  });
});
