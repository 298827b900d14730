/**
 * The compressing half of a backup: pg_dump's plain SQL becomes gzip, with one of two compressors.
 *
 * - `isal`: `pg_dump | igzip -<level> -c`, the two processes joined by an OS pipe, so the 750 MB of SQL of the
 *   reference dump never pass through Node (relaying them cost 1.5 CPU-s more than the pipe, measured). Node reads
 *   only the compressed bytes. The SQL size the manifest records comes from the gzip trailer (ISIZE: the length
 *   modulo 2^32) and, to tell which multiple of 4 GiB, from what pg_dump has written so far as the kernel counts it
 *   (`wchar` in /proc/<pid>/io, sampled as the output flows). Where /proc cannot tell (not Linux), Node relays the
 *   SQL into igzip and counts it.
 * - `zlib`: Node reads the SQL and compresses it in 1 MiB gzip members on the threadpool (gzip-members.ts).
 *
 * Either way the output is read only as fast as it is consumed: the upload's backpressure reaches pg_dump.
 */
import { readFileSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { UserError } from '../core/errors';
import type { Connection } from '../postgres/connection';
import type { Compressor } from '../gzip/choice';
import { type DumpExit, type DumpProcess, describeDumpFailure, dumpMessages, keepUntilRead, startChild, startDump } from './dump-process';
import { DEFAULT_CONCURRENCY, DEFAULT_MEMBER_BYTES, type GzipStats, gzipMembers } from './gzip-members';

export interface DumpPipelineOptions {
  pgDumpPath: string;
  conn: Connection;
  /** Extra pg_dump arguments (the snapshot). */
  dumpArgs: readonly string[];
  /** A program that runs pg_dump (stdbuf), from outputBufferPrefix. */
  prefix: readonly string[];
  compressor: Compressor;
  level: number;
  /** zlib only. */
  memberBytes?: number;
  /** zlib only. */
  concurrency?: number;
}

export interface DumpPipeline {
  /** The gzip bytes, in order. Stop iterating and the processes are left to kill(). */
  output: AsyncIterable<Buffer>;
  /** SQL bytes pg_dump has written so far (as well as the pipeline can tell while it runs; exact once settled). */
  sqlBytes(): number;
  pgDump: DumpProcess;
  /** The compressor process, for isal. */
  igzip?: DumpProcess;
  kill(): void;
  /**
   * Waits for every process to exit. Throws one line naming the process that failed first on its own (pg_dump,
   * or igzip), or `outputError` when the consumer failed first. Returns pg_dump's warnings and the exact SQL size.
   */
  settle(outputError?: { error: unknown; exitedBefore: { pgDump: boolean; igzip: boolean } }): Promise<{ warnings: string; sqlBytes: number }>;
}

const TWO_POW_32 = 2 ** 32;

/** Bytes a process has written (write(2) and friends, its stdout and stderr), as the kernel counts them; undefined where /proc cannot tell. */
export function writtenBytes(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const m = /^wchar: (\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The length whose value modulo 2^32 is `isize` (the gzip trailer) nearest to `approximate`. Exact as long as the
 * approximation is off by less than 2 GiB: it is sampled at least every quarter second, and at every output chunk.
 */
export function lengthFromTrailer(isize: number, approximate: number): number {
  const wraps = Math.max(0, Math.round((approximate - isize) / TWO_POW_32));
  return isize + wraps * TWO_POW_32;
}

export function startDumpPipeline(options: DumpPipelineOptions): DumpPipeline {
  return options.compressor.name === 'isal' && options.compressor.igzipPath ? startIsal(options, options.compressor.igzipPath) : startZlib(options);
}

function startZlib(options: DumpPipelineOptions): DumpPipeline {
  const pgDump = startDump(options.pgDumpPath, options.conn, options.dumpArgs, options.prefix);
  const stats: GzipStats = { inputBytes: 0, members: 0 };
  const output = gzipMembers(keepUntilRead(pgDump.stdout), {
    level: options.level,
    memberBytes: options.memberBytes ?? DEFAULT_MEMBER_BYTES,
    concurrency: options.concurrency ?? DEFAULT_CONCURRENCY,
  }, stats);
  return {
    output,
    sqlBytes: () => stats.inputBytes,
    pgDump,
    kill: () => pgDump.kill(),
    settle: async (outputError) => {
      const exit = await pgDump.exit;
      const failed = ownFailure(pgDump, exit);
      if (failed && (!outputError || outputError.exitedBefore.pgDump)) throw new UserError(describeDumpFailure(exit, options.pgDumpPath));
      if (outputError) throw outputError.error;
      return { warnings: dumpMessages(exit.stderr), sqlBytes: stats.inputBytes };
    },
  };
}

function startIsal(options: DumpPipelineOptions, igzipPath: string): DumpPipeline {
  const pgDump = startDump(options.pgDumpPath, options.conn, options.dumpArgs, options.prefix);
  const igzipArgs = [igzipPath, `-${options.level}`, '-c'];
  const counted = writtenBytes(pgDump.pid) !== undefined;
  let relayed = 0;
  let igzip: DumpProcess;
  if (counted) {
    igzip = startChild(igzipArgs, { stdin: pgDump.stdout });
  } else {
    // No /proc: relay the SQL through Node and count it on the way.
    igzip = startChild(igzipArgs, { stdin: 'pipe' });
    relaySql(pgDump.stdout, igzip, (n) => (relayed += n));
  }

  let sampled = 0;
  const sample = (): void => {
    const n = writtenBytes(pgDump.pid);
    if (n !== undefined) sampled = n;
  };
  const timer = counted ? setInterval(sample, 250) : undefined;
  timer?.unref();
  const stopSampling = (): void => {
    if (timer) clearInterval(timer);
  };
  void pgDump.exit.then(stopSampling);

  const trailer = Buffer.alloc(8);
  let trailerFill = 0;
  async function* read(stdout: Readable): AsyncGenerator<Buffer> {
    for await (const chunk of stdout as AsyncIterable<Buffer>) {
      if (counted && !pgDump.exited) sample();
      // The last 8 bytes seen: CRC32 and ISIZE of the (single) gzip member igzip writes.
      if (chunk.length >= 8) {
        chunk.copy(trailer, 0, chunk.length - 8);
        trailerFill = 8;
      } else {
        trailer.copy(trailer, 0, chunk.length);
        chunk.copy(trailer, 8 - chunk.length);
        trailerFill = Math.min(8, trailerFill + chunk.length);
      }
      yield chunk;
    }
  }
  const sqlBytes = (): number => (counted ? sampled : relayed);

  return {
    output: read(keepUntilRead(igzip.stdout)),
    sqlBytes,
    pgDump,
    igzip,
    kill: () => {
      stopSampling();
      pgDump.kill();
      igzip.kill();
    },
    settle: async (outputError) => {
      const [dumpExit, igzipExit] = await Promise.all([pgDump.exit, igzip.exit]);
      stopSampling();
      const before = outputError?.exitedBefore ?? { pgDump: true, igzip: true };
      const dumpFailed = ownFailure(pgDump, dumpExit) && before.pgDump;
      const igzipFailed = ownFailure(igzip, igzipExit) && before.igzip;
      // A pg_dump that failed for a reason of its own (a killed backend, a permission) is the story even when igzip
      // then failed too; a pg_dump that only lost its pipe is not: igzip's death is.
      if (dumpFailed && !brokenPipe(dumpExit)) throw new UserError(describeDumpFailure(dumpExit, options.pgDumpPath));
      if (igzipFailed) throw new UserError(`${describeDumpFailure(igzipExit, igzipPath, 'igzip')} (the compressor, ISA-L: ${igzipPath})`);
      if (dumpFailed) throw new UserError(describeDumpFailure(dumpExit, options.pgDumpPath));
      if (outputError) throw outputError.error;
      if (trailerFill < 8) throw new UserError(`igzip (${igzipPath}) wrote no complete gzip stream: its output ended after ${trailerFill} bytes`);
      return { warnings: dumpMessages(dumpExit.stderr), sqlBytes: counted ? lengthFromTrailer(trailer.readUInt32LE(4), sampled) : relayed };
    },
  };
}

/** Failed (non-zero, a signal, or not started) without having been told to stop. */
function ownFailure(proc: DumpProcess, exit: DumpExit): boolean {
  return !proc.killed && (exit.code !== 0 || exit.spawnError !== undefined);
}

function brokenPipe(exit: DumpExit): boolean {
  return exit.signal === 'SIGPIPE' || /broken pipe/i.test(exit.stderr);
}

/** Copies `from` into `to`'s stdin with backpressure, counting bytes; closes the stdin at the end. */
function relaySql(from: Readable, to: DumpProcess, count: (n: number) => void): void {
  const stdin = to.stdin;
  if (!stdin) return;
  stdin.on('error', () => undefined); // EPIPE when igzip dies: its exit status tells
  from.on('data', (chunk: Buffer) => {
    count(chunk.length);
    if (!stdin.write(chunk)) {
      from.pause();
      stdin.once('drain', () => from.resume());
    }
  });
  from.on('end', () => stdin.end());
}
