/**
 * When is an object in the target "the same" as the replica's? This decides what a resumed promotion skips, what it
 * copies again and what the final verification accepts. It must hold under AWS's rules, where an ETag says little:
 *  - under SSE-KMS (the stacks' default) an object's ETag is not the MD5 of its bytes, so a copy's ETag never equals
 *    its source's (https://docs.aws.amazon.com/AmazonS3/latest/API/API_Object.html, "ETag");
 *  - an object uploaded in parts has an ETag of its part layout (`<md5-of-md5s>-N`), which a copy does not keep.
 * So identity is decided by content, with one of these proofs, cheapest first:
 *  1. `etag`: same size and the same single-part ETag in both listings (plain SSE-S3 objects: the ETag is the MD5);
 *  2. `record`: the target carries `x-amz-meta-meatbackup-source-etag` equal to the replica object's current ETag.
 *     Every copy this process makes writes it in the same request as the bytes (CopyObject with MetadataDirective
 *     REPLACE, or CreateMultipartUpload), pinned with CopySourceIfMatch, so a crash cannot leave a stale record;
 *  3. `checksum`: both carry S3's own checksum of the same algorithm and type, with equal values (HeadObject with
 *     ChecksumMode ENABLED). A copy without a checksum algorithm keeps the source's algorithm
 *     (https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html, x-amz-checksum-algorithm), which is how an
 *     S3 Batch Operations copy, which writes no record, is proven.
 * A same-sized target object that none of these proves is `unproven`: a promotion copies it again (the target is
 * versioned by then, so the earlier bytes stay as a noncurrent version), and the final verification fails on it.
 * A target object whose record names another ETag is ours but stale (the replica changed since): copied again.
 * Anything else (another size without our record, other checksums) is someone else's data: a conflict.
 */
import type { ObjectSummary } from './listing';

/** User-metadata key (x-amz-meta-…) holding the replica object's ETag, written with every copy. */
export const SOURCE_ETAG_METADATA = 'meatbackup-source-etag';
/** User-metadata key holding the replica object's version id (what `verify` names when it meets a promoted copy). */
export const SOURCE_VERSION_METADATA = 'meatbackup-source-version-id';

export const CHECKSUM_ALGORITHMS = ['CRC64NVME', 'CRC32', 'CRC32C', 'SHA256', 'SHA1'] as const;
export type ChecksumAlgorithmName = (typeof CHECKSUM_ALGORITHMS)[number];

/** What a HeadObject (ChecksumMode ENABLED) tells about an object's content. */
export interface ContentFacts {
  etag: string;
  size: number;
  metadata?: Record<string, string>;
  checksum?: { algorithm: ChecksumAlgorithmName; value: string; type?: string };
}

/** ETags of objects uploaded in parts end in `-<part count>`. */
export function isMultipartEtag(etag: string): boolean {
  return /-\d+$/.test(etag);
}

export type Proof = 'etag' | 'record' | 'checksum';

export type Verdict =
  | { kind: 'same'; proof: Proof }
  /** Ours, but copied from an older version of the replica's object: copy again. */
  | { kind: 'stale' }
  /** Same size, nothing proves it either way: copy again (a verification fails on it). */
  | { kind: 'unproven' }
  /** Someone else's data under a key of the replica. */
  | { kind: 'different'; why: string };

/** From the two listings alone; `undefined` when only the objects' heads can decide. */
export function compareListed(source: ObjectSummary, target: ObjectSummary): Verdict | undefined {
  if (source.size === target.size && source.etag === target.etag && !isMultipartEtag(source.etag)) return { kind: 'same', proof: 'etag' };
  return undefined;
}

/** From the target's head: its record decides, or a size that differs; `undefined` when the checksums must. */
export function compareByRecord(source: ObjectSummary, target: ContentFacts): Verdict | undefined {
  const record = target.metadata?.[SOURCE_ETAG_METADATA];
  if (record !== undefined) return record === source.etag && target.size === source.size ? { kind: 'same', proof: 'record' } : { kind: 'stale' };
  if (target.size !== source.size) return { kind: 'different', why: `${target.size} bytes where the replica's has ${source.size}` };
  return undefined;
}

/** The decision with the source's head too (no record on the target): checksums, else unproven. */
export function compareChecksums(source: ContentFacts, target: ContentFacts): Verdict {
  const a = source.checksum;
  const b = target.checksum;
  if (!a || !b || a.algorithm !== b.algorithm || (a.type && b.type && a.type !== b.type)) return { kind: 'unproven' };
  if (a.value === b.value) return { kind: 'same', proof: 'checksum' };
  return { kind: 'different', why: `its ${b.algorithm} checksum differs from the replica's` };
}

/** The checksum fields of a HeadObject answer, first algorithm found. */
export function checksumOf(head: Partial<Record<`Checksum${ChecksumAlgorithmName}` | 'ChecksumType', string | undefined>>): ContentFacts['checksum'] {
  for (const algorithm of CHECKSUM_ALGORITHMS) {
    const value = head[`Checksum${algorithm}`];
    if (value) return { algorithm, value, ...(head.ChecksumType ? { type: head.ChecksumType } : {}) };
  }
  return undefined;
}
