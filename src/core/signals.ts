/**
 * SIGINT/SIGTERM become an AbortSignal that long operations watch, so they can clean up (abort a multipart
 * upload, drop a half-restored database) and exit non-zero. A second signal exits at once.
 */
const controller = new AbortController();
let installed = false;

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
      if (controller.signal.aborted) process.exit(sig === 'SIGINT' ? 130 : 143);
      controller.abort(new Interrupted(sig));
    });
  }
}

/** Aborted when the process is asked to stop. */
export function shutdownSignal(): AbortSignal {
  return controller.signal;
}
