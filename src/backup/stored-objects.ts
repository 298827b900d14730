/**
 * The objects one backup writes besides its dump — globals and manifest —, the lock put on all three once they are
 * stored, and the way back out when a step fails: every object stored and not yet locked is deleted again by version
 * id, so a failed backup leaves nothing under the prefix. Nothing is locked before everything is stored, so that
 * cleanup never needs to bypass a governance retention, and no role is given s3:BypassGovernanceRetention.
 */
import { DeleteObjectCommand, PutObjectCommand, PutObjectRetentionCommand, type S3Client } from '@aws-sdk/client-s3';
import { UserError, oneLine } from '../core/errors';
import { describeS3Error } from '../storage/s3';
import { type ObjectLock, formatUtc } from './retention';

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
}

/**
 * PutObject that never replaces an existing key (If-None-Match), with the backup's tags and no retention yet (see
 * lockStored). The checksum algorithm is named explicitly: a bucket with Object Lock refuses uploads that carry no
 * checksum, and the SDK leaves it out when configured to send checksums only where an operation requires them.
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
      }),
    );
    return { what: write.what, key: write.key, ...(res.VersionId && res.VersionId !== 'null' ? { versionId: res.VersionId } : {}) };
  } catch (err) {
    throw describeS3Error(err, `write ${write.what} ${write.key} to bucket ${bucket}`, bucket);
  }
}

/**
 * Sets the governance retention on one stored version (PutObjectRetention by version id). The version has none yet,
 * so this never shortens a retention and needs no bypass.
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
 * Deletes what a failed run stored and did not lock, backup object first, each by version id and never with a
 * bypass: nothing it deletes has a retention. Never throws: returns the phrase that ends the run's error line.
 */
export async function removeStored(s3: S3Client, bucket: string, stored: readonly StoredObject[]): Promise<string> {
  const removed: string[] = [];
  const failed: string[] = [];
  for (const object of stored) {
    try {
      await s3.send(
        new DeleteObjectCommand({
          Bucket: bucket,
          Key: object.key,
          ...(object.versionId ? { VersionId: object.versionId } : {}),
        }),
      );
      removed.push(object.what);
    } catch (err) {
      const why = oneLine((err as Error).message);
      const version = object.versionId ? `version ${object.versionId} of ` : '';
      failed.push(`removing ${object.what} failed too (${why}): delete ${version}${object.key} by hand`);
    }
  }
  const parts: string[] = [];
  if (removed.length > 0) parts.push(`${joinNames(removed)} ${removed.length === 1 ? 'was' : 'were'} removed again`);
  if (failed.length > 0) parts.push(`and ${failed.join('; and ')}`);
  return parts.join('; ');
}

/**
 * The last step of a backup, once the object, its globals and its manifest are all stored: locks each of them, in
 * that order. If a lock fails, what is not locked yet is deleted again (no bypass needed) and the error line names
 * each version already locked: it stays until its date, and there is nothing else to do.
 */
export async function lockStored(s3: S3Client, bucket: string, stored: readonly StoredObject[], lock: ObjectLock): Promise<void> {
  const locked: StoredObject[] = [];
  for (const [i, object] of stored.entries()) {
    try {
      await setRetention(s3, bucket, object, lock);
      locked.push(object);
    } catch (err) {
      const cleanup = await removeStored(s3, bucket, stored.slice(i));
      const kept = locked.map((o) => `${o.what} (${o.versionId ? `version ${o.versionId} of ` : ''}${o.key})`);
      const stays = kept.length === 0
        ? ''
        : `; ${joinNames(kept)} ${kept.length === 1 ? 'is' : 'are'} already locked until ${formatUtc(lock.retainUntil)} and ${kept.length === 1 ? 'stays' : 'stay'} until then: nothing else to do`;
      throw new UserError(`${(err as Error).message}; ${cleanup}${stays}`, err instanceof UserError ? err.exitCode : 1, { cause: err });
    }
  }
}
