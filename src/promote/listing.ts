/**
 * Listing the current objects of a bucket. ListObjectsV2 returns only current versions: older versions of a key and
 * keys whose current version is a delete marker are not listed, which is exactly what a promotion must carry.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { listObjectPages } from '../storage/s3';

export interface ObjectSummary {
  key: string;
  size: number;
  /** ETag without its quotes. */
  etag: string;
  storageClass?: string;
}

/** Strips the quotes S3 puts around ETags. */
export function bareEtag(etag: string | undefined): string {
  return (etag ?? '').replace(/^"|"$/g, '');
}

export interface ListOptions {
  prefix?: string;
  /** Called after each page with the running count, for progress. */
  onPage?: (listed: number) => void;
  /** Stop after this many objects (used to test a bucket for emptiness). */
  limit?: number;
}

/**
 * Visits every current object, page by page, without keeping them: memory stays flat whatever the bucket's size
 * (the batch engine counts a bucket of any size this way).
 */
export async function forEachCurrentObject(
  s3: S3Client,
  bucket: string,
  visit: (object: ObjectSummary) => void,
  options: ListOptions = {},
): Promise<number> {
  let count = 0;
  const input = { Bucket: bucket, ...(options.prefix ? { Prefix: options.prefix } : {}) };
  const pageSize = options.limit ? Math.min(1000, options.limit) : undefined;
  for await (const page of listObjectPages(s3, input, `list the objects of bucket ${bucket}`, pageSize)) {
    for (const obj of page.Contents ?? []) {
      if (obj.Key === undefined) continue;
      count += 1;
      visit({
        key: obj.Key,
        size: obj.Size ?? 0,
        etag: bareEtag(obj.ETag),
        ...(obj.StorageClass ? { storageClass: obj.StorageClass } : {}),
      });
    }
    options.onPage?.(count);
    if (options.limit && count >= options.limit) break;
  }
  return count;
}

export async function listCurrentObjects(s3: S3Client, bucket: string, options: ListOptions = {}): Promise<ObjectSummary[]> {
  const objects: ObjectSummary[] = [];
  await forEachCurrentObject(s3, bucket, (o) => objects.push(o), options);
  return objects;
}
