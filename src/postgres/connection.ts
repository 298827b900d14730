/**
 * Where the database is: libpq's own environment (PGHOST PGPORT PGUSER PGPASSWORD PGDATABASE PGSSLMODE) or a
 * URL from --database-url / DATABASE_URL. One resolved value feeds both node-postgres (queries) and the libpq
 * tools (pg_dump, psql), so they always talk to the same server. Passwords travel in the child's environment,
 * never in argv, where `ps` would show them.
 */
import { existsSync } from 'node:fs';
import { userInfo } from 'node:os';
import type { ClientConfig } from 'pg';
import { parse as parsePgUrl } from 'pg-connection-string';
import { ENV } from '../contract';
import { UserError } from '../core/errors';

export interface Connection {
  host: string;
  port: number;
  user: string;
  password?: string;
  database: string;
  sslmode?: string;
}

const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'];

function parsePort(raw: string | undefined, source: string): number {
  if (raw === undefined || raw === '') return 5432;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new UserError(`${source} has port ${JSON.stringify(raw)}: give a number from 1 to 65535`, 2);
  }
  return port;
}

function checkSslMode(mode: string | undefined, source: string): string | undefined {
  if (mode === undefined || mode === '') return undefined;
  if (!SSL_MODES.includes(mode)) {
    throw new UserError(`${source} has sslmode ${JSON.stringify(mode)}: use one of ${SSL_MODES.join(', ')}`, 2);
  }
  return mode;
}

/** libpq's default host: its Unix socket directory when present, else localhost. */
function defaultHost(): string {
  return existsSync('/var/run/postgresql/.s.PGSQL.5432') ? '/var/run/postgresql' : 'localhost';
}

/**
 * The URL with its password replaced by `***`, whatever characters the password holds (`/ @ ? # %` included, even
 * unencoded, when the URL does not parse): the userinfo is everything between `://` and the last `@` before the
 * path, so an `@` or `/` inside the password cannot end it early.
 */
export function maskDatabaseUrl(url: string): string {
  const scheme = url.indexOf('://');
  if (scheme < 0) return url;
  const rest = url.slice(scheme + 3);
  const at = rest.lastIndexOf('@');
  if (at < 0) return url;
  const userinfo = rest.slice(0, at);
  const colon = userinfo.indexOf(':');
  if (colon < 0) return url;
  return `${url.slice(0, scheme + 3)}${userinfo.slice(0, colon)}:***${rest.slice(at)}`;
}

/** libpq's variables a URL leaves to the environment (its user and password when the URL names none). */
export interface LibpqDefaults {
  PGUSER?: string;
  PGPASSWORD?: string;
}

/**
 * Parses a postgresql:// URL with pg-connection-string (node-postgres' own parser, libpq semantics). Every refusal is
 * a usage error naming the problem, with the password masked.
 */
export function parseDatabaseUrl(url: string, env: LibpqDefaults = {}): Connection {
  const masked = maskDatabaseUrl(url);
  const usage = (why: string) => new UserError(`database URL ${masked} ${why}`, 2);
  if (!/^postgres(ql)?:\/\//.test(url)) throw usage(`must start with postgresql:// (use postgresql://USER:PASSWORD@HOST:PORT/DATABASE)`);
  // pg-connection-string keeps a malformed escape as literal text; libpq refuses it, and so do we.
  const bad = /%(?![0-9A-Fa-f]{2})/.exec(url);
  if (bad) {
    const shown = bad.index < url.lastIndexOf('@') ? 'in the user name or password' : JSON.stringify(url.slice(bad.index, bad.index + 3));
    throw usage(`has a malformed percent-escape (${shown}): write a literal % as %25`);
  }
  let parsed: ReturnType<typeof parsePgUrl>;
  try {
    parsed = parsePgUrl(url, { useLibpqCompat: true });
  } catch (err) {
    const reason = (err as { code?: string }).code === 'ERR_INVALID_URL'
      ? 'is not a valid URL: percent-encode / ? # @ and % in the user name and password (/ as %2F, ? as %3F, # as %23, @ as %40, % as %25)'
      : `cannot be used: ${(err as Error).message}`;
    throw usage(reason);
  }
  if (!parsed.database) throw usage('names no database: add /DATABASE after the host');
  const sslmode = checkSslMode(typeof parsed.sslmode === 'string' ? parsed.sslmode : undefined, `database URL ${masked}`);
  const user = parsed.user || env.PGUSER || userInfo().username;
  const password = parsed.password || env.PGPASSWORD;
  return {
    host: parsed.host || defaultHost(),
    port: parsePort(parsed.port || undefined, `database URL ${masked}`),
    user,
    ...(password !== undefined ? { password } : {}),
    database: parsed.database,
    ...(sslmode ? { sslmode } : {}),
  };
}

/** libpq's own environment, as the entry read it (the CLI's, the task's). */
export type LibpqEnv = LibpqDefaults & {
  readonly [name: string]: string | undefined;
  PGHOST?: string;
  PGPORT?: string;
  PGDATABASE?: string;
  PGSSLMODE?: string;
};

/** Resolves the connection from --database-url, DATABASE_URL, or libpq's environment, in that order. */
export function resolveConnection(databaseUrl: string | undefined, env: LibpqEnv): Connection {
  const url = databaseUrl || env[ENV.databaseUrl];
  if (url) return parseDatabaseUrl(url, env);
  const user = env.PGUSER || userInfo().username;
  const sslmode = checkSslMode(env.PGSSLMODE, 'PGSSLMODE');
  return {
    host: env.PGHOST || defaultHost(),
    port: parsePort(env.PGPORT, 'PGPORT'),
    user,
    ...(env.PGPASSWORD !== undefined ? { password: env.PGPASSWORD } : {}),
    database: env.PGDATABASE || user,
    ...(sslmode ? { sslmode } : {}),
  };
}

export function withDatabase(conn: Connection, database: string): Connection {
  return { ...conn, database };
}

/** Environment for a libpq tool (pg_dump, psql) talking to `conn`; everything else is inherited. */
export function libpqEnv(conn: Connection, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base };
  // A DATABASE_URL or stray PGSERVICE must not override what we resolved.
  delete env.PGSERVICE;
  delete env.PGSERVICEFILE;
  env.PGHOST = conn.host;
  env.PGPORT = String(conn.port);
  env.PGUSER = conn.user;
  env.PGDATABASE = conn.database;
  if (conn.password !== undefined) env.PGPASSWORD = conn.password;
  if (conn.sslmode) env.PGSSLMODE = conn.sslmode;
  else delete env.PGSSLMODE;
  env.PGAPPNAME = env.PGAPPNAME || 'meatbackup';
  return env;
}

/** node-postgres configuration for `conn`. */
export function pgClientConfig(conn: Connection): ClientConfig {
  const verify = conn.sslmode === 'verify-ca' || conn.sslmode === 'verify-full';
  const ssl = conn.sslmode && conn.sslmode !== 'disable' && conn.sslmode !== 'allow' && conn.sslmode !== 'prefer'
    ? { rejectUnauthorized: verify }
    : undefined;
  return {
    host: conn.host,
    port: conn.port,
    user: conn.user,
    password: conn.password,
    database: conn.database,
    application_name: 'meatbackup',
    connectionTimeoutMillis: 10_000,
    ...(ssl ? { ssl } : {}),
  };
}

/** How to name the server in messages, without the password. */
export function describeConnection(conn: Connection): string {
  const host = conn.host.startsWith('/') ? `socket ${conn.host}` : `${conn.host}:${conn.port}`;
  return `database ${conn.database} on ${host} as ${conn.user}`;
}
