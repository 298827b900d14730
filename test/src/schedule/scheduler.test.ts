/**
 * The scheduler's clock and queue, with a job runner the test controls: one run at a time, a job due again while it
 * waits or runs is skipped with a line, every run ends with one line, and stop() ends the running job through its
 * signal and waits for it.
 */
import type { Logger } from '../../../src/core/log';
import { cronProblem, nextRun, scheduledJobs } from '../../../src/schedule/jobs';
import { type JobOutcome, Scheduler } from '../../../src/schedule/scheduler';
import { readSettings } from '../../../src/settings';

interface Line {
  level: string;
  message: string;
  fields?: Record<string, unknown>;
}

function recordingLogger(): Logger & { lines: Line[] } {
  const lines: Line[] = [];
  return {
    lines,
    info: (message, fields) => lines.push({ level: 'info', message, ...(fields ? { fields } : {}) }),
    warn: (message, fields) => lines.push({ level: 'warn', message, ...(fields ? { fields } : {}) }),
    progress: () => undefined,
    progressDone: () => undefined,
    metric: () => undefined,
  };
}

/** A runner whose runs end when the test says so (or when their signal aborts). */
function controlledRunner() {
  const started: string[] = [];
  const finishers: Array<(o: JobOutcome) => void> = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const run = (job: { name: string }, signal: AbortSignal) =>
    new Promise<JobOutcome>((resolve) => {
      started.push(job.name);
      inFlight += 1;
      maxInFlight = Math.max(maxInFlight, inFlight);
      const end = (o: JobOutcome) => {
        inFlight -= 1;
        resolve(o);
      };
      finishers.push(end);
      signal.addEventListener('abort', () => end({ ok: false, exitCode: 143, summary: 'interrupted by SIGTERM; cleaned up' }), { once: true });
    });
  return { run, started, finish: (o: JobOutcome = { ok: true, exitCode: 0, summary: 'done' }) => finishers.shift()!(o), maxInFlight: () => maxInFlight };
}

const tick = () => new Promise((r) => setImmediate(r));
const backup = { name: 'backup' as const, cron: '* * * * *' };
const restoreTest = { name: 'restore-test' as const, cron: '* * * * *' };

/** A scheduler of both jobs, both due: the backup started, the restore test waiting behind it. */
async function backupRunningRestoreTestWaiting() {
  const logger = recordingLogger();
  const r = controlledRunner();
  const scheduler = new Scheduler({ jobs: [backup, restoreTest], run: r.run, logger });
  scheduler.due(backup);
  scheduler.due(restoreTest);
  await tick();
  return { logger, r, scheduler };
}

describe('meatbackup schedule: the clock and the queue', () => {
  test('GIVEN a backup running WHEN the restore test comes due THEN it waits its turn, and only one run is ever in progress', async () => {
    const { logger, r, scheduler } = await backupRunningRestoreTestWaiting();
    expect(r.started).toEqual(['backup']);
    r.finish();
    await tick();
    expect(r.started).toEqual(['backup', 'restore-test']);
    r.finish({ ok: false, exitCode: 1, summary: 'restore test of backups/meatdb-….sql.gz failed: table users missing' });
    await scheduler.idle();
    expect(r.maxInFlight()).toBe(1);
    const ends = logger.lines.filter((l) => l.fields && 'exitCode' in l.fields);
    expect(ends.map((l) => [l.level, l.message.replace(/ in [\d.]+s:/, ' in Ns:')])).toEqual([
      ['info', 'backup: succeeded in Ns: done'],
      ['warn', 'restore-test: FAILED (exit 1) in Ns: restore test of backups/meatdb-….sql.gz failed: table users missing'],
    ]);
    expect(ends[1].fields).toMatchObject({ job: 'restore-test', ok: false, exitCode: 1 });
  });

  test('GIVEN a backup still running WHEN it comes due again THEN that time is skipped with a warning, not queued', async () => {
    const logger = recordingLogger();
    const r = controlledRunner();
    const scheduler = new Scheduler({ jobs: [backup], run: r.run, logger });
    scheduler.due(backup);
    scheduler.due(backup);
    await tick();
    r.finish();
    await scheduler.idle();
    expect(r.started).toEqual(['backup']);
    expect(logger.lines.some((l) => l.level === 'warn' && l.message === 'backup: due again while its previous run is still running: this time is skipped')).toBe(true);
  });

  test('GIVEN a run in progress and one waiting WHEN the scheduler is stopped THEN the running one ends through its signal, the waiting one never starts, and stop() waits for it', async () => {
    const { logger, r, scheduler } = await backupRunningRestoreTestWaiting();
    await scheduler.stop(new Error('interrupted by SIGTERM'));
    expect(r.started).toEqual(['backup']);
    expect(scheduler.current).toBeUndefined();
    expect(logger.lines.at(-1)?.message).toMatch(/^backup: FAILED \(exit 143\) in [\d.]+s: interrupted by SIGTERM; cleaned up$/);
    scheduler.due(backup);
    await scheduler.idle();
    expect(r.started).toEqual(['backup']);
  });

  test('GIVEN the schedule variables WHEN read THEN the stacks\' times are the defaults, off disables a job, and a wrong expression is one line naming its variable', () => {
    expect(scheduledJobs(readSettings({}))).toEqual([
      { name: 'backup', cron: '0 3 * * *' },
      { name: 'restore-test', cron: '0 5 * * 0' },
      { name: 'retention', cron: '0 4 * * *' },
      { name: 'status', cron: '0 * * * *' },
    ]);
    expect(scheduledJobs(readSettings({ SCHEDULE_BACKUP: '*/15 * * * *', SCHEDULE_RESTORE_TEST: 'off', SCHEDULE_RETENTION: 'off', SCHEDULE_STATUS: 'off' }))).toEqual([{ name: 'backup', cron: '*/15 * * * *' }]);
    expect(scheduledJobs(readSettings({ SCHEDULE_BACKUP: 'off', SCHEDULE_RESTORE_TEST: 'off', SCHEDULE_RETENTION: '30 2 * * *', SCHEDULE_STATUS: 'off' }))).toEqual([{ name: 'retention', cron: '30 2 * * *' }]);
    expect(() => scheduledJobs(readSettings({ SCHEDULE_BACKUP: '0 25 * * *' }))).toThrow(/^SCHEDULE_BACKUP=0 25 \* \* \*: .*give minute hour day-of-month month day-of-week \(UTC\), or off$/);
    expect(() => scheduledJobs(readSettings({ SCHEDULE_STATUS: '0 3 * *' }))).toThrow('SCHEDULE_STATUS=0 3 * *: give 5 fields: minute hour day-of-month month day-of-week (UTC), or off');
    expect(() => scheduledJobs(readSettings({ SCHEDULE_BACKUP: 'off', SCHEDULE_RESTORE_TEST: 'off', SCHEDULE_RETENTION: 'off', SCHEDULE_STATUS: 'off' }))).toThrow(/^every job is off/);
    expect(cronProblem('@daily')).toBeDefined();
    expect(nextRun({ name: 'backup', cron: '0 3 * * *' }, new Date('2025-09-17T10:30:00Z'))?.toISOString()).toBe('2025-09-18T03:00:00.000Z');
  });

  test('GIVEN BACKUP_MAX_AGE and HTTP_LISTEN WHEN read THEN durations and HOST:PORT are understood, and a wrong value is one line', () => {
    expect(readSettings({ BACKUP_MAX_AGE: '26h', HTTP_LISTEN: '0.0.0.0:9000' }).schedule).toEqual({ cron: {}, maxBackupAgeSeconds: 93_600, listen: { host: '0.0.0.0', port: 9000 } });
    expect(readSettings({ HTTP_LISTEN: 'off' }).schedule.listen).toBeNull();
    expect(readSettings({}).schedule.listen).toEqual({ host: '127.0.0.1', port: 8787 });
    expect(() => readSettings({ BACKUP_MAX_AGE: 'a day' })).toThrow('BACKUP_MAX_AGE=a day: give a duration such as 26h, 90m or 2d');
    expect(() => readSettings({ HTTP_LISTEN: '8787' })).toThrow('HTTP_LISTEN=8787: give HOST:PORT (e.g. 127.0.0.1:8787) or off');
  });
});
