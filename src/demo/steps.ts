/**
 * The demo's step runner: each runbook step is timed, its result and byte count recorded, and the first failure
 * stops the run with the step's name, so `npm start` says exactly which part of the runbook broke.
 */
import { formatBytes, formatTable } from '../core/format';
import { UserError, oneLine } from '../core/errors';

export interface StepOutcome {
  /** One short line: what the step showed. */
  result: string;
  bytes?: number;
}

export interface StepRecord extends StepOutcome {
  step: string;
  ok: boolean;
  seconds: number;
}

export class StepFailed extends UserError {
  constructor(readonly step: string, cause: unknown) {
    super(`demo step "${step}" failed: ${oneLine(cause instanceof Error ? cause.message : String(cause))}`, 1, { cause });
  }
}

export class StepRunner {
  readonly records: StepRecord[] = [];

  constructor(private readonly say: (line: string) => void) {}

  async run(step: string, fn: () => Promise<StepOutcome>): Promise<StepOutcome> {
    this.say(`\n▶ ${step}`);
    const started = process.hrtime.bigint();
    const seconds = (): number => Number(process.hrtime.bigint() - started) / 1e9;
    try {
      const outcome = await fn();
      this.records.push({ step, ok: true, seconds: seconds(), ...outcome });
      this.say(`  ✔ ${outcome.result}`);
      return outcome;
    } catch (err) {
      this.records.push({ step, ok: false, seconds: seconds(), result: oneLine(err instanceof Error ? err.message : String(err)) });
      throw new StepFailed(step, err);
    }
  }

  /**
   * The summary table: step, time, bytes, result; the result (the long column) last and wrapped so that no line is
   * wider than `width` (the terminal's columns).
   */
  table(width = 100): string {
    const header = ['step', 'time', 'bytes', 'result'];
    const rows = this.records.map((r) => [r.step, `${r.seconds.toFixed(1)}s`, r.bytes !== undefined ? formatBytes(r.bytes) : '', `${r.ok ? 'ok' : 'FAILED'}: ${r.result}`]);
    const widths = header.slice(0, 3).map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    const room = Math.max(20, width - widths.reduce((a, b) => a + b + 2, 0));
    const lines: string[][] = [];
    for (const [step, time, bytes, result] of rows) {
      wrap(result, room).forEach((part, i) => lines.push(i === 0 ? [step, time, bytes, part] : ['', '', '', part]));
    }
    const resultWidth = Math.max(header[3].length, ...lines.map((l) => l[3].length));
    return formatTable([header, [...widths, resultWidth].map((w) => '─'.repeat(w)), ...lines], { alignRight: [1, 2] });
  }
}

/** Splits `text` at spaces into lines of at most `width` characters (a longer word gets a line of its own). */
export function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  lines.push(line);
  return lines;
}
