/**
 * What a restore leaves behind when it cannot clean up after itself (killed with -9, the server restarted mid-load,
 * a drop refused), and how it is found again: the fresh database `<db>_restore_<stamp>`.
 *
 * A running restore holds, on its lock's session, an advisory lock keyed by the fresh database's name (taken before
 * the database is created, held until the restore ends). A fresh-shaped database whose name lock nobody holds belongs
 * to a run that is not running: a leftover. Whoever removes it takes that lock first (and keeps it through the drop),
 * so it never races a restore that is starting to use the name. The database a restore replaced
 * (`<db>_pre_restore_<stamp>`) is kept on purpose and is never a leftover; neither is a restore test's scratch
 * database (`<db>_restore_test_<stamp>`), which the restore test removes itself.
 */
import type { Client } from 'pg';
import { dropDatabase, freshName } from './database-swap';

/** The name locks' first key: "mear" in ASCII (the restore lock's is "meat"). */
export const FRESH_NAME_LOCK_CLASS = 0x6d656172;

/** `…_restore_20250917T103000Z`, optionally `_2`…: what freshName() makes (the base may be shortened). */
const FRESH_NAME = /_restore_\d{8}T\d{6}Z(_\d+)?$/;

export function isFreshName(name: string): boolean {
  return FRESH_NAME.test(name) && !/_pre_restore_\d{8}T\d{6}Z(_\d+)?$/.test(name);
}

/** Holds the name lock of `name` on `client`'s session until it ends: this run is using the name. */
export async function claimFreshName(client: Client, name: string): Promise<void> {
  await client.query('select pg_advisory_lock($1, hashtext($2))', [FRESH_NAME_LOCK_CLASS, name]);
}

export interface Leftover {
  name: string;
  /** The database size, for the listing. */
  sizeBytes: number;
}

export interface InUse {
  name: string;
  /** The application_name of the session holding its name lock (the restore that uses it). */
  heldBy: string;
}

/** Fresh-shaped databases on the server, `only` those for which it returns true (e.g. one target's). */
async function freshDatabases(client: Client, only: (name: string) => boolean): Promise<Array<{ name: string; sizeBytes: number }>> {
  const { rows } = await client.query<{ name: string; size: string }>(
    `select datname as name, pg_database_size(oid)::text as size from pg_database where datname like '%\\_restore\\_%' order by datname`,
  );
  return rows.filter((r) => isFreshName(r.name) && only(r.name)).map((r) => ({ name: r.name, sizeBytes: Number(r.size) }));
}

async function tryClaim(client: Client, name: string): Promise<boolean> {
  const { rows } = await client.query<{ ok: boolean }>('select pg_try_advisory_lock($1, hashtext($2)) as ok', [FRESH_NAME_LOCK_CLASS, name]);
  return rows[0].ok;
}

async function release(client: Client, name: string): Promise<void> {
  await client.query('select pg_advisory_unlock($1, hashtext($2))', [FRESH_NAME_LOCK_CLASS, name]);
}

async function holderOf(client: Client, name: string): Promise<string> {
  const { rows } = await client.query<{ app: string | null; pid: number }>(
    `select a.application_name as app, a.pid
       from pg_locks l join pg_stat_activity a on a.pid = l.pid
      where l.locktype = 'advisory' and l.granted and l.objsubid = 2
        and l.classid = $1::int4::oid and l.objid = hashtext($2)::oid`,
    [FRESH_NAME_LOCK_CLASS, name],
  );
  return rows[0] ? rows[0].app || `server process ${rows[0].pid}` : 'a session that has just ended';
}

/**
 * The leftovers on the server (fresh databases of runs that are not running) and the fresh databases in use by a
 * running restore. Claims nothing: what it reports may change before anything is dropped.
 */
export async function findLeftovers(client: Client, only: (name: string) => boolean = () => true): Promise<{ leftovers: Leftover[]; inUse: InUse[] }> {
  const leftovers: Leftover[] = [];
  const inUse: InUse[] = [];
  for (const db of await freshDatabases(client, only)) {
    if (await tryClaim(client, db.name)) {
      await release(client, db.name);
      leftovers.push(db);
    } else {
      inUse.push({ name: db.name, heldBy: await holderOf(client, db.name) });
    }
  }
  return { leftovers, inUse };
}

/**
 * Drops the leftovers among `names` (claiming each name first, so a running restore's database is never dropped);
 * returns those dropped and those found in use after all.
 */
export async function dropLeftovers(client: Client, names: string[]): Promise<{ dropped: string[]; inUse: InUse[] }> {
  const dropped: string[] = [];
  const inUse: InUse[] = [];
  for (const name of names) {
    if (!(await tryClaim(client, name))) {
      inUse.push({ name, heldBy: await holderOf(client, name) });
      continue;
    }
    try {
      await dropDatabase(client, name);
      dropped.push(name);
    } finally {
      await release(client, name);
    }
  }
  return { dropped, inUse };
}

/** The command that removes leftovers, as the final line of a run that leaves one names it. */
export const CLEANUP_COMMAND = 'meatbackup cleanup --yes';

/** Whether `name` is a fresh database a restore into `target` would create (freshName(target, stamp)). */
export function isFreshNameOf(target: string, name: string): boolean {
  const m = /_restore_(\d{8}T\d{6}Z(?:_\d+)?)$/.exec(name);
  return m !== null && freshName(target, m[1]) === name;
}
