/**
 * Discord in `meatbackup schedule` (docs/discord.md, Compose): the interactions endpoint as a route of the scheduler's
 * own HTTP listener (`POST /discord/interactions`, behind the platform's reverse proxy), with a /backup queued through
 * the scheduler like any run, so it never runs beside a scheduled backup or restore test; and the channel webhook told
 * what the runs show: a failed backup, a stale one (and when it is fresh again), a failed restore test or one that
 * could not run, a failed retention run. Each is posted once per change, not once per run: a backup failing every
 * night says so the first night and when it recovers.
 *
 * Posting never stops the scheduler: a post Discord refuses is one warning line, which never holds the webhook URL.
 */
import { EXIT_CANNOT_TEST } from '../restore-test/restore-test';
import { UserError, oneLine } from '../core/errors';
import type { Logger } from '../core/log';
import { interactionsHandlerFor, webhookNotifier } from '../discord/compose';
import { type BackupOutcome } from '../discord/backend';
import { backupOutcomeOf } from '../discord/local-backend';
import type { Notification } from '../discord/notifications';
import type { Settings } from '../settings';
import type { Freshness } from './freshness';
import type { Routes } from './http-listener';
import type { ScheduledJob } from './jobs';
import type { JobOutcome, Scheduler } from './scheduler';

/** Where the scheduler's listener serves Discord's interactions. */
export const INTERACTIONS_PATH = '/discord/interactions';

export interface ScheduleDiscordOptions {
  scheduler: Scheduler;
  /** The backup job a /backup runs (the scheduled one, or a one-off when the schedule has it off). */
  backupJob: ScheduledJob;
  database: string;
  freshness: () => Promise<Freshness>;
  logger: Logger;
  /** How to start this CLI again (only for a backup outside the scheduler, which this never asks for). */
  cli: readonly string[];
}

export interface ScheduleDiscord {
  /** The listener's routes for the interactions endpoint; none without DISCORD_PUBLIC_KEY. */
  routes: Routes;
  /** Told after every run: posts what changed. */
  afterRun(job: ScheduledJob, outcome: JobOutcome): void;
  /** Waits for the posts and follow-ups in flight. */
  close(): Promise<void>;
}

type Condition = 'backup' | 'restore-test' | 'retention' | 'fresh';

/** What one run means for the channel: the condition it settles, and the notice if that condition is bad. */
function noticeOf(job: ScheduledJob, outcome: JobOutcome, database: string): { condition: Condition; bad?: Notification } | undefined {
  const detail = `${outcome.summary} (exit ${outcome.exitCode})`;
  switch (job.name) {
    case 'backup':
      return { condition: 'backup', ...(outcome.ok ? {} : { bad: { kind: 'backup-failed', database, detail } }) };
    case 'restore-test':
      if (outcome.ok) return { condition: 'restore-test' };
      return {
        condition: 'restore-test',
        bad: outcome.exitCode === EXIT_CANNOT_TEST ? { kind: 'restore-test-cannot-run', database, detail } : { kind: 'restore-test-failed', database, detail },
      };
    case 'status':
      // Its news is the backups' age, which every run looks at (afterRun).
      return undefined;
    default:
      return { condition: 'retention', ...(outcome.ok ? {} : { bad: { kind: 'other', title: `Scheduled ${job.name} of ${database} FAILED`, detail } }) };
  }
}

const RECOVERED: Record<Condition, (database: string) => string> = {
  backup: (db) => `backup of ${db}`,
  'restore-test': (db) => `restore test of ${db}`,
  retention: (db) => `retention of ${db}'s backups`,
  fresh: (db) => `a recent backup of ${db} exists again`,
};

export function scheduleDiscord(settings: Settings, options: ScheduleDiscordOptions): ScheduleDiscord {
  const { scheduler, logger, database } = options;
  const notifier = webhookNotifier(settings);
  const pending = new Set<Promise<void>>();
  const bad = new Set<Condition>();

  const post = (n: Notification): void => {
    if (!notifier) return;
    const sent = notifier
      .post(n)
      .catch((err: unknown) => logger.warn(`could not post to the Discord channel webhook: ${oneLine((err as Error).message)}`))
      .finally(() => pending.delete(sent));
    pending.add(sent);
  };
  /** Posts `notice` when `condition` turns bad, and a recovery when it turns good again; nothing otherwise. */
  const settle = (condition: Condition, notice: Notification | undefined, detail: string): void => {
    if (notice && !bad.has(condition)) {
      bad.add(condition);
      post(notice);
    } else if (!notice && bad.delete(condition)) {
      post({ kind: 'recovered', what: RECOVERED[condition](database), detail });
    }
  };

  const runBackup = (): Promise<BackupOutcome> => {
    const queued = scheduler.runOnce(options.backupJob);
    if (!queued) throw new UserError(`a backup is already running or waiting in the scheduler (now running: ${scheduler.current ?? 'nothing'}): its result is in the log and /status`);
    return queued.then((o) => (o.ok ? backupOutcomeOf(o.result) : { ok: false, error: o.summary }));
  };
  const handler = settings.discord.publicKey ? interactionsHandlerFor(settings, { cli: options.cli, runBackup, log: (record) => logger.info(String(record.message ?? 'discord'), record) }) : undefined;
  const routes: Routes = handler ? { [`POST ${INTERACTIONS_PATH}`]: handler.serve, [`GET ${INTERACTIONS_PATH}`]: handler.serve } : {};

  return {
    routes,
    afterRun(job, outcome) {
      if (!notifier) return;
      const notice = noticeOf(job, outcome, database);
      if (notice) settle(notice.condition, notice.bad, `${outcome.summary}`);
      // Every run may change how old the newest backup is: the status check's hourly look, or a backup that stored one.
      const looked = options
        .freshness()
        .then((f) => settle('fresh', f.healthy ? undefined : { kind: 'backup-stale', database, detail: f.message }, f.message))
        .catch((err: unknown) => logger.warn(`could not tell how old the newest backup is, for the Discord channel: ${oneLine((err as Error).message)}`))
        .finally(() => pending.delete(looked));
      pending.add(looked);
    },
    async close() {
      await handler?.drain();
      while (pending.size > 0) await Promise.allSettled([...pending]);
    },
  };
}
