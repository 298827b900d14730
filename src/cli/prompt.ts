/**
 * Confirmation for commands that change data: on a terminal they ask, without one they need --yes. One place, so
 * every destructive command treats "no terminal", "n" and Ctrl-C at the prompt the same way.
 */
import { createInterface } from 'node:readline';
import { usageError } from '../core/errors';

/** Whether a person can answer: both the input and the prompt's output are a terminal. */
export function canAsk(): boolean {
  return Boolean(process.stdin.isTTY && process.stderr.isTTY);
}

/** Refuses with `refusal` (which says what would change and to pass --yes) unless --yes was given or a person can answer. */
export function requireYesOrTerminal(yes: boolean | undefined, refusal: string): void {
  if (!yes && !canAsk()) throw usageError(refusal);
}

/** Asks on the terminal (stderr, so stdout stays clean); anything but y/yes, or Ctrl-C, is a no. */
export function askYes(question: string): Promise<boolean> {
  return new Promise((resolve) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    rl.on('SIGINT', () => {
      rl.close();
      resolve(false);
    });
    rl.question(question, (answer) => {
      rl.close();
      resolve(/^y(es)?$/i.test(answer.trim()));
    });
  });
}
