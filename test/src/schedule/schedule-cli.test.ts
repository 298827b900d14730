/**
 * `meatbackup schedule` as the Compose service runs it, against PostgreSQL and the S3 emulator: a run's one line and
 * the backup's own metric record, `GET /health` and `meatbackup health` (fresh, then stale), and SIGTERM, idle or in
 * the middle of a backup, ending the process cleanly with nothing half-done.
 */
import { Client } from 'pg';
import { freePort } from '../../../src/local/processes';
import { cleanEnv, runCli } from '../../support/cli';
import { backupMetric, bucketContents, freshBucket, seedBigTable, stderrLines, useHarness } from '../backup/fixtures';
import { startScheduler } from './scheduler-process';

describe('meatbackup schedule: the Compose deployment\'s scheduler', () => {
  const h = useHarness('schedule', async ({ pg }) => {
    await pg.query('create database meatdb');
    await pg.query("create table users (id serial primary key, name text); insert into users (name) values ('ada')", 'meatdb');
  });
  const env = (bucket: string, extra: Record<string, string> = {}) =>
    cleanEnv({ ...h.s3.env, BACKUP_BUCKET: bucket, DATABASE_URL: h.pg.url('meatdb').replace(/^postgresql:/, 'postgresql+asyncpg:'), SCHEDULE_RESTORE_TEST: 'off', ...extra });

  test('GIVEN a scheduler told to back up now WHEN the run ends THEN one line says so with its result, the backup\'s metric record is in the log, /health is fresh, and SIGTERM stops it with exit 0', async () => {
    const bucket = await freshBucket(h.client, 'sched');
    const port = await freePort();
    const e = env(bucket, { HTTP_LISTEN: `127.0.0.1:${port}`, BACKUP_MAX_AGE: '1h' });
    const s = startScheduler(['--now', 'backup', 'retention', 'status'], e);
    try {
      const done = await s.line((r) => r.job === 'backup' && 'exitCode' in r);
      expect(done).toMatchObject({ level: 'info', ok: true, exitCode: 0, message: expect.stringMatching(/^backup: succeeded in [\d.]+s: backups\/meatdb-\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.sql\.gz$/) });
      expect((done.result as { key: string }).key).toMatch(/^backups\/meatdb-/);
      expect(backupMetric(s.stderr())).toMatchObject({ BackupSuccess: 1, Database: 'meatdb' });
      // the retention job runs `retention --yes --json` as the backup runs its command: nothing has expired yet
      const retention = await s.line((r) => r.job === 'retention' && 'exitCode' in r);
      expect(retention).toMatchObject({ ok: true, exitCode: 0, result: { rules: 'retention days', backups: 1, expired: [] } });
      expect(retention.message).toMatch(new RegExp(`^retention: succeeded in [\\d.]+s: 1 backup under s3://${bucket}/backups/ \\(daily 14d, weekly 56d, monthly 365d\\): 0 deleted$`));
      const status = await s.line((r) => r.job === 'status' && 'exitCode' in r);
      expect(status.message).toMatch(/^status: succeeded in [\d.]+s: newest backup backups\/meatdb-.* old\); no restore test of any meatdb backup yet$/);
      expect(stderrLines(s.stderr()).json.some((r) => r.event === 'backup-health' && typeof r.NewestBackupAgeSeconds === 'number')).toBe(true);

      const res = await fetch(`http://127.0.0.1:${port}/health`);
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ healthy: true, database: 'meatdb', maxAgeSeconds: 3600, running: null });
      const health = await runCli(['health'], { env: e });
      expect(health.code).toBe(0);
      expect(health.stdout).toMatch(/^newest backup backups\/meatdb-.*\.sql\.gz is [\d.]+s old \(limit 1h00m\)\n$/);
      expect((await fetch(`http://127.0.0.1:${port}/nothing`)).status).toBe(404);
    } finally {
      s.child.kill('SIGTERM');
    }
    expect(await s.exited).toEqual({ code: 0, signal: null });
    expect(stderrLines(s.stderr()).json.at(-1)?.message).toBe('meatbackup schedule stopped (interrupted by SIGTERM); nothing was left half-done');
  }, 120_000);

  test('GIVEN backups older than BACKUP_MAX_AGE, or none WHEN the healthcheck asks THEN it is unhealthy with one line, and without a scheduler it says nobody answers', async () => {
    const bucket = await freshBucket(h.client, 'sched-stale');
    const port = await freePort();
    const e = env(bucket, { HTTP_LISTEN: `127.0.0.1:${port}`, BACKUP_MAX_AGE: '1s', SCHEDULE_STATUS: 'off' });
    const none = await runCli(['health'], { env: e });
    expect(none.code).toBe(1);
    expect(none.stderr).toBe(`meatbackup: the scheduler does not answer at http://127.0.0.1:${port}/health (ECONNREFUSED): is meatbackup schedule running with the same HTTP_LISTEN?\n`);
    expect((await runCli(['backup'], { env: e })).code).toBe(0);
    await new Promise((r) => setTimeout(r, 2_000));
    const s = startScheduler([], e);
    try {
      await s.line((r) => typeof r.message === 'string' && r.message.startsWith('meatbackup schedule started'));
      const stale = await runCli(['health'], { env: e });
      expect(stale.code).toBe(1);
      expect(stale.stderr).toMatch(/^meatbackup: STALE: newest backup backups\/meatdb-.*\.sql\.gz is [\d.]+s old, older than 1s \(BACKUP_MAX_AGE\): check the scheduler's log for the failed backups\n$/);
      const empty = await freshBucket(h.client, 'sched-empty');
      const port2 = await freePort();
      const s2 = startScheduler([], env(empty, { HTTP_LISTEN: `127.0.0.1:${port2}`, SCHEDULE_STATUS: 'off' }));
      try {
        await s2.line((r) => typeof r.message === 'string' && r.message.startsWith('meatbackup schedule started'));
        const res = await fetch(`http://127.0.0.1:${port2}/health`);
        expect(res.status).toBe(503);
        expect(((await res.json()) as { message: string }).message).toBe(`no backup of meatdb with a manifest under s3://${empty}/backups/ (the limit is 26h00m)`);
      } finally {
        s2.child.kill('SIGTERM');
        await s2.exited;
      }
    } finally {
      s.child.kill('SIGTERM');
      await s.exited;
    }
  }, 120_000);

  test('GIVEN a backup in progress WHEN the container is stopped (SIGTERM) THEN the backup is ended and cleaned up first, its line says so, and the scheduler exits 0', async () => {
    await seedBigTable(h.pg, 'meatdb', 1_000);
    const bucket = await freshBucket(h.client, 'sched-term');
    // A session holding the table keeps pg_dump waiting for its lock: the backup is in progress for as long as the
    // test needs, however fast the machine (a fixed delay let a quiet machine finish the backup first).
    const blocker = new Client({ connectionString: h.pg.url('meatdb') });
    await blocker.connect();
    try {
      await blocker.query('begin; lock table big in access exclusive mode');
      const s = startScheduler(['--now', 'backup'], env(bucket, { HTTP_LISTEN: 'off', SCHEDULE_STATUS: 'off' }));
      await s.line((r) => r.message === 'backup: starting');
      const deadline = Date.now() + 60_000;
      for (let waiting = 0; waiting === 0; await new Promise((r) => setTimeout(r, 100))) {
        if (Date.now() > deadline || s.child.exitCode !== null) throw new Error(`pg_dump never waited for the lock; stderr so far:\n${s.stderr()}`);
        // Asked from another session: the blocker's open transaction sees one snapshot of the activity statistics.
        const [row] = await h.pg.query<{ n: number }>("select count(*)::int as n from pg_stat_activity where datname = 'meatdb' and wait_event_type = 'Lock'");
        waiting = row.n;
      }
      s.child.kill('SIGTERM');
      expect(await s.exited).toEqual({ code: 0, signal: null });
      const end = stderrLines(s.stderr()).json.find((r) => r.job === 'backup' && 'exitCode' in r);
      expect(end).toMatchObject({ level: 'warn', ok: false, exitCode: 143 });
      expect(end?.message).toMatch(/^backup: FAILED \(exit 143\) in [\d.]+s: interrupted by SIGTERM/);
      expect(await bucketContents(h.client, bucket)).toEqual({ versions: [], uploads: [] });
    } finally {
      await blocker.end();
    }
  }, 120_000);

  test('GIVEN a wrong cron expression WHEN the scheduler starts THEN exit 2 with one line naming the variable, before anything runs', async () => {
    const res = await runCli(['schedule'], { env: env('any-bucket', { SCHEDULE_BACKUP: '0 3 * * * *' }) });
    expect(res.code).toBe(2);
    expect(res.stderr).toBe('meatbackup: SCHEDULE_BACKUP=0 3 * * * *: give 5 fields: minute hour day-of-month month day-of-week (UTC), or off\n');
  });
});
