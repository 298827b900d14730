/**
 * The one moment a restore becomes final: the COMMIT of the swap (or of the rename into a new name). Before it an
 * interrupt, a stall or a lost restore lock stops the restore and the live database stays as it was; after it the
 * swap is done, and an interrupt can only be told that it came too late. What is checked is checked inside the
 * swap's transaction, just before COMMIT, on the lock's own session, so nothing can change between check and commit.
 */
import type { Client } from 'pg';
import type { Logger } from '../core/log';
import { Interrupted } from '../core/signals';

export interface CommitPoint {
  /** For SwapOptions.beforeCommit: throws (rolling the swap back) when the lock is lost or the run was stopped. */
  beforeCommit(client: Client): Promise<void>;
  /** True once beforeCommit has passed: from then on the swap finishes whatever happens. */
  readonly passed: boolean;
  /** Stops listening for interrupts (the run is over). */
  close(): void;
}

/**
 * `stillHeld` checks the restore lock on the session the swap runs on (RestoreLock.onSession); `signal` is the run's
 * (interrupts, stalls, a lost lock).
 */
export function commitPoint(stillHeld: () => Promise<void>, signal: AbortSignal | undefined, logger: Logger): CommitPoint {
  let passed = false;
  const tooLate = (): void => {
    const reason: unknown = signal?.reason;
    if (reason instanceof Interrupted) logger.warn(`interrupt received (${reason.signal}): the swap has begun and will finish`);
  };
  return {
    async beforeCommit() {
      await stillHeld();
      if (signal?.aborted) throw signal.reason;
      passed = true;
      signal?.addEventListener('abort', tooLate, { once: true });
    },
    get passed() {
      return passed;
    },
    close() {
      signal?.removeEventListener('abort', tooLate);
    },
  };
}
