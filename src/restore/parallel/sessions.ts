/**
 * The sessions a parallel load runs the dump over:
 *
 * - `Worker`: a node-postgres session that takes a table's COPY (its data streamed in as it arrives, with the
 *   socket's backpressure) or one post-data statement, after replaying the dump's session settings (search_path,
 *   client_encoding, default_tablespace, …) as they stood where that entry was in the dump;
 * - `PsqlSegment`: a psql fed a part of the dump in order (pre-data; sequence values and large objects; the entries
 *   that run alone at the end; the rest after a fallback), whose exit 0 says all of it ran.
 */
import { PassThrough } from 'node:stream';
import type { Client } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { UserError } from '../../core/errors';
import type { Logger } from '../../core/log';
import { openClient } from '../../postgres/client';
import type { Connection } from '../../postgres/connection';
import { psqlLoad } from '../psql-load';

/** The dump's session settings at some point of it: setting name → the line that set it. */
export type SessionSettings = ReadonlyMap<string, Buffer>;

/** A statement of the dump failed in a worker: what it was, and PostgreSQL's error. */
export class EntryFailed extends UserError {
  constructor(
    what: string,
    readonly pgError: { code?: string; message: string },
  ) {
    super(`the backup's SQL failed (${what}): ERROR: ${pgError.message}`, 1);
    this.name = 'EntryFailed';
  }
}

/** SQLSTATE of a deadlock victim: its statement rolled back whole and may run again. */
export const DEADLOCK_DETECTED = '40P01';

export class Worker {
  private applied = new Map<string, Buffer>();
  private constructor(
    readonly id: number,
    private readonly client: Client,
  ) {}

  static async open(id: number, conn: Connection, settings: string, logger: Logger): Promise<Worker> {
    const client = await openClient(conn, { applicationName: `meatbackup restore worker ${id}`, settings });
    client.on('notice', (notice) => {
      if (notice.severity === 'WARNING') logger.warn(`worker ${id}: WARNING: ${notice.message}`);
    });
    return new Worker(id, client);
  }

  /** The backend's process id, to end it from elsewhere. */
  get pid(): number {
    return (this.client as unknown as { processID: number }).processID;
  }

  /** Runs the lines that make this session's settings those of `wanted` (only the ones that differ). */
  private async adopt(wanted: SessionSettings): Promise<void> {
    const lines: Buffer[] = [];
    for (const [name, line] of wanted) {
      if (!this.applied.get(name)?.equals(line)) lines.push(line);
    }
    if (lines.length === 0) return;
    await this.client.query(Buffer.concat(lines).toString('utf8'));
    for (const [name, line] of wanted) this.applied.set(name, line);
  }

  /** Runs one statement of the dump (a post-data entry, or an ANALYZE). */
  async run(sql: string, settings: SessionSettings, what: string): Promise<void> {
    try {
      await this.adopt(settings);
      await this.client.query(sql);
    } catch (err) {
      throw failed(err, what);
    }
  }

  /**
   * Starts `statement` (a `COPY … FROM stdin;`) and returns where its data goes: write the data, end it, and await
   * `done` for the rows to be in.
   *
   * Not `TRUNCATE` first and `COPY … FREEZE`, although that was measured faster (COPY ~15%, the index builds after it
   * ~20%): a table emptied in the COPY's own transaction is filled without the free space map, so rows land on other
   * pages than psql's plain COPY puts them (seen on the regression database's fillfactor-10 table), and the restored
   * database would no longer dump identically to one restored by one stream.
   */
  async copy(statement: string, settings: SessionSettings, what: string): Promise<{ data: NodeJS.WritableStream & { destroy(err?: Error): void }; done: Promise<void> }> {
    try {
      await this.adopt(settings);
    } catch (err) {
      throw failed(err, what);
    }
    const stream = this.client.query(copyFrom(statement));
    const done = new Promise<void>((resolve, reject) => {
      stream.once('finish', resolve);
      stream.once('error', (err) => reject(failed(err, what)));
    });
    done.catch(() => undefined); // awaited by the caller; a failure must not go unhandled meanwhile
    return { data: stream, done };
  }

  async close(): Promise<void> {
    await this.client.end().catch(() => undefined);
  }

  /** Closes the connection at once, whatever it is doing (after a failure elsewhere: its backend is ended too). */
  destroy(): void {
    (this.client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
  }
}

function failed(err: unknown, what: string): Error {
  if (err instanceof UserError) return err;
  const e = err as { code?: string; message?: string };
  if (typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code)) return new EntryFailed(what, { code: e.code, message: e.message ?? String(err) });
  return new UserError(`the load lost its session (${what}): ${e.message ?? String(err)}`, 1, { cause: err });
}

/** A psql fed part of the dump in order; `end()` resolves once psql ran all of it and exited 0. */
export class PsqlSegment {
  private readonly input = new PassThrough({ highWaterMark: 1 << 20 });
  private readonly done: Promise<void>;
  private failure: unknown;

  constructor(options: { conn: Connection; psqlPath?: string; settings: string; signal?: AbortSignal; logger: Logger; prefix: Buffer[] }) {
    this.done = psqlLoad({
      conn: options.conn,
      stages: [this.input],
      settings: options.settings,
      ...(options.psqlPath ? { psqlPath: options.psqlPath } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      onStderrLine: (line) => {
        if (/WARNING:/.test(line)) options.logger.warn(`psql: ${line.trim()}`);
      },
    });
    this.done.catch((err: unknown) => {
      this.failure = err;
      this.input.destroy();
    });
    for (const line of options.prefix) this.input.write(line);
  }

  /** Writes with psql's backpressure; throws psql's error once it failed. */
  async write(bytes: Buffer): Promise<void> {
    if (this.failure) throw this.failure;
    if (this.input.write(bytes)) return;
    await Promise.race([new Promise((resolve) => this.input.once('drain', resolve)), this.done]);
    if (this.failure) throw this.failure;
  }

  /** Ends psql's input (always at a statement boundary) and waits for it to run all of it. */
  async end(): Promise<void> {
    this.input.end();
    await this.done;
  }

  /** Stops psql without letting its input end (it would run a cut last statement). */
  kill(): void {
    this.input.destroy(new Error('the parallel load stopped'));
  }

  /** Resolves or rejects with psql's outcome (for a caller that only needs to wait). */
  settled(): Promise<void> {
    return this.done.catch(() => undefined);
  }
}
