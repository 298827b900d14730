/**
 * The sessions of a parallel load and the work waiting for them: tables' COPY blocks (as the dump hands them out)
 * and post-data entries (once their tables' data is in and their predecessors are done). A free session takes the
 * ready job of the highest priority (the first added among equals) that no running job conflicts with; the first failure
 * stops handing out work and is what {@link WorkPool.drain} throws (the caller ends every session).
 */
import type { Notifier } from './spool';
import type { Worker } from './sessions';

export interface Job {
  /** For messages: `data of table public.logs`, `INDEX public.logs_data_gin`. */
  what: string;
  /** Whether what it waits for is done (checked whenever anything finishes). */
  ready(): boolean;
  /** Tables (partition families) it locks against everything else on them. */
  locks: readonly string[];
  /** Tables it holds a SHARE lock on (CREATE INDEX: beside other index builds of the table). */
  shares: readonly string[];
  /**
   * Among the ready jobs, the highest goes first (then the first added): the work on the largest tables, data and
   * post-data alike, so that the longest builds do not start last.
   */
  priority: number;
  run(worker: Worker): Promise<void>;
}

function conflicts(a: Job, b: Job): boolean {
  if (b.locks.some((t) => a.locks.includes(t) || a.shares.includes(t))) return true;
  return b.shares.some((t) => a.locks.includes(t));
}

export class WorkPool {
  private readonly free: Worker[];
  private readonly waiting: Job[] = [];
  private readonly running = new Set<Job>();
  private failure: unknown;
  private failed = false;
  /** How long each job that finished took, for the load's summary line. */
  readonly took: Array<{ what: string; seconds: number }> = [];

  constructor(
    readonly workers: readonly Worker[],
    private readonly notifier: Notifier,
  ) {
    this.free = [...workers];
  }

  add(job: Job): void {
    if (this.failed) return;
    this.waiting.push(job);
    this.dispatch();
  }

  /** A session is free with nothing it could start: running ahead in the dump would give it work. */
  get idle(): boolean {
    return !this.failed && this.free.length > 0;
  }

  /** The first failure of any job, once there was one. */
  get error(): unknown {
    return this.failed ? this.failure : undefined;
  }

  /** Stops handing out work (the load failed elsewhere); running jobs are ended by the caller. */
  fail(err: unknown): void {
    if (this.failed) return;
    this.failed = true;
    this.failure = err;
    this.waiting.length = 0;
    this.notifier.notify();
  }

  /** Resolves once nothing waits or runs; throws the first failure. */
  async drain(): Promise<void> {
    for (;;) {
      if (this.failed) throw this.failure;
      if (this.waiting.length === 0 && this.running.size === 0) return;
      if (this.running.size === 0 && !this.waiting.some((j) => j.ready())) {
        throw new Error(`the parallel load cannot go on: ${this.waiting[0].what} waits for work that will never be done; this is a bug`);
      }
      await this.notifier.wait();
    }
  }

  private dispatch(): void {
    while (this.free.length > 0 && !this.failed) {
      let k = -1;
      for (let i = 0; i < this.waiting.length; i++) {
        const job = this.waiting[i];
        if (k >= 0 && job.priority <= this.waiting[k].priority) continue;
        if (job.ready() && ![...this.running].some((other) => conflicts(job, other))) k = i;
      }
      if (k < 0) break;
      const job = this.waiting.splice(k, 1)[0];
      const worker = this.free.shift()!;
      this.running.add(job);
      const started = Date.now();
      job.run(worker).then(
        () => {
          this.took.push({ what: job.what, seconds: (Date.now() - started) / 1000 });
          this.finished(job, worker);
        },
        (err: unknown) => {
          this.fail(err);
          this.finished(job, worker);
        },
      );
    }
    this.notifier.notify();
  }

  private finished(job: Job, worker: Worker): void {
    this.running.delete(job);
    this.free.push(worker);
    this.dispatch();
  }
}
