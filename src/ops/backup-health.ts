/**
 * What the ops Lambda's `status` reports about the backups themselves, from one listing of the prefix: the newest
 * (verified) backup, its age and size, and its latest restore-test result, or the result of the newest older backup
 * that has one, saying which. The same numbers go to CloudWatch as metrics (NewestBackupAgeSeconds,
 * RestoreTestAgeSeconds), so the dashboard can show the newest backup's age and an alarm can say "no restore test in
 * 8 days", neither of which CloudWatch can derive from the runners' own metrics.
 */
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { type BackupName, METRICS, SIDECAR_SUFFIX, normalizePrefix, parseBackupKey, restoreTestResultSchema, sidecarKey } from '../contract';
import { type Logger } from '../core/log';
import { formatAge } from '../core/format';
import { describeS3Error, listObjectPages } from '../storage/s3';

export interface NewestBackup {
  key: string;
  database: string;
  /** The key's stamp: when the dump started. */
  takenAt: string;
  /** "2h05m", "3d". */
  age: string;
  ageSeconds: number;
  /** Stored (compressed) bytes. */
  sizeBytes: number;
  /** Newer backup objects without a manifest (their run never completed): not restorable, so not the newest backup. */
  unverifiedNewer: number;
}

export interface RestoreTestSummary {
  /** The backup that was tested. */
  key: string;
  /** Whether `key` is the newest backup; false: the newest has no result yet and this is the newest older one that has. */
  ofNewestBackup: boolean;
  /** Where the result is stored. */
  resultKey: string;
  ok: boolean;
  testedAt: string;
  age: string;
  ageSeconds: number;
  mode?: 'scratch' | 'cluster';
  /** What differed between the recorded catalog and the restored copy. */
  differences: string[];
  /** The SQL assertions that were not true, with why. */
  failedAssertions: Array<{ sql: string; error?: string }>;
  /** Set when the test could not complete, or its result could not be read. */
  error?: string;
  /**
   * Set when the backup could not be tested where the test ran (the target lacks these extensions): `ok` is false
   * but nothing is known against the backup.
   */
  cannotTest?: { missingExtensions: Array<{ name: string; version?: string }> };
}

/** One database's backups, as `status` reports them and the metrics count them. */
export interface DatabaseHealth {
  database: string;
  /** Backup objects of this database under the prefix, with a manifest or not. */
  backups: number;
  newestBackup: NewestBackup | null;
  restoreTest: RestoreTestSummary | null;
  /** Since the restore test reported, or before any test since the oldest backup: how long backups went untested. */
  restoreTestAgeSeconds?: number;
}

export interface BackupHealth {
  bucket: string;
  prefix: string;
  /** Newest first (by newest backup), one entry per database with backups under the prefix. */
  databases: DatabaseHealth[];
}

interface ListedBackup extends BackupName {
  sizeBytes: number;
  verified: boolean;
  hasRestoreTest: boolean;
  restoreTestModified?: Date;
}

function secondsBetween(from: Date, now: Date): number {
  return Math.max(0, Math.round((now.getTime() - from.getTime()) / 1000));
}

/** Backup objects directly under the prefix, newest first, with which sidecars exist beside them. */
async function listWithSidecars(s3: S3Client, bucket: string, prefix: string): Promise<ListedBackup[]> {
  const backups: ListedBackup[] = [];
  const manifests = new Set<string>();
  const results = new Map<string, Date | undefined>();
  for await (const page of listObjectPages(s3, { Bucket: bucket, Prefix: prefix }, `list backups in bucket ${bucket}`)) {
    for (const obj of page.Contents ?? []) {
      const key = obj.Key ?? '';
      if (key.endsWith(SIDECAR_SUFFIX.manifest)) manifests.add(key.slice(0, -SIDECAR_SUFFIX.manifest.length));
      else if (key.endsWith(SIDECAR_SUFFIX.restoreTest)) results.set(key.slice(0, -SIDECAR_SUFFIX.restoreTest.length), obj.LastModified);
      const name = parseBackupKey(key);
      if (name && name.prefix === prefix) backups.push({ ...name, sizeBytes: obj.Size ?? 0, verified: false, hasRestoreTest: false });
    }
  }
  for (const b of backups) {
    b.verified = manifests.has(b.key);
    b.hasRestoreTest = results.has(b.key);
    b.restoreTestModified = results.get(b.key);
  }
  return backups.sort((a, b) => b.takenAt.getTime() - a.takenAt.getTime() || a.key.localeCompare(b.key));
}

/** Reads one restore-test result; an unreadable one is reported as a failed test that says why. */
async function readResult(s3: S3Client, bucket: string, backup: ListedBackup, ofNewestBackup: boolean, now: Date): Promise<RestoreTestSummary> {
  const resultKey = sidecarKey(backup.key, 'restoreTest');
  let body: string;
  try {
    const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: resultKey }));
    body = (await res.Body?.transformToString('utf8')) ?? '';
  } catch (err) {
    throw describeS3Error(err, `read ${resultKey} from bucket ${bucket}`, bucket);
  }
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    json = undefined;
  }
  const parsed = restoreTestResultSchema.safeParse(json);
  if (!parsed.success) {
    const testedAt = backup.restoreTestModified ?? now;
    return {
      key: backup.key,
      ofNewestBackup,
      resultKey,
      ok: false,
      testedAt: testedAt.toISOString(),
      age: formatAge(testedAt, now),
      ageSeconds: secondsBetween(testedAt, now),
      differences: [],
      failedAssertions: [],
      error: `${resultKey} is not a restore-test result (altered or truncated): run the restore test again`,
    };
  }
  const result = parsed.data;
  const testedAt = new Date(result.testedAt);
  const when = Number.isNaN(testedAt.getTime()) ? (backup.restoreTestModified ?? now) : testedAt;
  return {
    key: backup.key,
    ofNewestBackup,
    resultKey,
    ok: result.ok,
    testedAt: when.toISOString(),
    age: formatAge(when, now),
    ageSeconds: secondsBetween(when, now),
    mode: result.mode,
    differences: result.differences,
    failedAssertions: result.assertions.filter((a) => !a.ok).map((a) => ({ sql: a.sql, ...(a.error ? { error: a.error } : {}) })),
    ...(result.error ? { error: result.error } : {}),
    ...(result.cannotTest ? { cannotTest: result.cannotTest } : {}),
  };
}

async function databaseHealth(s3: S3Client, bucket: string, database: string, backups: ListedBackup[], now: Date): Promise<DatabaseHealth> {
  const count = backups.length;
  const newestIndex = backups.findIndex((b) => b.verified);
  if (newestIndex < 0) return { database, backups: count, newestBackup: null, restoreTest: null };
  const newest = backups[newestIndex];
  const newestBackup: NewestBackup = {
    key: newest.key,
    database,
    takenAt: newest.takenAt.toISOString(),
    age: formatAge(newest.takenAt, now),
    ageSeconds: secondsBetween(newest.takenAt, now),
    sizeBytes: newest.sizeBytes,
    unverifiedNewer: newestIndex,
  };
  const tested = backups.slice(newestIndex).find((b) => b.hasRestoreTest);
  if (!tested) {
    // Never tested: backups have gone untested since the oldest one was taken.
    const oldest = backups[backups.length - 1];
    return { database, backups: count, newestBackup, restoreTest: null, restoreTestAgeSeconds: secondsBetween(oldest.takenAt, now) };
  }
  const restoreTest = await readResult(s3, bucket, tested, tested.key === newest.key, now);
  return { database, backups: count, newestBackup, restoreTest, restoreTestAgeSeconds: restoreTest.ageSeconds };
}

/**
 * The newest backup and its restore-test result for every database with backups under `prefix`, newest first; the
 * deployment's own database (`database`, when known) first, even when it has no backup at all or another database's
 * is newer.
 */
export async function backupHealth(s3: S3Client, bucket: string, prefix: string, now: Date, database?: string): Promise<BackupHealth> {
  const want = normalizePrefix(prefix);
  const byDatabase = new Map<string, ListedBackup[]>(database !== undefined ? [[database, []]] : []);
  for (const backup of await listWithSidecars(s3, bucket, want)) {
    byDatabase.set(backup.database, [...(byDatabase.get(backup.database) ?? []), backup]);
  }
  const databases = await Promise.all([...byDatabase].map(([database, backups]) => databaseHealth(s3, bucket, database, backups, now)));
  return { bucket, prefix: want, databases };
}

/**
 * The ages as Embedded Metric Format records (one per database), through `logger.metric`: the ops Lambda writes them
 * to its log, where CloudWatch extracts them. A database without a verified backup reports nothing (the backup alarm
 * already fires for it).
 */
export function emitHealthMetrics(health: BackupHealth, logger: Logger): void {
  for (const db of health.databases) {
    if (!db.newestBackup) continue;
    logger.metric('backup-health', { [METRICS.dimensionDatabase]: db.database }, {
      [METRICS.newestBackupAgeSeconds]: { value: db.newestBackup.ageSeconds, unit: 'Seconds' },
      ...(db.restoreTestAgeSeconds !== undefined ? { [METRICS.restoreTestAgeSeconds]: { value: db.restoreTestAgeSeconds, unit: 'Seconds' } } : {}),
    });
  }
}

/**
 * One line on the newest backup and one on its restore test, for the status summary; `where` (s3://bucket/prefix)
 * names the place looked in when the database has no backup there at all.
 */
export function describeHealth(db: DatabaseHealth, where: string): string[] {
  if (db.backups === 0) return [`${db.database}: no backups under ${where}`];
  if (!db.newestBackup) return [`${db.database}: no verified backup (${db.backups} ${db.backups === 1 ? 'backup' : 'backups'}, none with a manifest)`];
  const b = db.newestBackup;
  const lines = [`newest backup ${b.key} (${b.age} old${b.unverifiedNewer > 0 ? `; ${b.unverifiedNewer} newer without a manifest` : ''})`];
  const t = db.restoreTest;
  if (!t) {
    lines.push(`no restore test of any ${db.database} backup yet`);
  } else {
    const which = t.ofNewestBackup ? 'its restore test' : `not restore-tested yet; the newest tested backup is ${t.key}, whose restore test`;
    const outcome = t.ok ? 'passed' : t.cannotTest ? `COULD NOT RUN (${t.error ?? 'the target lacks an extension the backup needs'})` : `FAILED (${t.error ?? [...t.differences, ...t.failedAssertions.map((a) => `assertion ${JSON.stringify(a.sql)} ${a.error ?? 'was not true'}`)][0] ?? 'see the result'})`;
    lines.push(`${which} ${outcome} ${t.age} ago`);
  }
  return lines;
}
