/** A logger that says nothing: for tests that call the runtime directly. Override a method to watch it. */
import type { Logger } from '../../src/core/log';

export function nullLogger(overrides: Partial<Logger> = {}): Logger {
  return { info: () => undefined, warn: () => undefined, progress: () => undefined, progressDone: () => undefined, metric: () => undefined, ...overrides };
}
