/**
 * The load every restore of a backup shares, whether it becomes the live database (`restore`) or an ephemeral one
 * that is checked and dropped (`restore-test`): `loadPinned` streams the pinned bytes that ./check-before-load
 * checked (hashed again on the way) through gunzip into psql.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { UserError } from '../core/errors';
import { type Logger } from '../core/log';
import type { StallWatchdog } from '../core/watchdog';
import { fileNameOf, formatBytes, formatDuration, secondsSince } from '../core/format';
import type { Connection } from '../postgres/connection';
import { type PinnedObject, openVerifiedStream } from './fetch-verified';
import { psqlLoad } from './psql-load';
import type { Compressor } from '../gzip/choice';
import { gunzipStage, isCorruptGzip } from '../gzip/decompress';

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
