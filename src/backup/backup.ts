/**
 * `meatbackup backup`: pg_dump → gzip members (every core) → S3 multipart upload, streaming, with backpressure
 * from the upload back to pg_dump's pipe, so memory stays bounded whatever the database size and nothing touches
 * the disk.
 *
 * Atomic: the object appears (CompleteMultipartUpload) only after pg_dump exited 0 and every byte is stored. Any
 * failure — pg_dump's error, its backend terminated, an S3 error, SIGTERM/SIGINT — kills pg_dump and aborts the
 * upload, so nothing is left under the prefix and no multipart upload stays open. An existing key is never
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
  type Manifest,
  OBJECT_METADATA,
  backupKey,
  manifestSchema,
  sidecarKey,
} from '../contract';
import { UserError } from '../core/errors';
import type { Logger } from '../core/log';
import { listBackupObjects } from '../catalog/catalog';
import type { Connection } from '../postgres/connection';
import { type PgTool, choosePgDump, choosePgDumpall } from '../postgres/tools';
import { describeS3Error } from '../storage/s3';
import { type DumpExit, type DumpProcess, describeDumpFailure, dumpMessages, outputBufferPrefix, startDump } from './dump-process';
import { type DumpedGlobals, dumpGlobals } from './globals';
import { DEFAULT_CONCURRENCY, DEFAULT_LEVEL, DEFAULT_MEMBER_BYTES, type GzipStats, gzipMembers } from './gzip-members';
import { DEFAULT_PARTS_IN_FLIGHT, DEFAULT_PART_BYTES, MultipartUpload, partSizeFor } from './multipart-upload';
import { DEFAULT_LOCK_DAYS, type ObjectLock, bucketObjectLock, classWindowStart, objectLockFor, retentionClass, retentionTagging } from './retention';
import { type SnapshotSession, openSnapshot } from './snapshot';
import { type StoredObject, lockStored, putSidecar, removeStored } from './stored-objects';

export const BACKUP_CONTENT_TYPE = 'application/gzip';

export interface BackupOptions {
  s3: S3Client;
  bucket: string;
  /** @default 'backups/' */
  prefix?: string;
  connection: Connection;
  /** gzip level 1–9. @default 1 (see bench/: level 6 costs ~50% more CPU for ~2% smaller backups) */
  compressionLevel?: number;
  /** Uncompressed bytes per gzip member. @default 1 MiB */
  memberBytes?: number;
  /** Members compressing at once. @default 4 */
  compressionConcurrency?: number;
  /** Bytes per multipart part; grown automatically for very large databases. @default 8 MiB */
  partBytes?: number;
  /** Parts uploading at once (fewer when parts are grown). @default 4 */
  partsInFlight?: number;
  /** Aborts the backup (SIGINT/SIGTERM): pg_dump is killed, the upload aborted, the reason rethrown. */
  signal?: AbortSignal;
  logger?: Logger;
  /** The clock; the key's stamp is its value at the start, to the second. @default () => new Date() */
  now?: () => Date;
  /** Explicit pg_dump, bypassing the per-server choice (tests). */
  pgDump?: PgTool;
  /** Explicit pg_dumpall, bypassing the choice by pg_dump's major (tests). */
  pgDumpall?: PgTool;
  /**
   * Days of governance-mode Object Lock the backup, its manifest and its globals are locked with once all three are
   * stored, when the bucket has Object Lock enabled; 0 writes them without (and does not ask the bucket). @default DEFAULT_LOCK_DAYS (35)
   */
  lockDays?: number;
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
}

/**
 * Opens the snapshot session and asks the bucket (key free? Object Lock? earlier backups this month and week?) at
 * the same time, since each is a round trip the dump would wait for. When the database and the bucket both fail,
 * the database's failure is the one reported, whichever answered first.
 */
async function prepare(options: BackupOptions, key: string, takenAt: Date, prefix: string): Promise<Preparation> {
  const { s3, bucket, connection: conn } = options;
  const lockDays = options.lockDays ?? DEFAULT_LOCK_DAYS;
  const [session, keyFree, locked, earlier] = await Promise.allSettled([
    openSnapshot(conn),
    ensureKeyFree(s3, bucket, key),
    lockDays > 0 ? bucketObjectLock(s3, bucket, `, or set ${ENV.lockDays}=0 to write backups without Object Lock`) : Promise.resolve(false),
    listBackupObjects(s3, bucket, prefix, { database: conn.database, since: classWindowStart(takenAt) }),
  ]);
  if (session.status === 'rejected') throw session.reason;
  if (keyFree.status === 'rejected' || locked.status === 'rejected' || earlier.status === 'rejected') {
    await session.value.close();
    throw [keyFree, locked, earlier].flatMap((a) => (a.status === 'rejected' ? [a.reason as unknown] : []))[0];
  }
  const lock = objectLockFor(takenAt, lockDays, locked.value);
  const cls = retentionClass(takenAt, earlier.value.map((e) => e.takenAt));
  return { session: session.value, lock, retention: { class: cls, ...(lock ? { lockedUntil: lock.retainUntil.toISOString() } : {}) } };
}

/** Takes one backup; resolves with its manifest, or rejects having left nothing behind. */
export async function runBackup(options: BackupOptions): Promise<BackupResult> {
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

async function dumpAndStore(options: BackupOptions, run: Run): Promise<BackupResult> {
  const { s3, connection: conn, signal, logger } = options;
  const { key, bucket, takenAt, session, lock, retention } = run;
  const level = options.compressionLevel ?? DEFAULT_LEVEL;
  const memberBytes = options.memberBytes ?? DEFAULT_MEMBER_BYTES;
  const pgDump = options.pgDump ?? (await choosePgDump(session.serverMajor));
  const pgDumpall = options.pgDumpall ?? (await choosePgDumpall(pgDump));
  // The globals are small and taken first: a role that may not read them fails the run before anything is uploaded.
  const [stdbuf, globals] = await Promise.all([outputBufferPrefix(pgDump.path), dumpGlobals(pgDumpall, conn, signal)]);
  const tagging = retentionTagging(retention.class);
  logger?.info(`backing up ${conn.database} to s3://${bucket}/${key}`, {
    key, bucket, serverVersion: session.serverVersion, pgDump: pgDump.path, pgDumpVersion: pgDump.version, snapshot: session.snapshotId,
    retention: retention.class, ...(lock ? { lockedUntil: lock.retainUntil.toISOString() } : {}),
  });

  const partBytes = partSizeFor(session.catalog.totalBytes, options.partBytes ?? DEFAULT_PART_BYTES);
  const inFlight = options.partsInFlight ?? DEFAULT_PARTS_IN_FLIGHT;
  // Bigger parts (huge databases) mean fewer of them in flight: memory stays at about inFlight × 8 MiB.
  const partsInFlight = Math.max(1, Math.min(inFlight, Math.floor((inFlight * DEFAULT_PART_BYTES) / partBytes)));

  let upload: MultipartUpload | undefined;
  let dump: DumpProcess | undefined;
  const onAbort = (): void => {
    dump?.kill();
    void upload?.abort();
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    if (signal?.aborted) throw signal.reason;
    // pg_dump starts while the upload is being created; what it writes meanwhile waits in the pipe.
    dump = startDump(pgDump.path, conn, [`--snapshot=${session.snapshotId}`], stdbuf);
    upload = await MultipartUpload.create(
      s3,
      {
        bucket,
        key,
        contentType: BACKUP_CONTENT_TYPE,
        metadata: {
          [OBJECT_METADATA.database]: metadataValue(conn.database),
          [OBJECT_METADATA.serverVersion]: metadataValue(session.serverVersion),
          [OBJECT_METADATA.pgDumpVersion]: metadataValue(pgDump.version),
          [OBJECT_METADATA.takenAt]: takenAt.toISOString(),
        },
        tagging,
      },
      { partBytes, maxInFlight: partsInFlight },
    );
    if (signal?.aborted) throw signal.reason;

    // Starts the progress clock, so the first rate reported is measured from here.
    logger?.progress(`dumping ${conn.database}`, 0);
    let dumpDone = false;
    void dump.exit.then(() => (dumpDone = true));
    // Whether pg_dump had already exited when the pipeline failed: then its own error is the story. (Noted at the
    // failure, because unwinding the loop closes pg_dump's pipe, after which it fails with a broken pipe too.)
    let dumpDoneAtFailure = false;
    const hash = createHash('sha256');
    const stats: GzipStats = { inputBytes: 0, members: 0 };
    let streamError: unknown;
    try {
      const members = gzipMembers(dump.stdout, { level, memberBytes, concurrency: options.compressionConcurrency ?? DEFAULT_CONCURRENCY }, stats);
      for await (const member of members) {
        hash.update(member);
        try {
          await upload.write(member);
        } catch (err) {
          dumpDoneAtFailure = dumpDone;
          throw err;
        }
        logger?.progress(`dumping ${conn.database}`, stats.inputBytes);
      }
    } catch (err) {
      streamError = err;
    }
    logger?.progressDone();

    if (streamError !== undefined) dump.kill();
    const exit: DumpExit = await dump.exit;
    if (signal?.aborted) throw signal.reason;
    const dumpFailed = exit.code !== 0 || exit.spawnError !== undefined;
    if (dumpFailed && (streamError === undefined || dumpDoneAtFailure)) throw new UserError(describeDumpFailure(exit, pgDump.path));
    if (streamError !== undefined) throw streamError;

    const warnings = dumpMessages(exit.stderr);
    if (warnings) logger?.warn(`pg_dump: ${warnings}`);

    // From here on the upload is finished, not abandoned: a signal now would only lose a good backup.
    signal?.removeEventListener('abort', onAbort);
    const done = await upload.complete();
    const manifest = manifestSchema.parse({
      format: 'meatbackup/manifest@1',
      key,
      database: conn.database,
      takenAt: takenAt.toISOString(),
      completedAt: new Date().toISOString(),
      sizeBytes: done.sizeBytes,
      sha256: hash.digest('hex'),
      sqlBytes: stats.inputBytes,
      ...(done.versionId ? { versionId: done.versionId } : {}),
      serverVersion: session.serverVersion,
      pgDumpVersion: pgDump.version,
      compression: { format: 'gzip', level, memberBytes },
      durationSeconds: (Date.now() - run.startedMs) / 1000,
      catalog: session.catalog,
      globals: { key: sidecarKey(key, 'globals'), sizeBytes: globals.body.length, sha256: globals.sha256 },
      retention,
    } satisfies Manifest);
    const stored: StoredObject = { what: 'the backup object', key, ...(done.versionId ? { versionId: done.versionId } : {}) };
    const manifestKey = await storeSidecars(s3, bucket, { stored, manifest, globals, tagging, lock });
    return { bucket, key, manifestKey, globalsKey: sidecarKey(key, 'globals'), manifest, pgDump, pgDumpall, parts: done.parts };
  } catch (err) {
    signal?.removeEventListener('abort', onAbort);
    dump?.kill();
    const abortFailure = await upload?.abort();
    await dump?.exit;
    if (abortFailure !== undefined && upload) {
      const why = describeS3Error(abortFailure, `abort multipart upload ${upload.uploadId}`, bucket).message;
      const first = err instanceof Error ? err.message : String(err);
      throw new UserError(`${first}; and ${why}: abort it with \`aws s3api abort-multipart-upload --bucket ${bucket} --key ${key} --upload-id ${upload.uploadId}\``, 1, { cause: err });
    }
    throw err;
  }
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
