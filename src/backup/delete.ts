/**
 * `meatbackup delete`: removes a backup for good — every version of its object and of its sidecars (manifest,
 * globals, restore-test result), delete markers included — or nothing at all.
 *
 * Object Lock is checked before anything is deleted: if any version of the backup or of a sidecar is under a
 * retention that has not ended (or a legal hold), the command refuses and deletes nothing, so the sidecars of a
 * locked backup are never stripped from it. The backup object's versions are deleted first, so should S3 still
 * refuse (a lock the check could not see), nothing else is gone either. Governance retention is never bypassed here:
 * locked backups leave by the bucket's lifecycle rules once their lock has ended.
 *
 * Deleting versions is not replicated by S3 replication: the replica keeps its copy until its own lifecycle rules
 * expire it.
 */
import { DeleteObjectCommand, HeadObjectCommand, ListObjectVersionsCommand, type S3Client } from '@aws-sdk/client-s3';
import { SIDECAR_SUFFIX, sidecarKey } from '../contract';
import { UserError, oneLine } from '../core/errors';
import { describeS3Error } from '../storage/s3';
import { mapBounded } from '../util/pool';
import { bucketObjectLock, formatUtc } from './retention';

export interface ObjectVersion {
  key: string;
  versionId: string;
  deleteMarker: boolean;
}

export interface DeletePlan {
  bucket: string;
  key: string;
  /** Every version and delete marker to delete, the backup object's first. */
  versions: ObjectVersion[];
}

export interface DeleteOptions {
  s3: S3Client;
  bucket: string;
  key: string;
  /** Asked once nothing stands in the way; false cancels with nothing deleted. */
  confirm: (plan: DeletePlan) => Promise<boolean>;
  /** @default () => new Date() */
  now?: () => Date;
}

export interface DeleteResult {
  bucket: string;
  key: string;
  deleted: ObjectVersion[];
}

/** The backup object and its sidecars: the keys `delete` removes. */
export function backupFamily(key: string): string[] {
  return [key, ...Object.keys(SIDECAR_SUFFIX).map((kind) => sidecarKey(key, kind as keyof typeof SIDECAR_SUFFIX))];
}

/** Every version and delete marker of the backup and its sidecars, the backup object's first. */
async function listFamily(s3: S3Client, bucket: string, key: string): Promise<ObjectVersion[]> {
  const family = backupFamily(key);
  const found: ObjectVersion[] = [];
  let keyMarker: string | undefined;
  let versionMarker: string | undefined;
  do {
    let page;
    try {
      page = await s3.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: key, KeyMarker: keyMarker, VersionIdMarker: versionMarker }));
    } catch (err) {
      throw describeS3Error(err, `list the versions of ${key} in bucket ${bucket}`, bucket);
    }
    for (const v of page.Versions ?? []) found.push({ key: v.Key ?? '', versionId: v.VersionId ?? 'null', deleteMarker: false });
    for (const m of page.DeleteMarkers ?? []) found.push({ key: m.Key ?? '', versionId: m.VersionId ?? 'null', deleteMarker: true });
    keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
    versionMarker = page.IsTruncated ? page.NextVersionIdMarker : undefined;
  } while (keyMarker !== undefined);
  const rank = (v: ObjectVersion): number => family.indexOf(v.key) * 2 + (v.deleteMarker ? 1 : 0);
  return found.filter((v) => family.includes(v.key)).sort((a, b) => rank(a) - rank(b));
}

interface Hold {
  version: ObjectVersion;
  mode?: string;
  until?: Date;
  legalHold: boolean;
}

/**
 * The versions that may not be deleted now: a retention date still ahead, or a legal hold. Read with HeadObject per
 * version, which carries the version's retention and legal hold (S3 includes them for a caller allowed
 * s3:GetObjectRetention and s3:GetObjectLegalHold); moto 5.2 answers GetObjectRetention with the object's body, so
 * HEAD is also what works against the emulator.
 */
async function holds(s3: S3Client, bucket: string, versions: readonly ObjectVersion[], now: Date): Promise<Hold[]> {
  const objects = versions.filter((v) => !v.deleteMarker);
  const found = await mapBounded(objects, 4, async (version): Promise<Hold> => {
    try {
      const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: version.key, VersionId: version.versionId }));
      return {
        version,
        ...(head.ObjectLockMode ? { mode: head.ObjectLockMode } : {}),
        ...(head.ObjectLockRetainUntilDate ? { until: new Date(head.ObjectLockRetainUntilDate) } : {}),
        legalHold: head.ObjectLockLegalHoldStatus === 'ON',
      };
    } catch (err) {
      throw describeS3Error(err, `read the Object Lock retention of ${version.key} (version ${version.versionId}) in bucket ${bucket}`, bucket);
    }
  });
  return found.filter((h) => h.legalHold || (h.until !== undefined && h.until > now));
}

function refusal(key: string, held: readonly Hold[]): UserError {
  const dated = held.filter((h) => h.until !== undefined);
  if (dated.length === 0) {
    return new UserError(`backup ${key} is under an Object Lock legal hold: it cannot be deleted while the hold is on; nothing was deleted`);
  }
  const last = dated.reduce((a, b) => (b.until! > a.until! ? b : a));
  const mode = (last.mode ?? 'governance').toLowerCase();
  return new UserError(`backup ${key} is under Object Lock (${mode}) until ${formatUtc(last.until!)}: it cannot be deleted before then; it expires by the bucket's lifecycle rules`);
}

/** Deletes the backup and its sidecars, every version, or refuses having deleted nothing. */
export async function deleteBackup(options: DeleteOptions): Promise<DeleteResult> {
  const { s3, bucket, key } = options;
  const now = (options.now ?? (() => new Date()))();
  const [versions, locked] = await Promise.all([listFamily(s3, bucket, key), bucketObjectLock(s3, bucket)]);
  if (!versions.some((v) => v.key === key && !v.deleteMarker)) {
    throw new UserError(`backup ${key} not found in bucket ${bucket}: nothing was deleted; see \`meatbackup list\``);
  }
  if (locked) {
    const held = await holds(s3, bucket, versions, now);
    if (held.length > 0) throw refusal(key, held);
  }
  const plan: DeletePlan = { bucket, key, versions };
  if (!(await options.confirm(plan))) throw new UserError(`delete cancelled: backup ${key} was not deleted`);

  const deleted: ObjectVersion[] = [];
  for (const version of versions) {
    try {
      await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: version.key, VersionId: version.versionId }));
      deleted.push(version);
    } catch (err) {
      const what = describeS3Error(err, `delete ${version.key} (version ${version.versionId}) from bucket ${bucket}`, bucket).message;
      const left = versions.length - deleted.length;
      const done = deleted.length === 0 ? 'nothing was deleted' : `${deleted.length} of ${versions.length} versions were deleted, ${left} remain`;
      throw new UserError(`${oneLine(what)}; ${done}: run \`meatbackup delete ${key}\` again once the cause is fixed`, 1, { cause: err });
    }
  }
  return { bucket, key, deleted };
}
