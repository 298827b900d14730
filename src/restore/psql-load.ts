/**
 * Loads plain SQL into a database with `psql`, exactly as the runbook's manual `gunzip -c file | psql` does, but
 * stopping at the first error (`ON_ERROR_STOP=1`), ignoring ~/.psqlrc, and reporting psql's own error line.
 *
 * psql runs every statement it has read once its input ends, even an incomplete last one, so a failed or
 * interrupted load never closes psql's input: psql is killed first. The database being loaded is a fresh one that
 * the caller drops on any failure, so what psql committed before it died does not matter.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { UserError } from '../core/errors';
import { type Connection, libpqEnv } from '../postgres/connection';
import { DEFAULT_PG_LIB_DIR, type PgPrograms, installedMajors } from '../postgres/tools';

/**
 * The psql to run: the newest one under PG_LIB_DIR (/usr/lib/postgresql/<major>/bin), else the one on PATH.
 * The newest client understands every dump an older or equal pg_dump wrote (e.g. the `\restrict` lines of recent
 * minor releases).
 */
export function findPsql(programs: Omit<PgPrograms, 'pgDumpPath'> = {}): string {
  const libDir = programs.libDir ?? DEFAULT_PG_LIB_DIR;
  const newest = installedMajors(libDir, 'psql').at(-1);
  if (newest !== undefined) return join(libDir, String(newest), 'bin', 'psql');
  for (const dir of (programs.path ?? '').split(delimiter)) {
    if (dir && existsSync(join(dir, 'psql'))) return join(dir, 'psql');
  }
  throw new UserError(`psql not found in ${libDir}/*/bin or on PATH: install the PostgreSQL client (apt-get install postgresql-client)`);
}

/** psql's arguments for a load: stop at the first error, no ~/.psqlrc, no result output. */
export const PSQL_LOAD_ARGS = ['--no-psqlrc', '--quiet', '-v', 'ON_ERROR_STOP=1', '--file=-'] as const;

/**
 * Session settings for the load. Commits need not wait for the disk: the swap that makes the database live is
 * an ordinary (synchronous) commit later, and flushing its WAL flushes everything the load wrote before it.
 */
const LOAD_PGOPTIONS = '-c synchronous_commit=off';

export class PsqlFailed extends UserError {
  constructor(message: string, readonly psqlExitCode: number) {
    super(message, 1);
    this.name = 'PsqlFailed';
  }
}

/** Keeps psql's first error and the last few lines of what it printed on stderr. */
class StderrTail {
  private tail: string[] = [];
  private partial = '';
  firstError: string | undefined;
  constructor(private readonly onLine?: (line: string) => void) {}
  push(chunk: Buffer): void {
    const lines = (this.partial + chunk.toString('utf8')).split('\n');
    this.partial = lines.pop() ?? '';
    for (const line of lines) this.line(line);
  }
  end(): void {
    if (this.partial) this.line(this.partial);
    this.partial = '';
  }
  private line(line: string): void {
    if (!line.trim()) return;
    if (!this.firstError && /\b(ERROR|FATAL|PANIC):|^psql: error:/.test(line)) this.firstError = line.trim();
    this.tail.push(line.trim());
    if (this.tail.length > 8) this.tail.shift();
    this.onLine?.(line);
  }
  summary(): string {
    return this.firstError ?? this.tail.slice(-3).join('; ');
  }
}

/** Makes psql's "psql:<stdin>:42: ERROR:  x" read as "line 42 of the backup: ERROR: x". */
function describePsqlLine(line: string): string {
  const m = /^psql:[^:]*:(\d+): (.*)$/.exec(line);
  return (m ? `line ${m[1]} of the backup's SQL: ${m[2]}` : line).replace(/\s{2,}/g, ' ');
}

/** Writes into psql's stdin with backpressure; on failure kills psql before its input can end. */
class PsqlSink extends Writable {
  constructor(private readonly child: ChildProcess) {
    super({ highWaterMark: 1 << 20 });
    child.stdin!.on('error', () => undefined); // EPIPE when psql stops early: the exit code tells the story
    child.once('exit', () => {
      if (!this.writableFinished) this.destroy(new Error('psql exited before the backup was fully loaded'));
    });
  }
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const stdin = this.child.stdin!;
    if (stdin.write(chunk)) {
      callback();
      return;
    }
    const done = (): void => {
      stdin.off('drain', done);
      this.child.off('exit', done);
      callback();
    };
    stdin.on('drain', done);
    this.child.on('exit', done);
  }
  override _final(callback: (error?: Error | null) => void): void {
    this.child.stdin!.end(callback);
  }
  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (error && this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    this.child.stdin!.destroy();
    callback(error);
  }
}

export interface LoadOptions {
  /** Where to load: the fresh database. */
  conn: Connection;
  /** Stages producing the SQL text (e.g. S3 body → checksum → gunzip); psql's input is appended as the last one. */
  stages: ReadonlyArray<NodeJS.ReadableStream | NodeJS.ReadWriteStream>;
  signal?: AbortSignal;
  /** @default findPsql(): the newest under /usr/lib/postgresql */
  psqlPath?: string;
  /** Every stderr line psql prints (WARNINGs and NOTICEs the dump raises). */
  onStderrLine?: (line: string) => void;
}

/** Streams the SQL into psql; resolves when psql exited 0 after reading all of it, rejects with psql's error otherwise. */
export async function psqlLoad(options: LoadOptions): Promise<void> {
  const psqlPath = options.psqlPath ?? findPsql();
  const env = libpqEnv(options.conn);
  env.PGOPTIONS = [env.PGOPTIONS, LOAD_PGOPTIONS].filter(Boolean).join(' ');
  const child = spawn(psqlPath, [...PSQL_LOAD_ARGS], { env, stdio: ['pipe', 'ignore', 'pipe'] });
  const stderr = new StderrTail(options.onStderrLine);
  child.stderr!.on('data', (d: Buffer) => stderr.push(d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>((resolve) => {
    child.once('error', (error) => resolve({ code: null, signal: null, error }));
    child.once('close', (code, signal) => resolve({ code, signal }));
  });

  // Interrupted at any point, even after all input was written and psql is still executing it: kill psql.
  const onAbort = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  options.signal?.addEventListener('abort', onAbort, { once: true });
  let streamError: unknown;
  try {
    await pipeline([...options.stages, new PsqlSink(child)], options.signal ? { signal: options.signal } : {});
  } catch (err) {
    streamError = err;
  }
  const exit = await exited;
  options.signal?.removeEventListener('abort', onAbort);
  stderr.end();
  if (options.signal?.aborted) throw options.signal.reason;

  if (exit.error) {
    throw new UserError(`cannot run ${psqlPath} (${(exit.error as NodeJS.ErrnoException).code ?? exit.error.message}): install the PostgreSQL client`, 1, { cause: exit.error });
  }
  // An interruption or a failed input stage (checksum, gunzip, S3) is the cause even though psql was killed for it.
  const psqlFailedOnItsOwn = exit.code !== null && exit.code !== 0;
  if (streamError && !(psqlFailedOnItsOwn && stderr.firstError)) throw streamError;
  if (exit.code === 0 && !streamError) return;
  const what = exit.code === 2 ? 'psql could not connect' : exit.code === 3 ? 'the backup\'s SQL failed' : 'psql failed';
  throw new PsqlFailed(
    `${what} (exit ${exit.code ?? exit.signal}): ${describePsqlLine(stderr.summary() || 'no message')}`,
    exit.code ?? 1,
  );
}
