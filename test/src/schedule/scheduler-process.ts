/** `meatbackup schedule` as a child process, for the tests that run it as the Compose service does. */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { CLI } from '../../support/cli';
import { stderrLines } from '../backup/fixtures';

export interface SchedulerProcess {
  child: ChildProcessWithoutNullStreams;
  stderr: () => string;
  /** Resolves with the first JSON log line that matches. */
  line: (match: (r: Record<string, unknown>) => boolean, timeoutMs?: number) => Promise<Record<string, unknown>>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function startScheduler(args: string[], env: NodeJS.ProcessEnv): SchedulerProcess {
  const child = spawn(process.execPath, [CLI, 'schedule', ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout.resume();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  const line = async (match: (r: Record<string, unknown>) => boolean, timeoutMs = 60_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = stderrLines(stderr).json.find(match);
      if (found) return found;
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`no such log line; stderr so far:\n${stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  return { child, stderr: () => stderr, line, exited };
}
