/**
 * `meatbackup backup`: pg_dump → igzip (ISA-L; Node's zlib where it is not installed) → sha256 + S3 multipart
 * upload, streaming, with backpressure from the upload back to pg_dump's pipe, so memory stays bounded whatever the
 * database size and nothing touches the disk.
 *
 * Atomic: the object appears (CompleteMultipartUpload) only after pg_dump and the compressor exited 0 and every byte
 * is stored. Any failure — pg_dump's error, its backend terminated, igzip dying, an S3 error, a stall (no progress
 * for the stall timeout), SIGTERM/SIGINT — kills both processes and aborts the upload, so nothing is left under the
 * prefix and no multipart upload stays open; the error line names the one that failed first. An existing key is never
 * overwritten: checked before starting, and enforced by S3 with If-None-Match on completion.
 *
 * Consistent: a session exports a REPEATABLE READ snapshot, reads the catalog summary in it, and pg_dump dumps that
 * very snapshot (--snapshot), so the summary recorded in the manifest describes exactly what the dump holds.
 *
 * Kept and protected: the object is tagged with its retention class (monthly/weekly/daily, decided from the backups
 * already in the bucket) and, on a bucket with Object Lock, given a governance-mode retention as the run's last step.
 *
 * Once the object is stored, its globals (`pg_dumpall --globals-only --no-role-passwords`) and then its manifest
 * (sha256 and size of the stored bytes, versions, catalog summary, retention, timings) are written next to it, with
 * the same tag; if any of that fails, what was stored is deleted again, by version id, so every backup that exists
 * has its globals and a manifest. Lock last: only when all three are stored are they locked (PutObjectRetention by
 * version id: object, globals, manifest), so that cleanup never has a lock to bypass, and no role may bypass one.
 * If a lock itself fails, what is not locked yet is deleted and the error names any version already locked.
 */
import { createHash } from 'node:crypto';
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import {
  DEFAULT_PREFIX,
  ENV,
  METRICS,
  type Manifest,
  OBJECT_METADATA,
  type RetentionClass,
  backupKey,
  manifestSchema,
  sidecarKey,
} from '../contract';
import { UserError } from '../core/errors';
import { sayLackedProtections, seenOnObject } from '../storage/bucket-protection';
import type { Logger } from '../core/log';
import { listBackupObjects } from '../catalog/catalog';
import type { Connection } from '../postgres/connection';
import { type PgPrograms, type PgTool, choosePgDump, choosePgDumpall } from '../postgres/tools';
import { describeS3Error } from '../storage/s3';
import { DEFAULT_STALL_SECONDS, StallWatchdog } from '../core/watchdog';
import type { Compressor } from '../gzip/choice';
import { compressionLevel } from './compression';
import { type DumpPipeline, startDumpPipeline } from './dump-pipeline';
import { outputBufferPrefix } from './dump-process';
import { type DumpedGlobals, dumpGlobals } from './globals';
import { DEFAULT_MEMBER_BYTES } from './gzip-members';
import { type CompletedUpload, MultipartUpload, type MultipartTarget } from './multipart-upload';
import { DEFAULT_LOCK_DAYS, type ObjectLock, bucketObjectLock, classWindowStart, lockDaysFor, objectLockFor, retentionClass, retentionTagging } from './retention';
import { type SnapshotSession, openSnapshot } from './snapshot';
import { type StoredObject, lockStored, putSidecar, removeStored } from './stored-objects';

export const BACKUP_CONTENT_TYPE = 'application/gzip';

export interface BackupOptions {
  s3: S3Client;
  bucket: string;
  /** @default 'backups/' */
  prefix?: string;
  connection: Connection;
  /**
   * The compressor and the line to print about the choice (chooseCompressor, decided where the command starts: the
   * forced one, else igzip where installed, else zlib with a notice).
   */
  compressor: { compressor: Compressor; notice?: string };
  /** The compressor's level: igzip 0–3, zlib 1–9. @default 1 for both (COMPRESSION_LEVELS; bench/backup.ts measures the others) */
  compressionLevel?: number;
  /** zlib: uncompressed bytes per gzip member. @default 1 MiB */
  memberBytes?: number;
  /** zlib: members compressing at once. @default 4 */
  compressionConcurrency?: number;
  /** Bytes of the first multipart parts; later ones grow (multipart-upload.ts partSize). @default 8 MiB */
  partBytes?: number;
  /** Parts of the first size uploading at once (fewer as they grow). @default 4 */
  partsInFlight?: number;
  /** Seconds without progress before the backup is abandoned as stalled; 0 never. @default DEFAULT_STALL_SECONDS (120) */
  stallSeconds?: number;
  /** Aborts the backup (SIGINT/SIGTERM): pg_dump and the compressor are killed, the upload aborted, the reason rethrown. */
  signal?: AbortSignal;
  logger?: Logger;
  /** The clock; the key's stamp is its value at the start, to the second. @default () => new Date() */
  now?: () => Date;
  /** Where pg_dump and pg_dumpall are looked for (PG_DUMP_PATH, PG_LIB_DIR, PATH). @default /usr/lib/postgresql/<major>/bin only */
  programs?: PgPrograms;
  /** Explicit pg_dump, bypassing the per-server choice (tests). */
  pgDump?: PgTool;
  /** Explicit pg_dumpall, bypassing the choice by pg_dump's major (tests). */
  pgDumpall?: PgTool;
  /**
   * Days of governance-mode Object Lock the backup, its manifest and its globals are locked with once all three are
   * stored, when the bucket has Object Lock enabled; 0 writes them without (and does not ask the bucket). @default DEFAULT_LOCK_DAYS (35)
   */
  lockDays?: number;
  /** Days each retention class is kept (BACKUP_RETENTION_DAYS): a backup is locked at least until its class expires. */
  retentionDays?: Partial<Record<RetentionClass, number>>;
}

export interface BackupResult {
  bucket: string;
  key: string;
  manifestKey: string;
  globalsKey: string;
  manifest: Manifest;
  pgDump: PgTool;
  pgDumpall: PgTool;
  parts: number;
}

/** S3 user metadata travels in HTTP headers: plain ASCII as is, anything else percent-encoded. */
export function metadataValue(value: string): string {
  return /^[\x20-\x7e]*$/.test(value) ? value : encodeURIComponent(value);
}

/** Refuses to start when the key (or a manifest or globals under its name) is already there. */
async function ensureKeyFree(s3: S3Client, bucket: string, key: string): Promise<void> {
  let names: string[];
  try {
    // Not HEAD: a HEAD answer has no body, so a missing bucket or bad credentials would read as "not found".
    const res = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: key, MaxKeys: 10 }));
    names = (res.Contents ?? []).map((o) => o.Key ?? '');
  } catch (err) {
    throw describeS3Error(err, `check ${key} in bucket ${bucket}`, bucket);
  }
  if ([key, sidecarKey(key, 'manifest'), sidecarKey(key, 'globals')].some((k) => names.includes(k))) {
    throw new UserError(`a backup named ${key} already exists in bucket ${bucket}: backups are never overwritten; run again in a second`);
  }
}

/** What the run learns before it dumps: the snapshot, and what the bucket says about this key. */
interface Preparation {
  session: SnapshotSession;
  retention: NonNullable<Manifest['retention']>;
  lock: ObjectLock | undefined;
  /** Whether the bucket has Object Lock; undefined when BACKUP_LOCK_DAYS=0 did not ask. */
  bucketLocked: boolean | undefined;
}

/**
 * Asks the bucket (key free? then Object Lock and earlier backups this month and week, together), and only once S3 has
 * answered opens the snapshot session: that session stays `idle in transaction` until pg_dump is done with its
 * snapshot, holding back vacuum, so it must not wait on an S3 that does not answer (each request is held to the
 * stall timeout, src/storage/stall-limit.ts).
 */
async function prepare(options: BackupOptions, key: string, takenAt: Date, prefix: string): Promise<Preparation> {
  const { s3, bucket, connection: conn } = options;
  const lockDays = options.lockDays ?? DEFAULT_LOCK_DAYS;
  // The key check first, alone: a wrong bucket, endpoint or credentials is then always named by the same line,
  // whichever of the other requests would have failed first.
  await ensureKeyFree(s3, bucket, key);
  const [locked, earlier] = await Promise.all([
    lockDays > 0 ? bucketObjectLock(s3, bucket, `, or set ${ENV.lockDays}=0 to write backups without Object Lock`) : Promise.resolve(false),
    listBackupObjects(s3, bucket, prefix, { database: conn.database, since: classWindowStart(takenAt) }),
  ]);
  if (options.signal?.aborted) throw options.signal.reason;
  const session = await openSnapshot(conn);
  const cls = retentionClass(takenAt, earlier.map((e) => e.takenAt));
  const lock = objectLockFor(takenAt, lockDaysFor(cls, lockDays, options.retentionDays), locked);
  return { session, lock, bucketLocked: lockDays > 0 ? locked : undefined, retention: { class: cls, ...(lock ? { lockedUntil: lock.retainUntil.toISOString() } : {}) } };
}

/**
 * Takes one backup; resolves with its manifest, or rejects having left nothing behind. Either way it emits the
 * backup metric (success, bytes, seconds) the stacks alarm on.
 */
export async function runBackup(options: BackupOptions): Promise<BackupResult> {
  const started = Date.now();
  let result: BackupResult | undefined;
  try {
    result = await backUp(options);
    return result;
  } finally {
    options.logger?.metric('backup', { [METRICS.dimensionDatabase]: options.connection.database }, {
      [METRICS.backupSuccess]: { value: result ? 1 : 0, unit: 'Count' },
      [METRICS.backupBytes]: { value: result?.manifest.sizeBytes ?? 0, unit: 'Bytes' },
      [METRICS.backupSeconds]: { value: (Date.now() - started) / 1000, unit: 'Seconds' },
    });
  }
}

async function backUp(options: BackupOptions): Promise<BackupResult> {
  const { bucket, connection: conn } = options;
  const prefix = options.prefix ?? DEFAULT_PREFIX;
  const now = options.now ?? (() => new Date());
  const startedMs = Date.now();
  const takenAt = new Date(Math.floor(now().getTime() / 1000) * 1000);

  let key: string;
  try {
    key = backupKey(conn.database, takenAt, prefix);
  } catch (err) {
    throw new UserError(`${(err as Error).message}: back up a database whose name has no slash or control characters`, 2);
  }
  const prepared = await prepare(options, key, takenAt, prefix);
  try {
    return await dumpAndStore(options, { key, takenAt, startedMs, bucket, ...prepared });
  } finally {
    // Only now: the exported snapshot lives as long as this transaction, and pg_dump has finished with it.
    await prepared.session.close();
  }
}

interface Run extends Preparation {
  key: string;
  bucket: string;
  takenAt: Date;
  startedMs: number;
}

/** The tools a run uses, found before anything is started. */
interface Tools {
  pgDump: PgTool;
  pgDumpall: PgTool;
  /** A program that runs pg_dump with a bigger output buffer (stdbuf), or nothing. */
  stdbuf: string[];
  compressor: Compressor;
  level: number;
}

/** What streaming the dump into the upload produced. */
interface Streamed {
  sha256: string;
  sqlBytes: number;
  warnings: string;
}

async function dumpAndStore(options: BackupOptions, run: Run): Promise<BackupResult> {
  const { s3, signal } = options;
  const { key, bucket, retention, lock } = run;
  const { tools, globals } = await findTools(options, run);
  const tagging = retentionTagging(retention.class);
  logStart(options, run, tools);

  const watchdog = new StallWatchdog({ seconds: options.stallSeconds ?? DEFAULT_STALL_SECONDS, waitingFor: () => stalled?.(), ...(signal ? { parent: signal } : {}) });
  let stalled: (() => string | undefined) | undefined;
  let upload: MultipartUpload | undefined;
  let pipeline: DumpPipeline | undefined;
  const onAbort = (): void => {
    pipeline?.kill();
    void upload?.abort();
  };
  const aborted = watchdog.signal;
  aborted.addEventListener('abort', onAbort, { once: true });
  try {
    if (aborted.aborted) throw aborted.reason;
    // pg_dump and the compressor start while the upload is being created; what they write meanwhile waits in the pipe.
    pipeline = startDumpPipeline({
      pgDumpPath: tools.pgDump.path,
      conn: options.connection,
      dumpArgs: [`--snapshot=${run.session.snapshotId}`],
      prefix: tools.stdbuf,
      compressor: tools.compressor,
      level: tools.level,
      ...(options.memberBytes ? { memberBytes: options.memberBytes } : {}),
      ...(options.compressionConcurrency ? { concurrency: options.compressionConcurrency } : {}),
    });
    const started = pipeline;
    stalled = () => `creating the multipart upload of ${key} in S3`;
    upload = await MultipartUpload.create(s3, uploadTarget(options, run, tools, tagging), {
      ...(options.partBytes ? { partBytes: options.partBytes } : {}),
      ...(options.partsInFlight ? { maxInFlight: options.partsInFlight } : {}),
      onPartStored: () => watchdog.progress(),
    });
    if (aborted.aborted) throw aborted.reason;
    const opened = upload;
    stalled = () => opened.waitingFor() ?? waitingInPipeline(started, tools.compressor);
    const streamed = await streamIntoUpload(options, started, opened, watchdog);
    await opened.flush();
    if (aborted.aborted) throw aborted.reason;

    // From here on the upload is finished, not abandoned: a signal now would only lose a good backup.
    aborted.removeEventListener('abort', onAbort);
    watchdog.stop();
    if (streamed.warnings) options.logger?.warn(`pg_dump: ${streamed.warnings}`);
    const done = await opened.complete();
    sayLackedProtections(options.logger, bucket, { ...seenOnObject(done.response), objectLock: run.bucketLocked });
    const manifest = buildManifest(options, run, tools, streamed, done, globals);
    const stored: StoredObject = { what: 'the backup object', key, ...(done.versionId ? { versionId: done.versionId } : {}) };
    const manifestKey = await storeSidecars(s3, bucket, { stored, manifest, globals, tagging, lock });
    return { bucket, key, manifestKey, globalsKey: sidecarKey(key, 'globals'), manifest, pgDump: tools.pgDump, pgDumpall: tools.pgDumpall, parts: done.parts };
  } catch (err) {
    aborted.removeEventListener('abort', onAbort);
    watchdog.stop();
    // Stopped on purpose (a signal, a stall): that is the story, not how the interrupted steps then failed.
    throw await abandon(aborted.aborted ? aborted.reason : err, bucket, key, pipeline, upload);
  }
}

/**
 * pg_dump and pg_dumpall for this server, the stdbuf prefix, the compressor with its level; and the globals, which
 * are small and taken first: a role that may not read them fails the run before anything is uploaded.
 */
async function findTools(options: BackupOptions, run: Run): Promise<{ tools: Tools; globals: DumpedGlobals }> {
  const { compressor, notice } = options.compressor;
  if (notice) options.logger?.warn(notice);
  const level = compressionLevel(compressor.name, options.compressionLevel);
  const pgDump = options.pgDump ?? (await choosePgDump(run.session.serverMajor, options.programs));
  const pgDumpall = options.pgDumpall ?? (await choosePgDumpall(pgDump, options.programs));
  const [stdbuf, globals] = await Promise.all([outputBufferPrefix(pgDump.path), dumpGlobals(pgDumpall, options.connection, options.signal)]);
  return { tools: { pgDump, pgDumpall, stdbuf, compressor, level }, globals };
}

function logStart(options: BackupOptions, run: Run, tools: Tools): void {
  const { key, bucket, session, lock, retention } = run;
  options.logger?.info(`backing up ${options.connection.database} to s3://${bucket}/${key} (${tools.compressor.name} level ${tools.level})`, {
    key, bucket, serverVersion: session.serverVersion, pgDump: tools.pgDump.path, pgDumpVersion: tools.pgDump.version, snapshot: session.snapshotId,
    compressor: tools.compressor.name, ...(tools.compressor.igzipPath ? { igzip: tools.compressor.igzipPath } : {}), compressionLevel: tools.level,
    retention: retention.class, ...(lock ? { lockedUntil: lock.retainUntil.toISOString() } : {}),
  });
}

function uploadTarget(options: BackupOptions, run: Run, tools: Tools, tagging: string): MultipartTarget {
  return {
    bucket: run.bucket,
    key: run.key,
    contentType: BACKUP_CONTENT_TYPE,
    metadata: {
      [OBJECT_METADATA.database]: metadataValue(options.connection.database),
      [OBJECT_METADATA.serverVersion]: metadataValue(run.session.serverVersion),
      [OBJECT_METADATA.pgDumpVersion]: metadataValue(tools.pgDump.version),
      [OBJECT_METADATA.takenAt]: run.takenAt.toISOString(),
    },
    tagging,
  };
}

/**
 * What a stalled pipeline is waiting for when the upload is not the one holding it back: the compressor's output
 * when pg_dump is still writing, pg_dump's output when it is not.
 */
function waitingInPipeline(pipeline: DumpPipeline, compressor: Compressor): string {
  return compressor.name === 'isal' ? `pg_dump's output or igzip (${pipeline.sqlBytes()} bytes of SQL dumped)` : `pg_dump's output (${pipeline.sqlBytes()} bytes of SQL dumped)`;
}

/**
 * Hashes the compressed bytes and hands them to the upload, reporting progress (to the logger and the watchdog),
 * then waits for pg_dump and the compressor; throws one line blaming whichever failed first.
 */
async function streamIntoUpload(options: BackupOptions, pipeline: DumpPipeline, upload: MultipartUpload, watchdog: StallWatchdog): Promise<Streamed> {
  const { logger, connection: conn } = options;
  const aborted = watchdog.signal;
  // Starts the progress clock, so the first rate reported is measured from here.
  logger?.progress(`dumping ${conn.database}`, 0);
  const hash = createHash('sha256');
  let outputError: Parameters<DumpPipeline['settle']>[0];
  try {
    for await (const chunk of pipeline.output) {
      hash.update(chunk);
      watchdog.progress();
      try {
        await upload.write(chunk);
      } catch (err) {
        // Noted at the failure: unwinding the loop closes the pipes, after which the processes fail with a broken pipe too.
        throw Object.assign(new Error('upload failed'), { upload: err });
      }
      watchdog.progress();
      logger?.progress(`dumping ${conn.database}`, pipeline.sqlBytes());
    }
  } catch (err) {
    const error = (err as { upload?: unknown }).upload ?? err;
    outputError = { error, exitedBefore: { pgDump: pipeline.pgDump.exited, igzip: pipeline.igzip?.exited ?? false } };
  }
  logger?.progressDone();
  if (outputError !== undefined || aborted.aborted) pipeline.kill();
  let settled: Awaited<ReturnType<DumpPipeline['settle']>>;
  try {
    settled = await pipeline.settle(outputError);
  } catch (err) {
    // Stopped on purpose (a signal, a stall): that is the story, not what the stopped processes then said.
    throw aborted.aborted ? aborted.reason : err;
  }
  if (aborted.aborted) throw aborted.reason;
  return { sha256: hash.digest('hex'), sqlBytes: settled.sqlBytes, warnings: settled.warnings };
}

function buildManifest(options: BackupOptions, run: Run, tools: Tools, streamed: Streamed, done: CompletedUpload, globals: DumpedGlobals): Manifest {
  const { key, takenAt, session, retention } = run;
  return manifestSchema.parse({
    format: 'meatbackup/manifest@1',
    key,
    database: options.connection.database,
    takenAt: takenAt.toISOString(),
    completedAt: new Date().toISOString(),
    sizeBytes: done.sizeBytes,
    sha256: streamed.sha256,
    sqlBytes: streamed.sqlBytes,
    ...(done.versionId ? { versionId: done.versionId } : {}),
    serverVersion: session.serverVersion,
    pgDumpVersion: tools.pgDump.version,
    compression: {
      format: 'gzip',
      compressor: tools.compressor.name,
      level: tools.level,
      ...(tools.compressor.name === 'zlib' ? { memberBytes: options.memberBytes ?? DEFAULT_MEMBER_BYTES } : {}),
    },
    durationSeconds: (Date.now() - run.startedMs) / 1000,
    catalog: session.catalog,
    databaseProperties: session.databaseProperties,
    globals: { key: sidecarKey(key, 'globals'), sizeBytes: globals.body.length, sha256: globals.sha256 },
    retention,
  } satisfies Manifest);
}

/**
 * After any failure: stops the processes, aborts the upload (so nothing is stored and no upload stays open) and
 * returns the error to throw; if the abort itself fails, the line says so and how to finish it by hand.
 */
async function abandon(err: unknown, bucket: string, key: string, pipeline: DumpPipeline | undefined, upload: MultipartUpload | undefined): Promise<unknown> {
  pipeline?.kill();
  const abortFailure = await upload?.abort();
  await pipeline?.settle().catch(() => undefined);
  if (abortFailure === undefined || !upload) return err;
  const why = describeS3Error(abortFailure, `abort multipart upload ${upload.uploadId}`, bucket).message;
  const first = err instanceof Error ? err.message : String(err);
  return new UserError(`${first}; and ${why}: abort it with \`aws s3api abort-multipart-upload --bucket ${bucket} --key ${key} --upload-id ${upload.uploadId}\``, 1, { cause: err });
}

interface Sidecars {
  stored: StoredObject;
  manifest: Manifest;
  globals: DumpedGlobals;
  tagging: string;
  lock: ObjectLock | undefined;
}

/**
 * After the backup object is complete: its globals, then its manifest (last: a manifest means the backup is whole),
 * all without a retention; any failure deletes what was stored, and says so in the same line. Only once all three
 * are stored are they locked (lockStored), so taking a failed run back out never needs to bypass a lock.
 */
async function storeSidecars(s3: S3Client, bucket: string, { stored, manifest, globals, tagging, lock }: Sidecars): Promise<string> {
  const written: StoredObject[] = [stored];
  const manifestKey = sidecarKey(manifest.key, 'manifest');
  try {
    written.push(await putSidecar(s3, bucket, { what: 'its globals', key: sidecarKey(manifest.key, 'globals'), body: globals.body, contentType: BACKUP_CONTENT_TYPE, tagging }));
    written.push(await putSidecar(s3, bucket, { what: 'the manifest', key: manifestKey, body: `${JSON.stringify(manifest, null, 2)}\n`, contentType: 'application/json', tagging }));
  } catch (err) {
    // Without its globals and a manifest the backup cannot be verified or restored onto a new server: take it back out.
    const cleanup = await removeStored(s3, bucket, written);
    throw new UserError(`${(err as Error).message}; ${cleanup}`, err instanceof UserError ? err.exitCode : 1, { cause: err });
  }
  if (lock) await lockStored(s3, bucket, written, lock);
  return manifestKey;
}
