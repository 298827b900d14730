/**
 * The services stopped while the databases swap names: the runbook's "stop web … start web", whatever runs them. A
 * restore knows only this interface; which implementation it gets (ECS: ./web-service.ts, Docker Compose:
 * ./compose-services.ts) is decided where the command starts (src/cli/stopped-services.ts, the restore task's flags).
 */
import type { Fields } from '../core/log';

export interface StopOptions {
  /** The run's signal: stopping ends early when it aborts (the services are started again all the same). */
  signal?: AbortSignal;
  log?: (message: string, fields?: Fields) => void;
}

export interface WhileStopped<T> {
  result: T;
  /** What was started again, as the result line shows it: `web, worker (2 containers)`, `meat/web (desired count 3)`. */
  restarted: string;
}

export interface StoppedServices {
  /** How the plan names them: `ECS service meat/web`, `Compose services web, worker of project meat`. */
  readonly description: string;
  /**
   * Called when the plan is made, before any byte is loaded: the services exist, their manager answers, and this
   * process may stop and start them. Changes nothing; a problem is one line (a UserError) saying what to fix.
   */
  check(signal?: AbortSignal): Promise<void>;
  /**
   * Stops the services, waits until they have stopped (so none holds a connection), runs `fn`, and starts exactly
   * those it stopped again whatever happens: success, failure, or the signal. A failure to start them again is in
   * the error, with the command that does it by hand.
   */
  whileStopped<T>(fn: () => Promise<T>, options?: StopOptions): Promise<WhileStopped<T>>;
}
