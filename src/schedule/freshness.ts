/**
 * Whether the backups are fresh: the newest backup of the database that has a manifest (its run completed and
 * recorded the sha256 of what it stored, as `status` counts it) is no older than BACKUP_MAX_AGE. This is what the
 * scheduler's `GET /health` answers and the Docker healthcheck (`meatbackup health`) turns into healthy/unhealthy,
 * so `docker compose ps` shows a stale backup. The answer is kept for a short while: a healthcheck every few seconds
 * must not list the bucket each time.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { oneLine } from '../core/errors';
import { formatDuration } from '../core/format';
import { backupHealth } from '../ops/backup-health';

export interface Freshness {
  healthy: boolean;
  /** One line: what is fresh or stale, or why it could not be told. */
  message: string;
  database: string;
  newestBackup: { key: string; takenAt: string; ageSeconds: number } | null;
  maxAgeSeconds: number;
  checkedAt: string;
}

export interface FreshnessOptions {
  s3: S3Client;
  bucket: string;
  prefix: string;
  database: string;
  maxAgeSeconds: number;
  now?: () => Date;
}

/** Looks once. S3 failing is unhealthy too: a backup cannot be known to exist. */
export async function checkFreshness(options: FreshnessOptions): Promise<Freshness> {
  const now = (options.now ?? (() => new Date()))();
  const base = { database: options.database, maxAgeSeconds: options.maxAgeSeconds, checkedAt: now.toISOString() };
  const where = `s3://${options.bucket}/${options.prefix}`;
  let newest;
  try {
    const health = await backupHealth(options.s3, options.bucket, options.prefix, now, options.database);
    newest = health.databases.find((d) => d.database === options.database)?.newestBackup ?? null;
  } catch (err) {
    return { ...base, healthy: false, newestBackup: null, message: `cannot tell how old the newest backup is: ${oneLine((err as Error).message)}` };
  }
  const limit = formatDuration(options.maxAgeSeconds).replace(/\.0s$/, 's');
  if (!newest) return { ...base, healthy: false, newestBackup: null, message: `no backup of ${options.database} with a manifest under ${where} (the limit is ${limit})` };
  const found = { key: newest.key, takenAt: newest.takenAt, ageSeconds: newest.ageSeconds };
  const healthy = newest.ageSeconds <= options.maxAgeSeconds;
  const message = healthy
    ? `newest backup ${newest.key} is ${newest.age} old (limit ${limit})`
    : `STALE: newest backup ${newest.key} is ${newest.age} old, older than ${limit} (BACKUP_MAX_AGE): check the scheduler's log for the failed backups`;
  return { ...base, healthy, newestBackup: found, message };
}

/** {@link checkFreshness}, asked at most once per `ttlMs`; callers at the same time share one look. */
export function cachedFreshness(options: FreshnessOptions, ttlMs = 30_000): { get(): Promise<Freshness>; forget(): void } {
  let last: { at: number; value: Promise<Freshness> } | undefined;
  return {
    get() {
      const t = Date.now();
      if (!last || t - last.at >= ttlMs) last = { at: t, value: checkFreshness(options) };
      return last.value;
    },
    /** After a run that may have changed the answer (a backup finished). */
    forget() {
      last = undefined;
    },
  };
}
