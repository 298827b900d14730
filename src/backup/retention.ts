/**
 * What keeps a backup, and for how long, without a cron job:
 *
 * - Grandfather-father-son classes. Each backup is tagged `retention=monthly|weekly|daily` when it is written: the
 *   first backup of its database in a calendar month (UTC) is monthly, else the first of an ISO week (Monday 00:00
 *   UTC) is weekly, else it is daily. Decided from the key stamps of the backups already in the bucket; the stacks'
 *   lifecycle rules expire each tag after its own period.
 * - Object Lock. When the bucket has Object Lock enabled, the backup, its globals and its manifest are given a
 *   governance-mode retention of BACKUP_LOCK_DAYS (default 35; 0 disables), or until their class expires when that is
 *   later (BACKUP_RETENTION_DAYS, which the stacks set), once all three are stored: nobody without
 *   s3:BypassGovernanceRetention, which no role of the stacks has, can delete or shorten them before then.
 */
import { GetObjectLockConfigurationCommand, type ObjectLockMode, type S3Client } from '@aws-sdk/client-s3';
import { DEFAULT_LOCK_DAYS, RETENTION_TAG, type RetentionClass } from '../contract';
import { UserError } from '../core/errors';
import { errorCode, isAccessDenied } from '../storage/aws-errors';
import { describeS3Error } from '../storage/s3';

export { DEFAULT_LOCK_DAYS };

const DAY_MS = 86_400_000;

/** 00:00 UTC on the first day of `at`'s month. */
export function monthStart(at: Date): Date {
  return new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), 1));
}

/** 00:00 UTC on the Monday of `at`'s ISO week. */
export function isoWeekStart(at: Date): Date {
  const day = Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate());
  const sinceMonday = (at.getUTCDay() + 6) % 7;
  return new Date(day - sinceMonday * DAY_MS);
}

/** The earliest backup that can decide `at`'s class: the start of its month or of its ISO week, whichever is first. */
export function classWindowStart(at: Date): Date {
  const month = monthStart(at);
  const week = isoWeekStart(at);
  return week < month ? week : month;
}

/**
 * The class of a backup taken at `takenAt`, given when the earlier backups of the same database were taken (later
 * ones, and others, are ignored): monthly for the first of its calendar month, else weekly for the first of its ISO
 * week, else daily.
 */
export function retentionClass(takenAt: Date, earlier: readonly Date[]): RetentionClass {
  const before = earlier.filter((t) => t.getTime() < takenAt.getTime());
  if (!before.some((t) => t >= monthStart(takenAt))) return 'monthly';
  if (!before.some((t) => t >= isoWeekStart(takenAt))) return 'weekly';
  return 'daily';
}

/** The object tag (`Tagging` header, URL-encoded) that carries the class. */
export function retentionTagging(cls: RetentionClass): string {
  return new URLSearchParams({ [RETENTION_TAG]: cls }).toString();
}

export interface ObjectLock {
  mode: ObjectLockMode;
  retainUntil: Date;
}

/** The retention a backup taken at `takenAt` is written with, or none. */
export function objectLockFor(takenAt: Date, days: number, bucketLocked: boolean): ObjectLock | undefined {
  if (!bucketLocked || days <= 0) return undefined;
  return { mode: 'GOVERNANCE', retainUntil: new Date(takenAt.getTime() + days * DAY_MS) };
}

/**
 * Days a backup of class `cls` is locked: `lockDays`, or until its class expires when that is later
 * (BACKUP_RETENTION_DAYS). A lock shorter than the class's life would leave the backup deletable, by whoever may
 * delete versions (the backup task, to take a failed run back out), for the rest of it; locked for its whole life, a
 * finished backup can be deleted early only with s3:BypassGovernanceRetention, which no role of the stacks has.
 * 0 (no Object Lock) stays 0.
 */
export function lockDaysFor(cls: RetentionClass, lockDays: number, retentionDays: Partial<Record<RetentionClass, number>> = {}): number {
  if (lockDays <= 0) return 0;
  return Math.max(lockDays, retentionDays[cls] ?? 0);
}

/**
 * Whether the bucket has Object Lock enabled (GetObjectLockConfiguration). A bucket without a configuration answers
 * ObjectLockConfigurationNotFoundError: not locked. Any other failure is reported, never read as "not locked":
 * backups must not quietly go unprotected because a permission is missing. `whenDenied` ends the access-denied line.
 */
export async function bucketObjectLock(s3: S3Client, bucket: string, whenDenied = ''): Promise<boolean> {
  try {
    const res = await s3.send(new GetObjectLockConfigurationCommand({ Bucket: bucket }));
    return res.ObjectLockConfiguration?.ObjectLockEnabled === 'Enabled';
  } catch (err) {
    if (errorCode(err) === 'ObjectLockConfigurationNotFoundError') return false;
    const described = describeS3Error(err, `read the Object Lock configuration of bucket ${bucket}`, bucket);
    if (isAccessDenied(err)) {
      throw new UserError(`${described.message} (s3:GetBucketObjectLockConfiguration)${whenDenied}`, 1, { cause: err });
    }
    throw described;
  }
}

/** A date as the operator reads it: `2025-10-06T10:30:00Z`. */
export function formatUtc(date: Date): string {
  return `${date.toISOString().slice(0, 19)}Z`;
}
