/**
 * One restore of a database at a time, server-wide: a restore holds a PostgreSQL session-level advisory lock keyed
 * by the target database's name for its whole run, on a session of its own. The server arbitrates, so it covers a
 * CLI restore racing the Fargate restore task as well as two terminals. Without it both runs load, both swap, and
 * both print success while only the last swap holds.
 *
 * Advisory locks live in the database the session is connected to: every restore takes it on the maintenance
 * database (`postgres`; a restore into `postgres` itself is refused as a system database). The session's
 * application_name says where the restore runs from and since when, so a refused second restore can say who holds the
 * lock: application_name is the one column of pg_stat_activity every role can read for every session
 * (https://www.postgresql.org/docs/current/monitoring-stats.html#MONITORING-PG-STAT-ACTIVITY-VIEW).
 *
 * The lock is only worth something while its session lives: an administrator's pg_terminate_backend, a role's
 * idle_session_timeout or a dropped connection would end it silently, a second restore would start, and both would
 * report success. So the session turns off the idle timeouts for itself, uses TCP keepalives, reports its end at once
 * (`lost`: the restore stops), and the swap runs on this very session, with a last check that it holds the lock
 * inside the swap's transaction, just before COMMIT (`onSession`): the lock cannot be lost between check and swap.
 *
 * A scratch-mode restore test does not take it: it loads into its own `<db>_restore_test_<stamp>` database, created
 * from template0, and never renames, connects to or ends sessions of the live database, so it cannot collide with a
 * restore (two restore tests in the same second collide on the scratch name and the second is refused by that).
 */
import { hostname, userInfo } from 'node:os';
import { type Client, DatabaseError } from 'pg';
import { UserError, oneLine } from '../core/errors';
import { type Connection, describeConnection } from '../postgres/connection';
import { describePgError, openClient } from '../postgres/client';

/** The advisory lock's first key: "meat" in ASCII, so the project's locks are recognisable in pg_locks. */
export const RESTORE_LOCK_CLASS = 0x6d656174;

/** PostgreSQL keeps NAMEDATALEN - 1 = 63 bytes of an application_name. */
const MAX_APPLICATION_NAME_BYTES = 63;
const APPLICATION_NAME = /^meatbackup restore since (\S+) from (.*)$/;

export interface RestoreLock {
  /** The application_name of the session holding it. */
  applicationName: string;
  /** Aborted, with a UserError saying so as its reason, when the lock's session ends before release(). */
  lost: AbortSignal;
  /**
   * Runs `fn` on the lock's own session. `stillHeld` throws the lost-lock error unless this session holds the lock:
   * call it inside a transaction just before COMMIT, so that what commits was done under the lock.
   */
  onSession<T>(doing: string, fn: (client: Client, stillHeld: () => Promise<void>) => Promise<T>): Promise<T>;
  release(): Promise<void>;
}

/** Where this process runs, as an operator would recognise it: `user@host`, or the ECS task's host (`env`: the process's, from the settings). */
export function thisProcess(env: Readonly<Record<string, string | undefined>>): string {
  // Set by the ECS agent in every task: https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-metadata-endpoint-v4.html
  if (env.ECS_CONTAINER_METADATA_URI_V4) return `ECS task ${hostname()}`;
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // No passwd entry for this uid (some containers): the host alone.
  }
  return `${user}@${hostname()}`;
}

function cutToBytes(text: string, max: number): string {
  let out = text;
  while (Buffer.byteLength(out) > max) out = Array.from(out).slice(0, -1).join('');
  return out;
}

export function restoreApplicationName(from: string, since: Date): string {
  return cutToBytes(`meatbackup restore since ${since.toISOString().slice(0, 19)}Z from ${from}`, MAX_APPLICATION_NAME_BYTES);
}

/** "from ops@laptop, since 2025-09-17T10:30:00Z" out of a holder's application_name; undefined when it is not ours. */
export function describeHolder(applicationName: string): string | undefined {
  const m = APPLICATION_NAME.exec(applicationName);
  return m ? `from ${m[2]}, since ${m[1]}` : undefined;
}

async function holders(client: Client, database: string): Promise<Array<{ pid: number; application_name: string | null }>> {
  const { rows } = await client.query<{ pid: number; application_name: string | null }>(
    `select a.pid, a.application_name
       from pg_locks l join pg_stat_activity a on a.pid = l.pid
      where l.locktype = 'advisory' and l.granted and l.objsubid = 2
        and l.database = (select oid from pg_database where datname = current_database())
        and l.classid = $1::int4::oid and l.objid = hashtext($2)::oid`,
    [RESTORE_LOCK_CLASS, database],
  );
  return rows;
}

function alreadyRunning(database: string, found: Array<{ pid: number; application_name: string | null }>): UserError {
  const holder = found[0];
  const who = holder
    ? (describeHolder(holder.application_name ?? '') ?? `server process ${holder.pid}, application ${JSON.stringify(holder.application_name ?? '')}`)
    : 'by a session that has just ended';
  return new UserError(`a restore of database ${database} is already running (${who}): wait for it to finish, then run this one again; nothing was changed`);
}

/** Settings of the lock's session that would end it while it idles through a long load (PostgreSQL 14+ for the first). */
const KEEP_ALIVE_SETTINGS = ['idle_session_timeout', 'idle_in_transaction_session_timeout', 'statement_timeout'];

function lostLock(database: string, admin: Connection, why: string): UserError {
  return new UserError(
    `the restore lock of database ${database} was lost: its session on ${describeConnection(admin)} ended (${why}); another restore may have started, so this one stopped before the swap and ${database} was not changed by it; check that no other restore runs, then run it again`,
  );
}

/**
 * Takes the restore lock of `database` on the server `admin` points at, or throws at once (nothing changed) naming
 * the restore that holds it. Keep the returned lock until the restore has finished, then release it.
 */
export async function acquireRestoreLock(admin: Connection, database: string, options: { from: string; now?: Date }): Promise<RestoreLock> {
  const applicationName = restoreApplicationName(options.from, options.now ?? new Date());
  // The session idles for the whole restore; a backend that dies then takes the lock with it.
  const client = await openClient(admin, { applicationName, keepAlive: true });
  try {
    // Set for this session only (a role's or database's setting still applies to every other session); settings the
    // server does not have (idle_session_timeout before 14) are skipped.
    await client.query(`select set_config(name, '0', false) from pg_settings where name = any($1::text[])`, [KEEP_ALIVE_SETTINGS]);
    const { rows } = await client.query<{ ok: boolean }>('select pg_try_advisory_lock($1, hashtext($2)) as ok', [RESTORE_LOCK_CLASS, database]);
    if (!rows[0].ok) throw alreadyRunning(database, await holders(client, database));
  } catch (err) {
    await client.end().catch(() => undefined);
    if (err instanceof UserError) throw err;
    throw new UserError(`could not take the restore lock of ${database} on ${describeConnection(admin)}: ${describePgError(err, admin).message}`, 1, { cause: err });
  }
  let released = false;
  const lost = new AbortController();
  const onEnd = (err?: Error): void => {
    if (released || lost.signal.aborted) return;
    lost.abort(lostLock(database, admin, err?.message ? oneLine(err.message) : 'the connection closed'));
  };
  client.on('error', onEnd);
  client.on('end', () => onEnd());
  const stillHeld = async (): Promise<void> => {
    const { rows } = await client.query<{ held: boolean }>(
      `select exists (select 1 from pg_locks
                       where pid = pg_backend_pid() and locktype = 'advisory' and granted and objsubid = 2
                         and classid = $1::int4::oid and objid = hashtext($2)::oid) as held`,
      [RESTORE_LOCK_CLASS, database],
    );
    if (!rows[0].held) throw lostLock(database, admin, 'it no longer holds the lock');
  };
  return {
    applicationName,
    lost: lost.signal,
    async onSession(doing, fn) {
      if (lost.signal.aborted) throw lost.signal.reason;
      try {
        return await fn(client, stillHeld);
      } catch (err) {
        if (err instanceof UserError) throw err;
        // The session ended under the statement: that is the lock lost, whatever the statement was.
        if (lost.signal.aborted) throw lost.signal.reason;
        // What `fn` threw itself (an interrupt, a stall) goes on as it is; the server's errors get one line.
        if (!(err instanceof DatabaseError) && typeof (err as { code?: unknown }).code !== 'string') throw err;
        throw new UserError(`could not ${doing}: ${describePgError(err, admin).message}`, 1, { cause: err });
      }
    },
    async release() {
      if (released) return;
      released = true;
      // Ending the session releases a session-level advisory lock; the explicit unlock only makes it prompt.
      await client.query('select pg_advisory_unlock($1, hashtext($2))', [RESTORE_LOCK_CLASS, database]).catch(() => undefined);
      await client.end().catch(() => undefined);
    },
  };
}

/** Runs `fn` holding the restore lock of `database`; releases it whatever happens. */
export async function withRestoreLock<T>(admin: Connection, database: string, fn: (lock: RestoreLock) => Promise<T>, options: { from: string; now?: Date }): Promise<T> {
  const lock = await acquireRestoreLock(admin, database, options);
  try {
    return await fn(lock);
  } finally {
    await lock.release();
  }
}
