/**
 * What every session of a parallel load sets, and how many sessions the server can take.
 *
 * - `synchronous_commit=off`, as the single stream: commits need not wait for the disk, the swap's synchronous
 *   commit later flushes everything the load wrote before it;
 * - not `maintenance_work_mem`: the server's own is kept. Measured on this project's benchmark, a larger one did not
 *   make the index builds faster (its GIN index: 64 MB against 256 MB, 512 MB and 1 GB; a B-tree over 3,000,000
 *   timestamps: 64 MB against 256 MB, within the machine's noise), and N sessions each taking more would only
 *   crowd the server's memory;
 * - no idle timeouts (PostgreSQL 14+): a session waits, idle, while another loads a table or builds an index, and a
 *   role's idle_session_timeout must not end it (the lock's session does the same, ../restore-lock.ts).
 */
import type { Client } from 'pg';
import { LOAD_SETTINGS } from '../psql-load';

/** Connections left to everyone else (the application, the restore's own lock and maintenance sessions). */
const SPARE_CONNECTIONS = 5;

export interface ParallelSessions {
  jobs: number;
  settings: string;
}

export async function parallelSessions(client: Client, wanted: number): Promise<ParallelSessions> {
  const { rows } = await client.query<{ free: string; version: string }>(
    `select current_setting('server_version_num') as version,
            (select setting::int from pg_settings where name = 'max_connections')
              - (select setting::int from pg_settings where name = 'superuser_reserved_connections')
              - (select count(*) from pg_stat_activity) as free`,
  );
  const { free, version } = rows[0];
  // Each worker, and a psql beside them during the data.
  const jobs = Math.max(1, Math.min(wanted, Number(free) - SPARE_CONNECTIONS - 1));
  const idle = Number(version) >= 140000 ? ' -c idle_session_timeout=0 -c idle_in_transaction_session_timeout=0' : ' -c idle_in_transaction_session_timeout=0';
  return { jobs, settings: `${LOAD_SETTINGS}${idle}` };
}
