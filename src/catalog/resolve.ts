/**
 * Turns what an operator types (`latest`, a file name, or a full key) into one existing backup under the prefix.
 * Anything outside the prefix, or not of the backup-name shape, is refused before S3 is asked; a name that does not
 * exist is answered with the newest names that do.
 */
import { HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { type BackupName, DEFAULT_PREFIX, normalizePrefix, parseBackupKey } from '../contract';
import { UserError, usageError } from '../core/errors';
import { describeS3Error } from '../storage/s3';
import { listBackupObjects } from './catalog';

export interface ResolvedBackup extends BackupName {
  sizeBytes: number;
  /** Current version of the object, when the bucket is versioned. */
  versionId?: string;
  lastModified?: Date;
}

const SHOWN_WHEN_MISSING = 5;

/** The key `ref` names under `prefix`, checked for shape only (no S3 call). */
export function backupKeyFromRef(ref: string, prefix: string = DEFAULT_PREFIX): BackupName {
  const want = normalizePrefix(prefix);
  const trimmed = ref.trim();
  const key = trimmed.includes('/') ? trimmed : `${want}${trimmed}`;
  const name = parseBackupKey(key);
  if (!name) {
    throw usageError(`${JSON.stringify(ref)} is not a backup name: give "latest", a file name like meatdb-2025-09-17T10:30:00.sql.gz, or a key like ${want}meatdb-2025-09-17T10:30:00.sql.gz`);
  }
  if (name.prefix !== want) {
    throw usageError(`${JSON.stringify(ref)} is outside ${want === '' ? 'the bucket root' : want}: only backups directly under ${want || '/'} can be used`);
  }
  return name;
}

function missing(fileName: string | undefined, bucket: string, prefix: string, newest: string[]): UserError {
  const where = `s3://${bucket}/${normalizePrefix(prefix)}`;
  if (newest.length === 0) {
    return new UserError(`${fileName ? `backup ${fileName} not found: ` : ''}there are no backups under ${where}: take one with \`meatbackup backup\``);
  }
  return new UserError(`backup ${fileName} not found under ${where}; newest there: ${newest.join(', ')}`);
}

/** Resolves `latest`, a file name or a full key to an existing backup object, or throws a UserError that says what exists. */
export async function resolveBackupRef(s3: S3Client, bucket: string, prefix: string, ref: string): Promise<ResolvedBackup> {
  let name: BackupName;
  if (ref.trim() === 'latest') {
    const newest = (await listBackupObjects(s3, bucket, prefix))[0];
    if (!newest) throw missing(undefined, bucket, prefix, []);
    name = parseBackupKey(newest.key)!;
  } else {
    name = backupKeyFromRef(ref, prefix);
  }
  try {
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: name.key }));
    return {
      ...name,
      sizeBytes: head.ContentLength ?? 0,
      ...(head.VersionId ? { versionId: head.VersionId } : {}),
      ...(head.LastModified ? { lastModified: head.LastModified } : {}),
    };
  } catch (err) {
    const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    // A HEAD answer has no body, so S3 cannot say *why* (missing bucket, bad credentials): listing can.
    if (status !== 404 && status !== 403) throw describeS3Error(err, `look up ${name.key} in bucket ${bucket}`, bucket);
    const all = await listBackupObjects(s3, bucket, prefix);
    if (status === 403) throw describeS3Error(err, `look up ${name.key} in bucket ${bucket}`, bucket);
    throw missing(name.fileName, bucket, prefix, all.slice(0, SHOWN_WHEN_MISSING).map((e) => e.key.slice(e.key.lastIndexOf('/') + 1)));
  }
}
