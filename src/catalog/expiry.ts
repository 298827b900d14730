/**
 * When each backup goes: its retention class (the `retention` tag the backup wrote, as recorded in its manifest, or
 * read from the object's tags for a backup without one), the date the bucket's lifecycle rules expire it, and the
 * date its Object Lock retention ends.
 *
 * Expiry follows S3's own arithmetic: of the enabled rules whose filter matches the object (prefix, every tag, size
 * bounds), the one with the earliest Expiration wins; Expiration.Days counts from the object's creation and is
 * rounded up to the next midnight UTC; Expiration.Date is that date. No matching rule: the backup never expires.
 */
import { GetBucketLifecycleConfigurationCommand, GetObjectTaggingCommand, type LifecycleRule, type S3Client, type Tag } from '@aws-sdk/client-s3';
import { RETENTION_CLASSES, RETENTION_TAG, type RetentionClass } from '../contract';
import { errorCode } from '../storage/aws-errors';
import { describeS3Error } from '../storage/s3';
import { mapBounded } from '../util/pool';
import type { BackupEntry } from './catalog';

const DAY_MS = 86_400_000;

export interface RetentionInfo {
  /** The class, or undefined when the backup has no retention tag (written before tagging, or by hand). */
  class?: RetentionClass;
  /** Where the class was read: the manifest, or the object's tags. */
  source?: 'manifest' | 'tag';
  /** When the lifecycle rules expire it; null when no rule does; undefined when the rules could not be read. */
  expires?: Date | null;
  /** The ID of the rule that expires it. */
  expiryRule?: string;
  /** The Object Lock (governance) retain-until date recorded when it was written. */
  lockedUntil?: Date;
}

export interface LifecycleRules {
  rules: LifecycleRule[];
  /** Why the rules could not be read (expiry unknown), or undefined. */
  unreadable?: string;
}

/** The bucket's lifecycle rules; none when it has no configuration; `unreadable` when S3 refuses to say. */
export async function readLifecycleRules(s3: S3Client, bucket: string): Promise<LifecycleRules> {
  try {
    const res = await s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: bucket }));
    return { rules: res.Rules ?? [] };
  } catch (err) {
    if (errorCode(err) === 'NoSuchLifecycleConfiguration') return { rules: [] };
    return { rules: [], unreadable: describeS3Error(err, `read the lifecycle rules of bucket ${bucket} (s3:GetLifecycleConfiguration)`, bucket).message };
  }
}

interface ObjectFacts {
  key: string;
  sizeBytes: number;
  createdAt: Date;
  tags: Record<string, string>;
}

function tagsMatch(wanted: readonly Tag[], tags: Record<string, string>): boolean {
  return wanted.every((t) => t.Key !== undefined && tags[t.Key] === t.Value);
}

/** Whether `rule` applies to the object, by S3's filter semantics (legacy rule-level Prefix included). */
export function ruleMatches(rule: LifecycleRule, object: ObjectFacts): boolean {
  if (rule.Status !== 'Enabled') return false;
  const filter = rule.Filter ?? {};
  const and = filter.And;
  const prefix = and?.Prefix ?? filter.Prefix ?? rule.Prefix ?? '';
  const tags = [...(and?.Tags ?? []), ...(filter.Tag ? [filter.Tag] : [])];
  const greater = and?.ObjectSizeGreaterThan ?? filter.ObjectSizeGreaterThan;
  const less = and?.ObjectSizeLessThan ?? filter.ObjectSizeLessThan;
  return object.key.startsWith(prefix)
    && tagsMatch(tags, object.tags)
    && (greater === undefined || object.sizeBytes > greater)
    && (less === undefined || object.sizeBytes < less);
}

/** The date `rule` expires an object created at `createdAt`, or undefined when it has no Expiration by days or date. */
export function ruleExpiry(rule: LifecycleRule, createdAt: Date): Date | undefined {
  const expiration = rule.Expiration;
  if (expiration?.Days !== undefined) {
    // S3 adds the days to the creation time and rounds up to the next midnight UTC.
    const at = createdAt.getTime() + expiration.Days * DAY_MS;
    return new Date(Math.ceil(at / DAY_MS) * DAY_MS);
  }
  return expiration?.Date;
}

/** The earliest expiry among the rules that apply to the object, with the rule's ID; null when none applies. */
export function expiryOf(rules: readonly LifecycleRule[], object: ObjectFacts): { date: Date; rule?: string } | null {
  let best: { date: Date; rule?: string } | null = null;
  for (const rule of rules) {
    if (!ruleMatches(rule, object)) continue;
    const date = ruleExpiry(rule, object.createdAt);
    if (date && (!best || date < best.date)) best = { date, ...(rule.ID ? { rule: rule.ID } : {}) };
  }
  return best;
}

function asClass(value: string | undefined): RetentionClass | undefined {
  return RETENTION_CLASSES.find((c) => c === value);
}

/** The object's tags (GetObjectTagging); empty when it has none. */
async function objectTags(s3: S3Client, bucket: string, key: string): Promise<Record<string, string>> {
  try {
    const res = await s3.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: key }));
    return Object.fromEntries((res.TagSet ?? []).map((t) => [t.Key ?? '', t.Value ?? '']));
  } catch (err) {
    throw describeS3Error(err, `read the tags of ${key} in bucket ${bucket} (s3:GetObjectTagging)`, bucket);
  }
}

/**
 * Class, expiry and lock date of each entry. A backup whose manifest records its class costs no request; the others
 * (older, or without a manifest) are asked for their tags, a bounded number at a time.
 */
export async function describeRetention(s3: S3Client, bucket: string, entries: readonly BackupEntry[], lifecycle: LifecycleRules): Promise<RetentionInfo[]> {
  return mapBounded(entries, 8, async (entry) => {
    const recorded = entry.manifest?.retention;
    const tags = recorded ? { [RETENTION_TAG]: recorded.class } : await objectTags(s3, bucket, entry.key);
    const cls = asClass(tags[RETENTION_TAG]);
    const createdAt = entry.lastModified ?? entry.takenAt;
    const expiry = lifecycle.unreadable ? undefined : expiryOf(lifecycle.rules, { key: entry.key, sizeBytes: entry.sizeBytes, createdAt, tags });
    return {
      ...(cls ? { class: cls, source: recorded ? 'manifest' : 'tag' } : {}),
      ...(expiry !== undefined ? { expires: expiry ? expiry.date : null } : {}),
      ...(expiry?.rule ? { expiryRule: expiry.rule } : {}),
      ...(recorded?.lockedUntil ? { lockedUntil: new Date(recorded.lockedUntil) } : {}),
    };
  });
}
