/**
 * A scheduled job that is one of the CLI's own commands (`backup --json`, `restore-test latest --json`), run as a
 * child process of this same CLI, started as this one was (the same Node and V8 settings), exactly as a Fargate task
 * runs it: its JSON log lines and its metric record pass through to this process's stderr unchanged (the container's
 * log), its JSON result is read from its stdout, and its own `meatbackup: …` line is the run's summary when it fails.
 * A run in its own process gives back all its memory when it ends, and cannot take the scheduler down with it.
 *
 * When the run's signal aborts (the scheduler is stopped), the child gets SIGTERM and its own cleanup (abort the
 * upload, drop the scratch database); if it has not ended after `killAfterMs`, SIGKILL.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Environment } from '../settings';
import type { JobOutcome, RunJob } from './scheduler';
import type { JobName } from './jobs';

export interface CommandRunnerOptions {
  /** The arguments of each job that runs as a command. */
  commands: Partial<Record<JobName, readonly string[]>>;
  /** What the child inherits: the environment this process was given. */
  env: Environment;
  /** Node, its flags, and the CLI's entry file. @default this process's */
  node?: { execPath: string; execArgv: readonly string[]; script: string };
  /** Where the child's log lines go. @default process.stderr */
  stderr?: NodeJS.WritableStream;
  /** @default 20000: the CLI's own cleanup gets 10 s after SIGTERM */
  killAfterMs?: number;
}

function parseResult(stdout: string): unknown {
  const text = stdout.trim();
  if (!text) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** What a successful run's JSON says in a few words: its own summary, or the key it wrote or checked. */
function describeResult(result: unknown): string {
  if (result === null || typeof result !== 'object') return 'done';
  const r = result as Record<string, unknown>;
  if (typeof r.summary === 'string') return r.summary;
  const key = typeof r.key === 'string' ? r.key : typeof r.backupKey === 'string' ? r.backupKey : undefined;
  return key ?? 'done';
}

export function commandRunner(options: CommandRunnerOptions): RunJob {
  const node = options.node ?? { execPath: process.execPath, execArgv: process.execArgv, script: process.argv[1] };
  const stderr = options.stderr ?? process.stderr;
  const killAfterMs = options.killAfterMs ?? 20_000;
  return (job, signal) =>
    new Promise<JobOutcome>((resolve) => {
      const args = options.commands[job.name];
      if (!args) {
        resolve({ ok: false, exitCode: 1, summary: `${job.name} is not a command this scheduler runs: this is a bug` });
        return;
      }
      const child = spawn(node.execPath, [...node.execArgv, node.script, ...args], { env: { ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let lastError: string | undefined;
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        stdout += chunk;
      });
      const lines = createInterface({ input: child.stderr });
      lines.on('line', (line) => {
        stderr.write(`${line}\n`);
        if (line.startsWith('meatbackup: ')) lastError = line.slice('meatbackup: '.length);
      });
      let killer: NodeJS.Timeout | undefined;
      const onAbort = (): void => {
        child.kill('SIGTERM');
        killer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      if (signal.aborted) onAbort();
      let settled = false;
      const done = (code: number | null, sig: NodeJS.Signals | null, spawnError?: Error): void => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        if (killer) clearTimeout(killer);
        const exitCode = code ?? (sig === 'SIGKILL' ? 137 : 143);
        const result = parseResult(stdout);
        if (spawnError) {
          resolve({ ok: false, exitCode: 1, summary: `could not start ${node.script}: ${spawnError.message}` });
        } else if (exitCode === 0) {
          resolve({ ok: true, exitCode, summary: describeResult(result), ...(result !== undefined ? { result } : {}) });
        } else {
          const why = lastError ?? (sig ? `ended by ${sig}` : 'no error line');
          resolve({ ok: false, exitCode, summary: why, ...(result !== undefined ? { result } : {}) });
        }
      };
      child.once('error', (err) => done(null, null, err));
      // 'close', not 'exit': every line of its stderr has been passed on by then.
      child.once('close', (code, sig) => done(code, sig));
    });
}
