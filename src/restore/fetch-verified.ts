/**
 * Reading a backup object so that only the bytes its manifest recorded can reach psql.
 *
 * 1. `checkBackupObject` runs before any database is touched: it pins the object (the manifest's S3 version id,
 *    else the current one, plus its ETag), compares its size with the manifest, and hashes every byte.
 * 2. `openVerifiedStream` is the restore pass: the same pinned bytes again, hashed on the way through, and the
 *    stream fails at its end (before psql's input can end) if they are not the recorded ones after all.
 *
 * Which version to read is the backup side's (src/backup/locate-version.ts), whole-object reads and the digest the
 * storage layer's (src/storage/read-object.ts); the ranged parallel read for the first pass is here.
 */
import { createHash } from 'node:crypto';
import type { Readable, TransformCallback } from 'node:stream';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { Manifest } from '../contract';
import { UserError } from '../core/errors';
import { formatBytes } from '../core/format';
import { isPreconditionFailed } from '../storage/aws-errors';
import { describeS3Error } from '../storage/s3';
import { type SeenProtections, seenOnObject } from '../storage/bucket-protection';
import { watchDownload } from '../storage/download-watch';
import { type StallWatchdog, stepOf } from '../core/watchdog';
import { type Digest, DigestStream, checksumObject, digestMismatches, openObject } from '../storage/read-object';
import { locateBackupVersion } from '../backup/locate-version';

/** Exactly which bytes a restore reads: the key at one version (and ETag), of a known size and sha256. */
export interface PinnedObject {
  bucket: string;
  key: string;
  versionId?: string;
  etag?: string;
  sizeBytes: number;
  sha256: string;
  /** The SQL these bytes decompress to, as the backup recorded it: known exactly once the sha256 matches. */
  sqlBytes: number;
}

export interface HashOptions {
  signal?: AbortSignal;
  /** Called with the bytes hashed so far. */
  onProgress?: (bytes: number) => void;
  /**
   * Ranged GETs in flight. One connection to AWS S3 tops out near 100 MB/s, so the check reads several ranges at
   * once and hashes them in order. @default 1 with an endpoint override (emulators and S3-compatible stores that
   * serve a range by reading the whole object), else 4 (at most concurrency × partBytes held in memory)
   */
  concurrency?: number;
  /** @default 8 MiB */
  partBytes?: number;
}

function refused(key: string, why: string): UserError {
  return new UserError(`backup ${key} does not match its manifest: ${why}; it was altered or truncated after upload, so it is refused and nothing was changed`);
}

export interface PinnedBackup {
  pin: PinnedObject;
  notes: string[];
  /** What the object's HeadObject showed of the bucket's protections (said once by the command). */
  seen: SeenProtections;
}

/** Pins the backup to the version {@link locateBackupVersion} finds, checking its size before anything is read. */
export async function pinBackupObject(s3: S3Client, bucket: string, key: string, manifest: Manifest): Promise<PinnedBackup> {
  const { head: found, notes } = await locateBackupVersion(s3, bucket, key, manifest);
  const size = found.ContentLength ?? -1;
  if (size !== manifest.sizeBytes) {
    throw refused(key, `it is ${size} bytes (${formatBytes(size)}) but the manifest records ${manifest.sizeBytes}`);
  }
  const versionId = found.VersionId && found.VersionId !== 'null' ? found.VersionId : undefined;
  return {
    seen: seenOnObject(found),
    pin: { bucket, key, ...(versionId ? { versionId } : {}), ...(found.ETag ? { etag: found.ETag } : {}), sizeBytes: size, sha256: manifest.sha256, sqlBytes: manifest.sqlBytes },
    notes,
  };
}

function rangedGet(s3: S3Client, pin: PinnedObject, start: number, end: number, signal: AbortSignal | undefined) {
  return s3.send(
    new GetObjectCommand({
      Bucket: pin.bucket,
      Key: pin.key,
      ...(pin.versionId ? { VersionId: pin.versionId } : {}),
      // Without versioning the ETag is the pin: an overwrite between two ranges fails instead of mixing bytes.
      ...(pin.etag ? { IfMatch: pin.etag } : {}),
      Range: `bytes=${start}-${end}`,
    }),
    signal ? { abortSignal: signal } : {},
  );
}

/** The sha256 (hex) of the pinned object's bytes, read with ranged GETs in parallel and hashed in order. */
async function hashInRanges(s3: S3Client, pin: PinnedObject, concurrency: number, partBytes: number, options: HashOptions): Promise<Digest> {
  const hash = createHash('sha256');
  const parts = Math.ceil(pin.sizeBytes / partBytes);
  const inflight = new Map<number, Promise<Uint8Array>>();
  let next = 0;
  let done = 0;
  const fetchPart = async (i: number): Promise<Uint8Array> => {
    const start = i * partBytes;
    const end = Math.min(pin.sizeBytes, start + partBytes) - 1;
    const res = await rangedGet(s3, pin, start, end, options.signal);
    const bytes = await res.Body!.transformToByteArray();
    if (bytes.length !== end - start + 1) throw refused(pin.key, `S3 returned ${bytes.length} bytes for range ${start}-${end}`);
    return bytes;
  };
  try {
    for (let i = 0; i < parts; i += 1) {
      while (inflight.size < concurrency && next < parts) {
        const p = fetchPart(next);
        p.catch(() => undefined); // awaited in order below; a later part failing first must not go unhandled
        inflight.set(next, p);
        next += 1;
      }
      const bytes = await inflight.get(i)!;
      inflight.delete(i);
      hash.update(bytes);
      done += bytes.length;
      options.onProgress?.(done);
    }
  } catch (err) {
    if (options.signal?.aborted) throw options.signal.reason;
    if (isPreconditionFailed(err)) throw refused(pin.key, 'it changed while it was being read');
    throw describeS3Error(err, `read ${pin.key} from bucket ${pin.bucket}`, pin.bucket);
  }
  return { sha256: hash.digest('hex'), sizeBytes: done };
}

/** Reads every byte of the pinned object once and returns its sha256 and size. */
export async function hashPinnedObject(s3: S3Client, pin: PinnedObject, options: HashOptions = {}): Promise<Digest> {
  const concurrency = Math.max(1, options.concurrency ?? (s3.config.isCustomEndpoint ? 1 : 4));
  const partBytes = options.partBytes ?? 8 * 1024 * 1024;
  if (concurrency > 1 && pin.sizeBytes > partBytes) return hashInRanges(s3, pin, concurrency, partBytes, options);
  return checksumObject(s3, pin.bucket, pin.key, {
    ...(pin.versionId ? { versionId: pin.versionId } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.onProgress ? { onBytes: options.onProgress } : {}),
  });
}

/**
 * Pins the object and checks every byte against the manifest; throws a UserError (nothing touched) when they differ.
 * With a watchdog (whose signal `options.signal` should be), a pin or a download that makes no progress is a stall.
 */
export async function checkBackupObject(
  s3: S3Client,
  bucket: string,
  key: string,
  manifest: Manifest,
  options: HashOptions & { watchdog?: StallWatchdog } = {},
): Promise<PinnedBackup> {
  const { watchdog, ...hashOptions } = options;
  const pinned = await stepOf(watchdog, `S3 HeadObject of ${key} in bucket ${bucket}`, () => pinBackupObject(s3, bucket, key, manifest));
  const watch = watchDownload(watchdog, key, options.onProgress);
  let digest: Digest;
  try {
    digest = await hashPinnedObject(s3, pinned.pin, { ...hashOptions, onProgress: watch.onBytes });
  } finally {
    watchdog?.waitingOn(() => undefined);
  }
  const problems = digestMismatches(digest, manifest);
  if (problems.length > 0) throw refused(key, problems.join('; '));
  return pinned;
}

/** Hashes and counts bytes going through; fails at the end, before passing the end on, if they are not the pinned ones. */
export class VerifiedStream extends DigestStream {
  constructor(
    private readonly pin: PinnedObject,
    onBytes?: (bytes: number) => void,
  ) {
    super(onBytes);
  }
  override _flush(callback: TransformCallback): void {
    const problems = digestMismatches(this.digest(), this.pin);
    callback(problems.length > 0 ? refused(this.pin.key, `on the restore pass ${problems.join('; ')}`) : null);
  }
}

/**
 * The pinned object, and the stage to put right after it: it errors at the end unless every byte matched the manifest.
 * With a watchdog, the download is what the run waits on until the caller says otherwise.
 */
export async function openVerifiedStream(
  s3: S3Client,
  pin: PinnedObject,
  options: { signal?: AbortSignal; onProgress?: (bytes: number) => void; watchdog?: StallWatchdog } = {},
): Promise<{ body: Readable; check: VerifiedStream }> {
  const watch = watchDownload(options.watchdog, pin.key, options.onProgress);
  const object = await openObject(s3, pin.bucket, pin.key, {
    ...(pin.versionId ? { versionId: pin.versionId } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  watch.reading(object.body);
  return { body: object.body, check: new VerifiedStream(pin, watch.onBytes) };
}
