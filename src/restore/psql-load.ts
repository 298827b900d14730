/**
 * Loads plain SQL into a database with `psql`, exactly as the runbook's manual `gunzip -c file | psql` does, but
 * stopping at the first error (`ON_ERROR_STOP=1`), ignoring ~/.psqlrc, and reporting psql's own error line.
 *
 * psql runs every statement it has read once its input ends, even an incomplete last one, so a failed or
 * interrupted load never closes psql's input: psql is killed first. That holds with igzip in front of psql too: igzip
 * writes into psql's input pipe, whose other write end this process keeps until igzip has exited 0, so igzip dying
 * mid-stream never ends psql's input. The database being loaded is a fresh one that the caller drops on any failure,
 * so what psql committed before it died does not matter.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { igzipDecompressFailure, startIgzipDecompress } from '../gzip/decompress';
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
export const LOAD_SETTINGS = '-c synchronous_commit=off';

export class PsqlFailed extends UserError {
  constructor(
    message: string,
    readonly psqlExitCode: number,
    /** psql was connected and loading when its connection ended (its backend terminated, the server restarted). */
    readonly connectionLost = false,
  ) {
    super(message, 1);
    this.name = 'PsqlFailed';
  }
}

/** Keeps psql's first error and the last few lines of what it printed on stderr. */
class StderrTail {
  private tail: string[] = [];
  private partial = '';
  firstError: string | undefined;
  /**
   * The line of the SQL psql was at when its connection ended mid-load: psql says so with its input position
   * (`psql:<stdin>:1550113: error: connection to server was lost`), which a failed connect never has.
   */
  lostAtLine: number | undefined;
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
    const lost = /^psql:[^:]*:(\d+): (?:error: )?(?:connection to server was lost|server closed the connection unexpectedly)/.exec(line);
    if (lost && this.lostAtLine === undefined) this.lostAtLine = Number(lost[1]);
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

/**
 * Writes into a child's stdin with backpressure (psql's, or igzip's in front of psql); on failure runs `kill` (psql
 * first) before that input can end.
 */
class StdinSink extends Writable {
  constructor(
    private readonly child: ChildProcess,
    name: string,
    private readonly kill: () => void,
  ) {
    super({ highWaterMark: 1 << 20 });
    child.stdin!.on('error', () => undefined); // EPIPE when the child stops early: its exit code tells the story
    child.once('exit', () => {
      if (!this.writableFinished) this.destroy(new Error(`${name} exited before the backup was fully loaded`));
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
    if (error) this.kill();
    this.child.stdin!.destroy();
    callback(error);
  }
}

export interface LoadOptions {
  /** Where to load: the fresh database. */
  conn: Connection;
  /**
   * Stages producing psql's input (e.g. S3 body → checksum → gunzip); the input of psql, or of igzip in front of it,
   * is appended as the last one.
   */
  stages: ReadonlyArray<NodeJS.ReadableStream | NodeJS.ReadWriteStream>;
  /**
   * ISA-L's igzip, to decompress between the stages (which then produce gzip) and psql: `igzip -d` writes straight
   * into psql's input through an OS pipe, so the SQL, five times the gzip, never passes through Node.
   */
  igzipPath?: string;
  signal?: AbortSignal;
  /** @default findPsql(): the newest under /usr/lib/postgresql */
  psqlPath?: string;
  /** Every stderr line psql prints (WARNINGs and NOTICEs the dump raises). */
  onStderrLine?: (line: string) => void;
  /** Session settings (`-c name=value …`, as PGOPTIONS). @default LOAD_SETTINGS */
  settings?: string;
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  error?: Error;
}

function exitOf(child: ChildProcess): Promise<Exit> {
  return new Promise((resolve) => {
    child.once('error', (error) => resolve({ code: null, signal: null, error }));
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
}

/** Streams the SQL into psql; resolves when psql exited 0 after reading all of it, rejects with psql's error otherwise. */
export async function psqlLoad(options: LoadOptions): Promise<void> {
  const psqlPath = options.psqlPath ?? findPsql();
  const env = libpqEnv(options.conn);
  env.PGOPTIONS = [env.PGOPTIONS, options.settings ?? LOAD_SETTINGS].filter(Boolean).join(' ');
  const child = spawn(psqlPath, [...PSQL_LOAD_ARGS], { env, stdio: ['pipe', 'ignore', 'pipe'] });
  const stderr = new StderrTail(options.onStderrLine);
  child.stderr!.on('data', (d: Buffer) => stderr.push(d));
  const exited = exitOf(child);
  child.stdin!.on('error', () => undefined); // EPIPE when psql stops early: its exit code tells the story
  // igzip writes into psql's stdin, whose other write end stays here (never written to) until igzip has exited 0.
  const igzipStarted = options.igzipPath ? startIgzipDecompress(options.igzipPath, child.stdin!) : undefined;
  const igzip = igzipStarted && { ...igzipStarted, exit: exitOf(igzipStarted.child) };

  // Interrupted or failed at any point, even after all input was written and psql is still executing it: kill psql
  // first, so that it never sees its input end and runs a cut last statement; then igzip.
  const kill = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    if (igzip && igzip.child.exitCode === null && igzip.child.signalCode === null) igzip.child.kill('SIGKILL');
  };
  // psql's input ends when igzip has written all of it (exit 0); igzip failing is a failed load.
  void igzip?.exit.then((exit) => {
    if (exit.code !== 0) kill();
    child.stdin!.destroy();
  });
  options.signal?.addEventListener('abort', kill, { once: true });
  let streamError: unknown;
  try {
    const sink = igzip ? new StdinSink(igzip.child, 'igzip', kill) : new StdinSink(child, 'psql', kill);
    await pipeline([...options.stages, sink], options.signal ? { signal: options.signal } : {});
  } catch (err) {
    streamError = err;
  }
  const [exit, igzipExit] = await Promise.all([exited, igzip?.exit]);
  options.signal?.removeEventListener('abort', kill);
  stderr.end();
  if (options.signal?.aborted) throw options.signal.reason;

  if (exit.error) {
    throw new UserError(`cannot run ${psqlPath} (${(exit.error as NodeJS.ErrnoException).code ?? exit.error.message}): install the PostgreSQL client`, 1, { cause: exit.error });
  }
  // psql's own error (a failed statement) is the story even when the input it stopped reading then failed too.
  const psqlFailedOnItsOwn = exit.code !== null && exit.code !== 0;
  if (psqlFailedOnItsOwn && stderr.firstError) throw psqlFailed(exit, stderr);
  // igzip's own failure (the input is not valid gzip): an exit code of its own, not our SIGKILL nor the lost pipe of a
  // psql that died first.
  if (igzip && igzipExit && (igzipExit.error || (igzipExit.code !== null && igzipExit.code !== 0 && !psqlFailedOnItsOwn))) {
    throw igzipDecompressFailure(options.igzipPath!, igzipExit, igzip.said());
  }
  // An interruption or a failed input stage (checksum, gunzip, S3) is the cause even though psql was killed for it.
  if (streamError) throw streamError;
  if (exit.code === 0 && (!igzipExit || igzipExit.code === 0)) return;
  throw psqlFailed(exit, stderr);
}

function psqlFailed(exit: Exit, stderr: StderrTail): PsqlFailed {
  if (stderr.lostAtLine !== undefined) {
    // Exit 2 is also psql's code for a connection that never opened: this one opened, loaded, and was cut.
    const why = stderr.firstError && /\b(FATAL|PANIC):/.test(stderr.firstError) ? ` (${describePsqlLine(stderr.firstError).replace(/^line \d+ of the backup's SQL: /, '')})` : '';
    return new PsqlFailed(`the connection to the server was lost during the load, at line ${stderr.lostAtLine} of the backup's SQL${why}`, exit.code ?? 1, true);
  }
  const what = exit.code === 2 ? 'psql could not connect' : exit.code === 3 ? 'the backup\'s SQL failed' : 'psql failed';
  return new PsqlFailed(`${what} (exit ${exit.code ?? exit.signal}): ${describePsqlLine(stderr.summary() || 'no message')}`, exit.code ?? 1);
}
