/**
 * What every session of a parallel load sets, and how many sessions the server can take.
 *
 * - `synchronous_commit=off`, as the single stream: commits need not wait for the disk, the swap's synchronous
 *   commit later flushes everything the load wrote before it;
 * - `maintenance_work_mem`: index builds (a GIN index most of all) sort in it. Sized to the sessions: half of
 *   shared_buffers shared among them (RDS sizes shared_buffers to a quarter of the instance's memory, so all sessions
 *   together take an eighth of it), at most 1 GiB each, never below the server's own setting;
 * - no idle timeouts (PostgreSQL 14+): a session waits, idle, while another loads a table or builds an index, and a
 *   role's idle_session_timeout must not end it (the lock's session does the same, ../restore-lock.ts).
 */
import type { Client } from 'pg';
import { LOAD_SETTINGS } from '../psql-load';

const MAX_MAINTENANCE_BYTES = 1024 ** 3;
/** Connections left to everyone else (the application, the restore's own lock and maintenance sessions). */
const SPARE_CONNECTIONS = 5;

export interface ParallelSessions {
  jobs: number;
  settings: string;
}

export async function parallelSessions(client: Client, wanted: number): Promise<ParallelSessions> {
  const { rows } = await client.query<{ mwm: string; sb: string; free: string; version: string }>(
    `select current_setting('server_version_num') as version,
            (select setting::bigint * 1024 from pg_settings where name = 'maintenance_work_mem') as mwm,
            (select setting::bigint * 8192 from pg_settings where name = 'shared_buffers') as sb,
            (select setting::int from pg_settings where name = 'max_connections')
              - (select setting::int from pg_settings where name = 'superuser_reserved_connections')
              - (select count(*) from pg_stat_activity) as free`,
  );
  const { mwm, sb, free, version } = rows[0];
  // Each worker, and a psql beside them during the data.
  const jobs = Math.max(1, Math.min(wanted, Number(free) - SPARE_CONNECTIONS - 1));
  const perSession = Math.max(Number(mwm), Math.min(MAX_MAINTENANCE_BYTES, Math.floor(Number(sb) / 2 / jobs)));
  const idle = Number(version) >= 140000 ? ' -c idle_session_timeout=0 -c idle_in_transaction_session_timeout=0' : ' -c idle_in_transaction_session_timeout=0';
  return { jobs, settings: `${LOAD_SETTINGS} -c maintenance_work_mem=${Math.floor(perSession / 1024)}kB${idle}` };
}
