/**
 * The jobs `meatbackup schedule` runs, and when: the Compose deployment's counterpart of the stacks' EventBridge
 * schedules (docs/compose.md). Each job has a cron expression (SCHEDULE_<JOB>, 5 fields, UTC; `off` disables it),
 * parsed by croner; the defaults are the stacks' own times.
 */
import { Cron } from 'croner';
import { ENV } from '../contract';
import { UserError } from '../core/errors';
import type { Settings } from '../settings';

export const JOB_NAMES = ['backup', 'restore-test', 'retention', 'status'] as const;
export type JobName = (typeof JOB_NAMES)[number];

/**
 * The stacks' times: backup daily 03:00, restore test Sundays 05:00, status hourly; retention (S3's lifecycle rules on
 * AWS, which run once a day) daily 04:00, after the backup.
 */
export const DEFAULT_CRON: Record<JobName, string> = {
  backup: '0 3 * * *',
  'restore-test': '0 5 * * 0',
  retention: '0 4 * * *',
  status: '0 * * * *',
};

const VARIABLE: Record<JobName, string> = {
  backup: ENV.scheduleBackup,
  'restore-test': ENV.scheduleRestoreTest,
  retention: ENV.scheduleRetention,
  status: ENV.scheduleStatus,
};

export interface ScheduledJob {
  name: JobName;
  cron: string;
}

/** Whether `expression` is a 5-field cron expression croner accepts; the problem when it is not. */
export function cronProblem(expression: string): string | undefined {
  if (expression.trim().split(/\s+/).length !== 5) return 'give 5 fields: minute hour day-of-month month day-of-week (UTC), or off';
  try {
    new Cron(expression, { paused: true, timezone: 'UTC', mode: '5-part' }).stop();
    return undefined;
  } catch (err) {
    return `${(err as Error).message.replace(/^CronPattern: /, '')}: give minute hour day-of-month month day-of-week (UTC), or off`;
  }
}

/** The enabled jobs and their expressions, every expression checked: one line naming the variable when one is wrong. */
export function scheduledJobs(settings: Pick<Settings, 'schedule'>): ScheduledJob[] {
  const jobs: ScheduledJob[] = [];
  for (const name of JOB_NAMES) {
    const cron = (settings.schedule.cron[name] ?? DEFAULT_CRON[name]).trim();
    if (cron === 'off') continue;
    const problem = cronProblem(cron);
    if (problem) throw new UserError(`${VARIABLE[name]}=${cron}: ${problem}`, 2);
    jobs.push({ name, cron });
  }
  if (jobs.length === 0) throw new UserError(`every job is off (${JOB_NAMES.map((n) => VARIABLE[n]).join(', ')}): set at least one to a cron expression`, 2);
  return jobs;
}

/** The next time `job` is due after `after`. */
export function nextRun(job: ScheduledJob, after: Date): Date | null {
  const cron = new Cron(job.cron, { paused: true, timezone: 'UTC', mode: '5-part' });
  try {
    return cron.nextRun(after);
  } finally {
    cron.stop();
  }
}
