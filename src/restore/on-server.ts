/** The server-side helpers every restore step uses: the maintenance database and one-line PostgreSQL errors. */
import type { Client } from 'pg';
import { UserError } from '../core/errors';
import { type Connection, withDatabase } from '../postgres/connection';
import { describePgError, withClient } from '../postgres/client';

/** The database a restore's own sessions use: never `avoid` (the one being replaced, or the live one). */
export function maintenance(conn: Connection, avoid: string): Connection {
  return withDatabase(conn, avoid === 'postgres' ? 'template1' : 'postgres');
}

/** Runs `fn` on the maintenance database; PostgreSQL errors become one line saying which step failed. */
export async function onServer<T>(admin: Connection, doing: string, fn: (client: Client) => Promise<T>): Promise<T> {
  try {
    return await withClient(admin, fn);
  } catch (err) {
    if (err instanceof UserError) throw err;
    const pg = describePgError(err, admin);
    throw new UserError(`could not ${doing}: ${pg.message}`, 1, { cause: err });
  }
}
