/**
 * The decompression stage of every read of a backup (verify, restore, restore test; chosen in ./choice.ts): `igzip -d` as a child process
 * when ISA-L is installed, else Node's zlib. Either is one Duplex in a stream pipeline: compressed bytes in, SQL out,
 * with backpressure both ways, and an error (that {@link isCorruptGzip} recognises) when the input is not valid gzip.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { Duplex, type Writable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { Compressor } from './choice';

const OUTPUT_CHUNK_BYTES = 256 * 1024;
const STDERR_LIMIT = 4096;

/** True for the error a decompression stage fails with when its input is not valid gzip (zlib's or igzip's). */
export function isCorruptGzip(err: unknown): boolean {
  const e = err as NodeJS.ErrnoException | undefined;
  return /^Z_|ERR_ZLIB|ERR_GZIP_INVALID/.test(e?.code ?? '') || /incorrect header check|invalid (block|distance|code|stored)|unexpected end of file/i.test(e?.message ?? '');
}

/** A fresh decompression stage for one pipeline. */
export function gunzipStage(decompressor: Compressor): Duplex {
  if (decompressor.name === 'isal' && decompressor.igzipPath) return new IgzipDecompress(decompressor.igzipPath);
  return createGunzip({ chunkSize: OUTPUT_CHUNK_BYTES });
}

/** `igzip -d -c` started, its output on a pipe or into `stdout` (another process's input), its complaints kept. */
export function startIgzipDecompress(path: string, stdout: 'pipe' | Writable = 'pipe'): { child: ChildProcess; said: () => string } {
  const child = spawn(path, ['-d', '-c'], { stdio: ['pipe', stdout, 'pipe'] });
  // EPIPE when igzip stops early (bad input): its exit status is the story.
  child.stdin!.on('error', () => undefined);
  let said = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => (said = (said + d).slice(-STDERR_LIMIT)));
  return { child, said: () => said };
}

/**
 * igzip -d's failure as one error: not started (ERR_IGZIP_SPAWN), killed (ERR_IGZIP_KILLED), or exited non-zero
 * complaining about its input (ERR_GZIP_INVALID, which isCorruptGzip recognises).
 */
export function igzipDecompressFailure(path: string, exit: { code: number | null; signal: NodeJS.Signals | null; error?: Error }, said: string): Error {
  if (exit.error) return Object.assign(new Error(`could not run ${path}: ${exit.error.message}`), { code: 'ERR_IGZIP_SPAWN' });
  const words = said.trim().replace(/\s+/g, ' ').replace(/^igzip: /, '');
  return Object.assign(new Error(`igzip -d ${exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`}${words ? `: ${words}` : ''}`), {
    // Exit 1 with a complaint about the input means the input is not valid gzip; a signal is not the data's fault.
    code: exit.signal ? 'ERR_IGZIP_KILLED' : 'ERR_GZIP_INVALID',
  });
}

/** `igzip -d -c` wrapped as a Duplex: what is written goes to its stdin, its stdout is what is read. */
class IgzipDecompress extends Duplex {
  private readonly child: ChildProcess;
  private readonly said: () => string;
  private pendingWrite: ((err?: Error | null) => void) | undefined;

  constructor(path: string) {
    super({ readableHighWaterMark: OUTPUT_CHUNK_BYTES });
    ({ child: this.child, said: this.said } = startIgzipDecompress(path));
    const stdout = this.child.stdout!;
    stdout.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) stdout.pause();
    });
    this.child.on('error', (error) => this.destroy(igzipDecompressFailure(path, { code: null, signal: null, error }, '')));
    this.child.on('close', (code, signal) => {
      const pending = this.pendingWrite;
      this.pendingWrite = undefined;
      if (code === 0) {
        pending?.();
        this.push(null);
        return;
      }
      if (this.destroyed) return;
      const err = igzipDecompressFailure(path, { code, signal }, this.said());
      pending?.(err);
      this.destroy(err);
    });
  }

  override _read(): void {
    this.child.stdout!.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, callback: (err?: Error | null) => void): void {
    if (this.child.stdin!.write(chunk)) {
      callback();
      return;
    }
    this.pendingWrite = callback;
    this.child.stdin!.once('drain', () => {
      const pending = this.pendingWrite;
      this.pendingWrite = undefined;
      pending?.();
    });
  }

  override _final(callback: (err?: Error | null) => void): void {
    this.child.stdin!.end(() => callback());
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    this.child.stdin!.destroy();
    this.child.stdout!.destroy();
    callback(err);
  }
}
