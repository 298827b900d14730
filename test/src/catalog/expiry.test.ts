import type { LifecycleRule } from '@aws-sdk/client-s3';
import { expiryOf, ruleExpiry, ruleMatches } from '../../../src/catalog/expiry';

const byTag = (id: string, cls: string, days: number, extra: Partial<LifecycleRule> = {}): LifecycleRule => ({
  ID: id,
  Status: 'Enabled',
  Filter: { And: { Prefix: 'backups/', Tags: [{ Key: 'retention', Value: cls }] } },
  Expiration: { Days: days },
  ...extra,
});

/** The rules the stacks write: one per class, plus one that only aborts stale uploads. */
const RULES: LifecycleRule[] = [
  { ID: 'abort-incomplete-multipart-uploads', Status: 'Enabled', Filter: {}, AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 } },
  byTag('expire-daily', 'daily', 14),
  byTag('expire-weekly', 'weekly', 56, { Transitions: [{ Days: 30, StorageClass: 'GLACIER_IR' }] }),
  byTag('expire-monthly', 'monthly', 365),
];

const object = (tags: Record<string, string>, key = 'backups/meatdb-2025-09-17T10:30:00.sql.gz') => ({
  key,
  sizeBytes: 1000,
  createdAt: new Date('2025-09-17T10:30:05Z'),
  tags,
});

describe('when the lifecycle rules expire a backup (S3 arithmetic)', () => {
  test.each([
    ['daily', '2025-10-02T00:00:00.000Z', 'expire-daily'],
    ['weekly', '2025-11-13T00:00:00.000Z', 'expire-weekly'],
    ['monthly', '2026-09-18T00:00:00.000Z', 'expire-monthly'],
  ])('GIVEN a %s backup WHEN its expiry is computed THEN its class\'s rule applies, days from creation rounded up to midnight UTC', (cls, date, rule) => {
    expect(expiryOf(RULES, object({ retention: cls }))).toEqual({ date: new Date(date), rule });
  });

  test('GIVEN no rule for the tag, another prefix, or no tag WHEN the expiry is computed THEN none applies', () => {
    expect(expiryOf(RULES, object({ retention: 'yearly' }))).toBeNull();
    expect(expiryOf(RULES, object({ retention: 'daily' }, 'transcripts/meatdb-2025-09-17T10:30:00.sql.gz'))).toBeNull();
    expect(expiryOf(RULES, object({}))).toBeNull();
    expect(expiryOf([], object({ retention: 'daily' }))).toBeNull();
  });

  test('GIVEN several rules that apply WHEN the expiry is computed THEN the earliest wins', () => {
    const rules = [...RULES, { ID: 'all-backups', Status: 'Enabled', Filter: { Prefix: 'backups/' }, Expiration: { Days: 7 } } satisfies LifecycleRule];
    expect(expiryOf(rules, object({ retention: 'monthly' }))).toEqual({ date: new Date('2025-09-25T00:00:00Z'), rule: 'all-backups' });
  });

  test('GIVEN filters of every shape WHEN matched THEN status, prefix (legacy too), every tag and size bounds count', () => {
    const o = object({ retention: 'daily', team: 'db' });
    expect(ruleMatches(byTag('x', 'daily', 1, { Status: 'Disabled' }), o)).toBe(false);
    expect(ruleMatches({ Status: 'Enabled', Prefix: 'backups/' }, o)).toBe(true);
    expect(ruleMatches({ Status: 'Enabled', Filter: { Tag: { Key: 'retention', Value: 'daily' } } }, o)).toBe(true);
    expect(ruleMatches({ Status: 'Enabled', Filter: { And: { Tags: [{ Key: 'retention', Value: 'daily' }, { Key: 'team', Value: 'web' }] } } }, o)).toBe(false);
    expect(ruleMatches({ Status: 'Enabled', Filter: { ObjectSizeGreaterThan: 1000 } }, o)).toBe(false);
    expect(ruleMatches({ Status: 'Enabled', Filter: { And: { Prefix: 'backups/', ObjectSizeLessThan: 1001 } } }, o)).toBe(true);
  });

  test('GIVEN an expiration by date, or none WHEN computed THEN the date is used as is, or there is none', () => {
    expect(ruleExpiry({ Status: 'Enabled', Expiration: { Date: new Date('2026-01-01T00:00:00Z') } }, new Date())).toEqual(new Date('2026-01-01T00:00:00Z'));
    expect(ruleExpiry({ Status: 'Enabled', Expiration: { ExpiredObjectDeleteMarker: true } }, new Date())).toBeUndefined();
    // Exactly at midnight: no rounding up.
    expect(ruleExpiry(byTag('x', 'daily', 1), new Date('2025-09-17T00:00:00Z'))).toEqual(new Date('2025-09-18T00:00:00Z'));
  });
});
