/**
 * `meatbackup restore-test [<key>|latest]`: proves a backup restores, without going near the live database.
 *
 * 1. resolve the key and read its manifest;
 * 2. (cluster mode) check the server binaries can load it; then hash every byte against the manifest, before any
 *    database exists;
 * 3. create the ephemeral target (./ephemeral-target: a scratch database on the server, or a throwaway cluster);
 *    check that it offers every extension the backup recorded (./extensions), else the result is "cannot test
 *    here", not a failure; in cluster mode apply the backup's recorded globals first, so its owners and grantees
 *    exist there;
 * 4. load it with the restore's own pipeline (../restore/load-pipeline: the same pinned bytes, hashed again, psql
 *    with ON_ERROR_STOP);
 * 5. ANALYZE and compare its catalog with the summary recorded at backup time (./compare-catalog); a backup that
 *    recorded none (taken before backups did) passes with a note in `differences`: older backups exist and their
 *    load and assertions still prove something;
 * 6. run the SQL assertions (./assertions);
 * 7. drop the database or stop the cluster, whatever happened;
 * 8. record the result at `<key>.restore-test.json` (./record-result) and emit the EMF metric
 *    (RestoreTestSuccess 1/0, RestoreTestSeconds, RestoreTestCannotTest; dimension Database) in every outcome; a
 *    backup that cannot be tested here emits RestoreTestCannotTest 1 and no RestoreTestSuccess, so the alarm for a
 *    bad backup stays quiet and its own alarm fires.
 *
 * A failed test is a result (`ok: false`), not an exception: the caller decides how to exit. Only what prevents a
 * result from being written (no such backup, S3 refusing the result) or an interruption is thrown.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { METRICS, type Manifest, type RestoreTestResult, type RetentionClass, parseBackupKey } from '../contract';
import { UserError, oneLine } from '../core/errors';
import type { Logger } from '../core/log';
import { DEFAULT_STALL_SECONDS, StallWatchdog, stepOf, untilAborted } from '../core/watchdog';
import { readRequiredManifest } from '../catalog/catalog';
import { resolveBackupRef } from '../catalog/resolve';
import { type Connection, describeConnection } from '../postgres/connection';
import { applyGlobals, fetchVerifiedGlobals } from '../restore/apply-globals';
import { nameStamp } from '../restore/database-swap';
import type { HashOptions, PinnedObject } from '../restore/fetch-verified';
import { checkBeforeLoad } from '../restore/check-before-load';
import { loadPinned } from '../restore/load-pipeline';
import { secondsSince } from '../core/format';
import { maintenance, onServer } from '../restore/on-server';
import { DiskNearlyFull, type SpaceCheck, checkSpace, copySize, describeSpace, readServerPaths, shortfall, spaceNeeded, whileWatchingDisk } from '../restore/disk-space';
import { type AssertionResult, runAssertions } from './assertions';
import { type RowTolerance, compareCatalog, expectedRows, readRestoredCatalog } from './compare-catalog';
import { type EphemeralTarget, type RestoreTestMode, checkClusterBinaries, createScratchTarget, majorOf, startClusterTarget } from './ephemeral-target';
import { type MissingExtension, cannotTestMessage, checkExtensions, missingExtensionInError, readAvailableExtensions } from './extensions';
import { writeRestoreTestResult } from './record-result';
import { targetUnavailable } from './target-unavailable';
import type { Compressor } from '../gzip/choice';

export interface RestoreTestOptions {
  s3: S3Client;
  bucket: string;
  prefix: string;
  /** `latest`, a file name, or a full key. */
  ref: string;
  /** The database `latest` is the newest backup of. Unset: the only database with backups under the prefix. */
  database?: string;
  /** How the caller names the database, for the message when several have backups. */
  databaseHint?: string;
  mode: RestoreTestMode;
  /** SQL that must each return one true value on the restored copy. */
  assertions: readonly string[];
  /**
   * The server for scratch mode (its database is never touched: sessions go to the maintenance database). Its
   * database also names the metric when no backup could be found.
   */
  conn: Connection;
  logger: Logger;
  signal?: AbortSignal;
  /**
   * Seconds without progress from S3 (a listing, the manifest, a byte of the download) before the test gives up as
   * stalled (psql busy is not a stall); the ephemeral target is removed as after any failure. 0 never.
   * @default DEFAULT_STALL_SECONDS (120)
   */
  stallSeconds?: number;
  now?: () => Date;
  hash?: HashOptions;
  psqlPath?: string;
  /** What decompresses the SQL (chooseDecompressor, decided where the command starts). */
  decompressor: Compressor;
  /** Sessions to load over (1: one psql stream; loadPinned). @default 1 */
  jobs?: number;
  tolerance?: RowTolerance;
  /**
   * Scratch mode: bytes the server's disk has for the scratch copy, when this process cannot see its filesystem (RDS,
   * a server elsewhere); ignored where it is seen (../restore/disk-space).
   */
  spaceAvailable?: number;
}

/** How long recording the result may take after a stall or a signal, when S3 may be what stopped answering. */
const RECORD_AFTER_INTERRUPT_MS = 5000;

export interface RestoreTestOutcome {
  result: RestoreTestResult;
  bucket: string;
  /** Where the result was recorded. */
  resultKey: string;
  /** The database the backup was taken from (the metric's dimension). */
  database: string;
  /** Where it was restored, e.g. "scratch database meatdb_restore_test_… on host:5432". */
  target?: string;
  sqlBytes?: number;
  /** Tables whose row counts were checked, and all tables restored. */
  tables?: { checked: number; restored: number };
  notes: string[];
}

/**
 * Exit code of `meatbackup restore-test` when the backup could not be tested here (the target lacks an extension
 * it needs): neither a pass (0) nor a bad backup (1).
 */
export const EXIT_CANNOT_TEST = 5;

/** The target cannot load the backup for a reason that is not the backup's: it lacks these extensions, or `reason`. */
class CannotTestHere extends Error {
  constructor(
    readonly missing: MissingExtension[],
    message: string,
    readonly reason?: string,
  ) {
    super(message);
    this.name = 'CannotTestHere';
  }
}

export const NO_CATALOG_NOTE =
  'no catalog summary recorded (backup made before backups recorded one): the catalog was not checked, only the load and the assertions';

/** The one line naming what failed first, for the exit message. */
export function firstFailure(result: RestoreTestResult): string | undefined {
  const failing = [
    ...(result.error ? [result.error] : []),
    ...result.differences.filter((d) => d !== NO_CATALOG_NOTE),
    ...result.assertions.filter((a) => !a.ok).map((a) => `assertion ${JSON.stringify(a.sql)} failed: ${a.error ?? 'not true'}`),
  ];
  if (failing.length === 0) return undefined;
  return failing.length === 1 ? failing[0] : `${failing[0]} (and ${failing.length - 1} more)`;
}

export async function runRestoreTest(given: RestoreTestOptions): Promise<RestoreTestOutcome> {
  const { s3, bucket, logger } = given;
  const started = Date.now();
  const now = given.now ?? (() => new Date());
  const testedAt = now();
  let database = given.database ?? given.conn.database;
  let success = 0;
  let cannotTest = false;
  let interrupted = false;
  // Every S3 step is watched; a stall aborts the run's signal as SIGINT/SIGTERM do, and is cleaned up the same way.
  const watchdog = new StallWatchdog({ seconds: given.stallSeconds ?? DEFAULT_STALL_SECONDS, ...(given.signal ? { parent: given.signal } : {}) });
  const options = { ...given, signal: watchdog.signal };
  try {
    const resolved = await stepOf(watchdog, `S3 listing of ${options.prefix} in bucket ${bucket}`, () =>
      resolveBackupRef(s3, bucket, options.prefix, options.ref, {
        ...(options.database !== undefined ? { database: options.database } : {}),
        ...(options.databaseHint ? { databaseHint: options.databaseHint } : {}),
      }),
    );
    database = parseBackupKey(resolved.key)?.database ?? database;
    if (resolved.skipped) options.logger.warn(resolved.skipped);
    const outcome = await testResolved(options, resolved.key, testedAt, started, watchdog);
    database = outcome.database;
    success = outcome.result.ok ? 1 : 0;
    cannotTest = outcome.result.cannotTest !== undefined;
    return outcome;
  } catch (err) {
    // An interruption says nothing about the backup: no RestoreTestSuccess 0 for the failed-test alarm.
    interrupted = watchdog.signal.aborted;
    throw err;
  } finally {
    watchdog.stop();
    logger.metric('restore-test', { [METRICS.dimensionDatabase]: database }, {
      ...(cannotTest || interrupted ? {} : { [METRICS.restoreTestSuccess]: { value: success, unit: 'Count' } }),
      [METRICS.restoreTestCannotTest]: { value: cannotTest ? 1 : 0, unit: 'Count' },
      [METRICS.restoreTestSeconds]: { value: secondsSince(started), unit: 'Seconds' },
    });
  }
}

async function testResolved(options: RestoreTestOptions, key: string, testedAt: Date, started: number, watchdog: StallWatchdog): Promise<RestoreTestOutcome> {
  const { s3, bucket, logger, signal } = options;
  const result: RestoreTestResult = {
    format: 'meatbackup/restore-test@1',
    key,
    ok: false,
    testedAt: testedAt.toISOString(),
    seconds: 0,
    mode: options.mode,
    differences: [],
    assertions: [],
  };
  const outcome: RestoreTestOutcome = { result, bucket, resultKey: '', database: parseBackupKey(key)?.database ?? options.conn.database, notes: [] };
  let catalogFailed = false;
  let interrupted: unknown;
  let retention: RetentionClass | undefined;
  const fail = (err: unknown): void => {
    if (signal?.aborted && interrupted === undefined) interrupted = signal.reason;
    // "cannot test here" only while it is the one thing that went wrong: a target left behind is a failure of its own.
    if (err instanceof CannotTestHere && result.error === undefined) result.cannotTest = { missingExtensions: err.missing, ...(err.reason ? { reason: err.reason } : {}) };
    else delete result.cannotTest;
    const message = oneLine(err instanceof Error ? err.message : String(err));
    result.error = result.error ? `${result.error}; ${message}` : message;
  };

  try {
    const manifest = await stepOf(watchdog, `S3 read of the manifest of ${key}`, () => readRequiredManifest(s3, bucket, key));
    outcome.database = manifest.database;
    retention = manifest.retention?.class;
    if (options.mode === 'cluster') checkClusterBinaries(manifest);
    logger.info(`restore test of ${key} (${options.mode} mode)`, { key, mode: options.mode });
    const { pin, notes } = await checkBeforeLoad(s3, bucket, key, manifest, {
      logger,
      watchdog,
      ...(signal ? { signal } : {}),
      ...(options.hash ? { hash: options.hash } : {}),
    });
    outcome.notes.push(...notes);

    const stamp = nameStamp(testedAt);
    const unavailable = (err: unknown): never => {
      const reason = signal?.aborted ? undefined : targetUnavailable(err);
      if (reason === undefined) throw err;
      throw new CannotTestHere([], `cannot test here: ${reason} (${oneLine((err as Error).message)}); this says nothing against the backup`, reason);
    };
    const space = options.mode === 'scratch' ? await scratchSpace(options, manifest).catch(unavailable) : undefined;
    const target: EphemeralTarget = await (options.mode === 'cluster' ? startClusterTarget(manifest, stamp, logger) : createScratchTarget(options.conn, manifest, stamp, logger)).catch(
      unavailable,
    );
    outcome.target = target.description;
    try {
      outcome.notes.push(...(await checkTargetExtensions(options, target, manifest)));
      const checked = await restoreAndCheck(options, target, pin, manifest, watchdog, space);
      outcome.sqlBytes = checked.sqlBytes;
      outcome.tables = checked.tables;
      outcome.notes.push(...checked.notes);
      result.differences = checked.differences;
      catalogFailed = checked.catalogFailed;
      result.assertions = checked.assertions;
    } catch (err) {
      fail(asCannotTest(err, options.mode, target) ?? diskFull(err) ?? err);
    } finally {
      try {
        await target.dispose();
      } catch (err) {
        fail(new Error(`could not remove the ${target.description} (${(err as Error).message}): remove it by hand`));
      }
    }
  } catch (err) {
    fail(err);
  }

  result.ok = result.error === undefined && !catalogFailed && result.assertions.every((a) => a.ok);
  result.seconds = secondsSince(started);
  if (signal?.aborted && interrupted === undefined) interrupted = signal.reason;
  if (interrupted !== undefined && !result.ok) {
    // Stopped (a signal, a stall) before it could say anything about the backup: nothing is recorded against it.
    logger.warn(`restore test of ${key} was interrupted: no result recorded; the backup's last result stands`);
    throw interrupted;
  }
  outcome.resultKey = await recordResult(s3, bucket, result, retention, interrupted, logger);
  const verdict = result.ok ? 'passed' : result.cannotTest ? 'could not run here' : 'failed';
  logger.info(`restore test of ${key} ${verdict}; result recorded at ${outcome.resultKey}`, { ok: result.ok, resultKey: outcome.resultKey, ...(result.cannotTest ? { cannotTest: result.cannotTest } : {}) });
  if (interrupted !== undefined) throw interrupted;
  return outcome;
}

/**
 * Refuses, before anything is loaded, a target that lacks an extension the backup recorded; returns notes on
 * extensions the target would create at another version. A backup that recorded no list is not checked here.
 */
async function checkTargetExtensions(options: RestoreTestOptions, target: EphemeralTarget, manifest: Manifest): Promise<string[]> {
  const needed = manifest.catalog?.extensions;
  if (!needed || needed.length === 0) return [];
  const available = await onServer(target.admin, `list the extensions the ${target.description} offers`, readAvailableExtensions);
  const { missing, otherVersions } = checkExtensions(needed, available);
  if (missing.length > 0) throw new CannotTestHere(missing, cannotTestMessage(missing, options.mode, serverOf(target)));
  for (const note of otherVersions) options.logger.warn(note);
  return otherVersions;
}

/** psql's complaint about a missing extension (a backup that recorded no list) as "cannot test here". */
function asCannotTest(err: unknown, mode: RestoreTestMode, target: EphemeralTarget): CannotTestHere | undefined {
  if (err instanceof CannotTestHere) return err;
  const name = err instanceof Error ? missingExtensionInError(err.message) : undefined;
  if (name === undefined) return undefined;
  const missing = [{ name }];
  return new CannotTestHere(missing, `${cannotTestMessage(missing, mode, serverOf(target))} (${oneLine((err as Error).message)})`);
}

function serverOf(target: EphemeralTarget): string {
  return target.mode === 'cluster' ? target.description.replace(/^database \S+ in (a )?/, '') : target.description.replace(/^scratch database \S+ on /, 'server ').replace(/ as \S+$/, '');
}

interface Checked {
  sqlBytes: number;
  differences: string[];
  catalogFailed: boolean;
  assertions: AssertionResult[];
  tables: { checked: number; restored: number };
  notes: string[];
}

/**
 * Writes the result; after a stall or a signal only for a few seconds (S3 may be what stopped answering), and a
 * failure then is a warning: the interruption is what the run ends with.
 */
async function recordResult(s3: S3Client, bucket: string, result: RestoreTestResult, retention: RetentionClass | undefined, interrupted: unknown, logger: Logger): Promise<string> {
  const writing = writeRestoreTestResult(s3, bucket, result, retention);
  if (interrupted === undefined) return writing;
  try {
    return await untilAborted(writing, AbortSignal.timeout(RECORD_AFTER_INTERRUPT_MS));
  } catch (err) {
    logger.warn(`the result was not recorded (${oneLine(err instanceof Error ? err.message : String(err))})`);
    throw interrupted;
  }
}

/**
 * Scratch mode loads a second copy of the database onto the live server, so it needs what a restore needs there and
 * is checked the same way (../restore/disk-space): known not to fit, it is "cannot test here" before anything is
 * created, a verdict on the server and not on the backup; the live database keeps its room.
 */
async function scratchSpace(options: RestoreTestOptions, manifest: Manifest): Promise<SpaceCheck> {
  const admin = maintenance(options.conn, manifest.database);
  const paths = await onServer(admin, `inspect ${describeConnection(admin)}`, (client) => readServerPaths(client, 'pg_default'));
  const space = checkSpace(spaceNeeded(copySize(manifest.catalog?.totalBytes, manifest.sqlBytes), paths), paths, options.spaceAvailable);
  const missing = shortfall(space);
  if (missing !== undefined) {
    const reason = 'not enough disk space on the server for the scratch copy';
    throw new CannotTestHere([], `cannot test here: ${reason}: it needs ${missing} (the copy beside the live database, with headroom for WAL and checkpoints); free space on the server or use --mode cluster on a machine with room; this says nothing against the backup`, reason);
  }
  options.logger.info(`disk space: ${describeSpace(space)}`);
  return space;
}

/** A load the disk watch stopped before the server's disk filled: the server ran short, not the backup. */
function diskFull(err: unknown): CannotTestHere | undefined {
  if (!(err instanceof DiskNearlyFull)) return undefined;
  return new CannotTestHere([], `cannot test here: ${err.message.replace(/; free space on the server and restore again$/, '')}; free space on the server and test again; this says nothing against the backup`, 'the server\'s disk ran short during the load');
}

async function restoreAndCheck(options: RestoreTestOptions, target: EphemeralTarget, pin: PinnedObject, manifest: Manifest, watchdog: StallWatchdog, space: SpaceCheck | undefined): Promise<Checked> {
  const { s3, bucket, logger, signal } = options;
  const notes: string[] = [];
  // A throwaway cluster has none of the source's roles: the objects' owners and grantees come from the globals.
  if (target.mode === 'cluster' && manifest.globals) {
    const globals = manifest.globals;
    const sql = await stepOf(watchdog, `S3 download of ${globals.key}`, () => fetchVerifiedGlobals(s3, bucket, globals, signal));
    const applied = await onServer(target.admin, "apply the backup's globals in the throwaway cluster", (client) => applyGlobals(client, sql));
    logger.info(`applied the backup's globals: created ${applied.createdRoles.length} role(s)`, { createdRoles: applied.createdRoles });
    for (const t of applied.missingTablespaces) notes.push(`tablespace ${t.name} of the backup's server does not exist in the throwaway cluster`);
  } else if (target.mode === 'cluster') {
    const note = 'the backup records no globals: the throwaway cluster has only its superuser, so a dump whose objects belong to other roles fails to load (role … does not exist); use --mode scratch for such backups';
    logger.warn(note);
    notes.push(note);
  }

  const load = (loadSignal: AbortSignal | undefined): Promise<{ sqlBytes: number }> =>
    loadPinned({
      s3,
      pin,
      watchdog,
      conn: target.connection,
      logger,
      ...(loadSignal ? { signal: loadSignal } : {}),
      ...(options.psqlPath ? { psqlPath: options.psqlPath } : {}),
      decompressor: options.decompressor,
      ...(options.jobs !== undefined ? { jobs: options.jobs } : {}),
    });
  // Where the scratch copy's disk is seen, the load stops while the live database still has room.
  const { sqlBytes } = space ? await whileWatchingDisk(space, signal, load) : await load(signal);

  return onServer(target.connection, `check the restored ${target.description}`, async (client) => {
    const restored = await readRestoredCatalog(client);
    let differences: string[];
    let catalogFailed = false;
    let checkedTables = 0;
    if (manifest.catalog) {
      differences = compareCatalog(manifest.catalog, restored, {
        ...(options.tolerance ? { tolerance: options.tolerance } : {}),
        ...(majorOf(manifest.serverVersion) !== undefined ? { sourceMajor: majorOf(manifest.serverVersion) } : {}),
      });
      catalogFailed = differences.length > 0;
      checkedTables = manifest.catalog.tables.filter((t) => expectedRows(t, majorOf(manifest.serverVersion)) !== undefined).length;
      if (catalogFailed) logger.warn(`the restored catalog differs from the recorded summary: ${differences.join('; ')}`);
      else logger.info('the restored catalog matches the recorded summary', { tables: restored.summary.counts.tables });
    } else {
      differences = [NO_CATALOG_NOTE];
      logger.warn(NO_CATALOG_NOTE);
    }
    const assertions = await runAssertions(client, options.assertions);
    for (const a of assertions) {
      if (a.ok) logger.info(`assertion held: ${a.sql}`);
      else logger.warn(`assertion failed: ${a.sql}: ${a.error}`);
    }
    return { sqlBytes, differences, catalogFailed, assertions, tables: { checked: checkedTables, restored: restored.summary.counts.tables }, notes };
  });
}

/** Throws the one-line failure of a failed outcome; returns quietly for a pass. */
export function throwIfFailed(outcome: RestoreTestOutcome): void {
  if (outcome.result.ok) return;
  const what = firstFailure(outcome.result) ?? 'it did not pass';
  if (outcome.result.cannotTest) {
    throw new UserError(`restore test of ${outcome.result.key}: ${what}; result recorded at s3://${outcome.bucket}/${outcome.resultKey}`, EXIT_CANNOT_TEST);
  }
  throw new UserError(`restore test of ${outcome.result.key} failed: ${what}; result recorded at s3://${outcome.bucket}/${outcome.resultKey}`);
}
