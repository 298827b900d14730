/**
 * `meatbackup schedule`: the Compose deployment's long-lived service (docs/compose.md), what the stacks' schedules
 * and hourly status are on AWS, and what their lifecycle rules do: backup, restore test, retention and status check on cron expressions, one run at a time
 * (src/schedule/scheduler.ts), each run a child process of this CLI emitting the same JSON lines and metric records
 * as the Fargate tasks. Its HTTP listener (HTTP_LISTEN) answers `GET /health` from the newest backup's age, which
 * `meatbackup health`, the image's Docker healthcheck, reads.
 *
 * `meatbackup health`: asks the running scheduler; exit 0 when the newest backup is fresh, 1 otherwise.
 */
import { type Command, Option } from 'commander';
import { ENV } from '../../contract';
import { UserError, oneLine } from '../../core/errors';
import { createLogger } from '../../core/log';
import { CLEANUP_GRACE_MS, setCleanupGrace, shutdownSignal } from '../../core/signals';
import { thisCli } from '../../discord/compose';
import { backupHealth, describeHealth, emitHealthMetrics } from '../../ops/backup-health';
import { type Freshness, cachedFreshness } from '../../schedule/freshness';
import { type HttpListener, type Routes, sendJson, startHttpListener } from '../../schedule/http-listener';
import { JOB_NAMES, type JobName, type ScheduledJob, scheduledJobs } from '../../schedule/jobs';
import { INTERACTIONS_PATH, type ScheduleDiscord, scheduleDiscord } from '../../schedule/discord';
import { commandRunner } from '../../schedule/run-command';
import { type JobOutcome, Scheduler } from '../../schedule/scheduler';
import { DEFAULT_HTTP_LISTEN, type Settings, prefixFrom } from '../../settings';
import { createS3Client, resolveBucket } from '../../storage/s3';
import { DATABASE_HINT, configuredDatabase } from '../database';

/** The newest backup may be this old by default: a daily backup, and two hours for one that runs late. */
export const DEFAULT_MAX_BACKUP_AGE_SECONDS = 26 * 3600;

/** The jobs that are commands of this CLI, as the Fargate tasks run them. */
const COMMANDS: Partial<Record<JobName, readonly string[]>> = {
  backup: ['backup', '--json'],
  'restore-test': ['restore-test', 'latest', '--json'],
  retention: ['retention', '--yes', '--json'],
};

interface ScheduleFlags {
  now?: string[];
}

export function registerSchedule(program: Command, settings: Settings): void {
  program
    .command('schedule')
    .description(
      `run backup, restore-test, retention and status on their cron expressions (UTC) until SIGTERM, one run at a time: $${ENV.scheduleBackup}, $${ENV.scheduleRestoreTest}, $${ENV.scheduleRetention}, $${ENV.scheduleStatus} (off disables one); GET /health on $${ENV.httpListen} (default ${DEFAULT_HTTP_LISTEN.host}:${DEFAULT_HTTP_LISTEN.port})`,
    )
    .addOption(new Option('--now <job...>', 'also run these jobs once at start, in this order').choices([...JOB_NAMES]))
    .action(async (flags: ScheduleFlags) => {
      const bucket = resolveBucket(undefined, settings.bucket);
      const prefix = prefixFrom(undefined, settings);
      const jobs = scheduledJobs(settings);
      const database = settings.database ?? configuredDatabase(undefined, settings);
      if (!database) throw new UserError(`the scheduler needs the database it backs up: set ${ENV.databaseUrl} (or ${ENV.database}); ${DATABASE_HINT}`, 2);
      const logger = createLogger();
      const s3 = createS3Client(settings.aws);
      const maxAgeSeconds = settings.schedule.maxBackupAgeSeconds ?? DEFAULT_MAX_BACKUP_AGE_SECONDS;
      const freshness = cachedFreshness({ s3, bucket, prefix, database, maxAgeSeconds });
      const where = `s3://${bucket}/${prefix}`;

      const statusJob = async (): Promise<JobOutcome> => {
        // The ops function's hourly status, here: the same metric records, and its lines as the run's summary.
        const health = await backupHealth(s3, bucket, prefix, new Date(), database);
        emitHealthMetrics(health, logger);
        const db = health.databases.find((d) => d.database === database);
        const lines = db ? describeHealth(db, where) : [`no backups under ${where}`];
        return { ok: true, exitCode: 0, summary: lines.join('; '), result: { newestBackup: db?.newestBackup ?? null, restoreTest: db?.restoreTest ?? null } };
      };
      const runCommand = commandRunner({ commands: COMMANDS, env: settings.env });
      // Made just below, with the scheduler a /backup is queued on; read only after each run.
      const later: { discord?: ScheduleDiscord } = {};
      const scheduler = new Scheduler({
        jobs,
        logger,
        run: (job, signal) =>
          job.name === 'status'
            ? statusJob().catch((err: unknown) => ({ ok: false, exitCode: 1, summary: oneLine((err as Error).message) }))
            : runCommand(job, signal),
        afterRun: (job, outcome) => {
          freshness.forget();
          later.discord?.afterRun(job, outcome);
        },
      });
      // A /backup from Discord runs the scheduled backup job (or the same command, when its schedule is off).
      const backupJob = jobs.find((j) => j.name === 'backup') ?? { name: 'backup', cron: 'off' };
      const discord = scheduleDiscord(settings, { scheduler, backupJob, database, freshness: () => freshness.get(), logger, cli: thisCli() });
      later.discord = discord;
      if (Object.keys(discord.routes).length > 0 && !settings.schedule.listen) {
        throw new UserError(`${ENV.discordPublicKey} is set but ${ENV.httpListen}=off: the Discord interactions endpoint is served by the scheduler's listener; set ${ENV.httpListen} to HOST:PORT`, 2);
      }

      // The listener's routes: one table, so another endpoint is one more entry.
      const routes: Routes = {
        'GET /health': async (_req, res) => {
          const f = await freshness.get();
          sendJson(res, f.healthy ? 200 : 503, { ...f, running: scheduler.current ?? null });
        },
        ...discord.routes,
      };
      let listener: HttpListener | undefined;
      if (settings.schedule.listen) listener = await startHttpListener(settings.schedule.listen, routes, logger);

      // The running job gets its own cleanup time after the SIGTERM passed on to it, and this process a little more.
      setCleanupGrace(3 * CLEANUP_GRACE_MS);
      const stopped = shutdownSignal();
      scheduler.start();
      logger.info(`meatbackup schedule started: ${jobs.map((j) => `${j.name} ${j.cron}`).join('; ')}; database ${database}, ${where}`, {
        jobs,
        database,
        bucket,
        prefix,
        maxBackupAgeSeconds: maxAgeSeconds,
        health: listener ? `http://${listener.address}/health` : null,
        discordInteractions: listener && discord.routes[`POST ${INTERACTIONS_PATH}`] ? `http://${listener.address}${INTERACTIONS_PATH}` : null,
      });
      for (const name of flags.now ?? []) scheduler.due(jobs.find((j) => j.name === name) ?? ({ name, cron: 'now' } as ScheduledJob));

      await new Promise<void>((resolve) => {
        if (stopped.aborted) resolve();
        else stopped.addEventListener('abort', () => resolve(), { once: true });
      });
      const running = scheduler.current;
      logger.info(`stopping${running ? `: ${running} is running and ends first, cleaning up` : ''}`);
      await scheduler.stop(stopped.reason);
      await listener?.close();
      await discord.close();
      logger.info(`meatbackup schedule stopped (${(stopped.reason as Error | undefined)?.message ?? 'stopped'}); nothing was left half-done`);
    });

  program
    .command('health')
    .description(`the Docker healthcheck: asks the running \`meatbackup schedule\` (GET /health on $${ENV.httpListen}) whether the newest backup is younger than $${ENV.backupMaxAge}; exit 0 fresh, 1 stale or no answer`)
    .action(async () => {
      const listen = settings.schedule.listen;
      if (!listen) throw new UserError(`${ENV.httpListen}=off: the scheduler has no listener to ask; set ${ENV.httpListen} to HOST:PORT in both`, 2);
      const host = listen.host === '0.0.0.0' ? '127.0.0.1' : listen.host === '::' ? '::1' : listen.host;
      const url = `http://${host.includes(':') ? `[${host}]` : host}:${listen.port}/health`;
      let res: Response;
      try {
        res = await fetch(url, { signal: AbortSignal.timeout(20_000) });
      } catch (err) {
        const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
        throw new UserError(`the scheduler does not answer at ${url} (${cause}): is meatbackup schedule running with the same ${ENV.httpListen}?`);
      }
      const body = (await res.json().catch(() => undefined)) as Partial<Freshness> | undefined;
      const message = body?.message ?? `answered HTTP ${res.status}`;
      if (!res.ok) throw new UserError(message);
      process.stdout.write(`${message}\n`);
    });
}
