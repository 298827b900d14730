/**
 * The decompression stage of every read of a backup (verify, restore, restore test): `igzip -d` as a child process
 * when ISA-L is installed, else Node's zlib. Either is one Duplex in a stream pipeline: compressed bytes in, SQL out,
 * with backpressure both ways, and an error (that {@link isCorruptGzip} recognises) when the input is not valid gzip.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { Duplex } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { type Compressor, type CompressorName, IGZIP_INSTALL_HINT, chooseCompressor } from './compression';

const OUTPUT_CHUNK_BYTES = 256 * 1024;
const STDERR_LIMIT = 4096;

/**
 * The decompressor reads use: igzip when installed (the fastest), else zlib, with the one line to print about it.
 * `requested` forces one, as for a backup (BACKUP_COMPRESSOR); a forced isal without igzip is an error.
 */
export function chooseDecompressor(requested: CompressorName | undefined, igzipPath: string | undefined): { compressor: Compressor; notice?: string } {
  const chosen = chooseCompressor(requested, igzipPath);
  return chosen.notice ? { ...chosen, notice: `decompressing with Node's zlib: igzip (ISA-L) is not installed; ${IGZIP_INSTALL_HINT} for restores several times lighter on CPU` } : chosen;
}

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

/** `igzip -d -c` wrapped as a Duplex: what is written goes to its stdin, its stdout is what is read. */
class IgzipDecompress extends Duplex {
  private readonly child: ChildProcess;
  private stderr = '';
  private pendingWrite: ((err?: Error | null) => void) | undefined;

  constructor(path: string) {
    super({ readableHighWaterMark: OUTPUT_CHUNK_BYTES });
    this.child = spawn(path, ['-d', '-c'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const { stdin, stdout, stderr } = this.child;
    // EPIPE when igzip stops early (bad input): its exit status is the story.
    stdin!.on('error', () => undefined);
    stderr!.setEncoding('utf8');
    stderr!.on('data', (d: string) => (this.stderr = (this.stderr + d).slice(-STDERR_LIMIT)));
    stdout!.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) stdout!.pause();
    });
    this.child.on('error', (err) => this.destroy(Object.assign(new Error(`could not run ${path}: ${err.message}`), { code: 'ERR_IGZIP_SPAWN' })));
    this.child.on('close', (code, signal) => {
      const pending = this.pendingWrite;
      this.pendingWrite = undefined;
      if (code === 0) {
        pending?.();
        this.push(null);
        return;
      }
      if (this.destroyed) return;
      const said = this.stderr.trim().replace(/\s+/g, ' ').replace(/^igzip: /, '');
      const err = Object.assign(new Error(`igzip -d ${signal ? `was killed by ${signal}` : `exited with code ${code}`}${said ? `: ${said}` : ''}`), {
        // Exit 1 with a complaint about the input means the input is not valid gzip; a signal is not the data's fault.
        code: signal ? 'ERR_IGZIP_KILLED' : 'ERR_GZIP_INVALID',
      });
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
