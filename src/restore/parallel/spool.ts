/**
 * Where a table's COPY data waits between the reader of the dump and the session that loads it, so that the reader
 * can run ahead of a busy session to the next table (docs/architecture.md, "Parallel restore"): the stream is read
 * once, so without this the tables would load one after the other, each at the speed of its one session.
 *
 * A spool holds up to {@link MEMORY_BYTES} in memory. Past that, the reader either waits for its session (the
 * socket's backpressure, as a single stream would) or, only while another session has nothing to do, writes the rest
 * of the block to a scratch file that the session reads back in order. The scratch files are unlinked as soon as they
 * are opened (only their descriptors hold them), so an interrupted or killed restore leaves no file behind; a file is
 * emptied (and its space given back to the budget) whenever its session has read all of it. Disk use is bounded by
 * the {@link SpillBudget}: past it the reader waits, as without spilling.
 */
import { closeSync, ftruncateSync, mkdtempSync, openSync, readSync, rmSync, statfsSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserError } from '../../core/errors';

/** Bytes a spool keeps in memory before its reader waits or spills. */
export const MEMORY_BYTES = 4 * 1024 * 1024;
/** Bytes a session reads back from a scratch file at a time. */
const READ_BYTES = 1024 * 1024;
/** Share of the scratch filesystem's free space a load may use at most. */
const FREE_SPACE_SHARE = 0.5;

/** Wakes everything that waits for the load to move (a session freed, bytes consumed, space given back, a failure). */
export class Notifier {
  private waiters: Array<() => void> = [];
  wait(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }
  notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}

/** The scratch space of one load: a bound on the bytes on disk at once, and the accounting the result reports. */
export class SpillBudget {
  private used = 0;
  /** Bytes written to scratch files in all. */
  written = 0;
  /** Most bytes on disk at once. */
  peak = 0;
  private dir: string | undefined;
  private files = 0;

  constructor(
    /** The directory the scratch files go in (a fresh one is made under it, and removed). */
    readonly parent: string,
    readonly limit: number,
    private readonly notifier: Notifier,
  ) {}

  /** Half the free space of the scratch filesystem (TMPDIR, else the OS temporary directory), or `limit` bytes when given. */
  static forLoad(notifier: Notifier, limit?: number, parent: string = tmpdir()): SpillBudget {
    if (limit !== undefined) return new SpillBudget(parent, limit, notifier);
    let free = 0;
    try {
      const fs = statfsSync(parent);
      free = Number(fs.bavail) * Number(fs.bsize);
    } catch {
      // not a directory we can see: no spilling, the reader waits for its sessions
    }
    return new SpillBudget(parent, Math.floor(free * FREE_SPACE_SHARE), notifier);
  }

  take(bytes: number): boolean {
    if (this.used + bytes > this.limit) return false;
    this.used += bytes;
    this.written += bytes;
    this.peak = Math.max(this.peak, this.used);
    return true;
  }

  release(bytes: number): void {
    if (bytes === 0) return;
    this.used -= bytes;
    this.notifier.notify();
  }

  /** Why no scratch file could be made, once that happened (from then on nothing spills). */
  unavailable: string | undefined;

  /** A new scratch file, already unlinked: only the returned descriptor holds it; undefined when none can be made. */
  openFile(): number | undefined {
    if (this.unavailable !== undefined) return undefined;
    try {
      this.dir ??= mkdtempSync(join(this.parent, 'meatbackup-restore-'));
      const path = join(this.dir, `spool-${this.files++}`);
      const fd = openSync(path, 'w+', 0o600);
      rmSync(path);
      return fd;
    } catch (err) {
      this.unavailable = (err as Error).message;
      return undefined;
    }
  }

  /** Writes to a scratch file; a full disk is said as such. */
  write(fd: number, chunk: Buffer, position: number): void {
    try {
      let at = 0;
      while (at < chunk.length) at += writeSync(fd, chunk, at, chunk.length - at, position + at);
    } catch (err) {
      throw new UserError(
        `the restore's scratch space in ${this.parent} failed (${(err as Error).message}): free space there, set TMPDIR to a larger disk, or restore with --jobs 1; the fresh database is dropped`,
        1,
        { cause: err },
      );
    }
  }

  /** Removes the (empty) directory the files were made in. */
  close(): void {
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
    this.dir = undefined;
  }
}

/** Stops a spool's reader or session when the load failed elsewhere. */
export type Aborted = () => unknown;

export class Spool {
  private readonly chunks: Buffer[] = [];
  private memoryBytes = 0;
  private fd: number | undefined;
  /** Bytes of the file written and read back; while written > read, new bytes go to the file (order is kept). */
  private fileWritten = 0;
  private fileRead = 0;
  private ended = false;
  private closed = false;

  constructor(
    private readonly budget: SpillBudget,
    private readonly notifier: Notifier,
    /** Whether running ahead would give an idle session something to do. */
    private readonly worthSpilling: () => boolean,
    /** The load's failure, if it failed: thrown to whoever waits. */
    private readonly failure: Aborted,
  ) {}

  /** Bytes of this block written to disk in all. */
  spilledBytes = 0;

  /** Takes the next bytes of the block; resolves once they are held (memory or file), waiting while neither may. */
  async write(chunk: Buffer): Promise<void> {
    for (;;) {
      this.throwIfFailed();
      if (this.fd !== undefined && this.fileWritten > this.fileRead) {
        if (this.toFile(chunk)) return;
      } else if (this.memoryBytes < MEMORY_BYTES) {
        this.chunks.push(chunk);
        this.memoryBytes += chunk.length;
        this.notifier.notify();
        return;
      } else if (this.worthSpilling() && this.toFile(chunk)) {
        return;
      }
      await this.notifier.wait();
    }
  }

  end(): void {
    this.ended = true;
    this.notifier.notify();
  }

  private toFile(chunk: Buffer): boolean {
    this.fd ??= this.budget.openFile();
    if (this.fd === undefined || !this.budget.take(chunk.length)) return false;
    this.budget.write(this.fd, chunk, this.fileWritten);
    this.fileWritten += chunk.length;
    this.spilledBytes += chunk.length;
    this.notifier.notify();
    return true;
  }

  /** The block's bytes in order, for its session; ends when the reader ended the block and all of it was read. */
  async *read(): AsyncGenerator<Buffer> {
    try {
      for (;;) {
        this.throwIfFailed();
        const chunk = this.chunks.shift();
        if (chunk) {
          this.memoryBytes -= chunk.length;
          this.notifier.notify();
          yield chunk;
          continue;
        }
        if (this.fd !== undefined && this.fileRead < this.fileWritten) {
          const buf = Buffer.allocUnsafe(Math.min(READ_BYTES, this.fileWritten - this.fileRead));
          let got = 0;
          while (got < buf.length) {
            const n = readSync(this.fd, buf, got, buf.length - got, this.fileRead + got);
            if (n === 0) throw new Error('a restore scratch file ended early');
            got += n;
          }
          this.fileRead += got;
          if (this.fileRead === this.fileWritten) this.emptyFile();
          yield buf;
          continue;
        }
        if (this.ended) return;
        await this.notifier.wait();
      }
    } finally {
      this.close();
    }
  }

  /** All of the file was read back: its space goes back to the budget, and new bytes go to memory again first. */
  private emptyFile(): void {
    ftruncateSync(this.fd!, 0);
    this.budget.release(this.fileWritten);
    this.fileWritten = 0;
    this.fileRead = 0;
  }

  /** Gives its file and its space back (after its session read it, or when the load stopped). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.chunks.length = 0;
    this.memoryBytes = 0;
    if (this.fd !== undefined) {
      closeSync(this.fd);
      this.fd = undefined;
      this.budget.release(this.fileWritten);
      this.fileWritten = 0;
      this.fileRead = 0;
    }
  }

  private throwIfFailed(): void {
    const err = this.failure();
    if (err !== undefined) throw err;
  }
}
