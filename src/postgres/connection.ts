/**
 * Where the database is: libpq's own environment (PGHOST PGPORT PGUSER PGPASSWORD PGDATABASE PGSSLMODE) or a
 * URL from --database-url / DATABASE_URL. One resolved value feeds both node-postgres (queries) and the libpq
 * tools (pg_dump, psql), so they always talk to the same server. Passwords travel in the child's environment,
 * never in argv, where `ps` would show them.
 */
import { existsSync } from 'node:fs';
import { userInfo } from 'node:os';
import type { ClientConfig } from 'pg';
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

export function parseDatabaseUrl(url: string): Connection {
  const redacted = url.replace(/:\/\/([^:@/]*):[^@/]*@/, '://$1:***@');
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UserError(`database URL ${redacted} is not a URL: use postgresql://USER:PASSWORD@HOST:PORT/DATABASE`, 2);
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new UserError(`database URL ${redacted} must start with postgresql:// (got ${parsed.protocol}//)`, 2);
  }
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
  if (!database) throw new UserError(`database URL ${redacted} names no database: add /DATABASE after the host`, 2);
  const host = decodeURIComponent(parsed.hostname) || parsed.searchParams.get('host') || defaultHost();
  const user = decodeURIComponent(parsed.username) || process.env.PGUSER || userInfo().username;
  const password = parsed.password ? decodeURIComponent(parsed.password) : process.env.PGPASSWORD;
  return {
    host: host.replace(/^\[(.*)\]$/, '$1'),
    port: parsePort(parsed.port || undefined, `database URL ${redacted}`),
    user,
    ...(password !== undefined ? { password } : {}),
    database,
    ...(checkSslMode(parsed.searchParams.get('sslmode') ?? undefined, `database URL ${redacted}`) ? { sslmode: parsed.searchParams.get('sslmode')! } : {}),
  };
}

/** Resolves the connection from --database-url, DATABASE_URL, or libpq's environment, in that order. */
export function resolveConnection(databaseUrl?: string): Connection {
  const url = databaseUrl ?? process.env[ENV.databaseUrl];
  if (url) return parseDatabaseUrl(url);
  const user = process.env.PGUSER || userInfo().username;
  const sslmode = checkSslMode(process.env.PGSSLMODE, 'PGSSLMODE');
  return {
    host: process.env.PGHOST || defaultHost(),
    port: parsePort(process.env.PGPORT, 'PGPORT'),
    user,
    ...(process.env.PGPASSWORD !== undefined ? { password: process.env.PGPASSWORD } : {}),
    database: process.env.PGDATABASE || user,
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
