/**
 * Where a restore test loads a backup: a database that exists only for the test and is never the live one.
 *
 * - `scratch`: a new database `<db>_restore_test_<UTC stamp>` on the same server, created by the connecting role
 *   (it needs CREATEDB) with the live database's encoding and locale. A name that is already taken is refused, never
 *   reused or dropped: it is not ours.
 * - `cluster`: a throwaway PostgreSQL cluster started inside the process (initdb + pg_ctl in a temporary directory,
 *   loopback only), which needs server binaries of a major at least the backup's server major.
 *
 * `dispose()` drops the database or stops the cluster (and removes its directory); the caller runs it in every
 * outcome.
 */
import { basename, dirname } from 'node:path';
import { type Manifest, RESTORE_TEST_MODES, type RestoreTestMode } from '../contract';
import { UserError } from '../core/errors';
import type { Logger } from '../core/log';
import { type LocalCluster, serverBinDir, startLocalCluster } from '../local/postgres-cluster';
import { type Connection, describeConnection, withDatabase } from '../postgres/connection';
import { createFreshDatabase, databaseExists, derivedName, describeDatabase, dropDatabase } from '../restore/database-swap';
import { maintenance, onServer } from '../restore/on-server';

export { RESTORE_TEST_MODES, type RestoreTestMode };

export interface EphemeralTarget {
  mode: RestoreTestMode;
  /** The ephemeral database's name. */
  database: string;
  /** For messages: which database on which server. */
  description: string;
  /** A session on the ephemeral database. */
  connection: Connection;
  /** A session on the same server, outside the ephemeral database (for the globals). */
  admin: Connection;
  /** Drops the database, or stops the cluster. Safe to call twice. */
  dispose(): Promise<void>;
}

/** `<db>_restore_test_<stamp>`, shortened to fit PostgreSQL's 63 bytes. */
export function restoreTestName(database: string, stamp: string): string {
  return derivedName(database, `_restore_test_${stamp}`);
}

const DUPLICATE_DATABASE = '42P04';
const INSUFFICIENT_PRIVILEGE = '42501';

/** Creates the scratch database on the server `conn` points at. */
export async function createScratchTarget(conn: Connection, manifest: Manifest, stamp: string, logger: Logger): Promise<EphemeralTarget> {
  const name = restoreTestName(manifest.database, stamp);
  if (name === manifest.database || name === conn.database) throw new Error(`scratch name ${name} is a live database's name: this is a bug`);
  const admin = maintenance(conn, manifest.database);
  const taken = (): UserError =>
    new UserError(`database ${name} already exists on ${describeConnection(admin)}: another restore test is running, or one left it behind; it was not touched (drop it by hand if it is stale)`);
  await onServer(admin, `create the scratch database ${name}`, async (client) => {
    if (await databaseExists(client, name)) throw taken();
    const live = await describeDatabase(client, manifest.database);
    const { rows } = await client.query<{ me: string; actsAsOwner: boolean }>(
      "select current_user as me, $1::text is not null and pg_has_role(current_user, $1::text, 'USAGE') as \"actsAsOwner\"",
      [live?.owner ?? null],
    );
    // Like the live database (encoding, locale) when it is on this server, in the default tablespace. Owned like it
    // when this role acts as its owner (a member of the owner role, as docs/deploying-aws.md's roles are): the dump's
    // ALTER … OWNER TO statements need that owner to have CREATE on public, which a database's owner has
    // (pg_database_owner owns public) and a role that is not its owner lacks; a superuser needs neither. Else ours.
    const owner = live && rows[0].actsAsOwner ? live.owner : rows[0].me;
    try {
      await createFreshDatabase(client, name, live ? { ...live, name, owner, tablespace: 'pg_default' } : undefined);
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === DUPLICATE_DATABASE) throw taken();
      if (code === INSUFFICIENT_PRIVILEGE) {
        throw new UserError(`role ${rows[0].me} may not create databases: grant it CREATEDB (ALTER ROLE ${rows[0].me} CREATEDB) or use --mode cluster`, 1, { cause: err });
      }
      throw err;
    }
  });
  logger.info(`created scratch database ${name}`, { database: name });
  let disposed = false;
  return {
    mode: 'scratch',
    database: name,
    description: `scratch database ${name} on ${describeConnection(admin).replace(/^database \S+ on /, '')}`,
    connection: withDatabase(conn, name),
    admin,
    async dispose() {
      if (disposed) return;
      await onServer(admin, `drop the scratch database ${name}`, (client) => dropDatabase(client, name));
      disposed = true;
      logger.info(`dropped scratch database ${name}`, { database: name });
    },
  };
}

/** Major version of a server version string such as "15.18", "15" or "18beta1"; undefined when unreadable. */
export function majorOf(version: string): number | undefined {
  const m = /^(\d+)/.exec(version.trim());
  return m ? Number(m[1]) : undefined;
}

/**
 * The server binaries cluster mode would use (the newest installed major), refused clearly when there are none
 * or they are older than the server the backup was taken from (a dump does not load into an older major).
 */
export function checkClusterBinaries(manifest: Manifest): { binDir: string; major: number } {
  const wanted = majorOf(manifest.serverVersion);
  const install = `install the PostgreSQL server (apt-get install postgresql-${wanted ?? '<major>'}) or use --mode scratch`;
  let binDir: string;
  try {
    binDir = serverBinDir();
  } catch {
    throw new UserError(`--mode cluster needs PostgreSQL server programs (initdb, pg_ctl, postgres) and none are installed under /usr/lib/postgresql: ${install}`);
  }
  const major = Number(basename(dirname(binDir)));
  if (wanted !== undefined && major < wanted) {
    throw new UserError(`the backup comes from PostgreSQL ${manifest.serverVersion} but the newest server installed here is ${major}: a dump does not load into an older major; ${install}`);
  }
  return { binDir, major };
}

/** Starts a throwaway cluster and creates the ephemeral database in it. */
export async function startClusterTarget(manifest: Manifest, stamp: string, logger: Logger): Promise<EphemeralTarget> {
  const { major } = checkClusterBinaries(manifest);
  const name = restoreTestName(manifest.database, stamp);
  let cluster: LocalCluster;
  try {
    cluster = await startLocalCluster();
  } catch (err) {
    throw new UserError(`could not start a throwaway PostgreSQL ${major} cluster: ${(err as Error).message}`, 1, { cause: err });
  }
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await cluster.stop();
    logger.info('stopped the throwaway cluster and removed its files', { dataDir: cluster.dataDir });
  };
  try {
    await onServer(cluster.connection(), `create ${name} in the throwaway cluster`, (client) => createFreshDatabase(client, name));
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
  logger.info(`started a throwaway PostgreSQL ${major} cluster on port ${cluster.port} with database ${name}`, { dataDir: cluster.dataDir, port: cluster.port });
  return {
    mode: 'cluster',
    database: name,
    description: `database ${name} in a throwaway PostgreSQL ${major} cluster`,
    connection: cluster.connection(name),
    admin: cluster.connection(),
    dispose: stop,
  };
}
