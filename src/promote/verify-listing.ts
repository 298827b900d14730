/**
 * Comparing the replica's listing with the target's: key, size and ETag, and for copies whose ETag cannot match
 * the source's (see identity.ts) the source-ETag record read with one HeadObject. The same comparison serves twice:
 * before copying (what is already there, and is it ours?) and after (did every object arrive intact?).
 */
import { HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { describeS3Error } from '../storage/s3';
import { mapBounded } from '../util/pool';
import { compareListed, sameByRecord } from './identity';
import { type ObjectSummary, listCurrentObjects } from './listing';

export interface ListingDiff {
  /** Source objects already present, identical, in the target. */
  same: ObjectSummary[];
  /** Source objects absent from the target. */
  missing: ObjectSummary[];
  /** Keys present in both with different content (size, or ETag without a matching record). */
  different: string[];
  /** Keys only the target has. */
  extra: string[];
}

export interface DiffOptions {
  /** ETags this run wrote, by key: a target object with that ETag is our copy, no HeadObject needed. */
  written?: ReadonlyMap<string, string>;
  /** HeadObjects in flight at once. @default 16 */
  concurrency?: number;
  /** Keys under this prefix, in either bucket, are promotion's own (Batch reports) and not compared. */
  ignorePrefix?: string;
}

export async function diffListings(
  target: S3Client,
  to: string,
  sourceObjects: readonly ObjectSummary[],
  targetObjects: readonly ObjectSummary[],
  options: DiffOptions = {},
): Promise<ListingDiff> {
  const inTarget = new Map(targetObjects.map((o) => [o.key, o]));
  const diff: ListingDiff = { same: [], missing: [], different: [], extra: [] };
  const needRecord: [ObjectSummary, ObjectSummary][] = [];
  const sourceKeys = new Set<string>();
  for (const source of sourceObjects) {
    sourceKeys.add(source.key);
    const copy = inTarget.get(source.key);
    if (!copy) {
      diff.missing.push(source);
      continue;
    }
    const verdict = compareListed(source, copy);
    if (verdict === 'same' || (verdict === 'check-record' && options.written?.get(source.key) === copy.etag)) diff.same.push(source);
    else if (verdict === 'different') diff.different.push(source.key);
    else needRecord.push([source, copy]);
  }
  const recorded = await mapBounded(needRecord, options.concurrency ?? 16, async ([source]) => {
    try {
      const head = await target.send(new HeadObjectCommand({ Bucket: to, Key: source.key }));
      return sameByRecord(source, head.Metadata);
    } catch (err) {
      if ((err as { name?: string }).name === 'NotFound') return false;
      throw describeS3Error(err, `read the metadata of ${source.key} in bucket ${to}`, to);
    }
  });
  needRecord.forEach(([source], i) => (recorded[i] ? diff.same.push(source) : diff.different.push(source.key)));
  for (const o of targetObjects) if (!sourceKeys.has(o.key)) diff.extra.push(o.key);
  return diff;
}

export interface Verification {
  ok: boolean;
  objects: number;
  bytes: number;
  /** Keys the replica has and the target lacks. */
  missing: string[];
  different: string[];
  extra: string[];
}

/** Lists both buckets afresh and compares them: every current replica object must be in the target, identical. */
export async function verifyListings(
  clients: { source: S3Client; target: S3Client },
  from: string,
  to: string,
  options: DiffOptions = {},
): Promise<Verification> {
  const keep = (o: ObjectSummary) => !options.ignorePrefix || !o.key.startsWith(options.ignorePrefix);
  const [sourceObjects, targetObjects] = await Promise.all([listCurrentObjects(clients.source, from), listCurrentObjects(clients.target, to)]);
  const diff = await diffListings(clients.target, to, sourceObjects.filter(keep), targetObjects.filter(keep), options);
  return {
    ok: diff.missing.length === 0 && diff.different.length === 0 && diff.extra.length === 0,
    objects: diff.same.length,
    bytes: diff.same.reduce((n, o) => n + o.size, 0),
    missing: diff.missing.map((o) => o.key),
    different: diff.different,
    extra: diff.extra,
  };
}
