/**
 * SIGINT/SIGTERM become an AbortSignal that long operations watch, so they can clean up (abort a multipart
 * upload, drop a half-restored database) and exit non-zero. A second signal exits at once, and so does the first
 * one's cleanup if it has not ended the process within CLEANUP_GRACE_MS: whatever it waits for (a frozen endpoint),
 * a stopped task must stop well inside ECS's stopTimeout (30 s by default).
 */
const controller = new AbortController();
let installed = false;

/** How long cleanup after a signal may take before the process exits anyway. */
export const CLEANUP_GRACE_MS = 10_000;
let graceMs = CLEANUP_GRACE_MS;

/**
 * A longer grace for a process whose cleanup is another process's: `meatbackup schedule` waits for its running job,
 * which has CLEANUP_GRACE_MS of its own after the SIGTERM it passes on.
 */
export function setCleanupGrace(ms: number): void {
  graceMs = ms;
}

export class Interrupted extends Error {
  constructor(readonly signal: NodeJS.Signals) {
    super(`interrupted by ${signal}`);
    this.name = 'Interrupted';
  }
}

export function installSignalHandlers(): void {
  if (installed) return;
  installed = true;
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      const code = sig === 'SIGINT' ? 130 : 143;
      if (controller.signal.aborted) process.exit(code);
      controller.abort(new Interrupted(sig));
      setTimeout(() => {
        process.stderr.write(`meatbackup: interrupted by ${sig}; cleanup did not finish within ${graceMs / 1000}s, exiting anyway: check for a half-done step (an open multipart upload, a restore's fresh database)\n`);
        process.exit(code);
      }, graceMs).unref();
    });
  }
}

/** Aborted when the process is asked to stop. */
export function shutdownSignal(): AbortSignal {
  return controller.signal;
}
