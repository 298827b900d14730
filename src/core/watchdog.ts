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
  /** What the operation is waiting for right now, e.g. "S3 upload of part 7"; undefined when the wait is legitimate. */
  waitingFor: () => string | undefined;
  /** Aborts with it too (the process's shutdown signal). */
  parent?: AbortSignal;
}

export class StallWatchdog {
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout | undefined;
  private last = Date.now();
  private readonly onParentAbort = (): void => this.abort(this.parent?.reason);
  private readonly parent: AbortSignal | undefined;

  constructor(private readonly options: WatchdogOptions) {
    this.parent = options.parent;
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

  /** Stops watching; the signal stays as it is. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.parent?.removeEventListener('abort', this.onParentAbort);
  }

  private check(ms: number): void {
    if (this.controller.signal.aborted || Date.now() - this.last < ms) return;
    const what = this.options.waitingFor();
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
