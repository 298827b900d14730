/**
 * The catalog of backups: the objects under the prefix whose names have the runbook's shape, joined with the
 * manifest each successful backup writes beside it. A backup object without a manifest is listed as
 * unverified: its upload finished but the run that made it never recorded its checksum.
 */
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { DEFAULT_PREFIX, type Manifest, formatStamp, manifestSchema, normalizePrefix, parseBackupKey, sidecarKey } from '../contract';
import { readJsonObject } from '../storage/json-object';
import { describeS3Error } from '../storage/s3';
import { mapBounded } from '../util/pool';

export interface BackupEntry {
  key: string;
  database: string;
  takenAt: Date;
  sizeBytes: number;
  lastModified?: Date;
  storageClass?: string;
  /** Present when the backup run completed and recorded its checksum. */
  manifest?: Manifest;
}

/** Reads and validates a backup's manifest; undefined when there is none. */
export function readManifest(s3: S3Client, bucket: string, key: string): Promise<Manifest | undefined> {
  return readJsonObject(s3, bucket, sidecarKey(key, 'manifest'), manifestSchema, {
    what: 'manifest',
    kind: 'a meatbackup manifest',
    remedy: 'verify or restore another backup',
  });
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
  const { database, since } = options;
  // Within one database's names, key order is stamp order: a listing that starts after `<db>-<stamp of since>`
  // skips everything older. (Another database whose name starts with `<db>-` may still show up; it is filtered.)
  const listPrefix = database !== undefined ? `${normalizePrefix(prefix)}${database}-` : normalizePrefix(prefix);
  const startAfter = database !== undefined && since ? `${listPrefix}${formatStamp(since)}` : undefined;
  let token: string | undefined;
  do {
    let page;
    try {
      page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: listPrefix, ContinuationToken: token, ...(startAfter && !token ? { StartAfter: startAfter } : {}) }));
    } catch (err) {
      throw describeS3Error(err, `list backups in bucket ${bucket}`, bucket);
    }
    for (const obj of page.Contents ?? []) {
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
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  // Newest first; the same second in two databases sorts by name so the order is stable.
  return entries.sort((a, b) => b.takenAt.getTime() - a.takenAt.getTime() || a.key.localeCompare(b.key));
}

/** The backups under `prefix`, newest first, each with its manifest when it has one. */
export async function listBackups(s3: S3Client, bucket: string, prefix: string = DEFAULT_PREFIX, options: { limit?: number } = {}): Promise<BackupEntry[]> {
  const objects = await listBackupObjects(s3, bucket, prefix);
  const wanted = options.limit ? objects.slice(0, options.limit) : objects;
  return mapBounded(wanted, 8, async (entry) => {
    const manifest = await readManifest(s3, bucket, entry.key);
    return manifest ? { ...entry, manifest } : entry;
  });
}
