/**
 * The steps every load of a backup shares, whether it becomes the live database (`restore`) or an ephemeral one
 * that is checked and dropped (`restore-test`):
 *
 * - `checkBeforeLoad`: pin the object and hash every byte against the manifest before any database is touched;
 * - `loadPinned`: stream the same pinned bytes (hashed again on the way) through gunzip into psql.
 *
 * Plus the server-side helpers both use: the maintenance database and one-line PostgreSQL errors.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { Client } from 'pg';
import type { Manifest } from '../contract';
import { UserError } from '../core/errors';
import { type Logger } from '../core/log';
import type { StallWatchdog } from '../core/watchdog';
import { formatBytes, formatDuration } from '../core/format';
import { type Connection, withDatabase } from '../postgres/connection';
import { describePgError, withClient } from '../postgres/client';
import { type HashOptions, type PinnedObject, checkBackupObject, openVerifiedStream } from './fetch-verified';
import { psqlLoad } from './psql-load';
import type { Compressor } from '../backup/compression';
import { gunzipStage, isCorruptGzip } from '../backup/gunzip-stage';

export function secondsSince(start: number): number {
  return Math.round((Date.now() - start) / 10) / 100;
}

/** The database a restore's own sessions use: never `avoid` (the one being replaced, or the live one). */
export function maintenance(conn: Connection, avoid: string): Connection {
  return withDatabase(conn, avoid === 'postgres' ? 'template1' : 'postgres');
}

/** Runs `fn` on the maintenance database; PostgreSQL errors become one line saying which step failed. */
export async function onServer<T>(admin: Connection, doing: string, fn: (client: Client) => Promise<T>): Promise<T> {
  try {
    return await withClient(admin, fn);
  } catch (err) {
    if (err instanceof UserError) throw err;
    const pg = describePgError(err, admin);
    throw new UserError(`could not ${doing}: ${pg.message}`, 1, { cause: err });
  }
}

/** The file name of a key, for progress lines. */
export function fileNameOf(key: string): string {
  return key.slice(key.lastIndexOf('/') + 1);
}

export interface CheckOptions {
  logger: Logger;
  /** The watchdog's signal when there is one. */
  signal?: AbortSignal;
  /** Watches the S3 reads: no byte for its timeout is a stall. */
  watchdog?: StallWatchdog;
  hash?: HashOptions;
}

/**
 * Pins the backup and hashes every byte against its manifest, logging progress, the notes an operator should know
 * and the result. Throws (nothing touched) when the bytes are not the recorded ones.
 */
export async function checkBeforeLoad(
  s3: S3Client,
  bucket: string,
  key: string,
  manifest: Manifest,
  options: CheckOptions,
): Promise<{ pin: PinnedObject; notes: string[]; seconds: number }> {
  const { logger, signal } = options;
  const started = Date.now();
  let checked: { pin: PinnedObject; notes: string[] };
  try {
    checked = await checkBackupObject(s3, bucket, key, manifest, {
      ...options.hash,
      ...(signal ? { signal } : {}),
      ...(options.watchdog ? { watchdog: options.watchdog } : {}),
      onProgress: (bytes) => logger.progress(`checking ${fileNameOf(key)}`, bytes, manifest.sizeBytes),
    });
  } finally {
    logger.progressDone();
  }
  for (const note of checked.notes) logger.warn(note);
  const seconds = secondsSince(started);
  logger.info(`sha256 matches the manifest (${formatBytes(checked.pin.sizeBytes)} in ${formatDuration(seconds)})`, {
    sha256: checked.pin.sha256,
    versionId: checked.pin.versionId,
  });
  if (signal?.aborted) throw signal.reason;
  return { ...checked, seconds };
}

export interface LoadPinnedOptions {
  s3: S3Client;
  pin: PinnedObject;
  /** The (fresh or ephemeral) database to load into. */
  conn: Connection;
  logger: Logger;
  /** The watchdog's signal when there is one. */
  signal?: AbortSignal;
  /** Watches the download: no byte for its timeout while psql waits for input is a stall (psql busy is not). */
  watchdog?: StallWatchdog;
  psqlPath?: string;
  /** What decompresses the SQL (chooseDecompressor, decided where the command starts). */
  decompressor: Compressor;
}

/**
 * Loads the pinned backup into `conn` with psql: S3 → sha256 check → igzip -d (an OS pipe into psql) or zlib → psql
 * (ON_ERROR_STOP). The caller owns the database and drops it on failure. Returns the SQL bytes loaded and the time
 * it took.
 */
export async function loadPinned(options: LoadPinnedOptions): Promise<{ sqlBytes: number; seconds: number }> {
  const { s3, pin, logger, signal } = options;
  const started = Date.now();
  const name = fileNameOf(pin.key);
  let sqlBytes = 0;
  const { body, check } = await openVerifiedStream(s3, pin, {
    ...(signal ? { signal } : {}),
    ...(options.watchdog ? { watchdog: options.watchdog } : {}),
    onProgress: (bytes) => logger.progress(`restoring ${name}`, bytes, pin.sizeBytes),
  }).catch((err: unknown) => {
    options.watchdog?.waitingOn(() => undefined);
    throw signal?.aborted ? signal.reason : err;
  });
  // igzip writes into psql itself (the SQL never passes through Node): its size is what the backup recorded, which
  // the sha256 of these very bytes vouches for. zlib decompresses here, where the SQL is counted as it goes.
  const igzipPath = options.decompressor.name === 'isal' ? options.decompressor.igzipPath : undefined;
  const stages: Array<NodeJS.ReadableStream | NodeJS.ReadWriteStream> = [body, check];
  if (igzipPath) {
    sqlBytes = pin.sqlBytes;
  } else {
    const gunzip = gunzipStage(options.decompressor);
    gunzip.on('data', (chunk: Buffer) => (sqlBytes += chunk.length));
    stages.push(gunzip);
  }
  try {
    await psqlLoad({
      conn: options.conn,
      stages,
      ...(igzipPath ? { igzipPath } : {}),
      ...(signal ? { signal } : {}),
      ...(options.psqlPath ? { psqlPath: options.psqlPath } : {}),
      onStderrLine: (line) => {
        if (/WARNING:/.test(line)) logger.warn(`psql: ${line.trim()}`);
      },
    });
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    const e = err as NodeJS.ErrnoException;
    if (isCorruptGzip(e)) {
      throw new UserError(`backup ${pin.key} matches its manifest but is not valid gzip (${e.message}): it was written broken; pick another backup`, 1, { cause: err });
    }
    throw err;
  } finally {
    options.watchdog?.waitingOn(() => undefined);
    logger.progressDone();
  }
  const seconds = secondsSince(started);
  logger.info(`loaded ${formatBytes(sqlBytes)} of SQL into ${options.conn.database} in ${formatDuration(seconds)}`, { database: options.conn.database, sqlBytes });
  if (signal?.aborted) throw signal.reason;
  return { sqlBytes, seconds };
}
