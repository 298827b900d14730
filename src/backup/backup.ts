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
 * Once the object is stored, its manifest (sha256 and size of the stored bytes, versions, timings) is written next
 * to it; if that fails the object is deleted again, by version id, so every backup that exists has a manifest.
 */
import { createHash } from 'node:crypto';
import { DeleteObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import {
  DEFAULT_PREFIX,
  type Manifest,
  OBJECT_METADATA,
  backupKey,
  manifestSchema,
  sidecarKey,
} from '../contract';
import { UserError, oneLine } from '../cli/errors';
import type { Logger } from '../cli/log';
import type { Connection } from '../postgres/connection';
import { serverVersion, withClient } from '../postgres/client';
import { type PgTool, choosePgDump } from '../postgres/tools';
import { describeS3Error } from '../storage/s3';
import { type DumpExit, type DumpProcess, describeDumpFailure, dumpMessages, outputBufferPrefix, startDump } from './dump-process';
import { DEFAULT_CONCURRENCY, DEFAULT_LEVEL, DEFAULT_MEMBER_BYTES, type GzipStats, gzipMembers } from './gzip-members';
import { DEFAULT_PARTS_IN_FLIGHT, DEFAULT_PART_BYTES, MultipartUpload, partSizeFor } from './multipart-upload';

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
}

export interface BackupResult {
  bucket: string;
  key: string;
  manifestKey: string;
  manifest: Manifest;
  pgDump: PgTool;
  parts: number;
}

/** S3 user metadata travels in HTTP headers: plain ASCII as is, anything else percent-encoded. */
export function metadataValue(value: string): string {
  return /^[\x20-\x7e]*$/.test(value) ? value : encodeURIComponent(value);
}

interface ServerFacts {
  version: string;
  major: number;
  sizeBytes: number;
}

async function serverFacts(conn: Connection): Promise<ServerFacts> {
  return withClient(conn, async (client) => {
    const v = await serverVersion(client);
    const { rows } = await client.query<{ size: string }>('select pg_database_size(current_database())::text as size');
    return { version: v.text, major: v.major, sizeBytes: Number(rows[0].size) };
  });
}

/** Refuses to start when the key (or a manifest under its name) is already there. */
async function ensureKeyFree(s3: S3Client, bucket: string, key: string): Promise<void> {
  let names: string[];
  try {
    // Not HEAD: a HEAD answer has no body, so a missing bucket or bad credentials would read as "not found".
    const res = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: key, MaxKeys: 2 }));
    names = (res.Contents ?? []).map((o) => o.Key ?? '');
  } catch (err) {
    throw describeS3Error(err, `check ${key} in bucket ${bucket}`, bucket);
  }
  if (names.includes(key) || names.includes(sidecarKey(key, 'manifest'))) {
    throw new UserError(`a backup named ${key} already exists in bucket ${bucket}: backups are never overwritten; run again in a second`);
  }
}

async function writeManifest(s3: S3Client, bucket: string, manifest: Manifest): Promise<string> {
  const manifestKey = sidecarKey(manifest.key, 'manifest');
  try {
    await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: manifestKey,
        Body: `${JSON.stringify(manifest, null, 2)}\n`,
        ContentType: 'application/json',
        IfNoneMatch: '*',
      }),
    );
    return manifestKey;
  } catch (err) {
    // Without a manifest the backup cannot be verified: take the object back out rather than leave it half-recorded.
    let cleanup = 'the backup object was removed again';
    try {
      await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: manifest.key, ...(manifest.versionId ? { VersionId: manifest.versionId } : {}) }));
    } catch (deleteErr) {
      cleanup = `and removing the backup object failed too (${oneLine((deleteErr as Error).message)}): delete ${manifest.key} by hand`;
    }
    const described = describeS3Error(err, `write the manifest ${manifestKey} to bucket ${bucket}`, bucket);
    throw new UserError(`${described.message}; ${cleanup}`, described.exitCode, { cause: err });
  }
}

/** Takes one backup; resolves with its manifest, or rejects having left nothing behind. */
export async function runBackup(options: BackupOptions): Promise<BackupResult> {
  const { s3, bucket, connection: conn, signal, logger } = options;
  const prefix = options.prefix ?? DEFAULT_PREFIX;
  const level = options.compressionLevel ?? DEFAULT_LEVEL;
  const memberBytes = options.memberBytes ?? DEFAULT_MEMBER_BYTES;
  const now = options.now ?? (() => new Date());
  const startedMs = Date.now();
  const takenAt = new Date(Math.floor(now().getTime() / 1000) * 1000);

  let key: string;
  try {
    key = backupKey(conn.database, takenAt, prefix);
  } catch (err) {
    throw new UserError(`${(err as Error).message}: back up a database whose name has no slash or control characters`, 2);
  }

  // The database and the bucket are asked at the same time (each is a round trip the dump would wait for); when both
  // fail, the database's failure is the one reported, whichever answered first.
  const [facts, keyFree] = await Promise.allSettled([serverFacts(conn), ensureKeyFree(s3, bucket, key)]);
  if (facts.status === 'rejected') throw facts.reason;
  if (keyFree.status === 'rejected') throw keyFree.reason;
  const server = facts.value;
  const pgDump = options.pgDump ?? (await choosePgDump(server.major));
  const stdbuf = await outputBufferPrefix(pgDump.path);
  logger?.info(`backing up ${conn.database} to s3://${bucket}/${key}`, {
    key, bucket, serverVersion: server.version, pgDump: pgDump.path, pgDumpVersion: pgDump.version,
  });

  const partBytes = partSizeFor(server.sizeBytes, options.partBytes ?? DEFAULT_PART_BYTES);
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
    dump = startDump(pgDump.path, conn, [], stdbuf);
    upload = await MultipartUpload.create(
      s3,
      {
        bucket,
        key,
        contentType: BACKUP_CONTENT_TYPE,
        metadata: {
          [OBJECT_METADATA.database]: metadataValue(conn.database),
          [OBJECT_METADATA.serverVersion]: metadataValue(server.version),
          [OBJECT_METADATA.pgDumpVersion]: metadataValue(pgDump.version),
          [OBJECT_METADATA.takenAt]: takenAt.toISOString(),
        },
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
    const sizeBytes = done.sizeBytes;
    const manifest = manifestSchema.parse({
      format: 'meatbackup/manifest@1',
      key,
      database: conn.database,
      takenAt: takenAt.toISOString(),
      completedAt: new Date().toISOString(),
      sizeBytes,
      sha256: hash.digest('hex'),
      sqlBytes: stats.inputBytes,
      ...(done.versionId ? { versionId: done.versionId } : {}),
      serverVersion: server.version,
      pgDumpVersion: pgDump.version,
      compression: { format: 'gzip', level, memberBytes },
      durationSeconds: (Date.now() - startedMs) / 1000,
    } satisfies Manifest);
    const manifestKey = await writeManifest(s3, bucket, manifest);
    return { bucket, key, manifestKey, manifest, pgDump, parts: done.parts };
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
