/**
 * Is the newest backup (of the database it is asked for) safe in the replica? It must be there with the same size and the same sha256 as its
 * manifest says (recomputed over the replica's bytes, not trusted from metadata), its manifest must be there too
 * (a restore from the replica needs it), and the primary object's ReplicationStatus must not be FAILED.
 *
 * S3 Replication Time Control replicates 99.99% of objects within 15 minutes: a backup younger than that whose copy
 * has not arrived yet, and whose status is PENDING, is "pending", not a failure (the CLI exits 3 for it, so a
 * scheduler can tell "look again later" from "broken").
 */
import { HeadObjectCommand, type HeadObjectCommandOutput, type S3Client } from '@aws-sdk/client-s3';
import { DEFAULT_PREFIX, type Manifest, sidecarKey } from '../contract';
import { UserError } from '../core/errors';
import { readManifest } from '../catalog/catalog';
import { newestBackupName } from '../catalog/resolve';
import { checksumObject } from '../storage/read-object';
import { isNotFound } from '../storage/aws-errors';
import { describeS3Error } from '../storage/s3';
import { unversionedRefusal } from '../storage/bucket-protection';
import { inspectBucket } from './target-bucket';

/** Why a primary without versioning is refused: there is no replica of it. */
const REPLICATION_NEEDS_VERSIONING =
  'replication-check checks the copy S3 replication keeps in another region, and replication runs only between versioned buckets, so a bucket without versioning has no replica to check';

/** RTC's replication-time objective. */
export const PENDING_WINDOW_SECONDS = 15 * 60;

export type ReplicationVerdict = 'ok' | 'pending' | 'missing' | 'different' | 'failed' | 'unverifiable';

export interface ReplicationReport {
  verdict: ReplicationVerdict;
  ok: boolean;
  message: string;
  key: string;
  ageSeconds: number;
  primary: { bucket: string; sizeBytes: number; sha256?: string; replicationStatus?: string };
  replica: { bucket: string; exists: boolean; sizeBytes?: number; sha256?: string; manifest: boolean };
}

export interface ReplicationCheckOptions {
  primary: string;
  replica: string;
  prefix?: string;
  primaryClient: S3Client;
  replicaClient: S3Client;
  now?: Date;
  /** Whose newest backup is checked. Unset: the only database with backups under the prefix (several: refused). */
  database?: string;
  /** How the caller names the database, for the message when several have backups. */
  databaseHint?: string;
}

interface Facts {
  ageSeconds: number;
  manifestSha256?: string;
  sizeBytes: number;
  replicationStatus?: string;
  replicaSize?: number;
  replicaSha256?: string;
  replicaManifest: boolean;
}

/** The verdict from what was observed: pure, so every branch is tested without waiting 15 minutes. */
export function judgeReplication(f: Facts): { verdict: ReplicationVerdict; message: string } {
  if (f.replicationStatus === 'FAILED') return { verdict: 'failed', message: 'S3 reports replication FAILED for the newest backup: check the replication rule, its role and the replica bucket policy' };
  if (!f.manifestSha256) return { verdict: 'unverifiable', message: 'the newest backup has no manifest (its run did not finish), so its sha256 is unknown' };
  const young = f.ageSeconds <= PENDING_WINDOW_SECONDS && (f.replicationStatus === 'PENDING' || f.replicationStatus === undefined);
  const pending = { verdict: 'pending' as const, message: `not in the replica yet, ${Math.round(f.ageSeconds)} s after the backup (status ${f.replicationStatus ?? 'unknown'}); replication has ${PENDING_WINDOW_SECONDS / 60} min: check again later` };
  if (f.replicaSize === undefined) return young ? pending : { verdict: 'missing', message: `the newest backup is not in the replica ${Math.round(f.ageSeconds / 60)} min after it was taken (status ${f.replicationStatus ?? 'unknown'})` };
  if (f.replicaSize !== f.sizeBytes || f.replicaSha256 !== f.manifestSha256) {
    return { verdict: 'different', message: `the replica's copy differs: size ${f.replicaSize} vs ${f.sizeBytes}, sha256 ${f.replicaSha256?.slice(0, 12)}… vs ${f.manifestSha256.slice(0, 12)}…` };
  }
  if (!f.replicaManifest) return young ? pending : { verdict: 'missing', message: 'the backup is in the replica but its manifest is not, so a restore from the replica could not check it' };
  return { verdict: 'ok', message: 'the newest backup is in the replica with the same size and sha256' };
}

/** The replica's copy, hashed as every other stored object is (read-object.ts); undefined when it is not there. */
async function sha256Of(s3: S3Client, bucket: string, key: string): Promise<{ size: number; sha256: string } | undefined> {
  try {
    const digest = await checksumObject(s3, bucket, key);
    return { size: digest.sizeBytes, sha256: digest.sha256 };
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

async function exists(s3: S3Client, bucket: string, key: string): Promise<boolean> {
  try {
    await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw describeS3Error(err, `look up ${key} in bucket ${bucket}`, bucket);
  }
}

export async function checkReplication(options: ReplicationCheckOptions): Promise<ReplicationReport> {
  const { primary, replica } = options;
  const replicaBucket = await inspectBucket(options.replicaClient, replica, 'replica', '--replica');
  if (!replicaBucket.exists) throw new UserError(`the replica bucket ${replica} does not exist: check --replica and --replica-region`, 1);
  const name = await newestBackupName(options.primaryClient, primary, options.prefix ?? DEFAULT_PREFIX, {
    ...(options.database !== undefined ? { database: options.database } : {}),
    ...(options.databaseHint ? { databaseHint: options.databaseHint } : {}),
  });
  let replicationStatus: string | undefined;
  let head: HeadObjectCommandOutput;
  let newest: { key: string; takenAt: Date; sizeBytes: number; lastModified?: Date; manifest?: Manifest };
  try {
    head = await options.primaryClient.send(new HeadObjectCommand({ Bucket: primary, Key: name.key }));
    replicationStatus = head.ReplicationStatus;
    newest = { key: name.key, takenAt: name.takenAt, sizeBytes: head.ContentLength ?? 0, ...(head.LastModified ? { lastModified: head.LastModified } : {}) };
  } catch (err) {
    throw describeS3Error(err, `read the replication status of ${name.key} in bucket ${primary}`, primary);
  }
  const unversioned = unversionedRefusal(primary, name.key, head, REPLICATION_NEEDS_VERSIONING);
  if (unversioned) throw unversioned;
  const manifest = await readManifest(options.primaryClient, primary, name.key);
  if (manifest) newest.manifest = manifest;
  const [copy, replicaManifest] = await Promise.all([
    sha256Of(options.replicaClient, replica, newest.key),
    exists(options.replicaClient, replica, sidecarKey(newest.key, 'manifest')),
  ]);
  const takenAt = newest.manifest ? new Date(newest.manifest.completedAt) : (newest.lastModified ?? newest.takenAt);
  const ageSeconds = Math.max(0, ((options.now ?? new Date()).getTime() - takenAt.getTime()) / 1000);
  const { verdict, message } = judgeReplication({
    ageSeconds,
    sizeBytes: newest.sizeBytes,
    replicaManifest,
    ...(newest.manifest ? { manifestSha256: newest.manifest.sha256 } : {}),
    ...(replicationStatus ? { replicationStatus } : {}),
    ...(copy ? { replicaSize: copy.size, replicaSha256: copy.sha256 } : {}),
  });
  return {
    verdict,
    ok: verdict === 'ok',
    message,
    key: newest.key,
    ageSeconds: Math.round(ageSeconds),
    primary: {
      bucket: primary,
      sizeBytes: newest.sizeBytes,
      ...(newest.manifest ? { sha256: newest.manifest.sha256 } : {}),
      ...(replicationStatus ? { replicationStatus } : {}),
    },
    replica: {
      bucket: replica,
      exists: copy !== undefined,
      ...(copy ? { sizeBytes: copy.size, sha256: copy.sha256 } : {}),
      manifest: replicaManifest,
    },
  };
}
