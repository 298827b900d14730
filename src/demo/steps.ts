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

  /** The summary table: step, result, time, bytes. */
  table(): string {
    const rows = this.records.map((r) => [r.step, `${r.ok ? 'ok' : 'FAILED'}: ${r.result}`, `${r.seconds.toFixed(1)}s`, r.bytes !== undefined ? formatBytes(r.bytes) : '']);
    const header = ['step', 'result', 'time', 'bytes'];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    return formatTable([header, widths.map((w) => '─'.repeat(w)), ...rows], { alignRight: [2, 3] });
  }
}
