/**
 * pg_dump as a child process: plain SQL on stdout, its messages captured from stderr so a failure can be reported
 * in pg_dump's own words. The connection travels in the environment (libpqEnv): the password never appears in argv.
 */
import { execFile, spawn } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { type Connection, libpqEnv } from '../postgres/connection';

export interface DumpExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** What pg_dump wrote on stderr (the last 64 KiB of it). */
  stderr: string;
  /** Set when it could not be started at all. */
  spawnError?: Error;
}

export interface DumpProcess {
  pid: number | undefined;
  /** The SQL. Read it, or pg_dump blocks on a full pipe: that is the backpressure. */
  stdout: Readable;
  /** Its standard input, when started with `stdin: 'pipe'`. */
  stdin?: Writable;
  /** Resolves once pg_dump has exited and its output streams are closed; never rejects. */
  exit: Promise<DumpExit>;
  /** Stops pg_dump (SIGTERM, then SIGKILL after a grace period) if it is still running. */
  kill(): void;
  /** True once kill() was called while it still ran: a failure after that is not its own. */
  readonly killed: boolean;
  /** True once it has exited. */
  readonly exited: boolean;
}

const STDERR_LIMIT = 64 * 1024;
const KILL_GRACE_MS = 3000;

/** The arguments of a plain-format dump of the connection's database. */
export function dumpArguments(extra: readonly string[] = []): string[] {
  // --no-password: fail at once instead of waiting for a prompt nobody will answer.
  return ['--format=plain', '--no-password', ...extra];
}

/**
 * pg_dump writes through stdio with a 4 KiB buffer (the pipe's block size), so its output arrives in ~9 KiB reads:
 * ~80,000 of them for 750 MB, each a trip through Node's stream machinery. `stdbuf -o 1M` (coreutils) gives it a
 * 1 MiB buffer instead: 64 KiB reads, about a fifth of the reading CPU here, and fewer write calls in pg_dump.
 * Used only when `stdbuf` runs this very pg_dump (`--version`) correctly; otherwise pg_dump runs as is.
 */
export function outputBufferPrefix(pgDump: string): Promise<string[]> {
  const prefix = ['stdbuf', '-o', '1M'];
  return new Promise((resolve) => {
    execFile(prefix[0], [...prefix.slice(1), pgDump, '--version'], { timeout: 10_000 }, (err, stdout) => {
      resolve(!err && /\(PostgreSQL\)/.test(String(stdout)) ? prefix : []);
    });
  });
}

/** Starts `pgDump`; `prefix` (from {@link outputBufferPrefix}) is a program that runs it, e.g. stdbuf. */
export function startDump(pgDump: string, conn: Connection, extraArgs: readonly string[] = [], prefix: readonly string[] = []): DumpProcess {
  return startTool([...prefix, pgDump, ...dumpArguments(extraArgs)], conn);
}

/** Starts a libpq tool (`argv[0]`) talking to `conn`, with its output on a pipe and its messages captured. */
export function startTool(argv: readonly string[], conn: Connection): DumpProcess {
  return startChild(argv, { env: libpqEnv(conn) });
}

export interface ChildOptions {
  env?: NodeJS.ProcessEnv;
  /**
   * Its standard input: another process's output pipe, handed over (the parent's end is closed), or 'pipe' to write
   * it from here ({@link DumpProcess.stdin}); none by default.
   */
  stdin?: Readable | Writable | 'pipe';
}

/**
 * Keeps a child's output for a reader that starts later. When a child exits before anything listens to its stdout,
 * Node resumes the stream and its bytes are discarded (child_process flushStdio); a small database compressed before
 * the upload has started reading came out as 0 bytes. A 'readable' listener marks the stream as read, and the stream
 * still buffers only to its high-water mark, so the child is held back by the pipe as before.
 */
export function keepUntilRead<T extends Readable>(stream: T): T {
  stream.on('readable', () => undefined);
  return stream;
}

/** Starts `argv[0]` with its output on a pipe and its messages captured. */
export function startChild(argv: readonly string[], options: ChildOptions = {}): DumpProcess {
  const child = spawn(argv[0], argv.slice(1), {
    env: options.env ?? process.env,
    stdio: [options.stdin ?? 'ignore', 'pipe', 'pipe'],
  });
  // The child holds the pipe now; were the parent to keep its end open too, the writer would block instead of
  // failing (EPIPE) when this child dies.
  if (options.stdin && options.stdin !== 'pipe') options.stdin.destroy();
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => {
    stderr = (stderr + d).slice(-STDERR_LIMIT);
  });
  let exited = false;
  let killed = false;
  let spawnError: Error | undefined;
  const exit = new Promise<DumpExit>((resolve) => {
    child.on('error', (err) => {
      spawnError = err;
      // 'close' may never come for a process that did not start.
      if (child.pid === undefined) {
        exited = true;
        resolve({ code: null, signal: null, stderr, spawnError });
      }
    });
    child.on('close', (code, signal) => {
      exited = true;
      resolve({ code, signal, stderr, ...(spawnError ? { spawnError } : {}) });
    });
  });
  return {
    pid: child.pid,
    stdout: child.stdout!,
    ...(child.stdin ? { stdin: child.stdin } : {}),
    exit,
    get killed() {
      return killed;
    },
    get exited() {
      return exited;
    },
    kill() {
      if (exited || child.exitCode !== null || child.signalCode !== null) return;
      killed = true;
      child.kill('SIGTERM');
      const timer = setTimeout(() => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      }, KILL_GRACE_MS);
      timer.unref();
      // Nobody reads the output any more; let the tool see a closed pipe rather than block on it.
      child.stdout!.destroy();
    },
  };
}

/** A tool's stderr without its "<program>: " prefixes (pg_dump's by default), folded to one line. */
export function dumpMessages(stderr: string, program = 'pg_dump'): string {
  const prefix = new RegExp(`^${program}: `);
  return stderr
    .split('\n')
    .map((l) => l.replace(prefix, '').trim().replace(/\.$/, ''))
    .filter(Boolean)
    .join('; ');
}

/** Why a dump failed, in one line that carries the tool's own error text (pg_dump's, or pg_dumpall's). */
export function describeDumpFailure(exit: DumpExit, path: string, program = 'pg_dump'): string {
  if (exit.spawnError) return `could not start ${path}: ${exit.spawnError.message}`;
  const how = exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
  const said = dumpMessages(exit.stderr, program);
  return `${program} ${how}${said ? `: ${said}` : ' without saying why'}`;
}
