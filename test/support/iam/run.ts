/**
 * Runs a command in this process, as the container or a Lambda function runs it in AWS, so that the recorder sees
 * every SDK client it creates: the CLI's own `main` (what the Fargate tasks and an operator run) and the ops
 * handler's `handleEvent` (what both functions run). The environment is the one the stack gives it, pointed at the
 * local emulator and database.
 */
import { main } from '../../../src/cli/program';
import { contextFrom, handleEvent } from '../../../lambda/ops/handler';
import type { OpsResult } from '../../../lambda/ops/types';

export interface RunOutput {
  code: number;
  stdout: string;
  stderr: string;
}

async function withEnv<T>(env: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  const saved = { ...process.env };
  for (const k of Object.keys(process.env)) if (/^(AWS_|PG|DATABASE_URL$|BACKUP_|REPLICA_|RESTORE_TEST_|BATCH_|ECS_|TASK_|WEB_SERVICE$|PROMOTE_)/.test(k)) delete process.env[k];
  Object.assign(process.env, env);
  try {
    return await fn();
  } finally {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
  }
}

/** `meatbackup <argv>` in this process; its output is captured, not printed. */
export async function runCommand(argv: string[], env: Record<string, string>): Promise<RunOutput> {
  return withEnv(env, async () => {
    let stdout = '';
    let stderr = '';
    const out = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      stdout += chunk.toString();
      return true;
    });
    const err = jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      stderr += chunk.toString();
      return true;
    });
    try {
      const code = await main(argv);
      return { code, stdout, stderr };
    } finally {
      out.mockRestore();
      err.mockRestore();
      // A command may set the exit code for the process it expects to own; this one is jest's.
      process.exitCode = undefined;
    }
  });
}

/** One event through the ops handler with the clients the handler itself would create in that environment. */
export async function runEvent(event: unknown, env: Record<string, string>): Promise<OpsResult> {
  return withEnv(env, async () => {
    const log = jest.spyOn(console, 'log').mockImplementation(() => undefined);
    const error = jest.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      return await handleEvent(event, contextFrom(process.env));
    } finally {
      log.mockRestore();
      error.mockRestore();
    }
  });
}
