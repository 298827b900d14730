/**
 * `meatbackup retention` where no lifecycle rule expires backups (an S3-compatible store, the Compose scheduler's
 * retention job): the stacks' periods applied by this process, read with S3's lifecycle arithmetic, each expired
 * backup deleted with its sidecars as `meatbackup delete` does it; never the newest of a database, never one under
 * Object Lock, nothing at all when the bucket's own rules expire backups.
 */
import { CreateBucketCommand, ListObjectsV2Command, PutBucketLifecycleConfigurationCommand } from '@aws-sdk/client-s3';
import { DEFAULT_RETENTION_DAYS } from '../../../src/contract';
import { applyRetention } from '../../../src/backup/expire';
import { cleanEnv, runCli } from '../../support/cli';
import { bucketName, freshLockedBucket, useHarness } from './fixtures';

const DAY_MS = 86_400_000;

describe('retention where no lifecycle rule carries it out', () => {
  const h = useHarness('expire', async ({ pg }) => {
    await pg.query('create database meatdb');
    await pg.query("create table notes (id int primary key, body text); insert into notes values (1, 'kept')", 'meatdb');
  });
  const env = (bucket: string) => cleanEnv({ ...h.s3.env, BACKUP_BUCKET: bucket, DATABASE_URL: h.pg.url('meatdb') });
  const keys = async (bucket: string) => ((await h.client.send(new ListObjectsV2Command({ Bucket: bucket }))).Contents ?? []).map((o) => o.Key!).sort();

  /** Three backups a second apart: the month's first (monthly), then two daily ones. */
  async function threeBackups(bucket: string): Promise<string[]> {
    const taken: string[] = [];
    for (let i = 0; i < 3; i += 1) {
      const r = await runCli(['backup', '--json'], { env: env(bucket) });
      expect(r.code).toBe(0);
      taken.push((JSON.parse(r.stdout) as { key: string }).key);
      await new Promise((resolve) => setTimeout(resolve, 1100));
    }
    return taken;
  }

  test('GIVEN a plain bucket with a monthly and two daily backups WHEN retention runs 20 days later THEN the expired daily one is deleted with every sidecar, the monthly one stays, and the newest stays though expired', async () => {
    const bucket = bucketName('expire-plain');
    await h.client.send(new CreateBucketCommand({ Bucket: bucket }));
    const [monthly, daily, newest] = await threeBackups(bucket);
    const later = () => new Date(Date.now() + 20 * DAY_MS);

    const dry = await applyRetention({ s3: h.client, bucket, days: DEFAULT_RETENTION_DAYS, dryRun: true, now: later });
    expect(dry.expired).toEqual([expect.objectContaining({ key: daily, class: 'daily', outcome: 'dry run' })]);
    expect(dry.keptNewest).toEqual([newest]);
    const before = await keys(bucket);

    const run = await applyRetention({ s3: h.client, bucket, days: DEFAULT_RETENTION_DAYS, now: later });
    expect(run).toMatchObject({ ok: true, rules: 'retention days', backups: 3, keptNewest: [newest] });
    expect(run.expired).toEqual([expect.objectContaining({ key: daily, outcome: 'deleted' })]);
    expect(run.summary).toMatch(new RegExp(`^3 backups under s3://${bucket}/backups/ \\(daily 14d, weekly 56d, monthly 365d\\): 1 deleted; kept the newest of its database though expired: ${newest}$`));
    expect(await keys(bucket)).toEqual(before.filter((k) => !k.startsWith(daily)));
    expect((await keys(bucket)).filter((k) => k.startsWith(monthly)).length).toBeGreaterThanOrEqual(3);
  }, 120_000);

  test('GIVEN backups under Object Lock WHEN retention runs after their class expired but before their lock ends THEN they are kept and named with the lock, and the run is not a failure', async () => {
    const bucket = await freshLockedBucket(h.client, 'expire-locked');
    const [, daily] = await threeBackups(bucket);
    const before = await keys(bucket);
    const run = await applyRetention({ s3: h.client, bucket, days: DEFAULT_RETENTION_DAYS, now: () => new Date(Date.now() + 20 * DAY_MS) });
    expect(run.ok).toBe(true);
    expect(run.expired).toEqual([expect.objectContaining({ key: daily, outcome: 'kept', why: expect.stringMatching(/is under Object Lock \(governance\) until /) })]);
    expect(await keys(bucket)).toEqual(before);
  }, 120_000);

  test('GIVEN a bucket whose own lifecycle rules expire backups WHEN retention runs THEN it deletes nothing and says the bucket does it', async () => {
    const bucket = bucketName('expire-lifecycle');
    await h.client.send(new CreateBucketCommand({ Bucket: bucket }));
    await h.client.send(new PutBucketLifecycleConfigurationCommand({ Bucket: bucket, LifecycleConfiguration: { Rules: [{ ID: 'expire', Status: 'Enabled', Filter: { Prefix: 'backups/' }, Expiration: { Days: 1 } }] } }));
    await threeBackups(bucket);
    const before = await keys(bucket);
    const run = await applyRetention({ s3: h.client, bucket, days: DEFAULT_RETENTION_DAYS, now: () => new Date(Date.now() + 20 * DAY_MS) });
    expect(run).toMatchObject({ ok: true, rules: 'bucket lifecycle', expired: [] });
    expect(run.summary).toBe(`the lifecycle rules of bucket ${bucket} expire backups under backups/ themselves: nothing deleted here (3 backups; meatbackup list shows each one's expiry)`);
    expect(await keys(bucket)).toEqual(before);
  }, 120_000);

  test('GIVEN the command line WHEN retention runs without --yes and without a terminal, or with days out of order THEN one line and nothing is deleted; with --dry-run it lists, with --yes it runs', async () => {
    const bucket = bucketName('expire-cli');
    await h.client.send(new CreateBucketCommand({ Bucket: bucket }));
    expect((await runCli(['backup'], { env: env(bucket) })).code).toBe(0);
    const before = await keys(bucket);
    const refused = await runCli(['retention'], { env: env(bucket) });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toBe('meatbackup: retention deletes expired backups for good: pass --yes to confirm, or --dry-run to see them; nothing was deleted\n');
    const disordered = await runCli(['retention', '--yes'], { env: { ...env(bucket), BACKUP_RETENTION_DAYS: 'daily:30,weekly:7' } });
    expect(disordered.code).toBe(2);
    expect(disordered.stderr).toMatch(/^meatbackup: BACKUP_RETENTION_DAYS=daily:30,weekly:7,monthly:365: a weekly backup is kept at least as long as a daily one.*; nothing was deleted\n$/);
    // the days BACKUP_RETENTION_DAYS gives are the ones the run names
    const shorter = await runCli(['retention', '--dry-run'], { env: { ...env(bucket), BACKUP_RETENTION_DAYS: 'daily:7' } });
    expect(shorter.stdout).toBe(`1 backup under s3://${bucket}/backups/ (daily 7d, weekly 56d, monthly 365d): 0 would be deleted\n`);
    const dry = await runCli(['retention', '--dry-run'], { env: env(bucket) });
    expect(dry.code).toBe(0);
    expect(dry.stdout).toBe(`1 backup under s3://${bucket}/backups/ (daily 14d, weekly 56d, monthly 365d): 0 would be deleted\n`);
    const run = await runCli(['retention', '--yes', '--json'], { env: env(bucket) });
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ ok: true, rules: 'retention days', backups: 1, expired: [] });
    expect(await keys(bucket)).toEqual(before);
  }, 120_000);
});
