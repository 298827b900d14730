/**
 * Failures the operator can act on. The CLI prints `meatbackup: <message>` and exits with `exitCode`;
 * anything else is a bug and is reported with a hint to rerun with --debug.
 */
export class UserError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = 1,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'UserError';
  }
}

/** Exit codes: 1 for a failed operation, 2 for bad usage or input, 130/143 for signals. */
export const EXIT = { failed: 1, usage: 2, interrupted: 130, terminated: 143 } as const;

export function usageError(message: string): UserError {
  return new UserError(message, EXIT.usage);
}

/** One line, whatever the error: newlines from child processes or SDK messages are folded. */
export function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, '; ').trim();
}
