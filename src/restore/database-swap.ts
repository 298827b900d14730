/**
 * The database-level half of a restore, run over a session on a maintenance database (`postgres`), never on the
 * database being replaced: create the fresh database like the one it will replace, carry over what a plain
 * `pg_dump` does not (database GRANTs, `ALTER DATABASE … SET`, `ALTER ROLE … IN DATABASE … SET`, comment,
 * connection limit), and swap names in one transaction so the live name always points at a whole database.
 *
 * Statements are built server-side with format(): names are quoted by PostgreSQL itself (%I), and so are comments and
 * options (%L). Three parts are not: a setting's value in `SET name = …` is quoted here ('' doubling, exact because
 * standard_conforming_strings is on for every supported server), after its name is checked against GUC_NAME; a
 * privilege keyword read from aclexplode() and the integer connection limit go in with %s.
 */
import type { Client } from 'pg';
import { UserError } from '../core/errors';
import { serverVersion } from '../postgres/client';

/** PostgreSQL truncates identifiers to NAMEDATALEN - 1 bytes; we shorten ourselves so names stay distinct. */
const MAX_NAME_BYTES = 63;

/** What a fresh database copies from the one it replaces. Fields missing on older servers are undefined. */
export interface DatabaseInfo {
  name: string;
  owner: string;
  encoding: string;
  collate: string;
  ctype: string;
  /** `c` (libc), `i` (ICU) or `b` (builtin, PostgreSQL 17+). */
  localeProvider?: string;
  /** ICU locale (PostgreSQL 15–16 `daticulocale`, 17+ `datlocale`). */
  locale?: string;
  icuRules?: string;
  tablespace: string;
  connectionLimit: number;
  /** `datacl` as text; null means the built-in default privileges. */
  acl: string | null;
  comment: string | null;
}

/** The UTC stamp used in the names a restore creates: `20250917T103000Z`. */
export function nameStamp(date: Date): string {
  return date.toISOString().slice(0, 19).replace(/[-:]/g, '') + 'Z';
}

/** The stamped suffixes this project adds to database names (`_pre_restore_<stamp>`, `_restore_<stamp>_2`, …). */
const STAMPED_TAIL = /(?:_(?:pre_restore|restore_test|restore)_\d{8}T\d{6}Z(?:_\d+)?)+$/;

/** `text` cut on a character boundary to at most `bytes` bytes of UTF-8. */
function cutToBytes(text: string, bytes: number): string {
  if (bytes <= 0) return '';
  let head = text;
  while (Buffer.byteLength(head) > bytes) head = Array.from(head).slice(0, -1).join('');
  return head;
}

/**
 * `<base><suffix>` within PostgreSQL's 63-byte identifiers (it would cut the rest off silently, suffix included, and
 * two restores could collide). When it does not fit, the database-name part of `base` is shortened, never a stamp:
 * the suffix's and those `base` already carries (a target that is itself a kept copy, `meatdb_pre_restore_…`) stay
 * whole, down to one character of the name; only longer than that are the base's own stamps cut. The same base and
 * suffix always give the same name (./leftovers relies on it); the restore makes it unique on the server by adding
 * `_2`, `_3` … to the stamp (unusedName).
 */
export function derivedName(base: string, suffix: string): string {
  if (Buffer.byteLength(base) + Buffer.byteLength(suffix) <= MAX_NAME_BYTES) return `${base}${suffix}`;
  const tail = STAMPED_TAIL.exec(base)?.[0] ?? '';
  const name = base.slice(0, base.length - tail.length);
  const room = MAX_NAME_BYTES - Buffer.byteLength(suffix) - Buffer.byteLength(tail);
  const head = cutToBytes(name, room);
  if (tail && head.length > 0) return `${head}${tail}${suffix}`;
  return `${cutToBytes(base, MAX_NAME_BYTES - Buffer.byteLength(suffix))}${suffix}`;
}

export function freshName(target: string, stamp: string): string {
  return derivedName(target, `_restore_${stamp}`);
}

export function keptName(target: string, stamp: string): string {
  return derivedName(target, `_pre_restore_${stamp}`);
}

export async function databaseExists(admin: Client, name: string): Promise<boolean> {
  const { rowCount } = await admin.query('select 1 from pg_database where datname = $1', [name]);
  return (rowCount ?? 0) > 0;
}

/**
 * Databases a restore never replaces or creates: the templates every CREATE DATABASE copies (a restored template0
 * loses datistemplate and every later restore, which creates from template0, fails) and `postgres`, the maintenance
 * database the restore's own sessions and lock use.
 */
export const SYSTEM_DATABASES: readonly string[] = ['template0', 'template1', 'postgres'];

function refuseSystemTarget(name: string, why: string): UserError {
  return new UserError(`database ${name} is ${why}: a restore never replaces it; restore into your application's database or a new one (--target-db NAME); nothing was changed`, 2);
}

/** Refuses a system database by name, before anything is read or connected to. */
export function refuseSystemDatabaseName(name: string): void {
  if (SYSTEM_DATABASES.includes(name)) throw refuseSystemTarget(name, name === 'postgres' ? 'the system maintenance database' : 'a system template database');
}

/** Refuses any database marked as a template on the server (datistemplate), whatever its name. */
export async function refuseTemplateDatabase(admin: Client, name: string): Promise<void> {
  const { rows } = await admin.query<{ t: boolean }>('select datistemplate as t from pg_database where datname = $1', [name]);
  if (rows[0]?.t) throw refuseSystemTarget(name, 'a template database (datistemplate is set)');
}

/** A name not taken yet: `name`, else `name_2`, `name_3`… (shortened to fit). */
export async function unusedName(admin: Client, make: (suffix: string) => string): Promise<string> {
  for (let n = 1; n < 100; n += 1) {
    const name = make(n === 1 ? '' : `_${n}`);
    if (!(await databaseExists(admin, name))) return name;
  }
  throw new UserError('could not find a free database name for the restore: drop old *_restore_* / *_pre_restore_* databases');
}

/** Reads what a replacement must copy; undefined when the database does not exist. */
export async function describeDatabase(admin: Client, name: string): Promise<DatabaseInfo | undefined> {
  // to_jsonb(d) keeps this working across versions whose pg_database columns differ (locale provider, ICU).
  const { rows } = await admin.query<{ d: Record<string, unknown>; owner: string; encoding: string; tablespace: string; acl: string | null; comment: string | null }>(
    `select to_jsonb(d) as d, pg_get_userbyid(d.datdba) as owner, pg_encoding_to_char(d.encoding) as encoding,
            t.spcname as tablespace, d.datacl::text as acl, shobj_description(d.oid, 'pg_database') as comment
       from pg_database d join pg_tablespace t on t.oid = d.dattablespace
      where d.datname = $1`,
    [name],
  );
  if (rows.length === 0) return undefined;
  const { d, owner, encoding, tablespace, acl, comment } = rows[0];
  const text = (key: string): string | undefined => (typeof d[key] === 'string' && d[key] !== '' ? (d[key] as string) : undefined);
  return {
    name,
    owner,
    encoding,
    collate: text('datcollate') ?? '',
    ctype: text('datctype') ?? '',
    localeProvider: text('datlocprovider'),
    locale: text('datlocale') ?? text('daticulocale'),
    icuRules: text('daticurules'),
    tablespace,
    connectionLimit: Number(d.datconnlimit ?? -1),
    acl,
    comment,
  };
}

async function serverMajor(admin: Client): Promise<number> {
  return (await serverVersion(admin)).major;
}

/** Runs a statement produced by `select format(…)` with the given parameters. */
export async function runFormatted(admin: Client, formatSql: string, params: unknown[]): Promise<string> {
  const { rows } = await admin.query<{ sql: string }>(`select ${formatSql} as sql`, params);
  await admin.query(rows[0].sql);
  return rows[0].sql;
}

/**
 * Creates `name` from template0 with the encoding, locale, owner and tablespace of `like` (or the server's
 * defaults when there is nothing to replace). Connection limit, grants and settings come later, after the load,
 * so they cannot get in the way of the restore session.
 */
export async function createFreshDatabase(admin: Client, name: string, like?: DatabaseInfo): Promise<string> {
  if (!like) return runFormatted(admin, "format('CREATE DATABASE %I TEMPLATE template0', $1::text)", [name]);
  const parts = ["format('CREATE DATABASE %I TEMPLATE template0 OWNER %I ENCODING %L', $1::text, $2::text, $3::text)"];
  const params: unknown[] = [name, like.owner, like.encoding];
  const add = (clause: string, value: string): void => {
    params.push(value);
    parts.push(`format(' ${clause} %L', $${params.length}::text)`);
  };
  add('LC_COLLATE', like.collate);
  add('LC_CTYPE', like.ctype);
  if (like.localeProvider === 'i') {
    add('LOCALE_PROVIDER', 'icu');
    if (like.locale) add((await serverMajor(admin)) >= 17 ? 'LOCALE' : 'ICU_LOCALE', like.locale);
    if (like.icuRules) add('ICU_RULES', like.icuRules);
  } else if (like.localeProvider === 'b') {
    add('LOCALE_PROVIDER', 'builtin');
    if (like.locale) add('BUILTIN_LOCALE', like.locale);
  }
  if (like.tablespace !== 'pg_default') {
    params.push(like.tablespace);
    parts.push(`format(' TABLESPACE %I', $${params.length}::text)`);
  }
  return runFormatted(admin, parts.join(' || '), params);
}

/** GUCs whose values are lists of identifiers; pg_dump's variable_is_guc_list_quote() has the same list. */
const LIST_QUOTE_GUCS = new Set([
  'local_preload_libraries',
  'search_path',
  'session_preload_libraries',
  'shared_preload_libraries',
  'temp_tablespaces',
  'unix_socket_directories',
]);

/** Splits a stored list value such as `"$user", public` into its elements, as pg_dump's SplitGUCList does. */
export function splitGucList(value: string): string[] {
  const items: string[] = [];
  let i = 0;
  const skipSpace = (): void => {
    while (i < value.length && /\s/.test(value[i])) i += 1;
  };
  skipSpace();
  if (i >= value.length) return items;
  for (;;) {
    let item = '';
    if (value[i] === '"') {
      i += 1;
      for (;;) {
        if (i >= value.length) throw new Error(`unterminated quoted name in ${JSON.stringify(value)}`);
        if (value[i] === '"') {
          if (value[i + 1] === '"') {
            item += '"';
            i += 2;
            continue;
          }
          i += 1;
          break;
        }
        item += value[i];
        i += 1;
      }
    } else {
      while (i < value.length && value[i] !== ',' && !/\s/.test(value[i])) item += value[i++];
    }
    items.push(item);
    skipSpace();
    if (i >= value.length) return items;
    if (value[i] !== ',') throw new Error(`cannot split ${JSON.stringify(value)} as a list`);
    i += 1;
    skipSpace();
  }
}

const GUC_NAME = /^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)*$/;

/** `SET name = 'v'` (or `SET name = 'a', 'b'` for list GUCs) for one `name=value` entry of pg_db_role_setting. */
export function setClause(entry: string, quoteLiteral: (v: string) => string): string {
  const eq = entry.indexOf('=');
  const name = entry.slice(0, eq);
  const value = entry.slice(eq + 1);
  if (eq <= 0 || !GUC_NAME.test(name)) throw new Error(`unexpected setting ${JSON.stringify(entry)}`);
  const values = LIST_QUOTE_GUCS.has(name.toLowerCase()) ? splitGucList(value) : [value];
  // An empty list (search_path = '') is stored as one empty string; SET needs a literal for it.
  return `SET ${name} = ${(values.length ? values : ['']).map(quoteLiteral).join(', ')}`;
}

export function quoteLiteral(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

/** Ends every other session on `name`; returns how many were asked to end. */
export async function terminateConnections(admin: Client, name: string): Promise<number> {
  const { rows } = await admin.query<{ n: string }>(
    `select count(*) filter (where pg_terminate_backend(pid)) as n
       from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()`,
    [name],
  );
  return Number(rows[0].n);
}

/** Who is still connected, for an error message: `app@client (user)`. */
async function connectedSessions(admin: Client, name: string): Promise<string[]> {
  const { rows } = await admin.query<{ who: string }>(
    `select coalesce(nullif(application_name, ''), 'unnamed') || ' from ' || coalesce(host(client_addr), 'local socket')
            || ' as ' || coalesce(usename, '?') as who
       from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()`,
    [name],
  );
  return rows.map((r) => r.who);
}

/** Drops a database the restore created, ending any session still on it (PostgreSQL 13+: WITH (FORCE)). */
export async function dropDatabase(admin: Client, name: string): Promise<void> {
  const force = (await serverMajor(admin)) >= 13;
  if (!force) await terminateConnections(admin, name);
  await runFormatted(admin, `format('DROP DATABASE IF EXISTS %I${force ? ' WITH (FORCE)' : ''}', $1::text)`, [name]);
}

export async function renameDatabase(admin: Client, from: string, to: string): Promise<void> {
  await runFormatted(admin, "format('ALTER DATABASE %I RENAME TO %I', $1::text, $2::text)", [from, to]);
}

export interface SwapOptions {
  /** How many times to end the sessions on the live database and try again. @default 5 */
  attempts?: number;
  /** Pause between attempts. @default 1000 */
  retryDelayMs?: number;
  /** Called when sessions had to be ended. */
  onTerminated?: (count: number, attempt: number) => void;
  /**
   * Called inside the swap's transaction after both renames, just before COMMIT: throwing rolls the swap back. What
   * must still hold for the swap to count (the restore lock, no interrupt) is checked here, where it cannot change
   * before the commit.
   */
  beforeCommit?: (admin: Client) => Promise<void>;
}

/** "database is being accessed by other users", raised by RENAME while sessions remain. */
const OBJECT_IN_USE = '55006';

/**
 * Renames `live` to `kept` and `fresh` to `live` in one transaction: either both renames happen or neither,
 * so the live name never points at nothing. RENAME refuses while other sessions use a database, so sessions are
 * ended first and the swap is retried when a client reconnects in between.
 */
export async function swapDatabases(admin: Client, names: { live: string; fresh: string; kept: string }, options: SwapOptions = {}): Promise<void> {
  const attempts = options.attempts ?? 5;
  for (let attempt = 1; ; attempt += 1) {
    const ended = await terminateConnections(admin, names.live);
    if (ended > 0) options.onTerminated?.(ended, attempt);
    try {
      await admin.query('BEGIN');
      // Never wait long on a lock while the web service is down: fail, and the caller restarts it.
      await admin.query("SET LOCAL lock_timeout = '10s'");
      await renameDatabase(admin, names.live, names.kept);
      await renameDatabase(admin, names.fresh, names.live);
      await options.beforeCommit?.(admin);
      await admin.query('COMMIT');
      return;
    } catch (err) {
      await admin.query('ROLLBACK').catch(() => undefined);
      if ((err as { code?: string }).code !== OBJECT_IN_USE || attempt >= attempts) {
        if ((err as { code?: string }).code === OBJECT_IN_USE) {
          const who = await connectedSessions(admin, names.live).catch(() => []);
          throw new UserError(
            `database ${names.live} still has sessions after ${attempts} attempts to end them (${who.join('; ') || 'they reconnect at once'}): stop those clients and run the restore again`,
            1,
            { cause: err },
          );
        }
        throw err;
      }
      await new Promise((r) => setTimeout(r, options.retryDelayMs ?? 1000));
    }
  }
}
