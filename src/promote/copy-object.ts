/**
 * Copying one object from the replica to the target, server-side (no byte passes through this process). Every copy
 * starts with a HeadObject of the source and writes the source-ETag record of identity.ts in the same request as the
 * bytes, so that any later run can prove the copy whatever the encryption and part layout:
 *  - up to the multipart threshold, one CopyObject with MetadataDirective REPLACE restating Content-Type,
 *    Cache-Control, Content-Disposition/-Encoding/-Language, Expires and the user metadata from the HeadObject, plus
 *    the record; TaggingDirective COPY carries the tags; no checksum algorithm is named, so S3 keeps the source's;
 *  - over the threshold (5 GB in production: CopyObject's own limit), CreateMultipartUpload with the same headers,
 *    record and tags, UploadPartCopy over byte ranges, CompleteMultipartUpload; any failure aborts the upload so no
 *    invisible parts are left behind (and billed).
 * Every request that reads the source pins it with CopySourceIfMatch to the ETag of the HeadObject, so the bytes, all
 * parts and the record come from one version even while replication writes to the replica.
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  type HeadObjectCommandOutput,
  type S3Client,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { isPreconditionFailed } from '../storage/aws-errors';
import { MAX_PARTS, MAX_SINGLE_COPY_BYTES, MIN_PART_BYTES, MiB } from '../storage/s3-limits';
import { mapBounded } from '../util/pool';
import { SOURCE_ETAG_METADATA, SOURCE_VERSION_METADATA } from './identity';
import { type ObjectSummary, bareEtag } from './listing';

export { GiB, MAX_SINGLE_COPY_BYTES, MiB } from '../storage/s3-limits';

/** Parts of one object copied at once, unless tuned. */
export const DEFAULT_PART_CONCURRENCY = 4;

export interface CopyTuning {
  /** Objects larger than this are copied in parts. @default 5 GiB (S3's single-copy limit) */
  multipartThreshold?: number;
  /** Part size for multipart copies; raised when the object would need more than 10,000 parts. @default 512 MiB */
  partSize?: number;
  /** Parts of one object copied at once. @default DEFAULT_PART_CONCURRENCY */
  partConcurrency?: number;
}

export interface CopyClients {
  /** Client in the replica's region: HeadObject and GetObjectTagging on the source. */
  source: S3Client;
  /** Client in the target's region: every write. */
  target: S3Client;
}

export type CopyMethod = 'copy' | 'multipart';

export interface CopyOutcome {
  method: CopyMethod;
  /** ETag of the object written, without quotes. */
  etag: string;
  /** ETag of the replica's object it was copied from (what the record says). */
  sourceEtag: string;
  parts?: number;
}

/** CopySource must be URL-encoded: each key segment with encodeURIComponent (spaces, `+`, unicode), slashes kept. */
export function copySource(bucket: string, key: string, versionId?: string): string {
  const path = `${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
  return versionId ? `${path}?versionId=${encodeURIComponent(versionId)}` : path;
}

/** Part size for an object: at least `partSize`, large enough to stay within 10,000 parts, never under 5 MiB. */
export function choosePartSize(size: number, partSize: number = 512 * MiB): number {
  const minimumForCount = Math.ceil(size / MAX_PARTS);
  return Math.max(MIN_PART_BYTES, partSize, minimumForCount);
}

/** Inclusive byte ranges covering `size` bytes in parts of `partSize`. */
export function partRanges(size: number, partSize: number): { partNumber: number; start: number; end: number }[] {
  const ranges = [];
  for (let start = 0, n = 1; start < size; start += partSize, n++) {
    ranges.push({ partNumber: n, start, end: Math.min(size, start + partSize) - 1 });
  }
  return ranges;
}

/** The headers a copy in REPLACE mode or a multipart upload has to restate to match the source. */
function restatedHeaders(head: HeadObjectCommandOutput, sourceEtag: string) {
  const version: Record<string, string> = head.VersionId && head.VersionId !== 'null' ? { [SOURCE_VERSION_METADATA]: head.VersionId } : {};
  const expires = head.Expires instanceof Date && !Number.isNaN(head.Expires.getTime()) ? head.Expires : undefined;
  return {
    ...(head.ContentType ? { ContentType: head.ContentType } : {}),
    ...(head.CacheControl ? { CacheControl: head.CacheControl } : {}),
    ...(head.ContentDisposition ? { ContentDisposition: head.ContentDisposition } : {}),
    ...(head.ContentEncoding ? { ContentEncoding: head.ContentEncoding } : {}),
    ...(head.ContentLanguage ? { ContentLanguage: head.ContentLanguage } : {}),
    ...(expires ? { Expires: expires } : {}),
    ...(head.WebsiteRedirectLocation ? { WebsiteRedirectLocation: head.WebsiteRedirectLocation } : {}),
    Metadata: { ...(head.Metadata ?? {}), [SOURCE_ETAG_METADATA]: sourceEtag, ...version },
  };
}

/** How long aborting a multipart copy may take: after a stall or a signal, S3 may be what stopped answering. */
const ABORT_BUDGET_MS = 5000;

/**
 * Copies `object` from `from` to the same key in `to`. The SDK retries transient failures request by request (src/storage/s3.ts); a source that
 * changes between our HeadObject and the copy (412) is re-read here, twice at most. `signal` ends every request;
 * `onPart` hears of each part copied (progress for the stall watchdog).
 */
export async function copyObject(
  clients: CopyClients,
  from: string,
  to: string,
  object: ObjectSummary,
  tuning: CopyTuning = {},
  signal?: AbortSignal,
  onPart?: () => void,
): Promise<CopyOutcome> {
  const threshold = tuning.multipartThreshold ?? MAX_SINGLE_COPY_BYTES;
  const abortable = signal ? { abortSignal: signal } : {};
  for (let attempt = 0; ; attempt++) {
    try {
      const head = await clients.source.send(new HeadObjectCommand({ Bucket: from, Key: object.key }), abortable);
      const size = head.ContentLength ?? object.size;
      const etag = bareEtag(head.ETag);
      if (size <= threshold) return await copyInOne(clients, from, to, object.key, head, etag, signal);
      return await copyInParts(clients, from, to, object.key, head, etag, size, tuning, signal, onPart);
    } catch (err) {
      if (!isPreconditionFailed(err) || attempt >= 2) throw err;
    }
  }
}

async function copyInOne(clients: CopyClients, from: string, to: string, key: string, head: HeadObjectCommandOutput, etag: string, signal: AbortSignal | undefined): Promise<CopyOutcome> {
  const res = await clients.target.send(
    new CopyObjectCommand({
      Bucket: to,
      Key: key,
      CopySource: copySource(from, key),
      CopySourceIfMatch: head.ETag,
      MetadataDirective: 'REPLACE',
      TaggingDirective: 'COPY',
      ...restatedHeaders(head, etag),
    }),
    signal ? { abortSignal: signal } : {},
  );
  return { method: 'copy', etag: bareEtag(res.CopyObjectResult?.ETag), sourceEtag: etag };
}

async function copyInParts(
  clients: CopyClients,
  from: string,
  to: string,
  key: string,
  head: HeadObjectCommandOutput,
  etag: string,
  size: number,
  tuning: CopyTuning,
  signal: AbortSignal | undefined,
  onPart: (() => void) | undefined,
): Promise<CopyOutcome> {
  const abortable = signal ? { abortSignal: signal } : {};
  const tags = await clients.source.send(new GetObjectTaggingCommand({ Bucket: from, Key: key }), abortable);
  const tagging = new URLSearchParams((tags.TagSet ?? []).map((t): [string, string] => [t.Key ?? '', t.Value ?? ''])).toString();
  const created = await clients.target.send(
    new CreateMultipartUploadCommand({
      Bucket: to,
      Key: key,
      ...restatedHeaders(head, etag),
      ...(tagging ? { Tagging: tagging } : {}),
    }),
    abortable,
  );
  const uploadId = created.UploadId;
  if (!uploadId) throw new Error(`S3 returned no upload id for a multipart copy of ${key}`);
  try {
    const ranges = partRanges(size, choosePartSize(size, tuning.partSize));
    const parts = await mapBounded(ranges, tuning.partConcurrency ?? DEFAULT_PART_CONCURRENCY, async (range) => {
      signal?.throwIfAborted();
      const res = await clients.target.send(
        new UploadPartCopyCommand({
          Bucket: to,
          Key: key,
          UploadId: uploadId,
          PartNumber: range.partNumber,
          CopySource: copySource(from, key),
          CopySourceIfMatch: head.ETag,
          CopySourceRange: `bytes=${range.start}-${range.end}`,
        }),
        abortable,
      );
      onPart?.();
      return { PartNumber: range.partNumber, ETag: res.CopyPartResult?.ETag };
    });
    signal?.throwIfAborted();
    const done = await clients.target.send(
      new CompleteMultipartUploadCommand({ Bucket: to, Key: key, UploadId: uploadId, MultipartUpload: { Parts: parts } }),
      abortable,
    );
    return { method: 'multipart', etag: bareEtag(done.ETag), sourceEtag: etag, parts: parts.length };
  } catch (err) {
    await clients.target
      .send(new AbortMultipartUploadCommand({ Bucket: to, Key: key, UploadId: uploadId }), { abortSignal: AbortSignal.timeout(ABORT_BUDGET_MS) })
      .catch(() => undefined);
    throw err;
  }
}
