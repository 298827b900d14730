/**
 * Comparing the replica's listing with the target's, object by object, with the proofs of identity.ts: the listings
 * alone where the ETags prove it, else the target's head (its source-ETag record), else both heads (S3's checksums).
 * The same comparison serves twice: before copying (what is already there, is it ours, what must be copied again?)
 * and after (did every object arrive intact?).
 */
import { HeadObjectCommand, type HeadObjectCommandOutput, type S3Client } from '@aws-sdk/client-s3';
import { isNotFound } from '../storage/aws-errors';
import { describeS3Error } from '../storage/s3';
import { mapBounded } from '../util/pool';
import { type ContentFacts, type Proof, type Verdict, checksumOf, compareByRecord, compareChecksums, compareListed } from './identity';
import { type ObjectSummary, bareEtag, listCurrentObjects } from './listing';

export interface ListingDiff {
  /** Source objects already present, proven identical, in the target. */
  same: ObjectSummary[];
  /** Source objects absent from the target. */
  missing: ObjectSummary[];
  /** Source objects the target holds a stale or unprovable copy of: to be copied again. */
  recopy: ObjectSummary[];
  /** Of `recopy`, the keys whose copy nothing proves either way (no record, no comparable checksum). */
  unproven: string[];
  /** Keys present in both with content that is not the replica's and not ours. */
  different: string[];
  /** Why the first `different` key differs, for the refusal line. */
  firstDifference?: string;
  /** Keys only the target has. */
  extra: string[];
  /** How each `same` object was proven. */
  proofs: Record<Proof, number>;
}

/** What this run wrote for a key: the copy's ETag and the replica ETag it was pinned to. */
export interface Written {
  etag: string;
  sourceEtag: string;
}

export interface DiffOptions {
  /** What this run wrote, by key: a target object with that ETag, whose source still has that ETag, is proven. */
  written?: ReadonlyMap<string, Written>;
  /** HeadObjects in flight at once. @default 16 */
  concurrency?: number;
  /** Keys under this prefix, in either bucket, are promotion's own (Batch reports) and not compared. */
  ignorePrefix?: string;
}

export interface DiffClients {
  source: S3Client;
  target: S3Client;
}

function facts(head: HeadObjectCommandOutput, fallbackSize: number): ContentFacts {
  const checksum = checksumOf(head);
  return {
    etag: bareEtag(head.ETag),
    size: head.ContentLength ?? fallbackSize,
    ...(head.Metadata ? { metadata: head.Metadata } : {}),
    ...(checksum ? { checksum } : {}),
  };
}

/** HeadObject with S3's checksum; undefined when the object is gone. */
export async function headFacts(s3: S3Client, bucket: string, object: ObjectSummary): Promise<ContentFacts | undefined> {
  try {
    return facts(await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: object.key, ChecksumMode: 'ENABLED' })), object.size);
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw describeS3Error(err, `read the metadata of ${object.key} in bucket ${bucket}`, bucket);
  }
}

async function decideByHeads(clients: DiffClients, from: string, to: string, source: ObjectSummary, copy: ObjectSummary): Promise<Verdict | 'missing'> {
  const target = await headFacts(clients.target, to, copy);
  if (!target) return 'missing';
  const byRecord = compareByRecord(source, target);
  if (byRecord) return byRecord;
  const original = await headFacts(clients.source, from, source);
  // Deleted from the replica meanwhile: nothing to prove; copying it again finds it gone and says so.
  if (!original) return { kind: 'unproven' };
  return compareChecksums(original, target);
}

export async function diffListings(
  clients: DiffClients,
  from: string,
  to: string,
  sourceObjects: readonly ObjectSummary[],
  targetObjects: readonly ObjectSummary[],
  options: DiffOptions = {},
): Promise<ListingDiff> {
  const inTarget = new Map(targetObjects.map((o) => [o.key, o]));
  const diff: ListingDiff = { same: [], missing: [], recopy: [], unproven: [], different: [], extra: [], proofs: { etag: 0, record: 0, checksum: 0 } };
  const toHead: [ObjectSummary, ObjectSummary][] = [];
  const sourceKeys = new Set<string>();
  const settle = (source: ObjectSummary, verdict: Verdict | 'missing') => {
    if (verdict === 'missing') diff.missing.push(source);
    else if (verdict.kind === 'same') {
      diff.same.push(source);
      diff.proofs[verdict.proof] += 1;
    } else if (verdict.kind === 'different') {
      diff.different.push(source.key);
      diff.firstDifference ??= `${JSON.stringify(source.key)}: ${verdict.why}`;
    } else {
      diff.recopy.push(source);
      if (verdict.kind === 'unproven') diff.unproven.push(source.key);
    }
  };
  for (const source of sourceObjects) {
    sourceKeys.add(source.key);
    const copy = inTarget.get(source.key);
    if (!copy) {
      diff.missing.push(source);
      continue;
    }
    const ours = options.written?.get(source.key);
    const listed = ours && ours.etag === copy.etag && ours.sourceEtag === source.etag ? ({ kind: 'same', proof: 'record' } as const) : compareListed(source, copy);
    if (listed) settle(source, listed);
    else toHead.push([source, copy]);
  }
  const verdicts = await mapBounded(toHead, options.concurrency ?? 16, ([source, copy]) => decideByHeads(clients, from, to, source, copy));
  toHead.forEach(([source], i) => settle(source, verdicts[i]));
  for (const o of targetObjects) if (!sourceKeys.has(o.key)) diff.extra.push(o.key);
  return diff;
}

export interface Verification {
  ok: boolean;
  objects: number;
  bytes: number;
  /** How the objects were proven identical: listing ETags, our source-ETag records, S3's checksums. */
  proofs: Record<Proof, number>;
  /** Keys the replica has and the target lacks. */
  missing: string[];
  /** Keys whose target copy is not the replica's current object, or cannot be proven to be. */
  different: string[];
  extra: string[];
}

/** Lists both buckets afresh and compares them: every current replica object must be in the target, proven. */
export async function verifyListings(clients: DiffClients, from: string, to: string, options: DiffOptions = {}): Promise<Verification> {
  const keep = (o: ObjectSummary) => !options.ignorePrefix || !o.key.startsWith(options.ignorePrefix);
  const [sourceObjects, targetObjects] = await Promise.all([listCurrentObjects(clients.source, from), listCurrentObjects(clients.target, to)]);
  const diff = await diffListings(clients, from, to, sourceObjects.filter(keep), targetObjects.filter(keep), options);
  const different = [...diff.different, ...diff.recopy.map((o) => o.key)];
  return {
    ok: diff.missing.length === 0 && different.length === 0 && diff.extra.length === 0,
    objects: diff.same.length,
    bytes: diff.same.reduce((n, o) => n + o.size, 0),
    proofs: diff.proofs,
    missing: diff.missing.map((o) => o.key),
    different,
    extra: diff.extra,
  };
}

/** How the verification proved the objects, e.g. "1,002 by copy record, 3 by S3 checksum". */
export function describeProofs(proofs: Record<Proof, number>): string {
  const f = (x: number) => x.toLocaleString('en-US');
  const parts = [
    proofs.record ? `${f(proofs.record)} by copy record` : '',
    proofs.checksum ? `${f(proofs.checksum)} by S3 checksum` : '',
    proofs.etag ? `${f(proofs.etag)} by MD5 ETag` : '',
  ].filter(Boolean);
  return parts.length ? parts.join(', ') : 'nothing to prove';
}
