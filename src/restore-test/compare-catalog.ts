/**
 * The restored copy against the catalog summary recorded at backup time (src/postgres/catalog-summary.ts, the same
 * query on both sides):
 *
 * - the counts of tables, indexes, sequences, views, materialized views and functions must be equal;
 * - the set of tables (schema and name) must be equal;
 * - every recorded extension must exist in the copy (at whatever version the loading server created it);
 * - per table, the restored table's real row count (count(*)) must not fall short of the rows the backup recorded
 *   by more than {@link DEFAULT_ROW_TOLERANCE} ({@link expectedRows}).
 *
 * One-sided, because a restore cannot add rows: the dump holds exactly the rows of its snapshot and its bytes are
 * the ones the sha256 vouches for, so a copy with more rows than a number recorded says the number was stale, never
 * that the backup is bad. What a restore test is for is the other way: a table that comes back empty or with a
 * fraction of its rows. And the recorded numbers are estimates that can be far off in both directions on a perfect
 * backup: reltuples is 0 on a table refilled after a VACUUM with autovacuum off, anything on one set by hand (the
 * regression suite's join_hash does), 2 on a 20 000-row table; so the least of what the statistics support is used:
 * the planner's density (reltuples / relpages) scaled to the pages the table had at dump time, as the planner itself
 * scales it (not when relpages or reltuples is 0 on a table with pages, or the density is more rows than a page can
 * hold: unknown), and the statistics system's live-row count (n_live_tup, which follows every insert and delete).
 *
 * Why a tolerance, and this one: the recorded number is the planner's estimate (pg_class.reltuples), not a count.
 * Autovacuum re-analyzes a table only after 10% of its rows plus 50 have changed (autovacuum_analyze_scale_factor
 * 0.1, threshold 50), so a healthy estimate can trail the truth by about 10%, and ANALYZE extrapolates from a
 * 30 000-row sample (VACUUM from the pages it scanned), which adds a few percent on large tables. Twice that, 20%,
 * keeps a busy but healthy database from failing its weekly test while still catching what a restore test is for:
 * a table that comes back empty or with a fraction of its rows. Below 1 000 rows the estimate is dominated by the
 * 50-row threshold and page granularity, so small differences there say nothing; the SQL assertions are the tool
 * for exact expectations.
 */
import type { Client } from 'pg';
import type { CatalogSummary } from '../contract';
import { readCatalogSummary } from '../postgres/catalog-summary';
import { quoteIdent } from '../postgres/client';

export interface RowTolerance {
  /** Allowed difference as a fraction of the larger of the two numbers. */
  relative: number;
  /** Allowed difference in rows, whatever the table's size. */
  absolute: number;
}

/** |recorded − restored| ≤ max(20% of the larger, 1 000 rows). */
export const DEFAULT_ROW_TOLERANCE: RowTolerance = { relative: 0.2, absolute: 1000 };

export function rowsWithinTolerance(estimated: number, actual: number, tolerance: RowTolerance = DEFAULT_ROW_TOLERANCE): boolean {
  const allowed = Math.max(tolerance.relative * Math.max(estimated, actual), tolerance.absolute);
  return Math.abs(estimated - actual) <= allowed;
}

export interface RestoredCatalog {
  summary: CatalogSummary;
  /** Real row count per table, keyed by {@link tableKey}. */
  rowCounts: Map<string, number>;
}

export function tableKey(schema: string, name: string): string {
  return `${schema}\u0000${name}`;
}

function displayName(schema: string, name: string): string {
  const part = (s: string): string => (/^[a-z_][a-z0-9_$]*$/.test(s) ? s : quoteIdent(s));
  return `${part(schema)}.${part(name)}`;
}

/**
 * ANALYZEs the restored database, reads its catalog summary with the backup's own query, and counts every table's
 * rows (a partitioned table with its partitions, any other table without its inheritance children, as
 * pg_class.reltuples counts them).
 */
export async function readRestoredCatalog(client: Client): Promise<RestoredCatalog> {
  await client.query('ANALYZE');
  const summary = await readCatalogSummary(client);
  const { rows: kinds } = await client.query<{ schema: string; name: string; relkind: string }>(
    `select n.nspname as schema, c.relname as name, c.relkind::text as relkind
       from pg_class c join pg_namespace n on n.oid = c.relnamespace where c.relkind in ('r', 'p')`,
  );
  const kind = new Map(kinds.map((k) => [tableKey(k.schema, k.name), k.relkind]));
  const rowCounts = new Map<string, number>();
  for (const t of summary.tables) {
    const only = kind.get(tableKey(t.schema, t.name)) === 'p' ? '' : 'ONLY ';
    const { rows } = await client.query<{ n: string }>(`select count(*) as n from ${only}${quoteIdent(t.schema)}.${quoteIdent(t.name)}`);
    rowCounts.set(tableKey(t.schema, t.name), Number(rows[0].n));
  }
  return { summary, rowCounts };
}

const COUNT_LABELS: Record<keyof CatalogSummary['counts'], string> = {
  tables: 'tables',
  indexes: 'indexes',
  sequences: 'sequences',
  views: 'views',
  materializedViews: 'materialized views',
  functions: 'functions',
};

export interface CompareOptions {
  tolerance?: RowTolerance;
  /**
   * Major version of the server the backup was taken from. Before PostgreSQL 14 a never-analyzed table has
   * reltuples 0 rather than -1, so a recorded 0 says nothing there and is not checked.
   */
  sourceMajor?: number;
}

/** What differs between the recorded summary and the restored copy, one phrase each; empty when they agree. */
export function compareCatalog(recorded: CatalogSummary, restored: RestoredCatalog, options: CompareOptions = {}): string[] {
  const tolerance = options.tolerance ?? DEFAULT_ROW_TOLERANCE;
  const differences: string[] = [];
  for (const [field, label] of Object.entries(COUNT_LABELS) as [keyof CatalogSummary['counts'], string][]) {
    const want = recorded.counts[field];
    const got = restored.summary.counts[field];
    if (want !== got) differences.push(`${label}: ${want} recorded, ${got} restored`);
  }

  const restoredTables = new Set(restored.summary.tables.map((t) => tableKey(t.schema, t.name)));
  const recordedTables = new Set(recorded.tables.map((t) => tableKey(t.schema, t.name)));
  for (const t of recorded.tables) {
    if (!restoredTables.has(tableKey(t.schema, t.name))) differences.push(`table ${displayName(t.schema, t.name)} is recorded but missing from the restored copy`);
  }
  for (const t of restored.summary.tables) {
    if (!recordedTables.has(tableKey(t.schema, t.name))) differences.push(`table ${displayName(t.schema, t.name)} is in the restored copy but not recorded`);
  }

  // pg_dump recreates an extension at the loading server's default version, so only its presence is compared.
  if (recorded.extensions && restored.summary.extensions) {
    const present = new Set(restored.summary.extensions.map((e) => e.name));
    for (const e of recorded.extensions) if (!present.has(e.name)) differences.push(`extension ${e.name} is recorded but missing from the restored copy`);
  }

  const pct = Math.round(tolerance.relative * 100);
  for (const t of recorded.tables) {
    const actual = restored.rowCounts.get(tableKey(t.schema, t.name));
    const expected = expectedRows(t, options.sourceMajor);
    if (actual === undefined || expected === undefined || actual >= expected) continue;
    if (!rowsWithinTolerance(expected, actual, tolerance)) {
      differences.push(
        `rows of ${displayName(t.schema, t.name)}: ${actual} restored, fewer than the ${expected} the backup recorded (${expected === t.liveRows ? 'live rows counted' : 'planner estimate'}), by more than ${pct}% or ${tolerance.absolute} rows`,
      );
    }
  }
  return differences;
}

/** The most rows a heap page of 8 kB can hold (PostgreSQL's MaxHeapTuplesPerPage). */
const MAX_ROWS_PER_PAGE = 291;

/**
 * The rows the backup's statistics support for a table at dump time (the least of its numbers), or undefined when
 * they support none. See the module comment for why the least.
 */
export function expectedRows(t: CatalogSummary['tables'][number], sourceMajor?: number): number | undefined {
  const candidates: number[] = [];
  const planner = plannerRows(t, sourceMajor);
  if (planner !== undefined) candidates.push(planner);
  if (t.liveRows !== undefined && t.liveRows >= 0) candidates.push(Math.round(t.liveRows));
  return candidates.length > 0 ? Math.min(...candidates) : undefined;
}

function plannerRows(t: CatalogSummary['tables'][number], sourceMajor: number | undefined): number | undefined {
  if (t.estimatedRows < 0) return undefined;
  // Before PostgreSQL 14 a never-analyzed table has reltuples 0 rather than -1.
  if (t.estimatedRows === 0 && sourceMajor !== undefined && sourceMajor < 14) return undefined;
  if (t.relpages === undefined || t.pages === undefined) return Math.round(t.estimatedRows);
  if (t.pages === 0) return 0;
  if (t.relpages <= 0 || t.estimatedRows === 0) return undefined;
  const density = t.estimatedRows / t.relpages;
  if (density > MAX_ROWS_PER_PAGE) return undefined;
  return Math.round(density * t.pages);
}
