/**
 * The catalog summary recorded with every backup and checked after a restore test: per table the planner's row
 * estimate with the pages it was measured over and the pages there are now, the statistics system's live-row count,
 * and size, counts of tables, indexes, sequences, views, materialized views and functions, and the
 * extensions installed (pg_extension), which the server that loads the dump must offer.
 * One query, so the backup can take it in the same snapshot it hands to pg_dump.
 */
import type { Client } from 'pg';
import type { CatalogSummary } from '../contract';

/** Schemas that belong to PostgreSQL or extensions' internals, never to the platform's data. */
const USER_NAMESPACES = `
  n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast')
  and n.nspname not like 'pg_temp_%' and n.nspname not like 'pg_toast_temp_%'`;

const SUMMARY_SQL = `
with rels as (
  select c.relkind, n.nspname, c.relname, c.reltuples, c.relpages, c.oid,
         -- objects created by an extension are restored by CREATE EXTENSION, not by the dump: leave them out
         exists (select 1 from pg_depend d where d.objid = c.oid and d.deptype = 'e') as from_extension
  from pg_class c join pg_namespace n on n.oid = c.relnamespace
  where ${USER_NAMESPACES}
)
select
  coalesce((select json_agg(json_build_object(
      'schema', nspname, 'name', relname,
      -- reltuples is -1 for a table never analyzed or vacuumed: no estimate
      'estimatedRows', greatest(reltuples, -1)::float8,
      'sizeBytes', pg_total_relation_size(oid),
      'relpages', relpages,
      'pages', pg_relation_size(oid) / current_setting('block_size')::int,
      'liveRows', (select s.n_live_tup from pg_stat_all_tables s where s.relid = rels.oid)) order by nspname, relname)
    from rels where relkind in ('r', 'p') and not from_extension), '[]'::json) as tables,
  (select count(*) from rels where relkind in ('r', 'p') and not from_extension) as tables_count,
  (select count(*) from rels where relkind in ('i', 'I') and not from_extension) as indexes,
  (select count(*) from rels where relkind = 'S' and not from_extension) as sequences,
  (select count(*) from rels where relkind = 'v' and not from_extension) as views,
  (select count(*) from rels where relkind = 'm' and not from_extension) as materialized_views,
  (select count(*) from pg_proc p join pg_namespace n on n.oid = p.pronamespace
     where ${USER_NAMESPACES}
       and not exists (select 1 from pg_depend d where d.objid = p.oid and d.deptype = 'e')) as functions,
  pg_database_size(current_database()) as total_bytes,
  -- what the dump's CREATE EXTENSION statements will ask of the server that loads it
  coalesce((select json_agg(json_build_object('name', extname, 'version', extversion) order by extname) from pg_extension), '[]'::json)
    as extensions`;

interface SummaryRow {
  tables: { schema: string; name: string; estimatedRows: number; sizeBytes: number; relpages: number; pages: number; liveRows: number | null }[];
  tables_count: string;
  indexes: string;
  sequences: string;
  views: string;
  materialized_views: string;
  functions: string;
  total_bytes: string;
  extensions: { name: string; version: string }[];
}

export async function readCatalogSummary(client: Client): Promise<CatalogSummary> {
  const { rows } = await client.query<SummaryRow>(SUMMARY_SQL);
  const r = rows[0];
  return {
    tables: r.tables.map((t) => ({
      schema: t.schema,
      name: t.name,
      estimatedRows: Number(t.estimatedRows),
      sizeBytes: Number(t.sizeBytes),
      relpages: Number(t.relpages),
      pages: Number(t.pages),
      ...(t.liveRows !== null ? { liveRows: Number(t.liveRows) } : {}),
    })),
    counts: {
      tables: Number(r.tables_count),
      indexes: Number(r.indexes),
      sequences: Number(r.sequences),
      views: Number(r.views),
      materializedViews: Number(r.materialized_views),
      functions: Number(r.functions),
    },
    totalBytes: Number(r.total_bytes),
    extensions: r.extensions.map((e) => ({ name: e.name, version: e.version })),
  };
}
