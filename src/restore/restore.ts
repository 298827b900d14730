/**
 * `meatbackup restore`: the runbook's section 2.1 without its gap. The runbook drops the live database before the
 * new one is known to be good; here nothing is dropped but what the restore itself created:
 *
 * 1. resolve the key and read its manifest;
 * 2. plan: which database it replaces (or creates), the names it will use, and ask (the caller's `confirm`);
 * 3. read every byte once and check the manifest's size and sha256 — an altered backup stops here, nothing touched;
 *    with `withGlobals`, read and check the backup's globals too and apply them (./apply-globals: missing roles are
 *    created, existing ones kept; refused before anything is read when the manifest records no globals);
 * 4. create a fresh database like the one it replaces and load the same pinned bytes into it with psql, checking the
 *    sha256 again on the way (the load fails, and psql is killed, if the bytes differ after all);
 * 5. carry over the database-level GRANTs and settings pg_dump does not dump;
 * 6. new target: rename the fresh database to it. Replacing: stop the web service, end the remaining sessions, and in
 *    one transaction rename the live database to `<db>_pre_restore_<stamp>` and the fresh one into its place; start
 *    the web service again whatever happened.
 *
 * Any failure or SIGINT/SIGTERM before the swap drops the fresh database and leaves the live one as it was.
 */
import type { ECSClient } from '@aws-sdk/client-ecs';
import type { S3Client } from '@aws-sdk/client-s3';
import { METRICS, type Manifest } from '../contract';
import { UserError, oneLine } from '../core/errors';
import type { Logger } from '../core/log';
import { readManifest } from '../catalog/catalog';
import { resolveBackupRef } from '../catalog/resolve';
import { type Connection, describeConnection, withDatabase } from '../postgres/connection';
import { type GlobalsApplied, applyGlobals, fetchVerifiedGlobals, requireGlobals } from './apply-globals';
import {
  type DatabaseInfo,
  type SwapOptions,
  copyDatabaseProperties,
  createFreshDatabase,
  databaseExists,
  describeDatabase,
  dropDatabase,
  freshName,
  keptName,
  nameStamp,
  renameDatabase,
  swapDatabases,
  unusedName,
} from './database-swap';
import type { HashOptions } from './fetch-verified';
import { checkBeforeLoad, loadPinned, maintenance, onServer, requireManifest, secondsSince } from './load-pipeline';
import { type ServiceRef, type WebServiceOptions, describeServiceRef, withWebServiceStopped } from './web-service';

export interface RestorePlan {
  bucket: string;
  key: string;
  /** The database the backup was taken from. */
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
  /** The web service stopped during the swap (replacing only). */
  webService?: string;
  /** The backup's roles are applied first (created when missing, kept when present). */
  withGlobals: boolean;
}

export interface RestoreResult extends RestorePlan {
  versionId?: string;
  sqlBytes: number;
  /** Desired count the web service had, and has again. */
  webServiceDesiredCount?: number;
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
   * Apply the backup's globals (roles, memberships) before loading, so a restore onto a new server finds the roles
   * its objects are owned by and granted to. @default false
   */
  withGlobals?: boolean;
  /** Stopped while the databases swap names (only when replacing). */
  webService?: ServiceRef;
  /** Made on first use, only when a web service is to be stopped. */
  ecs?: () => ECSClient;
  /**
   * Called with the plan before anything is read or changed, when it replaces a database; return false to stop
   * (nothing changed). Throwing works too (e.g. a usage error without --yes).
   */
  confirmReplace?: (plan: RestorePlan) => Promise<boolean>;
  logger: Logger;
  signal?: AbortSignal;
  now?: () => Date;
  hash?: HashOptions;
  webServiceOptions?: WebServiceOptions;
  swap?: SwapOptions;
  psqlPath?: string;
}

export async function restoreBackup(options: RestoreOptions): Promise<RestoreResult> {
  const { s3, bucket, logger } = options;
  const started = Date.now();
  const now = options.now ?? (() => new Date());
  const target = options.targetDb ?? options.conn.database;
  if (!target) throw new UserError('no target database: pass --target-db NAME or set PGDATABASE', 2);
  const admin = maintenance(options.conn, target);

  // 1. What to restore.
  const resolved = await resolveBackupRef(s3, bucket, options.prefix, options.ref);
  const manifest = requireManifest(await readManifest(s3, bucket, resolved.key), resolved.key);
  if (options.withGlobals) requireGlobals(manifest, resolved.key);

  // 2. The plan, on the server as it is now.
  const stamp = nameStamp(now());
  const { existing, fresh, kept } = await onServer(admin, `inspect ${describeConnection(admin)}`, async (client) => {
    const info = await describeDatabase(client, target);
    const freshDb = await unusedName(client, (n) => freshName(target, `${stamp}${n}`));
    const keptDb = info ? await unusedName(client, (n) => keptName(target, `${stamp}${n}`)) : undefined;
    return { existing: info, fresh: freshDb, kept: keptDb };
  });
  const plan: RestorePlan = {
    bucket,
    key: resolved.key,
    sourceDatabase: manifest.database,
    takenAt: manifest.takenAt,
    sizeBytes: manifest.sizeBytes,
    sha256: manifest.sha256,
    target,
    server: describeConnection(withDatabase(options.conn, target)),
    replaces: existing !== undefined,
    freshName: fresh,
    ...(kept ? { keptAs: kept } : {}),
    ...(existing && options.webService ? { webService: describeServiceRef(options.webService) } : {}),
    withGlobals: options.withGlobals ?? false,
  };
  if (existing && !(await (options.confirmReplace?.(plan) ?? Promise.resolve(false)))) {
    throw new UserError(`restore cancelled: database ${target} was not replaced and nothing was changed`);
  }
  logger.info(`restoring ${plan.key} into ${existing ? `a fresh database, then replacing ${target}` : `new database ${target}`}`, { ...plan });

  let success = 0;
  try {
    const result = await restorePlanned(options, plan, manifest, existing, admin);
    success = 1;
    return { ...result, seconds: { ...result.seconds, total: secondsSince(started) } };
  } finally {
    logger.metric('restore', { [METRICS.dimensionDatabase]: target }, {
      [METRICS.restoreSuccess]: { value: success, unit: 'Count' },
      [METRICS.restoreSeconds]: { value: secondsSince(started), unit: 'Seconds' },
    });
  }
}

async function restorePlanned(
  options: RestoreOptions,
  plan: RestorePlan,
  manifest: Manifest,
  existing: DatabaseInfo | undefined,
  admin: Connection,
): Promise<RestoreResult> {
  const { s3, bucket, logger, signal } = options;

  // 3. Every byte checked before any database is touched (the globals too, when asked for).
  const { pin, notes, seconds: checkSeconds } = await checkBeforeLoad(s3, bucket, plan.key, manifest, {
    logger,
    ...(signal ? { signal } : {}),
    ...(options.hash ? { hash: options.hash } : {}),
  });
  let globals: GlobalsApplied | undefined;
  if (options.withGlobals) {
    const sql = await fetchVerifiedGlobals(s3, bucket, requireGlobals(manifest, plan.key), signal);
    if (signal?.aborted) throw signal.reason;
    globals = await onServer(admin, 'apply the backup\'s globals', (client) => applyGlobals(client, sql));
    logger.info(`roles: created ${globals.createdRoles.length}, kept ${globals.keptRoles.length} existing, ${globals.memberships.length} membership(s) granted`, {
      createdRoles: globals.createdRoles,
      keptRoles: globals.keptRoles,
    });
    for (const note of globals.notes) logger.warn(note);
    notes.push(...globals.notes);
  }

  // 4. Fresh database, loaded from the same pinned bytes.
  await onServer(admin, `create database ${plan.freshName}`, (client) => createFreshDatabase(client, plan.freshName, existing));
  /** Set once the fresh database carries the target's name: from then on there is nothing to drop. */
  let renamed = false;
  let sqlBytes = 0;
  let loadSeconds = 0;
  let swapSeconds = 0;
  let webServiceDesiredCount: number | undefined;
  try {
    ({ sqlBytes, seconds: loadSeconds } = await loadPinned({
      s3,
      pin,
      conn: withDatabase(options.conn, plan.freshName),
      logger,
      ...(signal ? { signal } : {}),
      ...(options.psqlPath ? { psqlPath: options.psqlPath } : {}),
    }));

    // 5–6. Properties, then the names.
    const t = Date.now();
    if (existing) {
      const copied = await onServer(admin, `copy grants and settings of ${plan.target} to ${plan.freshName}`, (client) =>
        copyDatabaseProperties(client, existing, plan.freshName),
      );
      if (copied.length > 0) logger.info(`copied ${copied.length} database-level grant(s)/setting(s) from ${plan.target}`, { statements: copied });
      const swap = async (): Promise<void> => {
        await onServer(admin, `swap ${plan.target} and ${plan.freshName}`, (client) =>
          swapDatabases(client, { live: plan.target, fresh: plan.freshName, kept: plan.keptAs! }, {
            ...options.swap,
            onTerminated: (count, attempt) => logger.info(`ended ${count} session(s) on ${plan.target} (attempt ${attempt})`),
          }),
        );
        renamed = true;
      };
      if (options.webService) {
        if (!options.ecs) throw new UserError('a web service to stop was given but no ECS client: this is a bug');
        const stopped = await withWebServiceStopped(options.ecs(), options.webService, swap, {
          ...options.webServiceOptions,
          ...(signal ? { signal } : {}),
          log: (message, fields) => logger.info(message, fields),
        });
        webServiceDesiredCount = stopped.desiredCount;
      } else {
        await swap();
      }
      logger.info(`${plan.target} is now the restored database; the one it replaced is kept as ${plan.keptAs}`);
    } else {
      await onServer(admin, `rename ${plan.freshName} to ${plan.target}`, async (client) => {
        if (await databaseExists(client, plan.target)) {
          throw new UserError(`database ${plan.target} appeared while the restore ran: not replacing it; run the restore again to replace it`);
        }
        await renameDatabase(client, plan.freshName, plan.target);
      });
      renamed = true;
    }
    swapSeconds = secondsSince(t);
  } catch (err) {
    // Before the rename the fresh database is ours alone to drop; after it (e.g. the web service failed to start
    // again) the restore itself is done and nothing is dropped.
    if (!renamed) {
      try {
        await onServer(admin, `drop ${plan.freshName}`, (client) => dropDatabase(client, plan.freshName));
        const roles = globals?.createdRoles.length ? ` (the ${globals.createdRoles.length} role(s) created from the globals stay; restoring again keeps them)` : '';
        logger.info(`dropped the fresh database ${plan.freshName}; ${existing ? `${plan.target} was not changed` : 'no database was left behind'}${roles}`);
      } catch (dropErr) {
        logger.warn(`could not drop ${plan.freshName} (${oneLine((dropErr as Error).message)}): drop it by hand`);
        if (err instanceof UserError) {
          throw new UserError(`${err.message}; the half-restored database ${plan.freshName} could not be dropped: drop it by hand`, err.exitCode, { cause: err });
        }
      }
    }
    throw err;
  }

  return {
    ...plan,
    ...(pin.versionId ? { versionId: pin.versionId } : {}),
    sqlBytes,
    ...(webServiceDesiredCount !== undefined ? { webServiceDesiredCount } : {}),
    ...(globals ? { globals } : {}),
    notes,
    seconds: { check: checkSeconds, load: loadSeconds, swap: swapSeconds, total: 0 },
  };
}
