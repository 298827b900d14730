/**
 * The catalog of backups: the objects under the prefix whose names have the runbook's shape, joined with the
 * manifest each successful backup writes beside it and the latest check on record (a `verify` or a restore test).
 * A backup object without a manifest is listed as such: its upload finished but the run that made it never recorded
 * its checksum. One unreadable manifest marks its own row; it does not hide the others.
 */
import { ListObjectVersionsCommand, type S3Client } from '@aws-sdk/client-s3';
import {
  DEFAULT_PREFIX,
  type Manifest,
  SIDECAR_SUFFIX,
  formatStamp,
  manifestSchema,
  normalizePrefix,
  parseBackupKey,
  restoreTestResultSchema,
  sidecarKey,
  verifyRecordSchema,
} from '../contract';
import { UserError, oneLine } from '../core/errors';
import { UnreadableJsonObject, readJsonObject } from '../storage/json-object';
import { listObjectPages } from '../storage/s3';
import { mapBounded } from '../util/pool';
import { manifestIdentityProblem } from './manifest-identity';

/** The newest check of a backup's content on record: a `meatbackup verify` or a restore test. */
export interface BackupCheck {
  kind: 'verify' | 'restore-test';
  ok: boolean;
  /** When it ran, ISO 8601 UTC. */
  at: string;
  /** Why it failed, or why its record could not be read. */
  error?: string;
  /** A restore test that could not run where it ran (the target lacks an extension): not a verdict on the backup. */
  cannotTest?: true;
}

export interface BackupEntry {
  key: string;
  database: string;
  takenAt: Date;
  sizeBytes: number;
  lastModified?: Date;
  storageClass?: string;
  /** Present when the backup run completed and recorded its checksum. */
  manifest?: Manifest;
  /** Why the manifest beside it could not be used (altered, truncated, unreadable): its row says so. */
  manifestProblem?: string;
  /** The newest verify or restore-test result on record. */
  lastCheck?: BackupCheck;
  /** Which check records the listing showed beside it (filled by {@link listBackupObjects}). */
  records?: Array<'verify' | 'restoreTest'>;
}

/**
 * Reads and validates a backup's manifest; undefined when there is none. A manifest written for another backup
 * (copied over this key, ./manifest-identity) is refused like an altered one, naming both.
 */
export async function readManifest(s3: S3Client, bucket: string, key: string): Promise<Manifest | undefined> {
  const manifestKey = sidecarKey(key, 'manifest');
  const manifest = await readJsonObject(s3, bucket, manifestKey, manifestSchema, {
    what: 'manifest',
    kind: 'a meatbackup manifest',
    remedy: 'verify or restore another backup',
  });
  const problem = manifest ? manifestIdentityProblem(manifest, key) : undefined;
  if (problem) {
    throw new UnreadableJsonObject(`the manifest ${manifestKey} in bucket ${bucket} is not this backup's: ${problem}; it is refused and nothing was changed; verify or restore another backup`, problem);
  }
  return manifest;
}

export interface ListBackupObjectsOptions {
  /** Only this database's backups (listed from `<prefix><database>-`). */
  database?: string;
  /** With `database`: only backups stamped at or after this moment (the listing starts there). */
  since?: Date;
}

/** Lists the backup objects under `prefix`, newest first, without reading manifests. */
export async function listBackupObjects(s3: S3Client, bucket: string, prefix: string = DEFAULT_PREFIX, options: ListBackupObjectsOptions = {}): Promise<BackupEntry[]> {
  const entries: BackupEntry[] = [];
  const records = new Map<string, Array<'verify' | 'restoreTest'>>();
  const { database, since } = options;
  // Within one database's names, key order is stamp order: a listing that starts after `<db>-<stamp of since>`
  // skips everything older. (Another database whose name starts with `<db>-` may still show up; it is filtered.)
  const listPrefix = database !== undefined ? `${normalizePrefix(prefix)}${database}-` : normalizePrefix(prefix);
  const startAfter = database !== undefined && since ? `${listPrefix}${formatStamp(since)}` : undefined;
  // StartAfter stays on every page's request: later pages continue from their token, which lies past it anyway.
  const input = { Bucket: bucket, Prefix: listPrefix, ...(startAfter ? { StartAfter: startAfter } : {}) };
  for await (const page of listObjectPages(s3, input, `list backups in bucket ${bucket}`)) {
    for (const obj of page.Contents ?? []) {
      noteRecord(obj.Key ?? '', records);
      const name = obj.Key ? parseBackupKey(obj.Key) : undefined;
      // Only the prefix itself, not nested "folders": backups/old/x.sql.gz is somebody else's.
      if (!name || name.prefix !== normalizePrefix(prefix)) continue;
      if (database !== undefined && name.database !== database) continue;
      if (since && name.takenAt < since) continue;
      entries.push({
        key: name.key,
        database: name.database,
        takenAt: name.takenAt,
        sizeBytes: obj.Size ?? 0,
        ...(obj.LastModified ? { lastModified: obj.LastModified } : {}),
        ...(obj.StorageClass ? { storageClass: obj.StorageClass } : {}),
      });
    }
  }
  for (const entry of entries) {
    const found = records.get(entry.key);
    if (found) entry.records = found;
  }
  // Newest first; the same second in two databases sorts by name so the order is stable.
  return entries.sort((a, b) => b.takenAt.getTime() - a.takenAt.getTime() || a.key.localeCompare(b.key));
}

/** Check records are listed with the backups (same prefix): which backups have one is known without reading. */
function noteRecord(key: string, records: Map<string, Array<'verify' | 'restoreTest'>>): void {
  for (const kind of ['verify', 'restoreTest'] as const) {
    if (!key.endsWith(SIDECAR_SUFFIX[kind])) continue;
    const backup = key.slice(0, -SIDECAR_SUFFIX[kind].length);
    records.set(backup, [...(records.get(backup) ?? []), kind]);
  }
}

function problemOf(err: unknown): string {
  if (err instanceof UnreadableJsonObject) return err.reason;
  return oneLine(err instanceof Error ? err.message : String(err));
}

/** The newest of the verify and restore-test records the listing showed; an unreadable one counts as a failed check. */
async function lastCheckOf(s3: S3Client, bucket: string, entry: BackupEntry): Promise<BackupCheck | undefined> {
  const checks: BackupCheck[] = [];
  for (const kind of entry.records ?? []) {
    const key = sidecarKey(entry.key, kind);
    try {
      if (kind === 'verify') {
        const r = await readJsonObject(s3, bucket, key, verifyRecordSchema, { what: 'verify result', kind: 'a meatbackup verify result', remedy: 'run meatbackup verify again' });
        if (r) checks.push({ kind: 'verify', ok: r.ok, at: r.verifiedAt, ...(r.error ? { error: r.error } : {}) });
      } else {
        const r = await readJsonObject(s3, bucket, key, restoreTestResultSchema, { what: 'restore test result', kind: 'a meatbackup restore test result', remedy: 'run the restore test again' });
        if (r) checks.push({ kind: 'restore-test', ok: r.ok, at: r.testedAt, ...(r.error ? { error: r.error } : {}), ...(r.cannotTest ? { cannotTest: true as const } : {}) });
      }
    } catch (err) {
      checks.push({ kind: kind === 'verify' ? 'verify' : 'restore-test', ok: false, at: '', error: `its record ${key} is unreadable: ${problemOf(err)}` });
    }
  }
  return checks.sort((a, b) => b.at.localeCompare(a.at))[0];
}

/**
 * The backups under `prefix`, newest first, each with its manifest when it has one (or why it cannot be read) and
 * its latest check on record.
 */
export async function listBackups(s3: S3Client, bucket: string, prefix: string = DEFAULT_PREFIX, options: { limit?: number } = {}): Promise<BackupEntry[]> {
  const objects = await listBackupObjects(s3, bucket, prefix);
  const wanted = options.limit ? objects.slice(0, options.limit) : objects;
  return mapBounded(wanted, 8, async (entry) => {
    const { records, ...listed } = entry;
    const out: BackupEntry = { ...listed };
    try {
      const manifest = await readManifest(s3, bucket, entry.key);
      if (manifest) out.manifest = manifest;
    } catch (err) {
      out.manifestProblem = problemOf(err);
    }
    const lastCheck = records ? await lastCheckOf(s3, bucket, entry) : undefined;
    if (lastCheck) out.lastCheck = lastCheck;
    return out;
  });
}

/** How the listed size compares with what the manifest recorded: free with the listing, no byte read. */
export type SizeCheck = 'matches-manifest' | 'differs-from-manifest' | 'no-manifest' | 'manifest-unreadable';

export function sizeCheck(entry: BackupEntry): SizeCheck {
  if (entry.manifestProblem) return 'manifest-unreadable';
  if (!entry.manifest) return 'no-manifest';
  return entry.sizeBytes === entry.manifest.sizeBytes ? 'matches-manifest' : 'differs-from-manifest';
}

/** How the caller's operator lists backups and what "nothing happened" means there (the CLI's words by default). */
export interface ManifestHints {
  /** @default 'meatbackup list' */
  list?: string;
  /** @default 'nothing was changed' */
  unchanged?: string;
}

/**
 * Why a backup has no manifest to check it against, as one actionable line. A manifest hidden by a delete marker
 * (a versioned bucket keeps what was "deleted") is said to be deleted, with when and how to bring its previous version
 * back; the check is never to be bypassed.
 */
export async function missingManifest(s3: S3Client, bucket: string, key: string, options: ManifestHints = {}): Promise<UserError> {
  const list = options.list ?? 'meatbackup list';
  const unchanged = options.unchanged ?? 'nothing was changed';
  const manifestKey = sidecarKey(key, 'manifest');
  let versions;
  try {
    versions = await s3.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: manifestKey }));
  } catch {
    // Not allowed to list versions (or an unversioned store without the API): say what is known.
    versions = undefined;
  }
  const marker = (versions?.DeleteMarkers ?? []).find((m) => m.Key === manifestKey && m.IsLatest);
  if (marker) {
    const when = marker.LastModified ? marker.LastModified.toISOString().slice(0, 19) + 'Z' : 'an unknown time';
    const previous = (versions?.Versions ?? [])
      .filter((v) => v.Key === manifestKey)
      .sort((a, b) => (b.LastModified?.getTime() ?? 0) - (a.LastModified?.getTime() ?? 0))[0];
    const deleted = `the manifest of backup ${key} was deleted at ${when} (delete marker version ${marker.VersionId})`;
    if (!previous) {
      return new UserError(`${deleted} and no earlier version of it is left, so the backup cannot be checked: pick another backup (${list}); ${unchanged}`);
    }
    return new UserError(
      `${deleted}; its previous version ${previous.VersionId} is still in the bucket: bring it back by removing the delete marker ` +
        `(aws s3api delete-object --bucket ${bucket} --key ${manifestKey} --version-id ${marker.VersionId}), then run this again; ${unchanged}`,
    );
  }
  return new UserError(
    `backup ${key} has no manifest (${manifestKey}): the run that wrote it never recorded its sha256, so it cannot be checked; pick another backup (${list}); ${unchanged}`,
  );
}

/** The backup's manifest; throws {@link missingManifest}'s line when there is none. */
export async function readRequiredManifest(s3: S3Client, bucket: string, key: string, hints: ManifestHints = {}): Promise<Manifest> {
  const manifest = await readManifest(s3, bucket, key);
  if (!manifest) throw await missingManifest(s3, bucket, key, hints);
  return manifest;
}
