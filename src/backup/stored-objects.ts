/**
 * The objects one backup writes besides its dump — globals and manifest — and the way back out when a later write
 * fails: every object stored so far is deleted again by version id, bypassing the governance retention it was
 * just given (the run that locked it is the one taking it back), so a failed backup leaves nothing under the prefix.
 */
import { DeleteObjectCommand, PutObjectCommand, PutObjectRetentionCommand, type S3Client } from '@aws-sdk/client-s3';
import { oneLine } from '../cli/errors';
import { describeS3Error } from '../storage/s3';
import { type ObjectLock, formatUtc, lockHeaders } from './retention';

export interface StoredObject {
  /** How a message names it: "the backup object", "its globals". */
  what: string;
  key: string;
  versionId?: string;
}

export interface SidecarWrite {
  what: string;
  key: string;
  body: Buffer | string;
  contentType: string;
  /** URL-encoded tags, e.g. `retention=daily`. */
  tagging: string;
  lock: ObjectLock | undefined;
}

/**
 * PutObject that never replaces an existing key (If-None-Match), with the backup's tags and retention. The checksum
 * algorithm is named explicitly: S3 refuses a PutObject with Object Lock headers that carries no checksum, and the
 * SDK leaves it out when configured to send checksums only where an operation requires them.
 */
export async function putSidecar(s3: S3Client, bucket: string, write: SidecarWrite): Promise<StoredObject> {
  try {
    const res = await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: write.key,
        Body: write.body,
        ContentType: write.contentType,
        IfNoneMatch: '*',
        Tagging: write.tagging,
        ChecksumAlgorithm: 'CRC32',
        ...lockHeaders(write.lock),
      }),
    );
    return { what: write.what, key: write.key, ...(res.VersionId && res.VersionId !== 'null' ? { versionId: res.VersionId } : {}) };
  } catch (err) {
    throw describeS3Error(err, `write ${write.what} ${write.key} to bucket ${bucket}`, bucket);
  }
}

/**
 * Sets the retention on a completed multipart object's version. S3 already applies the retention sent with
 * CreateMultipartUpload; this makes it explicit on the stored version, so an S3 implementation that drops those
 * headers on multipart uploads (moto does) cannot leave the backup unlocked. The same date is not a shortening:
 * no bypass is needed.
 */
export async function setRetention(s3: S3Client, bucket: string, object: StoredObject, lock: ObjectLock): Promise<void> {
  try {
    await s3.send(
      new PutObjectRetentionCommand({
        Bucket: bucket,
        Key: object.key,
        ...(object.versionId ? { VersionId: object.versionId } : {}),
        Retention: { Mode: lock.mode, RetainUntilDate: lock.retainUntil },
      }),
    );
  } catch (err) {
    throw describeS3Error(err, `set the Object Lock retention of ${object.key} in bucket ${bucket} (s3:PutObjectRetention)`, bucket);
  }
}

function joinNames(names: string[]): string {
  return names.length <= 1 ? names.join('') : `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
}

/**
 * Deletes what a failed run stored, backup object first, each by version id and, when it was locked, with
 * BypassGovernanceRetention. Never throws: returns the phrase that ends the run's error line.
 */
export async function removeStored(s3: S3Client, bucket: string, stored: readonly StoredObject[], lock: ObjectLock | undefined): Promise<string> {
  const removed: string[] = [];
  const failed: string[] = [];
  for (const object of stored) {
    try {
      await s3.send(
        new DeleteObjectCommand({
          Bucket: bucket,
          Key: object.key,
          ...(object.versionId ? { VersionId: object.versionId } : {}),
          ...(lock ? { BypassGovernanceRetention: true } : {}),
        }),
      );
      removed.push(object.what);
    } catch (err) {
      const why = oneLine((err as Error).message);
      const version = object.versionId ? `version ${object.versionId} of ` : '';
      failed.push(
        lock
          ? `removing ${object.what} failed too (${why}): it is under Object Lock (governance) until ${formatUtc(lock.retainUntil)} and this role may not bypass it (s3:BypassGovernanceRetention): delete ${version}${object.key} with a role that may, or once the lock has expired`
          : `removing ${object.what} failed too (${why}): delete ${version}${object.key} by hand`,
      );
    }
  }
  const parts: string[] = [];
  if (removed.length > 0) parts.push(`${joinNames(removed)} ${removed.length === 1 ? 'was' : 'were'} removed again`);
  if (failed.length > 0) parts.push(`and ${failed.join('; and ')}`);
  return parts.join('; ');
}
