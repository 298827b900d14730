/**
 * Where the database is: libpq's own environment (PGHOST PGPORT PGUSER PGPASSWORD PGDATABASE PGSSLMODE) or a
 * URL from --database-url / DATABASE_URL. One resolved value feeds both node-postgres (queries) and the libpq
 * tools (pg_dump, psql), so they always talk to the same server. Passwords travel in the child's environment,
 * never in argv, where `ps` would show them.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import type { ClientConfig } from 'pg';
import { parse as parsePgUrl } from 'pg-connection-string';
import { ENV, RDS_CA_BUNDLE_PATH, SSL_MODES } from '../contract';
import { UserError } from '../core/errors';

export interface Connection {
  host: string;
  port: number;
  user: string;
  password?: string;
  database: string;
  sslmode?: string;
  /**
   * The CA certificate file (PEM) the server's certificate must chain to, as libpq's PGSSLROOTCERT / sslrootcert:
   * set whenever the server's certificate is checked (verify-ca, verify-full, and require with a CA file, as libpq
   * does), or `system` for the platform's trusted roots.
   */
  sslrootcert?: string;
}

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
  if (!(SSL_MODES as readonly string[]).includes(mode)) {
    throw new UserError(`${source} has sslmode ${JSON.stringify(mode)}: use one of ${SSL_MODES.join(', ')}`, 2);
  }
  return mode;
}

/** libpq's own default CA file, used when neither PGSSLROOTCERT nor sslrootcert names one. */
export function defaultRootCertPath(): string {
  return join(homedir(), '.postgresql', 'root.crt');
}

const VERIFYING = new Set(['verify-ca', 'verify-full']);

/**
 * The CA file the connection checks the server's certificate against, decided as libpq decides it, so that pg_dump
 * and psql (libpq) and node-postgres accept and refuse the same servers: verify-ca and verify-full need a CA
 * (PGSSLROOTCERT or sslrootcert, else ~/.postgresql/root.crt); with `require`, a CA file that is named or present
 * turns on the CA check too. A CA that cannot be read is a usage error before anything connects.
 * https://www.postgresql.org/docs/current/libpq-ssl.html
 */
function resolveRootCert(sslmode: string | undefined, named: string | undefined, source: string): string | undefined {
  if (sslmode === undefined || !(VERIFYING.has(sslmode) || sslmode === 'require')) return undefined;
  const given = named !== undefined && named !== '' ? named : undefined;
  if (given === 'system') {
    if (sslmode !== 'verify-full') {
      throw new UserError(`${source}: sslrootcert=system checks only with sslmode verify-full (libpq refuses ${sslmode} with it): use sslmode verify-full`, 2);
    }
    return given;
  }
  const path = given ?? defaultRootCertPath();
  if (given === undefined && !VERIFYING.has(sslmode) && !existsSync(path)) return undefined;
  const file = `the CA file ${path} (${given !== undefined ? source : `libpq's default, which sslmode ${sslmode} needs when PGSSLROOTCERT is unset`})`;
  const fix = `set PGSSLROOTCERT (or sslrootcert= in the URL) to the PEM file of the CA that signed the server's certificate (for Amazon RDS: ${RDS_CA_BUNDLE_PATH} in the image)`;
  let pem: string;
  try {
    pem = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UserError(`${file} ${code === 'ENOENT' ? 'does not exist' : `cannot be read (${code ?? (err as Error).message})`}: ${fix}`, 2, { cause: err });
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new UserError(`${file} holds no PEM certificate: ${fix}`, 2);
  return path;
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

/** libpq's variables a URL leaves to the environment (what the URL does not name itself). */
export interface LibpqDefaults {
  PGUSER?: string;
  PGPASSWORD?: string;
  PGSSLMODE?: string;
  PGSSLROOTCERT?: string;
}

/**
 * Takes sslmode and sslrootcert out of the URL's query: they are decided here, as libpq decides them (with
 * PGSSLMODE / PGSSLROOTCERT as fallbacks), rather than by pg-connection-string, which reads the CA file itself and
 * refuses verify-ca without sslrootcert in the URL.
 */
function takeSslParams(url: string): { rest: string; sslmode?: string; sslrootcert?: string } {
  const hostStart = Math.max(url.lastIndexOf('@'), url.indexOf('://') + 2);
  const q = url.indexOf('?', hostStart);
  if (q < 0) return { rest: url };
  const params = new URLSearchParams(url.slice(q + 1));
  const sslmode = params.get('sslmode') ?? undefined;
  const sslrootcert = params.get('sslrootcert') ?? undefined;
  params.delete('sslmode');
  params.delete('sslrootcert');
  const query = params.toString();
  return { rest: `${url.slice(0, q)}${query ? `?${query}` : ''}`, ...(sslmode !== undefined ? { sslmode } : {}), ...(sslrootcert !== undefined ? { sslrootcert } : {}) };
}

/**
 * The URL schemes accepted: libpq's (`postgresql://`, `postgres://`) and SQLAlchemy's `dialect+driver` form that the
 * platform's services are given (`postgresql+asyncpg://`, `+psycopg`, `+psycopg2`, `+pg8000`): the driver names the
 * Python client library, not anything about the server, so it is dropped and the rest is read as libpq reads it.
 */
const URL_SCHEME = /^postgres(?:ql)?(\+[A-Za-z0-9_]+)?:\/\//;

/**
 * Parses a database URL (see {@link URL_SCHEME}) with pg-connection-string (node-postgres' own parser, libpq
 * semantics). Every refusal is a usage error naming the problem, with the password masked.
 */
export function parseDatabaseUrl(given: string, env: LibpqDefaults = {}): Connection {
  const masked = maskDatabaseUrl(given);
  const usage = (why: string) => new UserError(`database URL ${masked} ${why}`, 2);
  const scheme = URL_SCHEME.exec(given);
  if (!scheme) {
    throw usage('must start with postgresql:// (or postgres://, postgresql+asyncpg://, postgresql+psycopg://, postgresql+psycopg2://): use postgresql://USER:PASSWORD@HOST:PORT/DATABASE');
  }
  const url = `postgresql://${given.slice(scheme[0].length)}`;
  // pg-connection-string keeps a malformed escape as literal text; libpq refuses it, and so do we.
  const bad = /%(?![0-9A-Fa-f]{2})/.exec(url);
  if (bad) {
    const shown = bad.index < url.lastIndexOf('@') ? 'in the user name or password' : JSON.stringify(url.slice(bad.index, bad.index + 3));
    throw usage(`has a malformed percent-escape (${shown}): write a literal % as %25`);
  }
  const { rest, sslmode: urlSslmode, sslrootcert } = takeSslParams(url);
  let parsed: ReturnType<typeof parsePgUrl>;
  try {
    parsed = parsePgUrl(rest, { useLibpqCompat: true });
  } catch (err) {
    const reason = (err as { code?: string }).code === 'ERR_INVALID_URL'
      ? 'is not a valid URL: percent-encode / ? # @ and % in the user name and password (/ as %2F, ? as %3F, # as %23, @ as %40, % as %25)'
      : `cannot be used: ${(err as Error).message}`;
    throw usage(reason);
  }
  if (!parsed.database) throw usage('names no database: add /DATABASE after the host');
  const sslmode = checkSslMode(urlSslmode ?? env.PGSSLMODE, urlSslmode !== undefined ? `database URL ${masked}` : 'PGSSLMODE');
  const rootcert = resolveRootCert(sslmode, sslrootcert ?? env.PGSSLROOTCERT, sslrootcert !== undefined ? `sslrootcert of database URL ${masked}` : 'PGSSLROOTCERT');
  const user = parsed.user || env.PGUSER || userInfo().username;
  const password = parsed.password || env.PGPASSWORD;
  return {
    host: parsed.host || defaultHost(),
    port: parsePort(parsed.port || undefined, `database URL ${masked}`),
    user,
    ...(password !== undefined ? { password } : {}),
    database: parsed.database,
    ...(sslmode ? { sslmode } : {}),
    ...(rootcert ? { sslrootcert: rootcert } : {}),
  };
}

/** libpq's own environment, as the entry read it (the CLI's, the task's). */
export type LibpqEnv = LibpqDefaults & {
  readonly [name: string]: string | undefined;
  PGHOST?: string;
  PGPORT?: string;
  PGDATABASE?: string;
};

/** Resolves the connection from --database-url, DATABASE_URL, or libpq's environment, in that order. */
export function resolveConnection(databaseUrl: string | undefined, env: LibpqEnv): Connection {
  const url = databaseUrl || env[ENV.databaseUrl];
  if (url) return parseDatabaseUrl(url, env);
  const user = env.PGUSER || userInfo().username;
  const sslmode = checkSslMode(env.PGSSLMODE, 'PGSSLMODE');
  const rootcert = resolveRootCert(sslmode, env.PGSSLROOTCERT, 'PGSSLROOTCERT');
  return {
    host: env.PGHOST || defaultHost(),
    port: parsePort(env.PGPORT, 'PGPORT'),
    user,
    ...(env.PGPASSWORD !== undefined ? { password: env.PGPASSWORD } : {}),
    database: env.PGDATABASE || user,
    ...(sslmode ? { sslmode } : {}),
    ...(rootcert ? { sslrootcert: rootcert } : {}),
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
  // The CA was decided once (resolveRootCert); libpq must not pick up another one from the parent's environment.
  if (conn.sslrootcert) env.PGSSLROOTCERT = conn.sslrootcert;
  else delete env.PGSSLROOTCERT;
  env.PGAPPNAME = env.PGAPPNAME || 'meatbackup';
  return env;
}

/**
 * node-postgres' TLS options for `conn`, with libpq's meaning of each sslmode: no TLS for disable, allow and prefer
 * (node-postgres cannot fall back); `require` encrypts without checking the certificate unless a CA file was resolved
 * (then, like libpq, it checks the CA); verify-ca checks that the certificate chains to the CA and nothing else;
 * verify-full also checks that it names the host connected to. Always explicit: left undefined, node-postgres would
 * read PGSSLMODE itself and verify against Node's public roots.
 */
export function pgSslOptions(conn: Connection): ClientConfig['ssl'] {
  const mode = conn.sslmode;
  if (mode !== 'require' && mode !== 'verify-ca' && mode !== 'verify-full') return false;
  if (mode === 'require' && !conn.sslrootcert) return { rejectUnauthorized: false };
  // sslrootcert=system: Node's own trusted roots (its default when no `ca` is given).
  const ca = conn.sslrootcert && conn.sslrootcert !== 'system' ? readFileSync(conn.sslrootcert, 'utf8') : undefined;
  return {
    rejectUnauthorized: true,
    ...(ca !== undefined ? { ca } : {}),
    ...(mode === 'verify-full' ? {} : { checkServerIdentity: () => undefined }),
  };
}

/** node-postgres configuration for `conn`. */
export function pgClientConfig(conn: Connection): ClientConfig {
  return {
    host: conn.host,
    port: conn.port,
    user: conn.user,
    password: conn.password,
    database: conn.database,
    application_name: 'meatbackup',
    connectionTimeoutMillis: 10_000,
    ssl: pgSslOptions(conn),
  };
}

/** How to name the server in messages, without the password. */
export function describeConnection(conn: Connection): string {
  const host = conn.host.startsWith('/') ? `socket ${conn.host}` : `${conn.host}:${conn.port}`;
  return `database ${conn.database} on ${host} as ${conn.user}`;
}
