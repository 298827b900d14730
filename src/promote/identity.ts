/**
 * When is an object in the target "the same" as the replica's? This decides both what a resumed promotion skips and
 * what the final verification accepts.
 *
 * S3's ETag is the MD5 of the bytes only for objects written in one request without SSE-KMS. A single-request
 * CopyObject of such an object keeps that ETag, so "same key, same size, same ETag" proves the copy (the fast path:
 * one CopyObject per object and nothing else). It does not hold for:
 *  - a source uploaded in parts (ETag `<md5-of-md5s>-N`): S3 recomputes a plain MD5 when CopyObject writes it in one
 *    part, so the copy's ETag differs from the source's although the bytes are the same;
 *  - an object we copy in parts ourselves (over the multipart threshold): its ETag depends on our part layout.
 * For those two cases the copy records the source's ETag in one extra user-metadata entry,
 * `x-amz-meta-meatbackup-source-etag`, written atomically with the object (so a crash cannot leave a stale record).
 * Such an object is the same as the source when the sizes match and that entry equals the source's current ETag.
 * Nothing else is added: every other object is header- and metadata-identical to its source.
 */
import type { ObjectSummary } from './listing';

/** User-metadata key (x-amz-meta-…) holding the replica object's ETag on copies whose own ETag cannot match it. */
export const SOURCE_ETAG_METADATA = 'meatbackup-source-etag';

/** ETags of objects uploaded in parts end in `-<part count>`. */
export function isMultipartEtag(etag: string): boolean {
  return /-\d+$/.test(etag);
}

/** Whether copying `source` in one request needs the source-ETag record (its ETag cannot carry over). */
export function needsSourceEtagRecord(source: ObjectSummary): boolean {
  return isMultipartEtag(source.etag);
}

export type Sameness =
  /** Proven identical from the listings alone. */
  | 'same'
  /** Proven different from the listings alone (sizes differ). */
  | 'different'
  /** Same size, different ETags: the target's source-ETag record decides (needs a HeadObject). */
  | 'check-record';

export function compareListed(source: ObjectSummary, target: ObjectSummary): Sameness {
  if (source.size !== target.size) return 'different';
  if (source.etag === target.etag) return 'same';
  return 'check-record';
}

/** Final decision once the target's user metadata is known. */
export function sameByRecord(source: ObjectSummary, targetMetadata: Record<string, string> | undefined): boolean {
  return targetMetadata?.[SOURCE_ETAG_METADATA] === source.etag;
}
