/**
 * Which version of a backup key holds the backup its manifest describes. `verify` and `restore` both read that
 * version, so that a later write of the same key changes neither what is checked nor what is restored.
 */
import { HeadObjectCommand, type HeadObjectCommandOutput, type S3Client } from '@aws-sdk/client-s3';
import type { Manifest } from '../contract';
import { UserError } from '../core/errors';
import { httpStatus, isNotFound } from '../storage/aws-errors';
import { describeS3Error } from '../storage/s3';

/** A version id S3 does not know in this bucket: 404, or 400 when it is not even a valid id here. */
function unknownVersion(err: unknown): boolean {
  return isNotFound(err) || httpStatus(err) === 400;
}

async function head(s3: S3Client, bucket: string, key: string, versionId?: string): Promise<HeadObjectCommandOutput> {
  return s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key, ...(versionId ? { VersionId: versionId } : {}) }));
}

/** Which version of a backup key holds the backup, per its manifest, and what an operator should know about it. */
export interface LocatedVersion {
  head: HeadObjectCommandOutput;
  notes: string[];
  /**
   * The current version, when it is not the one the manifest recorded although that one is still there: someone
   * wrote over the backup's key after the backup. The recorded version is the one located.
   */
  overwrittenBy?: string;
}

/**
 * The version its manifest recorded when the bucket still has it (a newer write of the same key does not change what
 * is checked or restored), else the current one (a bucket copied or promoted since has other version ids; the sha256
 * check decides).
 */
export async function locateBackupVersion(s3: S3Client, bucket: string, key: string, manifest: Manifest): Promise<LocatedVersion> {
  const notes: string[] = [];
  // "null" is the version id S3 reports for objects written while versioning was off: no version to pin.
  const recorded = manifest.versionId && manifest.versionId !== 'null' ? manifest.versionId : undefined;
  let found: HeadObjectCommandOutput | undefined;
  let overwrittenBy: string | undefined;
  try {
    if (recorded) {
      found = await head(s3, bucket, key, recorded).catch((err: unknown) => {
        if (unknownVersion(err)) return undefined;
        throw err;
      });
      if (!found) {
        notes.push(`the version the manifest recorded (${recorded}) is not in bucket ${bucket} (copied or promoted since): using the current version, which must still match the manifest's sha256`);
      }
    }
    const current = await head(s3, bucket, key);
    if (found && current.VersionId && current.VersionId !== recorded) {
      overwrittenBy = current.VersionId;
      notes.push(`${key} was written again after the backup (current version ${current.VersionId}): restoring the version the backup recorded, ${recorded}`);
    }
    found ??= current;
  } catch (err) {
    if (isNotFound(err)) throw new UserError(`backup ${key} is gone from bucket ${bucket}: pick another backup (meatbackup list)`);
    throw describeS3Error(err, `read ${key} from bucket ${bucket}`, bucket);
  }
  return { head: found, notes, ...(overwrittenBy ? { overwrittenBy } : {}) };
}
