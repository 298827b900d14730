/**
 * `meatbackup restore`: the runbook's section 2.1 without its gap. The runbook drops the live database before the
 * new one is known to be good; here nothing is dropped but what the restore itself created:
 *
 * 0. refuse a system database as the target, and take the restore lock of the target (./restore-lock): a second
 *    restore of the same database is refused at once, saying where the running one runs from and since when; a lock
 *    lost on the way (its session ended) stops the restore as an interrupt does;
 * 1. resolve the key (`latest`: the newest backup of the source database, which is the target unless `fromDatabase`
 *    says otherwise) and read its manifest; a backup of another database is refused unless `fromDatabase` names it;
 * 2. plan: which database it replaces (or creates), the names it will use, and ask (the caller's `confirm`);
 * 3. read every byte once and check the manifest's size and sha256 — an altered backup stops here, nothing touched;
 *    with `withGlobals`, read and check the backup's globals too and apply them (./apply-globals: missing roles are
 *    created, existing ones kept; refused before anything is read when the manifest records no globals);
 * 4. create a fresh database like the one it replaces and load the same pinned bytes into it with psql, checking the
 *    sha256 again on the way (the load fails, and psql is killed, if the bytes differ after all);
 * 5. carry over the database-level owner, GRANTs and settings pg_dump does not dump: from the database it replaces,
 *    else as the backup recorded them (./database-properties);
 * 6. new target: rename the fresh database to it. Replacing: stop the services that write to it (./stopped-services:
 *    ECS or Compose, checked when the plan is made), end the remaining sessions, and in one transaction rename the
 *    live database to `<db>_pre_restore_<stamp>` and the fresh one into its place; start exactly the services that
 *    were stopped again whatever happened. Either transaction runs on the lock's session and checks, just before
 *    COMMIT, that the lock is held and nothing asked the run to stop (./commit-point).
 *
 * Any failure or SIGINT/SIGTERM before that commit drops the fresh database and leaves the live one as it was; an
 * interrupt after it is told that the swap will finish.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { METRICS, type Manifest } from '../contract';
import { EXIT, UserError, oneLine } from '../core/errors';
import { Interrupted } from '../core/signals';
import type { Logger } from '../core/log';
import { DEFAULT_STALL_SECONDS, StallWatchdog, stepOf } from '../core/watchdog';
import { readRequiredManifest } from '../catalog/catalog';
import { type ResolvedBackup, resolveBackupRef } from '../catalog/resolve';
import { CLI_SOURCE_WORDS, otherDatabaseRefusal } from '../catalog/source-database';
import { type Connection, describeConnection, withDatabase } from '../postgres/connection';
import { type GlobalsApplied, applyGlobals, fetchVerifiedGlobals, requireGlobals } from './apply-globals';
import {
  type DatabaseInfo,
  type SwapOptions,
  createFreshDatabase,
  databaseExists,
  describeDatabase,
  dropDatabase,
  freshName,
  keptName,
  nameStamp,
  refuseSystemDatabaseName,
  refuseTemplateDatabase,
  renameDatabase,
  swapDatabases,
  unusedName,
} from './database-swap';
import type { HashOptions, PinnedObject } from './fetch-verified';
import { checkBeforeLoad } from './check-before-load';
import { type LoadResult, loadPinned } from './load-pipeline';
import { secondsSince } from '../core/format';
import { maintenance, onServer } from './on-server';
import { type RestoreLock, withRestoreLock } from './restore-lock';
import { type CommitPoint, commitPoint } from './commit-point';
import { applyDatabaseProperties, copyDatabaseProperties } from './database-properties';
import { CLEANUP_COMMAND, claimFreshName, dropLeftovers, findLeftovers, isFreshNameOf } from './leftovers';
import type { StoppedServices } from './stopped-services';
import { type SpaceCheck, checkSpace, copySize, describeSpace, readServerPaths, refuseUnlessFits, spaceNeeded, whileWatchingDisk } from './disk-space';
import type { Compressor } from '../gzip/choice';
import { PsqlFailed } from './psql-load';

export interface RestorePlan {
  bucket: string;
  key: string;
  /** The database the backup was taken from (its key's database). */
  sourceDatabase: string;
  takenAt: string;
  sizeBytes: number;
  sha256: string;
  /** Where the restored data ends up, and on which server. */
  target: string;
  server: string;
  /** True when `target` exists and will be replaced (and kept as `keptAs`). */
  replaces: boolean;
  freshName: string;
  keptAs?: string;
  /** The services stopped during the swap (replacing only), as their implementation names them. */
  stoppedServices?: string;
  /** The backup's roles are applied first (created when missing, kept when present). */
  withGlobals: boolean;
  /** Fresh databases of earlier restores of the target that are not running (./leftovers), dropped before the load. */
  dropsLeftovers: string[];
  /**
   * Where the database's owner, grants, comment, connection limit and settings come from (pg_dump does not carry
   * them): the database it replaces, else what the backup recorded, else nowhere (a backup from before they were).
   */
  databaseProperties: 'the database it replaces' | 'the backup' | 'none recorded in the backup';
  /** The disk space the restore needs, and what is known of the space there is (./disk-space). */
  space: SpaceCheck;
}

export interface RestoreResult extends RestorePlan {
  versionId?: string;
  sqlBytes: number;
  /** What was stopped for the swap and started again. */
  restarted?: string;
  /** Sessions the load ran over (1: one psql stream). */
  jobs: number;
  /** What applying the backup's globals did (withGlobals only). */
  globals?: GlobalsApplied;
  notes: string[];
  seconds: { check: number; load: number; swap: number; total: number };
}

export interface RestoreOptions {
  s3: S3Client;
  bucket: string;
  prefix: string;
  /** `latest`, a file name, or a full key. */
  ref: string;
  /** The server, and by default (its database) the database to replace. */
  conn: Connection;
  /** Restore into this database instead: created when it does not exist, replaced when it does. */
  targetDb?: string;
  /**
   * The database the backup is of, when it is not the target: `latest` is then its newest backup, and a named backup
   * must be of it. Without it a backup of another database than the target is refused. @default the target
   */
  fromDatabase?: string;
  /** Where this restore runs from, as the lock's holder shows it to a second restore (thisProcess in restore-lock.ts). */
  lockHolder: string;
  /**
   * Apply the backup's globals (roles, memberships) before loading, so a restore onto a new server finds the roles
   * its objects are owned by and granted to. @default false
   */
  withGlobals?: boolean;
  /**
   * Bytes the server's disk has for this restore, when this process cannot see its filesystem (RDS, a server
   * elsewhere): the restore is refused when it needs more. Ignored where the filesystem is seen.
   */
  spaceAvailable?: number;
  /** Stopped while the databases swap names (only when replacing); checked when the plan is made. */
  stopServices?: StoppedServices;
  /**
   * Called with the plan before anything is read or changed, when it replaces a database; return false to stop
   * (nothing changed). Throwing works too (e.g. a usage error without --yes).
   */
  confirmReplace?: (plan: RestorePlan) => Promise<boolean>;
  logger: Logger;
  signal?: AbortSignal;
  /**
   * Seconds without progress from S3 (a listing, a manifest, a byte of the download) before the restore gives up as
   * stalled, with the target untouched; psql busy is not a stall. 0 never. @default DEFAULT_STALL_SECONDS (120)
   */
  stallSeconds?: number;
  now?: () => Date;
  hash?: HashOptions;
  swap?: SwapOptions;
  psqlPath?: string;
  /** What decompresses the SQL (chooseDecompressor, decided where the command starts). */
  decompressor: Compressor;
  /** Sessions to load over (1: one psql stream; loadPinned). @default 1 */
  jobs?: number;
}

export async function restoreBackup(options: RestoreOptions): Promise<RestoreResult> {
  const now = options.now ?? (() => new Date());
  const target = options.targetDb ?? options.conn.database;
  if (!target) throw new UserError('no target database: pass --target-db NAME or set PGDATABASE', 2);
  refuseSystemDatabaseName(target);
  const admin = maintenance(options.conn, target);
  return withRestoreLock(admin, target, (lock) => restoreLocked(options, target, admin, now, lock), {
    from: options.lockHolder,
    now: now(),
  });
}

/** The backup `options.ref` names, refused when it is of another database than the restore is for. */
async function resolveSource(options: RestoreOptions, target: string, watchdog: StallWatchdog): Promise<ResolvedBackup> {
  const source = options.fromDatabase ?? target;
  const resolved = await stepOf(watchdog, `S3 listing of ${options.prefix} in bucket ${options.bucket}`, () =>
    resolveBackupRef(options.s3, options.bucket, options.prefix, options.ref, { database: source, ...(options.fromDatabase === undefined ? { restoreInto: { target, words: CLI_SOURCE_WORDS } } : {}) }),
  );
  const refused = otherDatabaseRefusal(resolved.fileName, resolved.database, target, options.fromDatabase, CLI_SOURCE_WORDS);
  if (refused) throw refused;
  if (resolved.skipped) options.logger.warn(resolved.skipped);
  return resolved;
}

async function restoreLocked(given: RestoreOptions, target: string, admin: Connection, now: () => Date, lock: RestoreLock): Promise<RestoreResult> {
  // A lost lock (its session ended) stops the run as SIGINT/SIGTERM do, until the swap has committed.
  const stop = new AbortController();
  const swapped = { committed: false };
  const onLost = (): void => {
    if (!swapped.committed) stop.abort(lock.lost.reason);
  };
  lock.lost.addEventListener('abort', onLost, { once: true });
  const parent = given.signal ? AbortSignal.any([given.signal, stop.signal]) : stop.signal;
  // Every S3 step is watched; a stall aborts the run's signal as SIGINT/SIGTERM do, and is cleaned up the same way.
  const watchdog = new StallWatchdog({ seconds: given.stallSeconds ?? DEFAULT_STALL_SECONDS, parent });
  const point = commitPoint(async () => {
    await lock.onSession('check the restore lock', (_client, stillHeld) => stillHeld());
  }, watchdog.signal, given.logger);
  try {
    return await restoreWatched({ ...given, signal: watchdog.signal }, target, admin, now, watchdog, { lock, point, swapped });
  } finally {
    point.close();
    watchdog.stop();
    lock.lost.removeEventListener('abort', onLost);
  }
}

/** What makes the swap final under the lock: see ./commit-point. */
interface Commit {
  lock: RestoreLock;
  point: CommitPoint;
  /** Set once the swap (or the rename into place) has committed: a lost lock no longer stops the run. */
  swapped: { committed: boolean };
}

async function restoreWatched(options: RestoreOptions, target: string, admin: Connection, now: () => Date, watchdog: StallWatchdog, commit: Commit): Promise<RestoreResult> {
  const { s3, bucket, logger } = options;
  const started = Date.now();

  // 1. What to restore.
  const resolved = await resolveSource(options, target, watchdog);
  const manifest = await stepOf(watchdog, `S3 read of the manifest of ${resolved.key}`, () => readRequiredManifest(s3, bucket, resolved.key));
  if (options.withGlobals) requireGlobals(manifest, resolved.key);

  // 2. The plan, on the server as it is now.
  const stamp = nameStamp(now());
  const { existing, fresh, kept, leftovers, paths } = await onServer(admin, `inspect ${describeConnection(admin)}`, async (client) => {
    await refuseTemplateDatabase(client, target);
    const info = await describeDatabase(client, target);
    const freshDb = await unusedName(client, (n) => freshName(target, `${stamp}${n}`));
    const keptDb = info ? await unusedName(client, (n) => keptName(target, `${stamp}${n}`)) : undefined;
    const found = await findLeftovers(client, (name) => isFreshNameOf(target, name));
    return { existing: info, fresh: freshDb, kept: keptDb, leftovers: found.leftovers.map((l) => l.name), paths: await readServerPaths(client, info?.tablespace ?? 'pg_default') };
  });
  const space = checkSpace(spaceNeeded(copySize(manifest.catalog?.totalBytes, manifest.sqlBytes), paths), paths, options.spaceAvailable);
  refuseUnlessFits(space, target);
  const plan: RestorePlan = {
    bucket,
    key: resolved.key,
    sourceDatabase: resolved.database,
    takenAt: manifest.takenAt,
    sizeBytes: manifest.sizeBytes,
    sha256: manifest.sha256,
    target,
    server: describeConnection(withDatabase(options.conn, target)),
    replaces: existing !== undefined,
    freshName: fresh,
    ...(kept ? { keptAs: kept } : {}),
    ...(existing && options.stopServices ? { stoppedServices: options.stopServices.description } : {}),
    withGlobals: options.withGlobals ?? false,
    dropsLeftovers: leftovers,
    databaseProperties: existing ? 'the database it replaces' : manifest.databaseProperties ? 'the backup' : 'none recorded in the backup',
    space,
  };
  // The services are checked now, before anything is asked or read: a wrong name or a missing permission found after
  // the whole load would leave an operator with a loaded database and nothing swapped.
  if (existing && options.stopServices) await options.stopServices.check(options.signal);
  if (existing && !(await (options.confirmReplace?.(plan) ?? Promise.resolve(false)))) {
    throw new UserError(`restore cancelled: database ${target} was not replaced and nothing was changed`);
  }
  const from = plan.sourceDatabase === target ? '' : ` (a backup of database ${plan.sourceDatabase})`;
  logger.info(`restoring ${plan.key}${from} into ${existing ? `a fresh database, then replacing ${target}` : `new database ${target}`}`, { ...plan });
  logger.info(`disk space: ${describeSpace(space)}`);

  let success = 0;
  try {
    const result = await restorePlanned({ options, plan, manifest, existing, admin, watchdog, commit });
    success = 1;
    return { ...result, seconds: { ...result.seconds, total: secondsSince(started) } };
  } finally {
    logger.metric('restore', { [METRICS.dimensionDatabase]: target }, {
      [METRICS.restoreSuccess]: { value: success, unit: 'Count' },
      [METRICS.restoreSeconds]: { value: secondsSince(started), unit: 'Seconds' },
    });
  }
}

/** What one planned restore works with, passed from step to step. */
interface Run {
  options: RestoreOptions;
  plan: RestorePlan;
  manifest: Manifest;
  /** The database being replaced, as it was when planned; undefined for a new target. */
  existing: DatabaseInfo | undefined;
  admin: Connection;
  /** Watches the S3 steps; its signal is `options.signal`. */
  watchdog: StallWatchdog;
  commit: Commit;
}

async function restorePlanned(run: Run): Promise<RestoreResult> {
  const { options, plan, manifest, existing, admin } = run;
  // 3. Every byte checked before any database is touched (the globals too, when asked for).
  const { pin, notes, seconds: checkSeconds } = await checkBeforeLoad(options.s3, options.bucket, plan.key, manifest, {
    logger: options.logger,
    watchdog: run.watchdog,
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.hash ? { hash: options.hash } : {}),
  });
  const globals = options.withGlobals ? await applyBackupGlobals(run) : undefined;
  if (globals) notes.push(...globals.notes);

  // 4. Fresh database, loaded from the same pinned bytes; 5–6. properties, then the names. Its name is claimed on
  // the lock's session first, so that `meatbackup cleanup` and later restores know it belongs to a running restore.
  await dropEarlierLeftovers(run);
  await run.commit.lock.onSession(`claim the name ${plan.freshName}`, (client) => claimFreshName(client, plan.freshName));
  await onServer(admin, `create database ${plan.freshName}`, (client) => createFreshDatabase(client, plan.freshName, existing));
  /** Set once the fresh database carries the target's name: from then on there is nothing to drop. */
  const state = { renamed: false };
  try {
    const { sqlBytes, seconds: loadSeconds, jobs, fellBack } = await loadFresh(run, pin);
    if (fellBack) notes.push(`loaded by a single stream from where the backup's SQL has ${fellBack}`);
    const t = Date.now();
    const restarted = existing ? await replaceLive(run, existing, state) : await renameIntoPlace(run, state, notes);
    return {
      ...plan,
      ...(pin.versionId ? { versionId: pin.versionId } : {}),
      sqlBytes,
      jobs,
      ...(restarted !== undefined ? { restarted } : {}),
      ...(globals ? { globals } : {}),
      notes,
      seconds: { check: checkSeconds, load: loadSeconds, swap: secondsSince(t), total: 0 },
    };
  } catch (err) {
    // Before the rename the fresh database is ours alone to drop; after it (e.g. the web service failed to start
    // again) the restore itself is done and nothing is dropped.
    if (!state.renamed) {
      await dropFresh(run, globals, err);
      // A cut connection reads like a server gone: say, in the same line, that nothing of the load is left.
      if (err instanceof PsqlFailed && err.connectionLost) {
        throw new PsqlFailed(`${err.message}; the fresh database ${plan.freshName} was dropped${existing ? ` and ${plan.target} was not changed` : ''}`, err.psqlExitCode, true);
      }
    }
    throw err;
  }
}

/** Step 3b (withGlobals): the backup's globals, checked against the manifest, applied before anything is loaded. */
async function applyBackupGlobals({ options, plan, manifest, admin, watchdog }: Run): Promise<GlobalsApplied> {
  const { signal, logger } = options;
  const globals = requireGlobals(manifest, plan.key);
  const sql = await stepOf(watchdog, `S3 download of ${globals.key}`, () => fetchVerifiedGlobals(options.s3, options.bucket, globals, signal));
  if (signal?.aborted) throw signal.reason;
  const applied = await onServer(admin, 'apply the backup\'s globals', (client) => applyGlobals(client, sql));
  logger.info(`roles: created ${applied.createdRoles.length}, kept ${applied.keptRoles.length} existing, ${applied.memberships.length} membership(s) granted`, {
    createdRoles: applied.createdRoles,
    keptRoles: applied.keptRoles,
  });
  for (const note of applied.notes) logger.warn(note);
  return applied;
}

/** Step 4: the pinned bytes into the fresh database. */
function loadFresh({ options, plan, watchdog }: Run, pin: PinnedObject): Promise<LoadResult> {
  return whileWatchingDisk(plan.space, options.signal, (signal) =>
    loadPinned({
      s3: options.s3,
      pin,
      watchdog,
      conn: withDatabase(options.conn, plan.freshName),
      logger: options.logger,
      signal,
      ...(options.psqlPath ? { psqlPath: options.psqlPath } : {}),
      decompressor: options.decompressor,
      ...(options.jobs !== undefined ? { jobs: options.jobs } : {}),
    }),
  );
}

/**
 * Steps 5–6 when replacing: the database-level grants and settings, then the swap (with the services stopped around
 * it when some are given). Returns what was started again.
 */
async function replaceLive({ options, plan, admin, commit }: Run, existing: DatabaseInfo, state: { renamed: boolean }): Promise<string | undefined> {
  const { logger, signal } = options;
  const copied = await onServer(admin, `copy grants and settings of ${plan.target} to ${plan.freshName}`, (client) =>
    copyDatabaseProperties(client, existing, plan.freshName),
  );
  if (copied.length > 0) logger.info(`copied ${copied.length} database-level grant(s)/setting(s) from ${plan.target}`, { statements: copied });
  const swap = async (): Promise<void> => {
    // On the lock's own session, checked just before COMMIT (./commit-point).
    await commit.lock.onSession(`swap ${plan.target} and ${plan.freshName}`, (client) =>
      swapDatabases(client, { live: plan.target, fresh: plan.freshName, kept: plan.keptAs! }, {
        ...options.swap,
        onTerminated: (count, attempt) => logger.info(`ended ${count} session(s) on ${plan.target} (attempt ${attempt})`),
        beforeCommit: (c) => commit.point.beforeCommit(c),
      }),
    );
    state.renamed = true;
    commit.swapped.committed = true;
  };
  let restarted: string | undefined;
  if (options.stopServices) {
    const stopped = await options.stopServices.whileStopped(swap, {
      ...(signal ? { signal } : {}),
      log: (message, fields) => logger.info(message, fields),
    });
    restarted = stopped.restarted;
  } else {
    await swap();
  }
  logger.info(`${plan.target} is now the restored database; the one it replaced is kept as ${plan.keptAs}`);
  return restarted;
}

/** Step 6 for a new target: the fresh database takes its name, unless the name was taken meanwhile. */
async function renameIntoPlace({ options, plan, manifest, admin, commit }: Run, state: { renamed: boolean }, notes: string[]): Promise<undefined> {
  // Nothing to copy from: the properties the backup recorded (a disaster recovery must not lose them).
  const recorded = manifest.databaseProperties;
  if (recorded) {
    const applied = await onServer(admin, `apply the backup's database properties to ${plan.freshName}`, (client) =>
      applyDatabaseProperties(client, recorded, plan.freshName, { owner: true }),
    );
    options.logger.info(`applied ${applied.statements.length} database-level owner/grant/setting statement(s) recorded in the backup`, { statements: applied.statements });
    for (const note of applied.notes) options.logger.warn(note);
    notes.push(...applied.notes);
  }
  await commit.lock.onSession(`rename ${plan.freshName} to ${plan.target}`, async (client) => {
    if (await databaseExists(client, plan.target)) {
      throw new UserError(`database ${plan.target} appeared while the restore ran: not replacing it; run the restore again to replace it`);
    }
    await client.query('BEGIN');
    try {
      await renameDatabase(client, plan.freshName, plan.target);
      await commit.point.beforeCommit(client);
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
  });
  state.renamed = true;
  commit.swapped.committed = true;
  return undefined;
}

/** Leftovers of earlier restores of the target that are not running, as the plan listed them: dropped now. */
async function dropEarlierLeftovers({ options, plan, admin }: Run): Promise<void> {
  if (plan.dropsLeftovers.length === 0) return;
  const { dropped, inUse } = await onServer(admin, `drop leftovers of earlier restores of ${plan.target}`, (client) => dropLeftovers(client, plan.dropsLeftovers));
  if (dropped.length > 0) options.logger.info(`dropped ${dropped.length} leftover database(s) of earlier restores of ${plan.target} that are not running: ${dropped.join(', ')}`, { dropped });
  for (const db of inUse) options.logger.warn(`${db.name} is in use by a restore that started meanwhile (${db.heldBy}): not dropped`);
}

/** How long a drop that failed is tried again: a server restarting (pg_ctl restart) accepts connections again soon. */
const DROP_RETRY_MS = [1000, 2000];

/**
 * After a failure before the rename: drops the fresh database, or turns the failure into one line that names it and
 * the command that removes it.
 */
async function dropFresh({ options, plan, existing, admin }: Run, globals: GlobalsApplied | undefined, err: unknown): Promise<void> {
  let dropErr: unknown;
  for (let attempt = 0; attempt <= DROP_RETRY_MS.length; attempt += 1) {
    try {
      await onServer(admin, `drop ${plan.freshName}`, (client) => dropDatabase(client, plan.freshName));
      const roles = globals?.createdRoles.length ? ` (the ${globals.createdRoles.length} role(s) created from the globals stay; restoring again keeps them)` : '';
      options.logger.info(`dropped the fresh database ${plan.freshName}; ${existing ? `${plan.target} was not changed` : 'no database was left behind'}${roles}`);
      return;
    } catch (e) {
      dropErr = e;
      if (attempt < DROP_RETRY_MS.length) await new Promise((r) => setTimeout(r, DROP_RETRY_MS[attempt]));
    }
  }
  const why = err instanceof Error ? err.message : String(err);
  const code = err instanceof UserError ? err.exitCode : err instanceof Interrupted ? (err.signal === 'SIGINT' ? EXIT.interrupted : EXIT.terminated) : EXIT.failed;
  throw new UserError(
    `${oneLine(why)}; ${existing ? `${plan.target} was not changed, but ` : ''}the half-restored database ${plan.freshName} was left behind (${oneLine((dropErr as Error).message)}): remove it with \`${CLEANUP_COMMAND}\` (or DROP DATABASE "${plan.freshName}")`,
    code,
    { cause: err },
  );
}
