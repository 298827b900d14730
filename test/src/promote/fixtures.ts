/** Replica buckets for the promotion tests and the bench: many small objects, odd keys, versions, headers, tags. */
import {
  type BucketLocationConstraint,
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { mapBounded } from '../../../src/util/pool';

export const MiB = 1024 * 1024;

export const ODD_KEYS = ['chat transcripts/2025 09 17/room one.json', 'a+b/c++ notes+.txt', 'unicode/日本語/файл ü ñ é.txt', 'percent%20literal & ampersand?.txt'];
export const VERSIONED_KEY = 'versions/settings.json';
export const DELETED_KEY = 'versions/deleted.json';
export const HEADERS_KEY = 'headers/report.html';
export const PARTS_SOURCE_KEY = 'backups/meatdb-2025-09-17T10:30:00.sql.gz';
export const BIG_KEY = 'big/blob.bin';

export const HEADERS = {
  ContentType: 'text/html; charset=utf-8',
  CacheControl: 'max-age=300, private',
  ContentDisposition: 'attachment; filename="report.html"',
  ContentEncoding: 'identity',
  ContentLanguage: 'en-GB',
  Expires: new Date('2031-01-02T03:04:05Z'),
  Metadata: { owner: 'ops', 'meatbackup-database': 'meatdb' },
};
export const TAGS = 'team=ops&class=chat%20log';

export interface ReplicaShape {
  small: number;
  /** Size of each small object. @default 64 */
  smallBytes?: number;
  /** MB-sized objects (for the bench). @default 0 */
  medium?: number;
  mediumBytes?: number;
  /** Include the odd/versioned/headers/multipart-source/big objects. @default true */
  specials?: boolean;
  /** Size of the big object (copied in parts once the threshold is lowered). @default 12 MiB */
  bigBytes?: number;
  /** Region to create the bucket in (a LocationConstraint; moto keeps it). @default us-east-1 */
  region?: string;
}

export const smallKey = (i: number) => `objects/${String(i).padStart(5, '0')}.json`;

/** Creates a versioned bucket and fills it; returns the keys that must be carried (current, not deleted). */
export async function makeReplica(s3: S3Client, bucket: string, shape: ReplicaShape): Promise<string[]> {
  const where = shape.region && shape.region !== 'us-east-1' ? { CreateBucketConfiguration: { LocationConstraint: shape.region as BucketLocationConstraint } } : {};
  await s3.send(new CreateBucketCommand({ Bucket: bucket, ...where }));
  await s3.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }));
  const keys: string[] = [];
  const small = Array.from({ length: shape.small }, (_, i) => i);
  const body = (i: number, size: number) => Buffer.alloc(size, `object ${i};`);
  await mapBounded(small, 16, async (i) => {
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: smallKey(i), Body: body(i, shape.smallBytes ?? 64), ContentType: 'application/json' }));
  });
  keys.push(...small.map(smallKey));
  const medium = Array.from({ length: shape.medium ?? 0 }, (_, i) => i);
  await mapBounded(medium, 4, async (i) => {
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: `medium/${i}.bin`, Body: body(i, shape.mediumBytes ?? MiB) }));
  });
  keys.push(...medium.map((i) => `medium/${i}.bin`));
  if (shape.specials === false) return keys;

  for (const key of ODD_KEYS) await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: `odd ${key}`, ContentType: 'text/plain' }));
  keys.push(...ODD_KEYS);
  for (const v of [1, 2, 3]) await s3.send(new PutObjectCommand({ Bucket: bucket, Key: VERSIONED_KEY, Body: JSON.stringify({ version: v }) }));
  keys.push(VERSIONED_KEY);
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: DELETED_KEY, Body: 'gone' }));
  await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: DELETED_KEY }));
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: HEADERS_KEY, Body: '<html>report</html>', ...HEADERS, Tagging: TAGS }));
  keys.push(HEADERS_KEY);

  // Uploaded in parts like a backup: its ETag is `<md5-of-md5s>-2`, so a copy records it (identity.ts).
  const mp = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: PARTS_SOURCE_KEY, ContentType: 'application/gzip', Metadata: { 'meatbackup-database': 'meatdb' }, Tagging: 'kind=backup' }));
  const part1 = await s3.send(new UploadPartCommand({ Bucket: bucket, Key: PARTS_SOURCE_KEY, UploadId: mp.UploadId, PartNumber: 1, Body: Buffer.alloc(5 * MiB, 'a') }));
  const part2 = await s3.send(new UploadPartCommand({ Bucket: bucket, Key: PARTS_SOURCE_KEY, UploadId: mp.UploadId, PartNumber: 2, Body: Buffer.alloc(1 * MiB, 'b') }));
  await s3.send(
    new CompleteMultipartUploadCommand({
      Bucket: bucket,
      Key: PARTS_SOURCE_KEY,
      UploadId: mp.UploadId,
      MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part1.ETag }, { PartNumber: 2, ETag: part2.ETag }] },
    }),
  );
  keys.push(PARTS_SOURCE_KEY);

  const big = Buffer.alloc(shape.bigBytes ?? 12 * MiB);
  for (let i = 0; i < big.length; i += 4) big.writeUInt32LE(i, i);
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: BIG_KEY, Body: big, ContentType: 'application/octet-stream', CacheControl: 'no-cache', Metadata: { big: 'yes' }, Tagging: 'size=big' }));
  keys.push(BIG_KEY);
  return keys.sort();
}
