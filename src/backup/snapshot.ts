/**
 * One snapshot for the whole backup: a session opens a `REPEATABLE READ READ ONLY` transaction, exports its
 * snapshot (`pg_export_snapshot()`), reads the catalog summary in it, and stays open while pg_dump runs with
 * `--snapshot=<id>`. The summary recorded in the manifest therefore describes exactly the data in the dump, which
 * is what a restore test checks the restored copy against. (An exported snapshot can only be imported while the
 * transaction that exported it is open: the session is closed once pg_dump has finished.)
 */
import type { Client } from 'pg';
import type { CatalogSummary, DatabaseProperties } from '../contract';
import { readDatabaseProperties } from '../postgres/database-properties';
import { readCatalogSummary } from '../postgres/catalog-summary';
import { describePgError, openClient, serverVersion } from '../postgres/client';
import type { Connection } from '../postgres/connection';

export interface SnapshotSession {
  /** What pg_dump imports with --snapshot. */
  snapshotId: string;
  serverVersion: string;
  serverMajor: number;
  /** The catalog summary read in the exported snapshot. */
  catalog: CatalogSummary;
  /** The database's own properties, which the plain dump does not carry (../postgres/database-properties). */
  databaseProperties: DatabaseProperties;
  /** Ends the transaction and the session; never throws. */
  close(): Promise<void>;
}

async function exportSnapshot(client: Client): Promise<Omit<SnapshotSession, 'close'>> {
  // The session sits idle in its transaction for as long as the dump runs: a server-wide idle timeout must not end it
  // before pg_dump has imported the snapshot.
  await client.query('set idle_in_transaction_session_timeout = 0');
  const version = await serverVersion(client);
  await client.query('begin isolation level repeatable read read only');
  const { rows } = await client.query<{ id: string }>('select pg_export_snapshot() as id');
  const catalog = await readCatalogSummary(client);
  const { rows: db } = await client.query<{ name: string }>('select current_database() as name');
  const databaseProperties = await readDatabaseProperties(client, db[0].name);
  return { snapshotId: rows[0].id, serverVersion: version.text, serverMajor: version.major, catalog, databaseProperties };
}

/** Opens the session and exports its snapshot; failures become one-line UserErrors (connection, login, database). */
export async function openSnapshot(conn: Connection): Promise<SnapshotSession> {
  const client = await openClient(conn);
  const close = (): Promise<void> => client.end().catch(() => undefined);
  try {
    return { ...(await exportSnapshot(client)), close };
  } catch (err) {
    await close();
    throw describePgError(err, conn);
  }
}
