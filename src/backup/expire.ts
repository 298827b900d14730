/**
 * `meatbackup retention`: the stacks' grandfather-father-son retention where no lifecycle rule carries it out (an
 * S3-compatible store, the Compose deployment's scheduler). On AWS the bucket's lifecycle rules expire each backup by
 * its class (lib/constructs/backup-bucket.ts); here the same rules are built from RETENTION_<CLASS>_DAYS and read with
 * S3's own arithmetic (../catalog/expiry.ts), and each backup they expire is deleted with its sidecars as
 * `meatbackup delete` deletes it (./delete.ts: every version, never one under Object Lock).
 *
 * - A bucket that has lifecycle rules expiring backups does it itself: nothing is deleted here, so two policies never
 *   disagree about when a backup goes.
 * - The newest backup with a manifest of each database is never deleted, however old: when backups stop, the last
 *   good one stays (and the health check says it is stale), rather than retention leaving nothing.
 * - A backup still under Object Lock is kept and named with its date; it goes at a later run.
 */
import type { LifecycleRule, S3Client } from '@aws-sdk/client-s3';
import { DEFAULT_PREFIX, RETENTION_CLASSES, RETENTION_TAG, type RetentionClass, UNTAGGED_RULE_ID, retentionRuleId } from '../contract';
import { UserError, oneLine } from '../core/errors';
import { type BackupEntry, listBackups } from '../catalog/catalog';
import { type RetentionInfo, describeRetention, readLifecycleRules, ruleExpiry } from '../catalog/expiry';
import { deleteBackup } from './delete';

export type RetentionDays = Readonly<Record<RetentionClass, number>>;

/** The stacks' expiry rules for `prefix` (backupLifecycleRules without transitions), as S3 returns them. */
export function retentionRules(days: RetentionDays, prefix: string): LifecycleRule[] {
  return [
    ...RETENTION_CLASSES.map((cls): LifecycleRule => ({
      ID: retentionRuleId(cls),
      Status: 'Enabled',
      Filter: { And: { Prefix: prefix, Tags: [{ Key: RETENTION_TAG, Value: cls }] } },
      Expiration: { Days: days[cls] },
    })),
    { ID: UNTAGGED_RULE_ID, Status: 'Enabled', Filter: { Prefix: prefix }, Expiration: { Days: days.monthly } },
  ];
}

/** Whether the bucket's own rules expire objects under `prefix`: then the store carries out retention itself. */
function bucketExpires(rules: readonly LifecycleRule[], prefix: string, probe: Date): boolean {
  return rules.some((rule) => {
    if (rule.Status !== 'Enabled' || ruleExpiry(rule, probe) === undefined) return false;
    const rulePrefix = rule.Filter?.And?.Prefix ?? rule.Filter?.Prefix ?? rule.Prefix ?? '';
    return prefix.startsWith(rulePrefix) || rulePrefix.startsWith(prefix);
  });
}

export interface RetentionOptions {
  s3: S3Client;
  bucket: string;
  prefix?: string;
  days: RetentionDays;
  /** List what would be deleted, delete nothing. */
  dryRun?: boolean;
  /** @default () => new Date() */
  now?: () => Date;
}

export interface ExpiredBackup {
  key: string;
  class: RetentionClass | null;
  expired: string;
  /** Deleted, or why it stays (Object Lock, a failed delete), or 'dry run'. */
  outcome: 'deleted' | 'kept' | 'failed' | 'dry run';
  why?: string;
}

export interface RetentionResult {
  ok: boolean;
  bucket: string;
  prefix: string;
  /** Whose rules: the bucket's lifecycle configuration (nothing done here), or RETENTION_<CLASS>_DAYS. */
  rules: 'bucket lifecycle' | 'retention days';
  days: RetentionDays;
  backups: number;
  expired: ExpiredBackup[];
  /** The newest backup of each database, kept whatever its age. */
  keptNewest: string[];
  /** One line: what the run did. */
  summary: string;
}

/** The newest backup with a manifest of each database. */
function newestPerDatabase(entries: readonly BackupEntry[]): Set<string> {
  const newest = new Map<string, BackupEntry>();
  for (const e of entries) {
    if (!e.manifest) continue;
    const seen = newest.get(e.database);
    if (!seen || e.takenAt > seen.takenAt) newest.set(e.database, e);
  }
  return new Set([...newest.values()].map((e) => e.key));
}

export async function applyRetention(options: RetentionOptions): Promise<RetentionResult> {
  const { s3, bucket, days } = options;
  const prefix = options.prefix ?? DEFAULT_PREFIX;
  const now = (options.now ?? (() => new Date()))();
  const base = { bucket, prefix, days };
  const lifecycle = await readLifecycleRules(s3, bucket);
  const entries = await listBackups(s3, bucket, prefix);
  if (!lifecycle.unreadable && bucketExpires(lifecycle.rules, prefix, now)) {
    return {
      ...base,
      ok: true,
      rules: 'bucket lifecycle',
      backups: entries.length,
      expired: [],
      keptNewest: [],
      summary: `the lifecycle rules of bucket ${bucket} expire backups under ${prefix} themselves: nothing deleted here (${entries.length} backup${entries.length === 1 ? '' : 's'}; meatbackup list shows each one's expiry)`,
    };
  }
  const infos: RetentionInfo[] = await describeRetention(s3, bucket, entries, { rules: retentionRules(days, prefix) });
  const keep = newestPerDatabase(entries);
  const keptNewest: string[] = [];
  const expired: ExpiredBackup[] = [];
  // Oldest first: a run cut short has removed the oldest.
  const due = entries
    .map((entry, i) => ({ entry, info: infos[i] }))
    .filter(({ info }) => info.expires instanceof Date && info.expires <= now)
    .sort((a, b) => a.entry.takenAt.getTime() - b.entry.takenAt.getTime());
  for (const { entry, info } of due) {
    if (keep.has(entry.key)) {
      keptNewest.push(entry.key);
      continue;
    }
    const item = { key: entry.key, class: info.class ?? null, expired: (info.expires as Date).toISOString() };
    if (options.dryRun) {
      expired.push({ ...item, outcome: 'dry run' });
      continue;
    }
    try {
      await deleteBackup({ s3, bucket, key: entry.key, confirm: async () => true, now: () => now });
      expired.push({ ...item, outcome: 'deleted' });
    } catch (err) {
      const why = oneLine((err as Error).message);
      // Object Lock's refusal is retention working as meant: the backup goes at a run after its lock ends.
      const locked = err instanceof UserError && /under Object Lock|legal hold/.test(why);
      expired.push({ ...item, outcome: locked ? 'kept' : 'failed', why });
    }
  }
  const count = (outcome: ExpiredBackup['outcome']) => expired.filter((e) => e.outcome === outcome).length;
  const failed = count('failed');
  const parts = [
    options.dryRun ? `${count('dry run')} would be deleted` : `${count('deleted')} deleted`,
    ...(count('kept') > 0 ? [`${count('kept')} kept under Object Lock`] : []),
    ...(failed > 0 ? [`${failed} FAILED (${expired.find((e) => e.outcome === 'failed')!.why})`] : []),
    ...(keptNewest.length > 0 ? [`kept the newest of its database though expired: ${keptNewest.join(', ')}`] : []),
  ];
  const kept = `daily ${days.daily}d, weekly ${days.weekly}d, monthly ${days.monthly}d`;
  return {
    ...base,
    ok: failed === 0,
    rules: 'retention days',
    backups: entries.length,
    expired,
    keptNewest,
    summary: `${entries.length} backup${entries.length === 1 ? '' : 's'} under s3://${bucket}/${prefix} (${kept}): ${parts.join('; ')}`,
  };
}
