/**
 * The parallel load of a plain dump (docs/architecture.md, "Parallel restore"): the decompressed SQL is read once,
 * as it streams, and run over N sessions:
 *
 * 1. pre-data (everything before the first table's data) in order, by one psql, which then exits: all of it is
 *    committed before any data goes in;
 * 2. each table's COPY to a free worker as it arrives, its data streamed in (never gathered); sequence values and
 *    large objects, in order, by a psql beside them;
 * 3. post-data: the entries ./post-data.ts reads with certainty over the workers in dependency order (./scheduler),
 *    then everything else alone, in the dump's order, by one psql;
 * 4. ANALYZE of every table, over the workers, largest first.
 *
 * Anything the splitter does not recognise (a header type it does not know, a statement that spans what looked like
 * an entry's boundary, a COPY or meta-command of another shape, a dump not in UTF8) ends the split: what was handed
 * out finishes, and the rest of the stream goes, unread, to one psql, as the single stream would run it. That is said
 * once. Any failure ends every session at once (no session goes on after another failed); the caller drops the
 * database.
 */
import { once } from 'node:events';
import type { Logger } from '../../core/log';
import { withClient } from '../../postgres/client';
import type { Connection } from '../../postgres/connection';
import { type DumpItem, DumpSplitter, type EntryHeader } from './dump-splitter';
import { type PostDataEntry, partitionOf, planPostData } from './post-data';
import { runPlanned } from './scheduler';
import { PsqlSegment, type SessionSettings, Worker } from './sessions';

/** Types pg_dump writes before the data (pre-data); only their order matters, psql runs them. */
const PRE_DATA = new Set([
  'ACCESS METHOD', 'AGGREGATE', 'CAST', 'COLLATION', 'COMMENT', 'CONVERSION', 'DATABASE', 'DEFAULT', 'DOMAIN', 'ENCODING', 'EXTENSION',
  'FOREIGN DATA WRAPPER', 'FOREIGN TABLE', 'FUNCTION', 'LANGUAGE', 'OPERATOR', 'OPERATOR CLASS', 'OPERATOR FAMILY', 'PROCEDURE',
  'PROCEDURAL LANGUAGE', 'SCHEMA', 'SEQUENCE', 'SEQUENCE OWNED BY', 'SERVER', 'SHELL TYPE', 'STDSTRINGS', 'SEARCHPATH', 'TABLE',
  'TABLE ATTACH', 'TEXT SEARCH CONFIGURATION', 'TEXT SEARCH DICTIONARY', 'TEXT SEARCH PARSER', 'TEXT SEARCH TEMPLATE',
  'TRANSFORM', 'TYPE', 'USER MAPPING', 'VIEW', 'MATERIALIZED VIEW', 'BLOB', 'ACL', 'SECURITY LABEL', 'DEFAULT ACL', 'CONSTRAINT',
  'CHECK CONSTRAINT', 'RULE',
]);
/** Data entries other than a table's COPY: run in order by a psql beside the workers. */
const DATA_BY_PSQL = new Set(['SEQUENCE SET', 'BLOBS', 'LARGE OBJECTS']);
/** Types of the post-data section: planned (./post-data) or run alone at the end. */
const POST_DATA = new Set([
  'INDEX', 'CONSTRAINT', 'CHECK CONSTRAINT', 'FK CONSTRAINT', 'INDEX ATTACH', 'TRIGGER', 'EVENT TRIGGER', 'RULE', 'POLICY', 'ROW SECURITY',
  'MATERIALIZED VIEW DATA', 'STATISTICS', 'PUBLICATION', 'PUBLICATION TABLE', 'PUBLICATION TABLES IN SCHEMA', 'SUBSCRIPTION',
  'COMMENT', 'ACL', 'DEFAULT ACL', 'SECURITY LABEL',
]);
/** Post-data text held for planning at most; a dump with more is loaded by one stream from there. */
const POST_DATA_LIMIT = 64 * 1024 * 1024;

export interface ParallelLoadOptions {
  /** The fresh database. */
  conn: Connection;
  /** Worker sessions (≥ 2). */
  jobs: number;
  /** Session settings of every session (`-c name=value …`). */
  settings: string;
  psqlPath?: string;
  signal?: AbortSignal;
  logger: Logger;
}

export interface ParallelLoadResult {
  /** Why the rest was loaded by one stream, when it was. */
  fellBack?: string;
  tables: number;
  analyzed: number;
}

type Phase = 'pre' | 'data' | 'post' | 'rest';

export async function parallelLoad(source: AsyncIterable<Buffer>, options: ParallelLoadOptions): Promise<ParallelLoadResult> {
  const load = new ParallelLoad(source, options);
  const stop = (): void => void load.abort();
  options.signal?.addEventListener('abort', stop, { once: true });
  try {
    return await load.run();
  } catch (err) {
    await load.abort();
    throw options.signal?.aborted ? options.signal.reason : err;
  } finally {
    options.signal?.removeEventListener('abort', stop);
  }
}

class ParallelLoad {
  private readonly splitter: DumpSplitter;
  private phase: Phase = 'pre';
  private header: EntryHeader | undefined;
  /** The dump's session settings as they stand at this point of it. */
  private readonly settings = new Map<string, Buffer>();
  private restrictLine: Buffer | undefined;
  private psql: PsqlSegment | undefined;
  private readonly psqls: PsqlSegment[] = [];
  private workers: Worker[] = [];
  private free: Worker[] = [];
  private freed: (() => void) | undefined;
  private copy: { data: NodeJS.WritableStream; done: Promise<void> } | undefined;
  private readonly copies: Promise<void>[] = [];
  private copyFailure: unknown;
  private readonly tables = new Set<string>();
  private readonly parents = new Map<string, string>();
  private attach: Buffer[] | undefined;
  private readonly post: PostDataEntry[] = [];
  private entry: { header: EntryHeader; chunks: Buffer[]; settings: SessionSettings; psqlOnly: boolean } | undefined;
  private postBytes = 0;
  private readonly tail: Buffer[] = [];
  private fellBack: string | undefined;
  private aborted = false;

  constructor(
    source: AsyncIterable<Buffer>,
    private readonly options: ParallelLoadOptions,
  ) {
    this.splitter = new DumpSplitter(source);
  }

  async run(): Promise<ParallelLoadResult> {
    this.psql = this.segment([]);
    for await (const item of this.splitter.items()) {
      if (this.copyFailure) throw this.copyFailure;
      await this.handle(item);
    }
    await this.finish();
    const analyzed = await this.analyze();
    return { ...(this.fellBack ? { fellBack: this.fellBack } : {}), tables: this.tables.size, analyzed };
  }

  private segment(extra: Buffer[]): PsqlSegment {
    const prefix = [...(this.restrictLine ? [this.restrictLine] : []), ...this.settings.values(), ...extra];
    const psql = new PsqlSegment({ ...this.options, prefix });
    this.psqls.push(psql);
    return psql;
  }

  private snapshot(): SessionSettings {
    return new Map(this.settings);
  }

  private async handle(item: DumpItem): Promise<void> {
    if (item.kind === 'confused') return this.fallBack(item.why);
    if (this.phase === 'rest' || item.kind === 'raw') return this.psql!.write(item.bytes);
    if (item.kind === 'set') this.settings.set(item.name, item.bytes);
    switch (this.phase) {
      case 'pre':
        return this.preData(item);
      case 'data':
        return this.data(item);
      case 'post':
        return this.postData(item);
    }
  }

  private async preData(item: DumpItem): Promise<void> {
    if (item.kind === 'meta' && !this.restrictLine && /^\\restrict /.test(item.bytes.toString('utf8'))) this.restrictLine = item.bytes;
    if (item.kind === 'header') {
      this.readAttach();
      const { type } = item.header;
      if (type === 'TABLE DATA' || DATA_BY_PSQL.has(type) || (POST_DATA.has(type) && !PRE_DATA.has(type))) {
        const unsupported = this.unsupportedSettings();
        if (unsupported) return this.fallBack(unsupported, item.bytes);
        // Everything before the data is committed before any session loads a table.
        await this.psql!.end();
        this.psql = undefined;
        await this.openWorkers();
        this.phase = type === 'TABLE DATA' || DATA_BY_PSQL.has(type) ? 'data' : 'post';
        return this.handle(item);
      }
      if (!PRE_DATA.has(type)) return this.fallBack(`an entry of type ${type}, which it does not know`, item.bytes);
      this.header = item.header;
      if (type === 'TABLE ATTACH') this.attach = [];
    } else if (this.attach && item.kind === 'sql') {
      this.attach.push(item.bytes);
    }
    if ('bytes' in item) await this.psql!.write(item.bytes);
  }

  private readAttach(): void {
    if (!this.attach) return;
    const pair = partitionOf(Buffer.concat(this.attach));
    if (pair) this.parents.set(pair[0], pair[1]);
    this.attach = undefined;
  }

  /** Why the dump cannot be split safely from its settings, if it cannot. */
  private unsupportedSettings(): string | undefined {
    const encoding = this.settings.get('client_encoding')?.toString('utf8');
    if (encoding !== undefined && !/= 'UTF8';/.test(encoding)) return `a dump in another encoding than UTF8 (${encoding.trim()})`;
    const scs = this.settings.get('standard_conforming_strings')?.toString('utf8');
    if (scs !== undefined && !/= on;/.test(scs)) return 'a dump written with standard_conforming_strings off';
    return undefined;
  }

  private async data(item: DumpItem): Promise<void> {
    switch (item.kind) {
      case 'header': {
        const { type } = item.header;
        this.header = item.header;
        if (type === 'TABLE DATA' || DATA_BY_PSQL.has(type)) return;
        if (!POST_DATA.has(type)) return this.fallBack(`an entry of type ${type} among the data`, item.bytes);
        await this.endData();
        this.phase = 'post';
        return this.postData(item);
      }
      case 'set':
        if (this.psql) await this.psql.write(item.bytes);
        return;
      case 'sql':
        // Blank lines and comments around a COPY need no session; any other SQL runs in order by the data psql.
        if (this.header?.type === 'TABLE DATA' && !item.code) return;
        this.psql ??= this.segment([]);
        return this.psql.write(item.bytes);
      case 'copy': {
        if (this.header?.type !== 'TABLE DATA') return this.fallBack(`a COPY outside a table's data (${item.statement.slice(0, 80)})`, item.bytes);
        const worker = await this.freeWorker();
        const table = /^COPY (\S+)/.exec(item.statement)![1];
        this.tables.add(table);
        const copy = await worker.copy(item.statement, this.snapshot(), `data of table ${table}`);
        const done = copy.done.then(
          () => this.release(worker),
          (err: unknown) => {
            this.copyFailure ??= err;
            this.release(worker);
            throw err;
          },
        );
        done.catch(() => undefined);
        this.copies.push(done);
        this.copy = { data: copy.data, done };
        return;
      }
      case 'copyData': {
        const { data, done } = this.copy!;
        if (!data.write(item.bytes)) await Promise.race([once(data, 'drain'), done]);
        return;
      }
      case 'copyEnd':
        this.copy!.data.end();
        this.copy = undefined;
        return;
      case 'meta':
        return this.fallBack(`a psql meta-command among the data (${item.bytes.toString('utf8').trim().slice(0, 40)})`, item.bytes);
    }
  }

  private async endData(): Promise<void> {
    if (this.psql) {
      await this.psql.end();
      this.psql = undefined;
    }
    await Promise.all(this.copies);
  }

  private async postData(item: DumpItem): Promise<void> {
    switch (item.kind) {
      case 'header': {
        this.closeEntry();
        if (!POST_DATA.has(item.header.type)) return this.fallBack(`an entry of type ${item.header.type} after the data`, item.bytes);
        this.entry = { header: item.header, chunks: [item.bytes], settings: this.snapshot(), psqlOnly: false };
        this.postBytes += item.bytes.length;
        return;
      }
      case 'sql':
        if (!this.entry) return;
        this.entry.chunks.push(item.bytes);
        if (item.backslash) this.entry.psqlOnly = true;
        this.postBytes += item.bytes.length;
        if (this.postBytes > POST_DATA_LIMIT) return this.fallBack(`more than ${POST_DATA_LIMIT >> 20} MiB of post-data`);
        return;
      case 'set':
        return;
      case 'meta':
        if (/^\\unrestrict /.test(item.bytes.toString('utf8'))) {
          this.tail.push(item.bytes);
          return;
        }
        return this.fallBack(`a psql meta-command after the data (${item.bytes.toString('utf8').trim().slice(0, 40)})`, item.bytes);
      case 'copy':
      case 'copyData':
      case 'copyEnd':
        return this.fallBack('a COPY after the post-data began', item.bytes);
      default:
        return undefined;
    }
  }

  private closeEntry(): void {
    if (!this.entry) return;
    const { header, chunks, settings, psqlOnly } = this.entry;
    this.post.push({ header, bytes: Buffer.concat(chunks), settings, psqlOnly });
    this.entry = undefined;
  }

  /**
   * The rest of the stream by one psql: what was handed out finishes first (the post-data held so far runs as it
   * would have), then `first` (the item that could not be split) and everything after it go to psql unread.
   */
  private async fallBack(why: string, first?: Buffer): Promise<void> {
    this.fellBack = why;
    this.options.logger.warn(`parallel load: the backup's SQL has ${why}; loading the rest of it by a single stream`);
    this.splitter.rest();
    if (this.phase === 'pre') {
      this.phase = 'rest';
      if (first) await this.psql!.write(first);
      return;
    }
    if (this.phase === 'data') {
      if (this.copy) throw new Error('the split failed inside a COPY: this is a bug');
      await this.endData();
    }
    // An entry cut short by the fallback (post-data over its limit) goes after what was held: it is later in the dump.
    const cut = this.entry && !first ? Buffer.concat(this.entry.chunks) : undefined;
    if (cut) this.entry = undefined;
    this.phase = 'rest';
    const alone = await this.runPostData();
    this.psql = this.segment(alone);
    if (cut) await this.psql.write(cut);
    if (first) await this.psql.write(first);
  }

  /** Runs the planned post-data over the workers; returns the psql input of what runs alone, in order. */
  private async runPostData(): Promise<Buffer[]> {
    this.closeEntry();
    if (this.post.length === 0) return [];
    const plan = planPostData(this.post, this.parents);
    const victims = await runPlanned(plan.parallel, this.workers, this.options.signal);
    const alone = [...plan.alone, ...victims];
    this.post.length = 0;
    const input: Buffer[] = [];
    let settings: SessionSettings = this.snapshot();
    for (const entry of alone) {
      for (const [name, line] of entry.settings) if (!settings.get(name)?.equals(line)) input.push(line);
      settings = entry.settings;
      input.push(entry.bytes);
    }
    return input;
  }

  private async finish(): Promise<void> {
    switch (this.phase) {
      case 'pre':
        this.readAttach();
        break;
      case 'data':
        await this.endData();
        break;
      case 'post': {
        const alone = await this.runPostData();
        if (alone.length > 0) this.psql = this.segment([...alone, ...this.tail]);
        break;
      }
      case 'rest':
        break;
    }
    if (this.psql) await this.psql.end();
    this.psql = undefined;
  }

  private async openWorkers(): Promise<void> {
    const { conn, settings, logger } = this.options;
    this.workers = await Promise.all(Array.from({ length: this.options.jobs }, (_, i) => Worker.open(i + 1, conn, settings, logger)));
    this.free = [...this.workers];
  }

  private async freeWorker(): Promise<Worker> {
    while (this.free.length === 0) {
      await new Promise<void>((resolve) => (this.freed = resolve));
      if (this.copyFailure) throw this.copyFailure;
    }
    return this.free.shift()!;
  }

  private release(worker: Worker): void {
    this.free.push(worker);
    const freed = this.freed;
    this.freed = undefined;
    freed?.();
  }

  /** ANALYZE of every table, view-free, over the workers, largest first. Returns how many. */
  private async analyze(): Promise<number> {
    if (this.workers.length === 0) await this.openWorkers();
    const tables = await withClient(this.options.conn, async (client) =>
      (
        await client.query<{ name: string }>(
          `select format('%I.%I', n.nspname, c.relname) as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
           where c.relkind in ('r', 'm', 'p') and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname !~ '^pg_toast'
           order by c.relpages desc, 1`,
        )
      ).rows.map((r) => r.name),
    );
    const queue = [...tables];
    const none: SessionSettings = new Map();
    await Promise.all(
      this.workers.map(async (worker) => {
        for (let table = queue.shift(); table !== undefined; table = queue.shift()) await worker.run(`ANALYZE ${table}`, none, `ANALYZE ${table}`);
      }),
    );
    await Promise.all(this.workers.map((w) => w.close()));
    return tables.length;
  }

  /** Ends every session now: psql is killed (its input never ends), the workers' backends are terminated. */
  async abort(): Promise<void> {
    if (this.aborted) return;
    this.aborted = true;
    for (const psql of this.psqls) psql.kill();
    const pids = this.workers.map((w) => w.pid).filter((pid) => Number.isInteger(pid));
    for (const worker of this.workers) worker.destroy();
    if (pids.length > 0) {
      await withClient(this.options.conn, (client) => client.query('select pg_catalog.pg_terminate_backend(pid) from unnest($1::int[]) as pid', [pids])).catch(() => undefined);
    }
    await Promise.all(this.psqls.map((p) => p.settled()));
  }
}
