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
import type { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { withClient } from '../postgres/client';
import { psqlLoad } from './psql-load';
import { type ParallelLoadResult, parallelLoad } from './parallel/parallel-load';
import { type ParallelSessions, parallelSessions } from './parallel/session-settings';
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
  /**
   * Sessions to load over: 1 is one psql stream; more splits the dump over that many sessions (./parallel,
   * docs/architecture.md "Parallel restore"), as many as the server has connections for. @default 1
   */
  jobs?: number;
}

/**
 * Loads the pinned backup into `conn` with psql: S3 → sha256 check → igzip -d (an OS pipe into psql) or zlib → psql
 * (ON_ERROR_STOP). The caller owns the database and drops it on failure. Returns the SQL bytes loaded and the time
 * it took.
 */
export async function loadPinned(options: LoadPinnedOptions): Promise<LoadResult> {
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
  const jobs = options.jobs ?? 1;
  const sessions = jobs > 1 ? await withClient(options.conn, (client) => parallelSessions(client, jobs)) : undefined;
  if (sessions && sessions.jobs > 1) {
    return finish(options, started, await loadOverSessions(options, body, check, sessions));
  }
  const igzipPath = options.decompressor.name === 'isal' ? options.decompressor.igzipPath : undefined;
  const stages: Array<NodeJS.ReadableStream | NodeJS.ReadWriteStream> = [body, check];
  if (igzipPath) {
    sqlBytes = pin.sqlBytes;
  } else {
    const gunzip = gunzipStage(options.decompressor);
    gunzip.on('data', (chunk: Buffer) => (sqlBytes += chunk.length));
    stages.push(gunzip);
  }
  await failingAsBackup(options, () =>
    psqlLoad({
      conn: options.conn,
      stages,
      ...(igzipPath ? { igzipPath } : {}),
      ...(signal ? { signal } : {}),
      ...(options.psqlPath ? { psqlPath: options.psqlPath } : {}),
      onStderrLine: (line) => {
        if (/WARNING:/.test(line)) logger.warn(`psql: ${line.trim()}`);
      },
    }),
  );
  return finish(options, started, { sqlBytes, jobs: 1 });
}

export interface LoadResult {
  sqlBytes: number;
  seconds: number;
  /** Sessions it loaded over (1: one psql stream). */
  jobs: number;
  /** Why part of it was loaded by one stream after all (parallel loads only). */
  fellBack?: string;
  /** Tables ANALYZEd after a parallel load. */
  analyzed?: number;
}

/** Runs a load; a broken gzip reads as the backup's fault, an interruption as itself. */
async function failingAsBackup<T>(options: LoadPinnedOptions, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (err) {
    if (options.signal?.aborted) throw options.signal.reason;
    const e = err as NodeJS.ErrnoException;
    if (isCorruptGzip(e)) {
      throw new UserError(`backup ${options.pin.key} matches its manifest but is not valid gzip (${e.message}): it was written broken; pick another backup`, 1, { cause: err });
    }
    throw err;
  } finally {
    options.watchdog?.waitingOn(() => undefined);
    options.logger.progressDone();
  }
}

function finish(options: LoadPinnedOptions, started: number, result: Omit<LoadResult, 'seconds'>): LoadResult {
  const seconds = secondsSince(started);
  const over = result.jobs > 1 ? ` over ${result.jobs} sessions${result.analyzed !== undefined ? `, ${result.analyzed} table(s) analyzed` : ''}` : '';
  options.logger.info(`loaded ${formatBytes(result.sqlBytes)} of SQL into ${options.conn.database}${over} in ${formatDuration(seconds)}`, {
    database: options.conn.database,
    sqlBytes: result.sqlBytes,
    jobs: result.jobs,
  });
  if (options.signal?.aborted) throw options.signal.reason;
  return { ...result, seconds };
}

/** The parallel load: S3 → sha256 check → gunzip (igzip -d or zlib) → the splitter and its sessions. */
async function loadOverSessions(options: LoadPinnedOptions, body: Readable, check: Transform, sessions: ParallelSessions): Promise<Omit<LoadResult, 'seconds'>> {
  let sqlBytes = 0;
  const gunzip = gunzipStage(options.decompressor);
  gunzip.on('data', (chunk: Buffer) => (sqlBytes += chunk.length));
  const outcome = await failingAsBackup(options, async () => {
    let result: ParallelLoadResult | undefined;
    await pipeline(
        body,
        check,
        gunzip,
        async (source: AsyncIterable<Buffer>) => {
          result = await parallelLoad(source, {
            conn: options.conn,
            jobs: sessions.jobs,
            settings: sessions.settings,
            logger: options.logger,
            ...(options.signal ? { signal: options.signal } : {}),
            ...(options.psqlPath ? { psqlPath: options.psqlPath } : {}),
          });
        },
      options.signal ? { signal: options.signal } : {},
    );
    return result!;
  });
  return { sqlBytes, jobs: sessions.jobs, analyzed: outcome.analyzed, ...(outcome.fellBack ? { fellBack: outcome.fellBack } : {}) };
}
