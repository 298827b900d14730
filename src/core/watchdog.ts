/**
 * A stall watchdog: a long operation reports progress (bytes moved, a part stored); when none comes for the stall
 * timeout, it asks the operation what it is waiting for and aborts with one line naming it. Its `signal` is the
 * operation's abort signal: aborted by a stall, or by the parent signal (SIGINT/SIGTERM), with the reason to throw.
 *
 * A frozen endpoint (packets dropped, not refused) is what it is for: nothing fails, nothing moves. A wait that is
 * someone else's legitimate work (psql building an index while the download waits for it) is not a stall: the
 * operation's `waitingFor` answers undefined then, and the clock starts again.
 */
import { ENV } from '../contract';
import { UserError } from './errors';

/** Seconds without progress before an operation is called stalled, unless configured. */
export const DEFAULT_STALL_SECONDS = 120;

export class Stalled extends UserError {
  constructor(
    readonly what: string,
    readonly seconds: number,
  ) {
    super(`${what} made no progress for ${seconds}s (stall timeout: --stall-timeout or ${ENV.stallSeconds})`, 1);
    this.name = 'Stalled';
  }
}

export interface WatchdogOptions {
  /** Seconds without progress; 0 disables the watchdog (the signal then only follows the parent). */
  seconds: number;
  /**
   * What the operation is waiting for right now, e.g. "S3 upload of part 7"; undefined when the wait is legitimate.
   * @default nothing until {@link StallWatchdog.waitingOn} or {@link StallWatchdog.step} says
   */
  waitingFor?: () => string | undefined;
  /** Aborts with it too (the process's shutdown signal). */
  parent?: AbortSignal;
}

export class StallWatchdog {
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout | undefined;
  private last = Date.now();
  private readonly onParentAbort = (): void => this.abort(this.parent?.reason);
  private readonly parent: AbortSignal | undefined;
  private waitingFor: () => string | undefined;

  constructor(private readonly options: WatchdogOptions) {
    this.parent = options.parent;
    this.waitingFor = options.waitingFor ?? (() => undefined);
    if (this.parent?.aborted) this.abort(this.parent.reason);
    else this.parent?.addEventListener('abort', this.onParentAbort, { once: true });
    if (options.seconds > 0) {
      const ms = options.seconds * 1000;
      this.timer = setInterval(() => this.check(ms), Math.min(1000, Math.max(50, ms / 4)));
      this.timer.unref();
    }
  }

  /** Aborted on a stall (reason: a {@link Stalled}) or when the parent is (its reason). */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Something moved: the clock starts again. */
  progress(): void {
    this.last = Date.now();
  }

  /** What the operation waits for from now on (a new step: the clock starts again). */
  waitingOn(waitingFor: () => string | undefined): void {
    this.waitingFor = waitingFor;
    this.progress();
  }

  /**
   * Runs one step of the operation, `waitingFor` naming what it waits for meanwhile, then goes back to waiting for
   * nothing in particular (the caller's own work, a database: not watched). The step ends when the signal aborts,
   * with its reason, even if what it awaits does not listen to the signal (a request of a frozen endpoint is then
   * left to the process's exit).
   */
  async step<T>(waitingFor: string | (() => string | undefined), run: (signal: AbortSignal) => Promise<T>): Promise<T> {
    this.waitingOn(typeof waitingFor === 'string' ? () => waitingFor : waitingFor);
    try {
      return await untilAborted(run(this.signal), this.signal);
    } finally {
      this.waitingOn(() => undefined);
    }
  }

  /** Stops watching; the signal stays as it is. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.parent?.removeEventListener('abort', this.onParentAbort);
  }

  private check(ms: number): void {
    if (this.controller.signal.aborted || Date.now() - this.last < ms) return;
    const what = this.waitingFor();
    if (what === undefined) {
      this.progress();
      return;
    }
    this.abort(new Stalled(what, this.options.seconds));
  }

  private abort(reason: unknown): void {
    if (this.controller.signal.aborted) return;
    this.stop();
    this.controller.abort(reason);
  }
}

/** {@link StallWatchdog.step} when there is a watchdog, else just `run` (the caller's signal governs it then). */
export function stepOf<T>(watchdog: StallWatchdog | undefined, waitingFor: string, run: () => Promise<T>): Promise<T> {
  return watchdog ? watchdog.step(waitingFor, run) : run();
}

/** `promise`, or the signal's reason as soon as it aborts, whichever comes first. */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    promise.catch(() => undefined);
    return Promise.reject(signal.reason as Error);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err as Error);
      },
    );
  });
}

/** Parses a stall timeout in seconds (flag or environment); undefined when not given. */
export function parseStallSeconds(raw: string | undefined, source: string): number | undefined {
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new UserError(`${source} ${raw}: give the seconds without progress after which to give up (0 never gives up)`, 2);
  return n;
}

/** The stall timeout: the flag, else the setting (STALL_TIMEOUT_SECONDS, src/settings.ts), else the default. */
export function stallSeconds(flag: string | undefined, configured: number | undefined): number {
  return parseStallSeconds(flag, '--stall-timeout') ?? configured ?? DEFAULT_STALL_SECONDS;
}
