/**
 * Which post-data entries of a dump may run in parallel, and after what. pg_dump's plain output carries no
 * dependencies, so only entries whose one statement is read with certainty are scheduled; the rest run after
 * everything else, alone, in the dump's order (docs/architecture.md, "Parallel restore"):
 *
 * - INDEX `CREATE [UNIQUE] INDEX i ON [ONLY] t USING …`: after the data (all of it is in by then);
 * - CONSTRAINT `ALTER TABLE [ONLY] t ADD CONSTRAINT c PRIMARY KEY | UNIQUE | EXCLUDE …`: likewise;
 * - INDEX ATTACH `ALTER INDEX p ATTACH PARTITION c`: after both indexes (entries above, found by name);
 * - FK CONSTRAINT `ALTER TABLE [ONLY] t ADD CONSTRAINT c FOREIGN KEY (…) REFERENCES r(…)`: after every primary
 *   key, unique constraint, unique index and index attachment of `r`.
 *
 * Locks: anything but CREATE INDEX takes a lock that conflicts with the others on its tables, so such an entry never
 * runs beside another entry on the same table, or on another partition of the same partitioned table (the families
 * come from the dump's TABLE ATTACH entries): two foreign keys between the same tables cannot deadlock.
 */
import { isUtf8 } from 'node:buffer';
import type { SessionSettings } from './sessions';
import type { EntryHeader } from './dump-splitter';

const IDENT = String.raw`(?:"(?:[^"]|"")+"|[a-z_][a-z0-9_$]*)`;
const QNAME = String.raw`(${IDENT}(?:\.${IDENT})?)`;
const INDEX = new RegExp(String.raw`^CREATE (UNIQUE )?INDEX (${IDENT}) ON (?:ONLY )?${QNAME} USING `);
const KEY = new RegExp(String.raw`^ALTER TABLE (?:ONLY )?${QNAME}\s+ADD CONSTRAINT ${IDENT} (?:PRIMARY KEY|UNIQUE|EXCLUDE) (?![\s\S]*\bUSING INDEX ${IDENT})`);
const KEY_NAME = new RegExp(String.raw`^ALTER TABLE (?:ONLY )?${QNAME}\s+ADD CONSTRAINT (${IDENT}) `);
const FOREIGN_KEY = new RegExp(String.raw`^ALTER TABLE (?:ONLY )?${QNAME}\s+ADD CONSTRAINT ${IDENT} FOREIGN KEY \([^)]*\) REFERENCES ${QNAME}\(`);
const ATTACH = new RegExp(String.raw`^ALTER INDEX ${QNAME} ATTACH PARTITION ${QNAME};$`);
const TABLE_ATTACH = new RegExp(String.raw`^ALTER TABLE ONLY ${QNAME} ATTACH PARTITION ${QNAME} `);

export interface PostDataEntry {
  header: EntryHeader;
  /** The entry's text as the dump has it (its comments included). */
  bytes: Buffer;
  /** The dump's session settings where the entry is. */
  settings: SessionSettings;
  /** Had a psql meta-command, several statements, or bytes that are not UTF-8: psql runs it. */
  psqlOnly: boolean;
}

export interface Planned {
  entry: PostDataEntry;
  sql: string;
  /** Indexes of the entries it must wait for. */
  after: number[];
  /** Tables (their partition families) it locks against everything else on them; none for CREATE INDEX. */
  locks: string[];
  /** Tables CREATE INDEX reads (SHARE lock: beside other indexes of the table, not beside the entries above). */
  shares: string[];
}

export interface PostDataPlan {
  parallel: Planned[];
  /** In the dump's order, after everything else, one at a time. */
  alone: PostDataEntry[];
}

/** `schema.name` as pg_dump quotes it; a name without schema takes the entry's schema. */
function qualified(name: string, schema: string): string {
  return name.includes('.') && !/^"[^"]*"$/.test(name) ? name : `${quoteIdent(schema)}.${name}`;
}

function quoteIdent(name: string): string {
  return /^[a-z_][a-z0-9_$]*$/.test(name) ? name : `"${name.replace(/"/g, '""')}"`;
}

/** The one statement of an entry, without comments and blank lines around it, or undefined if it has not exactly one. */
function oneStatement(bytes: Buffer): string | undefined {
  const lines = bytes.toString('utf8').split('\n').filter((l) => l.trim() !== '' && !/^\s*--/.test(l));
  const sql = lines.join('\n').trim();
  // The lexer saw every line; one top-level semicolon at its very end is what is left to check.
  return sql.endsWith(';') && topLevelSemicolons(sql) === 1 ? sql : undefined;
}

function topLevelSemicolons(sql: string): number {
  let count = 0;
  let quote: string | undefined;
  for (let i = 0; i < sql.length; i++) {
    const c = sql[i];
    if (quote) {
      if (c === quote) quote = sql[i + 1] === quote ? (i++, quote) : undefined;
    } else if (c === "'" || c === '"') quote = c;
    else if (c === '$') return Number.NaN; // a dollar quote: not one of the statements scheduled here
    else if (c === ';') count += 1;
  }
  return count;
}

/** Partition → parent, from the dump's `TABLE ATTACH` entries (pre-data). */
export function partitionOf(bytes: Buffer): [child: string, parent: string] | undefined {
  const sql = oneStatement(bytes);
  const m = sql && TABLE_ATTACH.exec(sql);
  return m ? [m[2], m[1]] : undefined;
}

/** The partitioned table at the top of `table`'s partition tree (the table itself when it is no partition). */
export function familyOf(table: string, parents: ReadonlyMap<string, string>): string {
  let t = table;
  for (let hops = 0; parents.has(t) && hops < 64; hops++) t = parents.get(t)!;
  return t;
}

/** Splits the post-data entries into those scheduled in parallel (with what they wait for) and those run alone. */
export function planPostData(entries: readonly PostDataEntry[], parents: ReadonlyMap<string, string>): PostDataPlan {
  const family = (table: string): string => familyOf(table, parents);
  const parallel: Planned[] = [];
  const alone: PostDataEntry[] = [];
  /** Index name → the planned entry that creates it, and its table. */
  const indexes = new Map<string, { at: number; table: string }>();
  /** Table → planned entries that give it a key a foreign key can reference. */
  const keys = new Map<string, number[]>();
  const addKey = (table: string, at: number) => keys.set(table, [...(keys.get(table) ?? []), at]);

  for (const entry of entries) {
    // Matched on its one statement; what runs is the entry's own text, comments and all.
    const sql = entry.psqlOnly || !isUtf8(entry.bytes) ? undefined : oneStatement(entry.bytes);
    const at = parallel.length;
    const { type, schema } = entry.header;
    let planned: Planned | undefined;
    if (sql && type === 'INDEX') {
      const m = INDEX.exec(sql);
      if (m) {
        planned = { entry, sql, after: [], locks: [], shares: [family(m[3])] };
        indexes.set(qualified(m[2], schema), { at, table: m[3] });
        if (m[1]) addKey(m[3], at);
      }
    } else if (sql && type === 'CONSTRAINT') {
      const m = KEY.exec(sql);
      const named = KEY_NAME.exec(sql);
      if (m && named) {
        planned = { entry, sql, after: [], locks: [family(m[1])], shares: [] };
        indexes.set(qualified(named[2], schema), { at, table: m[1] });
        addKey(m[1], at);
      }
    } else if (sql && type === 'INDEX ATTACH') {
      const m = ATTACH.exec(sql);
      const parent = m && indexes.get(m[1]);
      const child = m && indexes.get(m[2]);
      if (parent && child) {
        planned = { entry, sql, after: [parent.at, child.at], locks: [family(parent.table), family(child.table)], shares: [] };
        indexes.set(m[1], { at, table: parent.table });
        addKey(parent.table, at);
      }
    } else if (sql && type === 'FK CONSTRAINT') {
      const m = FOREIGN_KEY.exec(sql);
      if (m) planned = { entry, sql, after: [...(keys.get(m[2]) ?? [])], locks: [family(m[1]), family(m[2])], shares: [] };
    }
    if (planned) parallel.push({ ...planned, sql: entry.bytes.toString('utf8') });
    else alone.push(entry);
  }
  return { parallel, alone };
}

export function describeEntry(entry: PostDataEntry): string {
  return `${entry.header.type} ${entry.header.name}`;
}
