process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
import { GetObjectTaggingCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { runBackup } from '../../../src/backup/backup';
import { isoWeekStart, objectLockFor, retentionClass } from '../../../src/backup/retention';
import type { RetentionClass } from '../../../src/contract';
import { freshBucket, useHarness } from './fixtures';
import { compressorFor } from '../../support/compressors';

const at = (iso: string): Date => new Date(`${iso}Z`);

describe('grandfather-father-son classes, decided from the backups already taken', () => {
  test('GIVEN dates WHEN the ISO week is asked THEN it starts on Monday 00:00 UTC, across month and year ends', () => {
    expect(isoWeekStart(at('2025-09-01T10:00:00'))).toEqual(at('2025-09-01T00:00:00'));
    expect(isoWeekStart(at('2025-09-07T23:59:59'))).toEqual(at('2025-09-01T00:00:00'));
    expect(isoWeekStart(at('2025-10-01T00:00:00'))).toEqual(at('2025-09-29T00:00:00'));
    expect(isoWeekStart(at('2026-01-01T12:00:00'))).toEqual(at('2025-12-29T00:00:00'));
  });

  test.each<[string, RetentionClass, string, string[]]>([
    ['the first backup ever', 'monthly', '2025-09-17T10:30:00', []],
    ['the first of a month, mid-week', 'monthly', '2025-10-01T02:00:00', ['2025-09-29T02:00:00', '2025-09-30T02:00:00']],
    ['the first of a week, the month already covered', 'weekly', '2025-09-08T00:00:00', ['2025-09-01T02:00:00', '2025-09-07T23:59:59']],
    ['the second of a day', 'daily', '2025-09-22T13:00:00', ['2025-09-22T01:00:00']],
    ['one with only later-stamped backups in the bucket (a clock set back)', 'monthly', '2025-09-03T02:00:00', ['2025-09-04T02:00:00']],
    ['the first of a week after the month began in the previous week', 'weekly', '2025-10-06T02:00:00', ['2025-10-01T02:00:00', '2025-10-02T02:00:00']],
  ])('GIVEN %s WHEN classed THEN it is %s', (_name, expected, taken, earlier) => {
    expect(retentionClass(at(taken), earlier.map(at))).toBe(expected);
  });

  test('GIVEN a lock of some days WHEN a backup is written THEN it is locked that long only when the bucket has Object Lock and the days are not 0', () => {
    expect(objectLockFor(at('2025-09-01T02:00:00'), 35, true)).toEqual({ mode: 'GOVERNANCE', retainUntil: at('2025-10-06T02:00:00') });
    expect(objectLockFor(at('2025-09-01T02:00:00'), 35, false)).toBeUndefined();
    expect(objectLockFor(at('2025-09-01T02:00:00'), 0, true)).toBeUndefined();
  });

  describe('a simulated month of backups (injected clock) on a real cluster and the S3 emulator', () => {
    const h = useHarness('gfs', async ({ pg }) => {
      await pg.query('create database meatdb');
      await pg.query('create table t as select 1 as n', 'meatdb');
    });

    /** The expected class of each run, in order: a daily schedule at 02:00 with the edges a real month has. */
    function schedule(): [string, RetentionClass][] {
      const runs: [string, RetentionClass][] = [];
      for (let day = 1; day <= 30; day++) {
        const d = `2025-09-${String(day).padStart(2, '0')}`;
        if (day === 15) continue; // a skipped day: Monday the 15th, so the week's first backup is on Tuesday
        if (day === 7) {
          runs.push([`${d}T23:59:59`, 'daily']); // the last second of a week...
          continue;
        }
        if (day === 8) {
          runs.push([`${d}T00:00:00`, 'weekly']); // ...and the first second of the next
          continue;
        }
        if (day === 22) {
          runs.push([`${d}T01:00:00`, 'weekly'], [`${d}T13:00:00`, 'daily']); // two in one day
          continue;
        }
        runs.push([`${d}T02:00:00`, day === 1 ? 'monthly' : day === 16 || day === 29 ? 'weekly' : 'daily']);
      }
      // October begins on a Wednesday of a week that September's 29th already started.
      runs.push(['2025-10-01T02:00:00', 'monthly'], ['2025-10-02T02:00:00', 'daily'], ['2025-10-03T02:00:00', 'daily']);
      return runs;
    }

    test('GIVEN daily backups from 2025-09-01 to 2025-10-03 with a skipped day and two in one day WHEN each runs THEN each is tagged monthly, weekly or daily exactly by the rule', async () => {
      const bucket = await freshBucket(h.client, 'gfs-month');
      // Other databases' backups, one of them named like a prefix of ours, must not count.
      for (const key of ['backups/otherdb-2025-09-01T00:00:00.sql.gz', 'backups/meatdb-old-2025-09-29T00:00:00.sql.gz', 'backups/meatdb-2025-08-31T23:59:59.sql.gz.manifest.json']) {
        await h.client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'not ours' }));
      }

      const got: [string, string | undefined, string | undefined][] = [];
      for (const [stamp] of schedule()) {
        const result = await runBackup({ compressor: compressorFor(), s3: h.client, bucket, connection: h.pg.connection('meatdb'), now: () => at(stamp) });
        const tags = await h.client.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: result.key }));
        got.push([stamp, tags.TagSet?.find((t) => t.Key === 'retention')?.Value, result.manifest.retention?.class]);
      }
      expect(got).toEqual(schedule().map(([stamp, cls]) => [stamp, cls, cls]));
    }, 240_000); // 33 backups in a row, on a shared two-core machine

    test('GIVEN a backup WHEN its sidecars are read THEN the manifest and the globals carry the same tag, so the lifecycle rules expire them together', async () => {
      const bucket = await freshBucket(h.client, 'gfs-sidecars');
      const result = await runBackup({ compressor: compressorFor(), s3: h.client, bucket, connection: h.pg.connection('meatdb'), now: () => at('2025-09-10T02:00:00') });
      for (const key of [result.key, result.manifestKey, result.globalsKey]) {
        const tags = await h.client.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: key }));
        expect([key, tags.TagSet]).toEqual([key, [{ Key: 'retention', Value: 'monthly' }]]);
      }
    });
  });
});
