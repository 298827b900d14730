/** Short-lived node-postgres sessions with failures translated into one actionable line. */
import { Client } from 'pg';
import { UserError } from '../core/errors';
import { type Connection, describeConnection, pgClientConfig } from './connection';

/** Node's TLS verification codes that mean "the certificate does not chain to the CA we trust". */
const UNTRUSTED_CERT = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_SIGNATURE_FAILURE',
]);

/** A refused TLS handshake as one line naming the certificate problem and what to change; undefined for other errors. */
function describeTlsError(e: { code?: string; message?: string }, conn: Connection, where: string): string | undefined {
  const ca = conn.sslrootcert === 'system' ? "the system's trusted roots" : conn.sslrootcert ? `the CA in ${conn.sslrootcert}` : "Node's trusted roots";
  if (e.code !== undefined && UNTRUSTED_CERT.has(e.code)) {
    return `${where}: the server's certificate is not signed by ${ca} (${e.code}): set PGSSLROOTCERT (database.sslRootCert in the stacks) to the CA that signed it`;
  }
  if (e.code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return `${where}: the server's certificate does not name host ${conn.host} (sslmode verify-full: ${e.message}): connect by a name the certificate holds, or use sslmode verify-ca, which checks only the CA`;
  }
  if (e.code === 'CERT_HAS_EXPIRED' || e.code === 'CERT_NOT_YET_VALID') {
    return `${where}: the server's certificate is outside its validity period (${e.code}): renew the server's certificate or check this machine's clock`;
  }
  if (/does not support SSL/i.test(e.message ?? '')) {
    return `${where}: the server does not accept SSL connections, which sslmode ${conn.sslmode} requires: turn on ssl on the server, or use sslmode prefer or disable`;
  }
  return undefined;
}

export function describePgError(err: unknown, conn: Connection): UserError {
  if (err instanceof UserError) return err;
  const e = err as { code?: string; message?: string };
  const where = describeConnection(conn);
  const tls = describeTlsError(e, conn, where);
  if (tls) return new UserError(tls, 1, { cause: err });
  switch (e.code) {
    case 'ECONNREFUSED':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENOENT':
      return new UserError(`cannot reach ${where} (${e.code}): is the server running? check PGHOST/PGPORT or --database-url`, 1, { cause: err });
    case '28P01':
    case '28000':
      return new UserError(`${where} refused the login: ${e.message}; check PGUSER/PGPASSWORD or the secret`, 1, { cause: err });
    case '3D000':
      return new UserError(`${where}: ${e.message}; check PGDATABASE or the URL's database name`, 1, { cause: err });
    default:
      if (/timeout/i.test(e.message ?? '')) {
        return new UserError(`cannot reach ${where}: connection timed out; check the network and PGHOST/PGPORT`, 1, { cause: err });
      }
      return new UserError(`${where}: ${e.message ?? String(err)}`, 1, { cause: err });
  }
}

/**
 * Opens a session the caller closes (`client.end()`); a connection failure becomes a one-line UserError. For a
 * session that outlives one call (a held lock, an exported snapshot); otherwise use {@link withClient}.
 */
export async function openClient(conn: Connection, options: { applicationName?: string; keepAlive?: boolean; settings?: string } = {}): Promise<Client> {
  const client = new Client({
    ...pgClientConfig(conn),
    ...(options.applicationName ? { application_name: options.applicationName } : {}),
    // TCP keepalives, for a session that idles a long time and must notice a dead peer (a held lock).
    ...(options.keepAlive ? { keepAlive: true } : {}),
    // Session settings as the startup packet's `options` (`-c name=value …`), as libpq's PGOPTIONS.
    ...(options.settings ? { options: options.settings } : {}),
  });
  // An idle client whose backend dies emits 'error'; without a listener that would crash the process.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => undefined);
    throw describePgError(err, conn);
  }
  return client;
}

/** Opens a session, runs `fn`, always closes it. Connection failures become UserErrors. */
export async function withClient<T>(conn: Connection, fn: (client: Client) => Promise<T>): Promise<T> {
  const client = await openClient(conn);
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Server version as `server_version_num` (e.g. 150018) and the human string (e.g. "15.18"). */
export async function serverVersion(client: Client): Promise<{ num: number; major: number; text: string }> {
  const { rows } = await client.query<{ num: string; text: string }>(
    "select current_setting('server_version_num') as num, current_setting('server_version') as text",
  );
  const num = Number(rows[0].num);
  return { num, major: Math.floor(num / 10000), text: rows[0].text.split(' ')[0] };
}

/** Quotes an identifier the way PostgreSQL's quote_ident would, always quoting. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
