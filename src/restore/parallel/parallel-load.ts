/**
 * The parallel load of a plain dump (docs/architecture.md, "Parallel restore"): the decompressed SQL is read once,
 * as it streams, and run over N sessions:
 *
 * 1. pre-data (everything before the first table's data) in order, by one psql, which then exits: all of it is
 *    committed before any data goes in;
 * 2. each table's COPY to a free worker as it arrives, its data streamed in through a ./spool: while another
 *    worker has nothing to do, the reader runs ahead of a busy one (the rest of its block goes to a scratch file it
 *    reads back), so several tables load at once with bounded memory; sequence values and large objects, in order,
 *    by a psql beside them;
 * 3. post-data: the entries ./post-data.ts reads with certainty over the workers in dependency order (./work-pool),
 *    each as soon as its tables' data is in (an index of a table loaded early builds while later tables still load),
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
import { formatBytes, secondsSince } from '../../core/format';
import { withClient } from '../../postgres/client';
import type { Connection } from '../../postgres/connection';
import { type DumpItem, DumpSplitter, type EntryHeader, copyTable } from './dump-splitter';
import { type Planned, type PostDataEntry, describeEntry, familyOf, partitionOf, planPostData } from './post-data';
import { DEADLOCK_DETECTED, EntryFailed, PsqlSegment, type SessionSettings, Worker } from './sessions';
import { Notifier, SpillBudget, Spool } from './spool';
import { WorkPool } from './work-pool';

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
/** Entries run alone that cannot change what ANALYZE of a table gathers; with any other, every ANALYZE waits for the end. */
const STATISTICS_NEUTRAL = new Set([
  'TRIGGER', 'EVENT TRIGGER', 'POLICY', 'ROW SECURITY', 'COMMENT', 'ACL', 'DEFAULT ACL', 'SECURITY LABEL', 'FK CONSTRAINT', 'CHECK CONSTRAINT',
  'PUBLICATION', 'PUBLICATION TABLE', 'PUBLICATION TABLES IN SCHEMA', 'SUBSCRIPTION',
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
  /** Scratch bytes the reader may run ahead by (on disk, while a session is idle). @default half the free space of TMPDIR */
  spillLimit?: number;
}

export interface ParallelLoadResult {
  /** Why the rest was loaded by one stream, when it was. */
  fellBack?: string;
  tables: number;
  analyzed: number;
  /** Seconds from the start of the load to the end of each phase. */
  phases: { preData: number; read: number; dataAndPostData: number; analyze: number };
  /** COPY data that waited in scratch files: in all, and at most at once. */
  spilled: { bytes: number; peakBytes: number };
}

type Phase = 'pre' | 'data' | 'post' | 'rest';

export async function parallelLoad(source: AsyncIterable<Buffer>, options: ParallelLoadOptions): Promise<ParallelLoadResult> {
  const load = new ParallelLoad(source, options);
  const stop = (): void => void load.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', stop, { once: true });
  try {
    return await load.run();
  } catch (err) {
    await load.abort(err);
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
  private pool: WorkPool | undefined;
  private readonly notifier = new Notifier();
  private readonly budget: SpillBudget;
  /** The block being read, and every block not yet loaded (closed, their files with them, if the load stops). */
  private spool: Spool | undefined;
  /** The partition family of the table whose COPY data is being read. */
  private copyingFamily: string | undefined;
  private readonly spools = new Set<Spool>();
  /** Partition family → its tables' COPY blocks not yet loaded. */
  private readonly dataLeft = new Map<string, number>();
  /** Partition family → bytes of its COPY data (the priority of the post-data on it). */
  private readonly dataBytes = new Map<string, number>();
  /** Partition family → planned post-data entries on it not yet done (its ANALYZE waits for them). */
  private readonly postLeft = new Map<string, number>();
  /** Tables ANALYZEd in the pool already, beside the post-data of others. */
  private readonly analyzedEarly: string[] = [];
  private readonly started = Date.now();
  private readonly phases = { preData: 0, read: 0, dataAndPostData: 0, analyze: 0 };
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
    this.budget = SpillBudget.forLoad(this.notifier, options.spillLimit);
  }

  async run(): Promise<ParallelLoadResult> {
    try {
      this.psql = this.segment([]);
      for await (const item of this.splitter.items()) {
        if (this.pool?.error !== undefined) throw this.pool.error;
        await this.handle(item);
      }
      this.phases.read = secondsSince(this.started);
      if (this.phase === 'pre') this.phases.preData = this.phases.read;
      await this.finish();
      this.phases.dataAndPostData = secondsSince(this.started);
      const analyzed = await this.analyze();
      this.phases.analyze = secondsSince(this.started);
      const spilled = { bytes: this.budget.written, peakBytes: this.budget.peak };
      const longest = [...(this.pool?.took ?? [])].sort((a, b) => b.seconds - a.seconds).slice(0, 3);
      this.options.logger.info(
        `parallel load: schema ${this.phases.preData}s, dump read by ${this.phases.read}s, data and post-data done by ${this.phases.dataAndPostData}s, ` +
          `analyzed by ${this.phases.analyze}s; longest: ${longest.map((j) => `${j.what} ${j.seconds.toFixed(1)}s`).join(', ') || 'none'}; ` +
          (spilled.bytes > 0
            ? `${formatBytes(spilled.bytes)} of table data waited in scratch files (at most ${formatBytes(spilled.peakBytes)} at once, in ${this.budget.parent})`
            : 'no table data waited in scratch files') +
          (this.budget.unavailable !== undefined ? ` (none could be made in ${this.budget.parent}: ${this.budget.unavailable}; the reader waited for its sessions instead)` : ''),
        { phases: this.phases, spilled, longest },
      );
      return { ...(this.fellBack ? { fellBack: this.fellBack } : {}), tables: this.tables.size, analyzed, phases: this.phases, spilled };
    } finally {
      for (const spool of this.spools) spool.close();
      this.budget.close();
    }
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
        this.phases.preData = secondsSince(this.started);
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
        await this.endDataPsql();
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
        const table = copyTable(item.statement);
        this.tables.add(table);
        this.spool = this.loadBlock(table, item.statement, this.snapshot());
        this.copyingFamily = this.family(table);
        return;
      }
      case 'copyData': {
        const family = this.copyingFamily!;
        this.dataBytes.set(family, (this.dataBytes.get(family) ?? 0) + item.bytes.length);
        return this.spool!.write(item.bytes);
      }
      case 'copyEnd':
        this.spool!.end();
        this.spool = undefined;
        return;
      case 'meta':
        return this.fallBack(`a psql meta-command among the data (${item.bytes.toString('utf8').trim().slice(0, 40)})`, item.bytes);
    }
  }

  /**
   * A table's COPY as a job of the pool: its block waits in a spool until a worker is free, which then streams it in
   * (with the socket's backpressure). Post-data entries on the table's partition family wait for it.
   */
  private loadBlock(table: string, statement: string, settings: SessionSettings): Spool {
    const pool = this.pool!;
    const spool = new Spool(this.budget, this.notifier, () => pool.idle, () => pool.error);
    this.spools.add(spool);
    const family = this.family(table);
    this.dataLeft.set(family, (this.dataLeft.get(family) ?? 0) + 1);
    const what = `data of table ${table}`;
    const dataBytes = this.dataBytes;
    pool.add({
      what,
      ready: () => true,
      locks: [],
      shares: [],
      // Largest first, data and post-data alike (pg_restore's order too): an idle session starts the keys and
      // indexes of a large table whose data is in before the data of a small one. Among equals the data goes first.
      get priority() {
        return (dataBytes.get(family) ?? 0) + 0.5;
      },
      run: async (worker) => {
        try {
          const copy = await worker.copy(statement, settings, what);
          for await (const chunk of spool.read()) {
            if (!copy.data.write(chunk)) await Promise.race([once(copy.data as NodeJS.EventEmitter, 'drain'), copy.done]);
          }
          copy.data.end();
          await copy.done;
        } finally {
          spool.close();
          this.spools.delete(spool);
        }
        this.dataLeft.set(family, this.dataLeft.get(family)! - 1);
      },
    });
    return spool;
  }

  private family(table: string): string {
    return familyOf(table, this.parents);
  }

  /** Ends the data psql (sequence values, large objects); the tables' blocks go on loading meanwhile. */
  private async endDataPsql(): Promise<void> {
    if (this.psql) {
      await this.psql.end();
      this.psql = undefined;
    }
  }

  /** Every table's data in. */
  private async endData(): Promise<void> {
    await this.endDataPsql();
    await this.pool?.drain();
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
      if (this.spool) throw new Error('the split failed inside a COPY: this is a bug');
      await this.endData();
    }
    // An entry cut short by the fallback (post-data over its limit) goes after what was held: it is later in the dump.
    const cut = this.entry && !first ? Buffer.concat(this.entry.chunks) : undefined;
    if (cut) this.entry = undefined;
    this.phase = 'rest';
    const alone = await this.runPostData(false);
    this.psql = this.segment(alone);
    if (cut) await this.psql.write(cut);
    if (first) await this.psql.write(first);
  }

  /**
   * Runs the planned post-data over the workers, each entry once its tables' data is in and its predecessors are done
   * (tables may still be loading); returns the psql input of what runs alone, in order, once all of that is done.
   */
  private async runPostData(last: boolean): Promise<Buffer[]> {
    this.closeEntry();
    const victims: PostDataEntry[] = [];
    let alone: PostDataEntry[] = [];
    if (this.post.length > 0) {
      const plan = planPostData(this.post, this.parents);
      alone = plan.alone;
      this.post.length = 0;
      const state = plan.parallel.map(() => 'waiting' as 'waiting' | 'done' | 'victim');
      const loaded = (p: Planned): boolean => [...p.locks, ...p.shares].every((family) => !this.dataLeft.get(family));
      const size = (families: readonly string[]): number => Math.max(0, ...families.map((f) => this.dataBytes.get(f) ?? 0));
      const count = (p: Planned, by: number) => {
        for (const family of new Set([...p.locks, ...p.shares])) this.postLeft.set(family, (this.postLeft.get(family) ?? 0) + by);
      };
      plan.parallel.forEach((p) => count(p, 1));
      plan.parallel.forEach((p, i) => {
        const what = describeEntry(p.entry);
        this.pool!.add({
          what,
          ready: () => loaded(p) && p.after.every((j) => state[j] !== 'waiting'),
          locks: p.locks,
          shares: p.shares,
          priority: size([...p.locks, ...p.shares]),
          run: async (worker) => {
            // After a deadlock victim (which cannot happen with the locks above, but is not left to chance), its
            // dependants run alone too, after it.
            try {
              if (p.after.some((j) => state[j] === 'victim')) {
                state[i] = 'victim';
                victims.push(p.entry);
                return;
              }
              try {
                await worker.run(p.sql, p.entry.settings, what);
                state[i] = 'done';
              } catch (err) {
                if (!(err instanceof EntryFailed && err.pgError.code === DEADLOCK_DETECTED)) throw err;
                state[i] = 'victim';
                victims.push(p.entry);
              }
            } finally {
              count(p, -1);
            }
          },
        });
      });
    }
    // After a fallback the rest of the dump may still change what ANALYZE gathers.
    if (last) this.analyzeEarly(alone);
    await this.endData();
    const input: Buffer[] = [];
    let settings: SessionSettings = this.snapshot();
    for (const entry of [...alone, ...victims]) {
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
        const alone = await this.runPostData(true);
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
    this.pool = new WorkPool(this.workers, this.notifier);
  }

  /**
   * ANALYZE of each table that had data, in the pool, as soon as its data and the planned post-data on it are done:
   * beside the index builds of other tables rather than after all of them. Only when nothing left to run alone can
   * change what ANALYZE gathers (an index whose expression it samples, a rule, extended statistics); otherwise every
   * table waits for the end, as all the rest does.
   */
  private analyzeEarly(alone: readonly PostDataEntry[]): void {
    if (!this.pool || alone.some((e) => !STATISTICS_NEUTRAL.has(e.header.type))) return;
    const none: SessionSettings = new Map();
    for (const table of this.tables) {
      const family = this.family(table);
      this.pool.add({
        what: `ANALYZE ${table}`,
        ready: () => !this.dataLeft.get(family) && !this.postLeft.get(family),
        locks: [family],
        shares: [],
        priority: -1 - 1 / (1 + (this.dataBytes.get(family) ?? 0)),
        run: async (worker) => {
          await worker.run(`ANALYZE ${table}`, none, `ANALYZE ${table}`);
          this.analyzedEarly.push(table);
        },
      });
    }
  }

  /** ANALYZE of every table not analyzed yet, view-free, over the workers, largest first. Returns how many in all. */
  private async analyze(): Promise<number> {
    if (this.workers.length === 0) await this.openWorkers();
    const tables = await withClient(this.options.conn, async (client) =>
      (
        await client.query<{ name: string }>(
          `select format('%I.%I', n.nspname, c.relname) as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
           where c.relkind in ('r', 'm', 'p') and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname !~ '^pg_toast'
             and c.oid <> all($1::regclass[])
           order by c.relpages desc, 1`,
          [this.analyzedEarly],
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
    return this.analyzedEarly.length + tables.length;
  }

  /** Ends every session now: psql is killed (its input never ends), the workers' backends are terminated. */
  async abort(reason: unknown = new Error('the parallel load stopped')): Promise<void> {
    if (this.aborted) return;
    this.aborted = true;
    this.pool?.fail(reason);
    for (const spool of this.spools) spool.close();
    for (const psql of this.psqls) psql.kill();
    const pids = this.workers.map((w) => w.pid).filter((pid) => Number.isInteger(pid));
    for (const worker of this.workers) worker.destroy();
    if (pids.length > 0) {
      await withClient(this.options.conn, (client) => client.query('select pg_catalog.pg_terminate_backend(pid) from unnest($1::int[]) as pid', [pids])).catch(() => undefined);
    }
    await Promise.all(this.psqls.map((p) => p.settled()));
  }
}
