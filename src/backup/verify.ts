/**
 * `meatbackup verify`: reads a stored backup back and checks, in one streaming pass, that
 * - its size and sha256 are what the manifest recorded when it was written,
 * - every gzip member decompresses (each member carries its own CRC32 and length),
 * - the SQL inside is as long as recorded and ends with pg_dump's completion line, i.e. the dump was not cut short,
 * - its globals object (roles, from pg_dumpall), when the manifest records one, has the recorded size and sha256.
 *
 * It reads the version the manifest pinned, which is what a restore reads (../restore/fetch-verified): a newer version
 * written over the key does not fail it, but is reported in `overwrittenBy` (someone wrote over a backup, which the
 * CLI says loudly). `versionId` checks another version. The result is recorded beside the backup
 * (`<key>.verify.json`, {@link recordVerifyResult}) for `list` to show.
 */
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { S3Client } from '@aws-sdk/client-s3';
import { type Manifest, type VerifyRecord, sidecarKey, verifyRecordSchema } from '../contract';
import { UserError, oneLine } from '../core/errors';
import type { Logger } from '../core/log';
import { DEFAULT_STALL_SECONDS, StallWatchdog, stepOf } from '../core/watchdog';
import { watchDownload } from '../storage/download-watch';
import { readRequiredManifest } from '../catalog/catalog';
import { SOURCE_VERSION_METADATA } from '../promote/identity';
import { locateBackupVersion } from './locate-version';
import { sayLackedProtections, seenOnObject } from '../storage/bucket-protection';
import { writeJsonObject } from '../storage/json-object';
import type { Compressor } from '../gzip/choice';
import { gunzipStage, isCorruptGzip } from '../gzip/decompress';
import { isNotFound } from '../storage/aws-errors';
import { type Digest, DigestStream, checksumObject, digestMismatches, openObject } from '../storage/read-object';
import { retentionTagging } from './retention';

export const DUMP_COMPLETE_LINE = '-- PostgreSQL database dump complete';

export interface VerifyOptions {
  s3: S3Client;
  bucket: string;
  key: string;
  /** Check this version of the backup object rather than the current one. */
  versionId?: string;
  signal?: AbortSignal;
  /**
   * Seconds without progress from S3 (the manifest, the version, a byte of the download, the globals) before verify
   * gives up as stalled. 0 never. @default DEFAULT_STALL_SECONDS (120)
   */
  stallSeconds?: number;
  logger?: Logger;
  /** What decompresses the SQL (chooseDecompressor, decided where the command starts). */
  decompressor: Compressor;
}

export interface VerifyResult {
  key: string;
  sizeBytes: number;
  sha256: string;
  sqlBytes: number;
  versionId?: string;
  /** The globals object, checked against the manifest (absent when the manifest records none). */
  globals?: { key: string; sizeBytes: number; sha256: string };
  manifest: Manifest;
  seconds: number;
  /** The current version, when someone wrote over the backup's key after the backup (the pinned one was verified). */
  overwrittenBy?: string;
  /** What an operator should know about the version that was read (a promoted copy, a version the bucket lacks). */
  notes: string[];
}

/** The backup's content is not what its manifest recorded: a result to record, unlike a failure to read it. */
export class VerificationFailed extends UserError {
  /** The manifest it was checked against (set by verifyBackup). */
  manifest?: Manifest;
  constructor(
    readonly key: string,
    readonly problems: string,
    options?: { cause?: unknown },
  ) {
    super(`backup ${key} failed verification: ${problems}; do not restore it`, 1, options);
    this.name = 'VerificationFailed';
  }
}

/**
 * True when `tail` (the end of a plain dump) ends with pg_dump's completion trailer. Since 2025's point releases
 * (CVE-2025-8714) pg_dump adds a `\unrestrict <key>` line after it, which is allowed, as are blank lines.
 */
export function endsWithCompletionLine(tail: string): boolean {
  const lines = tail.split('\n').map((l) => l.trimEnd());
  while (lines.length > 0 && (lines[lines.length - 1] === '' || lines[lines.length - 1] === '--' || /^\\unrestrict\b/.test(lines[lines.length - 1]))) {
    lines.pop();
  }
  return lines[lines.length - 1] === DUMP_COMPLETE_LINE;
}

/** Keeps the last `limit` bytes written to it and counts them all. */
class TailSink extends Writable {
  bytes = 0;
  private tail = Buffer.alloc(0);

  constructor(private readonly limit: number) {
    super();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    this.bytes += chunk.length;
    const joined = chunk.length >= this.limit ? chunk : Buffer.concat([this.tail, chunk]);
    this.tail = Buffer.from(joined.subarray(-this.limit));
    done();
  }

  text(): string {
    return this.tail.toString('utf8');
  }
}

/**
 * The line for a backup whose version differs from the one its manifest names. A promoted copy records the version it
 * was copied from (src/promote/identity.ts): when that is the manifest's version, this is the expected state of a
 * promoted bucket, said plainly. Otherwise (replaced, or copied by other means) the content check decides.
 */
export function versionNote(key: string, versionId: string, manifestVersionId: string, metadata: Record<string, string> = {}): string {
  if (metadata[SOURCE_VERSION_METADATA] === manifestVersionId) {
    return `${key} is a promoted copy of version ${manifestVersionId}, the version its manifest names; checking its content against the manifest`;
  }
  return `${key} is version ${versionId}, the manifest was written for version ${manifestVersionId} (a copy, or replaced since): checking its content against the manifest`;
}

export async function verifyBackup(given: VerifyOptions): Promise<VerifyResult> {
  // Every S3 step is watched; a stall aborts the run's signal as SIGINT/SIGTERM do.
  const watchdog = new StallWatchdog({ seconds: given.stallSeconds ?? DEFAULT_STALL_SECONDS, ...(given.signal ? { parent: given.signal } : {}) });
  const options = { ...given, signal: watchdog.signal };
  try {
    const manifest = await stepOf(watchdog, `S3 read of the manifest of ${options.key}`, () => readRequiredManifest(options.s3, options.bucket, options.key));
    try {
      return await verifyAgainst(options, manifest, watchdog);
    } catch (err) {
      if (err instanceof VerificationFailed) err.manifest = manifest;
      throw err;
    }
  } finally {
    watchdog.stop();
  }
}

async function verifyAgainst(options: VerifyOptions, manifest: Manifest, watchdog: StallWatchdog): Promise<VerifyResult> {
  const { s3, bucket, key, signal, logger } = options;
  const started = Date.now();
  let versionId = options.versionId;
  let overwrittenBy: string | undefined;
  let notes: string[] = [];
  if (versionId === undefined) {
    const located = await stepOf(watchdog, `S3 HeadObject of ${key} in bucket ${bucket}`, () => locateBackupVersion(s3, bucket, key, manifest));
    sayLackedProtections(logger, bucket, seenOnObject(located.head));
    const pinned = located.head.VersionId;
    if (pinned && pinned !== 'null') versionId = pinned;
    overwrittenBy = located.overwrittenBy;
    // A written-over key has its own warning line (verify's overwriteWarning): its note would say it twice.
    if (!overwrittenBy) notes = located.notes;
  }
  const watch = watchDownload(watchdog, key, (bytes) => logger?.progress(`verifying ${key}`, bytes, manifest.sizeBytes));
  const object = await openObject(s3, bucket, key, { ...(signal ? { signal } : {}), ...(versionId ? { versionId } : {}) }).catch((err: unknown) => {
    throw signal?.aborted ? signal.reason : err;
  });
  watch.reading(object.body);
  if (object.sizeBytes !== undefined && object.sizeBytes !== manifest.sizeBytes) {
    object.body.destroy();
    throw new VerificationFailed(key, `it is ${object.sizeBytes} bytes but the manifest records ${manifest.sizeBytes}`);
  }
  if (!overwrittenBy && manifest.versionId && object.versionId && manifest.versionId !== object.versionId) {
    // The recorded version is not in this bucket (a copy): information, the content check decides. It says more
    // than locateBackupVersion's note (which version this copy is of), so it stands in its place.
    notes = [versionNote(key, object.versionId, manifest.versionId, object.metadata)];
    logger?.info(notes[0]);
  }

  const digest = new DigestStream(watch.onBytes);
  logger?.progress(`verifying ${key}`, 0, manifest.sizeBytes);
  const sql = new TailSink(4096);
  try {
    await pipeline(object.body, digest, gunzipStage(options.decompressor), sql, ...(signal ? [{ signal }] : []));
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    const e = err as NodeJS.ErrnoException;
    // A decompressor's complaint about its input; anything else is the read from S3 failing.
    if (isCorruptGzip(err)) {
      throw new VerificationFailed(key, `it is not a valid gzip stream after ${digest.bytesSeen} bytes (${e.message})`, { cause: err });
    }
    throw new UserError(`could not read ${key} from bucket ${bucket}: ${e.message}`, 1, { cause: err });
  } finally {
    watchdog.waitingOn(() => undefined);
    logger?.progressDone();
  }

  const actual = digest.digest();
  const problems = digestMismatches(actual, manifest);
  if (sql.bytes !== manifest.sqlBytes) problems.push(`it holds ${sql.bytes} bytes of SQL but the manifest records ${manifest.sqlBytes}`);
  if (!endsWithCompletionLine(sql.text())) problems.push(`the SQL does not end with pg_dump's "${DUMP_COMPLETE_LINE}" line (the dump is cut short)`);
  const recorded = manifest.globals;
  const globals = recorded ? await stepOf(watchdog, `S3 download of ${recorded.key}`, () => checkGlobals(s3, bucket, recorded, problems, signal)) : undefined;
  if (problems.length > 0) throw new VerificationFailed(key, problems.join('; '));
  return {
    key,
    sizeBytes: actual.sizeBytes,
    sha256: actual.sha256,
    sqlBytes: sql.bytes,
    ...(object.versionId ? { versionId: object.versionId } : {}),
    ...(globals ? { globals } : {}),
    manifest,
    seconds: (Date.now() - started) / 1000,
    ...(overwrittenBy ? { overwrittenBy } : {}),
    notes,
  };
}

/**
 * Records a verify result beside the backup (`<key>.verify.json`), tagged with the backup's retention class so the
 * lifecycle rules expire both together; never locked (it describes the backup, it is not the backup). A role that may
 * read but not write the bucket cannot record it: that is said as a warning, the verification itself stands.
 */
export async function recordVerifyResult(s3: S3Client, bucket: string, record: VerifyRecord, manifest: Manifest | undefined, logger?: Logger): Promise<string | undefined> {
  const key = sidecarKey(record.key, 'verify');
  const retention = manifest?.retention?.class;
  try {
    await writeJsonObject(s3, bucket, key, verifyRecordSchema, record, { what: 'verify result', ...(retention ? { tagging: retentionTagging(retention) } : {}) });
    return key;
  } catch (err) {
    logger?.warn(`the result was not recorded at ${key} (${oneLine((err as Error).message)}): list will not show it`);
    return undefined;
  }
}

/** Reads the globals object and adds what differs from the manifest to `problems`; returns what it found. */
async function checkGlobals(
  s3: S3Client,
  bucket: string,
  recorded: NonNullable<Manifest['globals']>,
  problems: string[],
  signal?: AbortSignal,
): Promise<{ key: string; sizeBytes: number; sha256: string } | undefined> {
  let actual: Digest;
  try {
    actual = await checksumObject(s3, bucket, recorded.key, signal ? { signal } : {});
  } catch (err) {
    if (!isNotFound(err)) throw err;
    problems.push(`its globals object ${recorded.key} is missing`);
    return undefined;
  }
  problems.push(...digestMismatches(actual, recorded).map((p) => `its globals object ${recorded.key}: ${p}`));
  return { key: recorded.key, ...actual };
}
