/**
 * `meatbackup schedule`'s clock: croner fires each job at its time, and the runs go through one queue, so only one
 * run is ever in progress (a restore test never competes with a backup for the database or the disk). A job that
 * comes due while it is already waiting or running is skipped, with a line saying so, rather than piling up.
 *
 * Every run ends with one log line (the job, how it ended, its exit code and seconds, and its JSON result), written
 * by the scheduler whatever the job printed itself. `stop()` (SIGTERM) stops the clock, ends the running job through
 * its signal and waits for it to clean up: nothing is left half-done by stopping the container.
 */
import { Cron } from 'croner';
import type { Logger } from '../core/log';
import type { JobName, ScheduledJob } from './jobs';

export interface JobOutcome {
  ok: boolean;
  /** The command's exit code (0 for an in-process job that succeeded). */
  exitCode: number;
  /** One line: what the run did, or why it failed. */
  summary: string;
  /** The command's JSON result, when it printed one. */
  result?: unknown;
}

/** Runs one job to its end; it ends early, cleaning up, when `signal` aborts. Never rejects for a failed job. */
export type RunJob = (job: ScheduledJob, signal: AbortSignal) => Promise<JobOutcome>;

export interface SchedulerOptions {
  jobs: readonly ScheduledJob[];
  run: RunJob;
  logger: Logger;
  /** Told after every run (e.g. to look at the backups' freshness again). */
  afterRun?: (job: ScheduledJob, outcome: JobOutcome) => void;
}

export class Scheduler {
  private readonly crons: Cron[] = [];
  private readonly queue: ScheduledJob[] = [];
  private running: ScheduledJob | undefined;
  private drained: Promise<void> = Promise.resolve();
  private readonly controller = new AbortController();
  /** Who waits for the outcome of a queued run asked for by {@link runOnce}. */
  private readonly waiting = new Map<ScheduledJob, (outcome: JobOutcome) => void>();

  constructor(private readonly options: SchedulerOptions) {}

  /** Starts the clock; each job's next time is logged. */
  start(): void {
    for (const job of this.options.jobs) {
      const cron = new Cron(job.cron, { timezone: 'UTC', mode: '5-part', name: `meatbackup-${job.name}` }, () => this.due(job));
      this.crons.push(cron);
      this.options.logger.info(`${job.name}: scheduled ${job.cron} (UTC), next at ${cron.nextRun()?.toISOString() ?? 'never'}`, { job: job.name, cron: job.cron });
    }
  }

  /** A job came due (or is run now, by name). Queued unless it is already waiting or running. */
  due(job: ScheduledJob): void {
    if (this.controller.signal.aborted) return;
    if (this.running?.name === job.name || this.queue.some((q) => q.name === job.name)) {
      this.options.logger.warn(`${job.name}: due again while its previous run is ${this.running?.name === job.name ? 'still running' : 'waiting'}: this time is skipped`, { job: job.name });
      return;
    }
    this.queue.push(job);
    if (this.running === undefined) this.drained = this.drain();
  }

  /**
   * Runs `job` once more, through the same queue (after whatever runs now, never beside it), and resolves with its
   * outcome. Undefined when that job is already running or waiting: nothing is queued twice.
   */
  runOnce(job: ScheduledJob): Promise<JobOutcome> | undefined {
    if (this.controller.signal.aborted || this.running?.name === job.name || this.queue.some((q) => q.name === job.name)) return undefined;
    const outcome = new Promise<JobOutcome>((resolve) => this.waiting.set(job, resolve));
    this.due(job);
    return outcome;
  }

  /** The job that is running, if any. */
  get current(): JobName | undefined {
    return this.running?.name;
  }

  /** Resolves when nothing is running or waiting. */
  idle(): Promise<void> {
    return this.drained;
  }

  private async drain(): Promise<void> {
    for (let job = this.queue.shift(); job && !this.controller.signal.aborted; job = this.queue.shift()) {
      this.running = job;
      this.logWaiting();
      const started = Date.now();
      let outcome: JobOutcome;
      try {
        outcome = await this.options.run(job, this.controller.signal);
      } catch (err) {
        outcome = { ok: false, exitCode: 1, summary: `could not run: ${(err as Error).message}` };
      }
      this.running = undefined;
      const seconds = Math.round((Date.now() - started) / 100) / 10;
      const fields = { job: job.name, ok: outcome.ok, exitCode: outcome.exitCode, seconds, ...(outcome.result !== undefined ? { result: outcome.result } : {}) };
      const line = `${job.name}: ${outcome.ok ? 'succeeded' : `FAILED (exit ${outcome.exitCode})`} in ${seconds}s: ${outcome.summary}`;
      if (outcome.ok) this.options.logger.info(line, fields);
      else this.options.logger.warn(line, fields);
      this.options.afterRun?.(job, outcome);
      this.waiting.get(job)?.(outcome);
      this.waiting.delete(job);
    }
    this.queue.length = 0;
    // Stopped with runs still waiting: each is answered, none left hanging.
    for (const [job, resolve] of this.waiting) resolve({ ok: false, exitCode: 1, summary: `${job.name} did not run: the scheduler is stopping` });
    this.waiting.clear();
  }

  private logWaiting(): void {
    const waiting = this.queue.length > 0 ? `; waiting after it: ${this.queue.map((q) => q.name).join(', ')}` : '';
    this.options.logger.info(`${this.running?.name}: starting${waiting}`, { job: this.running?.name });
  }

  /** Stops the clock and the running job (it cleans up first), and resolves when it has ended. */
  async stop(reason?: unknown): Promise<void> {
    for (const cron of this.crons) cron.stop();
    this.queue.length = 0;
    if (!this.controller.signal.aborted) this.controller.abort(reason);
    await this.drained;
  }
}
