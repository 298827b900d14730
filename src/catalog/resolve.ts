/**
 * Turns what an operator types (`latest`, a file name, or a full key) into one existing backup under the prefix.
 * Anything outside the prefix, or not of the backup-name shape, is refused before S3 is asked; a name that does not
 * exist is answered with the newest names that do.
 *
 * `latest` is the newest backup *of the database it is for* (the restore's source, the restore test's database, the
 * configured database of the ops functions): a bucket may hold backups of several databases (a backup run with
 * PGDATABASE unset dumps `postgres`), and the newest of any of them is the wrong data. With no database given,
 * `latest` is accepted only while the prefix holds backups of one database.
 */
import { HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { type BackupName, DEFAULT_PREFIX, normalizePrefix, parseBackupKey } from '../contract';
import { UserError, usageError } from '../core/errors';
import { isAccessDenied, isNotFound } from '../storage/aws-errors';
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

export interface ResolveOptions {
  /** The database `latest` means the newest backup of. Unset: the only database with backups under the prefix. */
  database?: string;
  /** How the operator names the database, for the message when it is needed: e.g. "--database NAME". */
  databaseHint?: string;
}

/** The distinct databases that have backups under the prefix, newest backup first. */
function databasesIn(entries: Array<{ database: string }>): string[] {
  return [...new Set(entries.map((e) => e.database))];
}

/** The newest backup of `options.database` (or of the only database with backups), per {@link ResolveOptions}. */
export async function newestBackupName(s3: S3Client, bucket: string, prefix: string, options: ResolveOptions = {}): Promise<BackupName> {
  const where = `s3://${bucket}/${normalizePrefix(prefix)}`;
  const hint = options.databaseHint ?? 'name the database';
  const { database } = options;
  if (database !== undefined) {
    const [newest] = await listBackupObjects(s3, bucket, prefix, { database });
    if (newest) return parseBackupKey(newest.key)!;
    const others = databasesIn(await listBackupObjects(s3, bucket, prefix));
    if (others.length === 0) throw missing(undefined, bucket, prefix, []);
    throw new UserError(
      `there is no backup of database ${database} under ${where}, only of ${others.join(', ')}: "latest" means the newest backup of ${database}; name a backup of another database explicitly if that is what you want`,
    );
  }
  const all = await listBackupObjects(s3, bucket, prefix);
  if (all.length === 0) throw missing(undefined, bucket, prefix, []);
  const databases = databasesIn(all);
  if (databases.length > 1) {
    throw usageError(`"latest" is ambiguous: ${where} holds backups of ${databases.length} databases (${databases.join(', ')}): ${hint}`);
  }
  return parseBackupKey(all[0].key)!;
}

/** Resolves `latest`, a file name or a full key to an existing backup object, or throws a UserError that says what exists. */
export async function resolveBackupRef(s3: S3Client, bucket: string, prefix: string, ref: string, options: ResolveOptions = {}): Promise<ResolvedBackup> {
  let name: BackupName;
  if (ref.trim() === 'latest') {
    name = await newestBackupName(s3, bucket, prefix, options);
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
    // A HEAD answer has no body, so S3 cannot say *why* (missing bucket, bad credentials): listing can.
    if (!isNotFound(err) && !isAccessDenied(err)) throw describeS3Error(err, `look up ${name.key} in bucket ${bucket}`, bucket);
    const all = await listBackupObjects(s3, bucket, prefix);
    if (isAccessDenied(err)) throw describeS3Error(err, `look up ${name.key} in bucket ${bucket}`, bucket);
    throw missing(name.fileName, bucket, prefix, all.slice(0, SHOWN_WHEN_MISSING).map((e) => e.key.slice(e.key.lastIndexOf('/') + 1)));
  }
}
