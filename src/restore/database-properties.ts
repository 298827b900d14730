/**
 * Applying what a plain `pg_dump` (without `--create`) leaves out about the database itself: its owner, GRANTs,
 * comment, connection limit, `ALTER DATABASE … SET` and `ALTER ROLE … IN DATABASE … SET` settings. A restore over a
 * live database copies them from the database it replaces; with nothing to copy from (the database was dropped, a new
 * server) it applies those the backup recorded (manifest `databaseProperties`, read by
 * ../postgres/database-properties).
 */
import type { Client } from 'pg';
import type { DatabaseProperties } from '../contract';
import { readDatabaseProperties } from '../postgres/database-properties';
import { type DatabaseInfo, quoteLiteral, runFormatted, setClause } from './database-swap';

/** SQLSTATE 42501. */
const INSUFFICIENT_PRIVILEGE = '42501';

export interface AppliedProperties {
  /** The statements run, for the log. */
  statements: string[];
  /** What could not be applied on this server (a role that does not exist here), one line each. */
  notes: string[];
}

export interface ApplyOptions {
  /** Also make the recorded owner the database's owner (a fresh database created without one). */
  owner?: boolean;
}

/**
 * Applies `props` to database `to`. Roles this server lacks (a new server restored without --with-globals) are
 * skipped, each with a note: the rest still applies.
 */
export async function applyDatabaseProperties(client: Client, props: DatabaseProperties, to: string, options: ApplyOptions = {}): Promise<AppliedProperties> {
  const statements: string[] = [];
  const notes: string[] = [];
  const run = async (formatSql: string, params: unknown[]): Promise<void> => {
    try {
      statements.push(await runFormatted(client, formatSql, params));
    } catch (err) {
      // Applying what a backup recorded onto another server: a statement this role may not run (it is not a member
      // of the recorded owner, say) is a note, not a failed restore after the whole load.
      if (!options.owner || (err as { code?: string }).code !== INSUFFICIENT_PRIVILEGE) throw err;
      notes.push(`a database property the backup recorded was not applied (${(err as Error).message}): apply it as the database's owner or a superuser`);
    }
  };
  const { rows } = await client.query<{ rolname: string }>('select rolname from pg_roles');
  const roles = new Set(rows.map((r) => r.rolname));
  const missing = (role: string, what: string): boolean => {
    if (roles.has(role)) return false;
    notes.push(`role ${role} does not exist on this server: ${what} not applied (restore with --with-globals to create the backup's roles)`);
    return true;
  };

  if (options.owner && !missing(props.owner, `owner of database ${to}`)) {
    await run("format('ALTER DATABASE %I OWNER TO %I', $1::text, $2::text)", [to, props.owner]);
  }
  // Settings: standard_conforming_strings is on for every supported server, so '' quoting is exact.
  for (const { role, entries } of props.settings) {
    if (role !== null && missing(role, `its settings in database ${to}`)) continue;
    for (const entry of entries) {
      const clause = setClause(entry, quoteLiteral);
      if (role === null) await run(`format('ALTER DATABASE %I ', $1::text) || $2::text`, [to, clause]);
      else await run(`format('ALTER ROLE %I IN DATABASE %I ', $1::text, $2::text) || $3::text`, [role, to, clause]);
    }
  }
  if (props.grants !== null) {
    const { rows: owner } = await client.query<{ owner: string }>('select pg_get_userbyid(datdba) as owner from pg_database where datname = $1', [to]);
    await run("format('REVOKE ALL ON DATABASE %I FROM PUBLIC', $1::text)", [to]);
    await run("format('REVOKE ALL ON DATABASE %I FROM %I', $1::text, $2::text)", [to, owner[0].owner]);
    for (const g of props.grants) {
      const option = g.grantable ? ' WITH GRANT OPTION' : '';
      if (g.grantee === null) await run(`format('GRANT %s ON DATABASE %I TO PUBLIC', $1::text, $2::text)`, [g.privilege, to]);
      else if (!missing(g.grantee, `its ${g.privilege} grant on database ${to}`)) {
        await run(`format('GRANT %s ON DATABASE %I TO %I', $1::text, $2::text, $3::text) || $4::text`, [g.privilege, to, g.grantee, option]);
      }
    }
  }
  if (props.comment !== null) await run("format('COMMENT ON DATABASE %I IS %L', $1::text, $2::text)", [to, props.comment]);
  if (props.connectionLimit !== -1) {
    await run("format('ALTER DATABASE %I CONNECTION LIMIT %s', $1::text, $2::int)", [to, props.connectionLimit]);
  }
  return { statements, notes };
}

/** Carries the properties of `from` (the database a restore replaces) over to `to`; returns the statements run. */
export async function copyDatabaseProperties(client: Client, from: DatabaseInfo, to: string): Promise<string[]> {
  return (await applyDatabaseProperties(client, await readDatabaseProperties(client, from.name), to)).statements;
}
