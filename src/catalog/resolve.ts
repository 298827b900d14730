/**
 * Turns what an operator types (`latest`, a file name, or a full key) into one existing backup under the prefix.
 * Anything outside the prefix, or not of the backup-name shape, is refused before S3 is asked; a name that does not
 * exist is answered with the newest names that do.
 *
 * `latest` is the newest backup *of the database it is for* (the restore's source, the restore test's database, the
 * configured database of the ops functions): a bucket may hold backups of several databases (a backup run with
 * PGDATABASE unset dumps `postgres`), and the newest of any of them is the wrong data. With no database given,
 * `latest` is accepted only while the prefix holds backups of one database. Of those, it is the newest complete one:
 * an object without its manifest (a run that never finished) or named in the future (a wrong clock, a name made by
 * hand: it would stay "latest" for ever) is passed over, and the caller says so once.
 */
import { HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { type BackupName, DEFAULT_PREFIX, normalizePrefix, parseBackupKey } from '../contract';
import { UserError, usageError } from '../core/errors';
import { isAccessDenied, isNotFound } from '../storage/aws-errors';
import { describeS3Error } from '../storage/s3';
import { type BackupEntry, listBackupObjects, readManifest } from './catalog';
import { UnreadableJsonObject } from '../storage/json-object';
import { formatBytes } from '../core/format';
import { type SourceDatabaseWords, latestOfOtherHint } from './source-database';

export interface ResolvedBackup extends BackupName {
  sizeBytes: number;
  /** Current version of the object, when the bucket is versioned. */
  versionId?: string;
  lastModified?: Date;
  /** `latest` only: the newer backups it passed over (stamped in the future, incomplete), said once by the caller. */
  skipped?: string;
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
  /**
   * A restore into `target`: when `latest` finds no backup of `database` but of others, the refusal says how to
   * restore one of theirs on purpose (`--from-database NAME`, ./source-database).
   */
  restoreInto?: { target: string; words: SourceDatabaseWords };
  /** The clock `latest` compares stamps with. @default now */
  now?: Date;
}

/** The distinct databases that have backups under the prefix, newest backup first. */
function databasesIn(entries: Array<{ database: string }>): string[] {
  return [...new Set(entries.map((e) => e.database))];
}

/** The backups `latest` chooses among, newest first: of `options.database`, or of the only database with backups. */
async function latestCandidates(s3: S3Client, bucket: string, prefix: string, options: ResolveOptions): Promise<BackupEntry[]> {
  const where = `s3://${bucket}/${normalizePrefix(prefix)}`;
  const hint = options.databaseHint ?? 'name the database';
  const { database } = options;
  if (database !== undefined) {
    const mine = await listBackupObjects(s3, bucket, prefix, { database });
    if (mine.length > 0) return mine;
    const others = databasesIn(await listBackupObjects(s3, bucket, prefix));
    if (others.length === 0) throw missing(undefined, bucket, prefix, []);
    const how = options.restoreInto
      ? `${latestOfOtherHint(others, options.restoreInto.target, options.restoreInto.words)}; ${options.restoreInto.words.unchanged}`
      : 'name a backup of another database explicitly if that is what you want';
    throw new UserError(`there is no backup of database ${database} under ${where}, only of ${others.join(', ')}: "latest" means the newest backup of ${database}; ${how}`);
  }
  const all = await listBackupObjects(s3, bucket, prefix);
  if (all.length === 0) throw missing(undefined, bucket, prefix, []);
  const databases = databasesIn(all);
  if (databases.length > 1) {
    throw usageError(`"latest" is ambiguous: ${where} holds backups of ${databases.length} databases (${databases.join(', ')}): ${hint}`);
  }
  return all;
}

/** The newest backup of `options.database` (or of the only database with backups), per {@link ResolveOptions}, by name only. */
export async function newestBackupName(s3: S3Client, bucket: string, prefix: string, options: ResolveOptions = {}): Promise<BackupName> {
  const [newest] = await latestCandidates(s3, bucket, prefix, options);
  return parseBackupKey(newest.key)!;
}

/** How far a backup's stamp may lie ahead of this clock (the backup ran on another host) before `latest` passes it over. */
export const FUTURE_TOLERANCE_MS = 10 * 60_000;

/** How many backups `latest` inspects for a complete one before it stops looking (each costs a manifest read). */
const LATEST_PROBES = 20;

function fileNameOf(key: string): string {
  return key.slice(key.lastIndexOf('/') + 1);
}

/** Why `latest` must not choose this backup (no manifest, an unreadable one, another size), or undefined. */
async function incompleteBecause(s3: S3Client, bucket: string, entry: BackupEntry): Promise<string | undefined> {
  let manifest;
  try {
    manifest = await readManifest(s3, bucket, entry.key);
  } catch (err) {
    if (err instanceof UnreadableJsonObject) return `its manifest is unusable: ${err.reason}`;
    throw err;
  }
  if (!manifest) return 'no manifest: the run that wrote it did not complete';
  if (manifest.sizeBytes !== entry.sizeBytes) return `${entry.sizeBytes} bytes where its manifest records ${manifest.sizeBytes}`;
  return undefined;
}

/**
 * `latest` among `candidates` (newest first): the newest complete backup (a manifest that is its own, the size it
 * records), passing over any stamped in the future (a name a wrong clock or a hand made: it would stay "latest" for
 * ever). When none of the first {@link LATEST_PROBES} is complete, the newest one not in the future, so that the
 * command refuses it and says exactly why (no manifest, a deleted one).
 */
async function chooseLatest(s3: S3Client, bucket: string, prefix: string, candidates: BackupEntry[], now: Date): Promise<{ entry: BackupEntry; skipped?: string }> {
  const passed: string[] = [];
  const present = candidates.filter((e) => {
    if (e.takenAt.getTime() <= now.getTime() + FUTURE_TOLERANCE_MS) return true;
    passed.push(`${fileNameOf(e.key)} (stamped in the future, ${formatBytes(e.sizeBytes)})`);
    return false;
  });
  if (present.length === 0) {
    throw new UserError(
      `every backup "latest" could choose under s3://${bucket}/${normalizePrefix(prefix)} is stamped in the future (${passed.join(', ')}): a wrong clock or a name made by hand; name one explicitly if it is the one you want`,
    );
  }
  const futures = passed.length;
  for (const entry of present.slice(0, LATEST_PROBES)) {
    const why = await incompleteBecause(s3, bucket, entry);
    if (!why) return { entry, ...(passed.length > 0 ? { skipped: `"latest" passed over ${passed.join('; ')}` } : {}) };
    passed.push(`${fileNameOf(entry.key)} (${why})`);
  }
  // None complete: the newest present one, which the command refuses with the exact reason.
  const skipped = passed.slice(0, futures);
  return { entry: present[0], ...(skipped.length > 0 ? { skipped: `"latest" passed over ${skipped.join('; ')}` } : {}) };
}

/** Resolves `latest`, a file name or a full key to an existing backup object, or throws a UserError that says what exists. */
export async function resolveBackupRef(s3: S3Client, bucket: string, prefix: string, ref: string, options: ResolveOptions = {}): Promise<ResolvedBackup> {
  let name: BackupName;
  let skipped: string | undefined;
  if (ref.trim() === 'latest') {
    const chosen = await chooseLatest(s3, bucket, prefix, await latestCandidates(s3, bucket, prefix, options), options.now ?? new Date());
    name = parseBackupKey(chosen.entry.key)!;
    skipped = chosen.skipped;
  } else {
    name = backupKeyFromRef(ref, prefix);
  }
  try {
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: name.key }));
    return {
      ...name,
      ...(skipped ? { skipped } : {}),
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
