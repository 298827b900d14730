/**
 * One S3 multipart upload with bounded memory: bytes are gathered into parts, at most `maxInFlight` parts are being
 * sent at once, and write() does not return while that many are in flight. That wait is what holds back the
 * compressor and, behind it, pg_dump. Parts start small and grow with the upload (partSize), with fewer of them in
 * flight as they grow, so a small backup stays in small parts and a huge one still fits S3's 10,000.
 *
 * Every part carries a CRC32 checksum (ChecksumAlgorithm on the upload; the SDK computes it with zlib's native
 * crc32): S3 checks each part on arrival, and buckets with Object Lock require a checksum on every part. The algorithm
 * is named on every request, so the SDK sends the checksum even when configured to send checksums only when an
 * operation requires them (requestChecksumCalculation WHEN_REQUIRED).
 *
 * complete() publishes the object only if the key is still free (`If-None-Match: *`); abort() cancels the parts
 * still travelling, waits for them and aborts the upload, so no part is left billed and nothing appears.
 *
 * A stored part's buffer is filled again by a later part of the same size rather than freed: a backup then holds
 * the same few part buffers from start to end. Allocating a new one per part made glibc's malloc raise its mmap
 * threshold after the first frees and serve later parts from its arenas, which it keeps: peak RSS grew by tens of
 * MB over the buffers actually live (measured with `npm run bench`).
 */
import {
  AbortMultipartUploadCommand,
  type ChecksumAlgorithm,
  CompleteMultipartUploadCommand,
  type CompletedPart,
  CreateMultipartUploadCommand,
  NoSuchUpload,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { UserError } from '../core/errors';
import { errorCode, isPreconditionFailed } from '../storage/aws-errors';
import { describeS3Error } from '../storage/s3';
import { MAX_PARTS, MIN_PART_BYTES } from '../storage/s3-limits';

export const DEFAULT_PART_BYTES = 8 * 1024 * 1024;
export const DEFAULT_PARTS_IN_FLIGHT = 4;
/** S3's largest part: https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html */
export const MAX_PART_BYTES = 5 * 1024 * 1024 * 1024;
/** Parts of one size before the size doubles. */
export const PARTS_PER_SIZE = 1000;
/** Time all attempts at AbortMultipartUpload get together. */
const ABORT_BUDGET_MS = 5000;

export interface MultipartTarget {
  bucket: string;
  key: string;
  contentType: string;
  metadata: Record<string, string>;
  /** @default 'CRC32' */
  checksumAlgorithm?: ChecksumAlgorithm;
  /** Object tags, URL-encoded (`retention=daily`); applied by S3 when the upload completes. */
  tagging?: string;
}

export interface MultipartOptions {
  /** Bytes of the first parts (at least 5 MiB); later parts grow (see {@link partSize}). @default 8 MiB */
  partBytes?: number;
  /** Parts of the first size being uploaded at once; fewer as parts grow, so the bytes in flight stay the same. @default 4 */
  maxInFlight?: number;
  /** Parts of one size before the size doubles. @default PARTS_PER_SIZE (1,000) */
  growEvery?: number;
  /** Called whenever a part is stored (a stall watchdog's progress). */
  onPartStored?: () => void;
}

export interface CompletedUpload {
  versionId?: string;
  /** What S3 said of the stored object: its version id and encryption, as CompleteMultipartUpload answered. */
  response: { VersionId?: string; ServerSideEncryption?: string };
  etag?: string;
  parts: number;
  sizeBytes: number;
}

/**
 * The size of part `partNumber` (1-based): `first` for the first 1,000 parts, then doubling every 1,000 parts, up
 * to S3's 5 GiB. A backup of a few GB keeps the small first size; the 10,000 parts S3 allows reach past 5 TB even
 * from a 5 MiB start (5 MiB × 1,000 × (2^10 − 1) = 5.4 TB). The size is known before a part is filled, since an
 * upload's total is not (S3 lets parts differ in size; only the last may be under 5 MiB).
 */
export function partSize(partNumber: number, first: number = DEFAULT_PART_BYTES, growEvery: number = PARTS_PER_SIZE): number {
  const start = Math.max(MIN_PART_BYTES, first);
  return Math.min(MAX_PART_BYTES, start * 2 ** Math.floor((partNumber - 1) / growEvery));
}

/** Parts of `size` that may be travelling at once: as many as fit the bytes `maxInFlight` first-size parts take, at least one. */
export function partsInFlightFor(size: number, first: number = DEFAULT_PART_BYTES, maxInFlight: number = DEFAULT_PARTS_IN_FLIGHT): number {
  return Math.max(1, Math.floor((maxInFlight * Math.max(MIN_PART_BYTES, first)) / size));
}

/** The most bytes the sum of all parts can reach, with `first` as the first part size. */
export function maxUploadBytes(first: number = DEFAULT_PART_BYTES, growEvery: number = PARTS_PER_SIZE): number {
  let total = 0;
  for (let n = 1; n <= MAX_PARTS; n += 1) total += partSize(n, first, growEvery);
  return total;
}

export class MultipartUpload {
  private readonly firstPartBytes: number;
  private readonly maxInFlight: number;
  private readonly growEvery: number;
  private readonly onPartStored: (() => void) | undefined;
  private readonly controller = new AbortController();
  /** Parts travelling, with their numbers. */
  private readonly inFlight = new Map<Promise<void>, number>();
  private readonly parts: CompletedPart[] = [];
  /** The part being filled (taken at its first byte), and how much of it is. */
  private filling: Buffer | undefined;
  /** Buffers of stored parts, to be filled again. */
  private spare: Buffer[] = [];
  private fill = 0;
  private nextPart = 1;
  private waiting = false;
  private sent = 0;
  private failure: unknown;
  private aborting: Promise<unknown> | undefined;
  private state: 'open' | 'completing' | 'completed' | 'aborted' = 'open';

  private constructor(
    private readonly s3: S3Client,
    private readonly target: MultipartTarget,
    readonly uploadId: string,
    options: MultipartOptions,
  ) {
    this.firstPartBytes = Math.max(MIN_PART_BYTES, options.partBytes ?? DEFAULT_PART_BYTES);
    this.maxInFlight = Math.max(1, options.maxInFlight ?? DEFAULT_PARTS_IN_FLIGHT);
    this.growEvery = Math.max(1, options.growEvery ?? PARTS_PER_SIZE);
    this.onPartStored = options.onPartStored;
  }

  /** Starts the upload (CreateMultipartUpload with the object's content type, metadata and tags). */
  static async create(s3: S3Client, target: MultipartTarget, options: MultipartOptions = {}): Promise<MultipartUpload> {
    let uploadId: string | undefined;
    try {
      const res = await s3.send(
        new CreateMultipartUploadCommand({
          Bucket: target.bucket,
          Key: target.key,
          ContentType: target.contentType,
          Metadata: target.metadata,
          ChecksumAlgorithm: target.checksumAlgorithm ?? 'CRC32',
          ...(target.tagging ? { Tagging: target.tagging } : {}),
        }),
      );
      uploadId = res.UploadId;
    } catch (err) {
      throw describeS3Error(err, `start uploading ${target.key} to bucket ${target.bucket}`, target.bucket);
    }
    if (!uploadId) throw new UserError(`S3 started no upload for ${target.key} in bucket ${target.bucket} (no UploadId in its answer)`);
    return new MultipartUpload(s3, target, uploadId, options);
  }

  /** Bytes handed to write() so far. */
  get bytesWritten(): number {
    return this.sent + this.fill;
  }

  /** What the upload is waiting for, when write() is held back by parts in flight (for a stall line); else undefined. */
  waitingFor(): string | undefined {
    if (!this.waiting || this.inFlight.size === 0) return undefined;
    const oldest = Math.min(...this.inFlight.values());
    return `S3 upload of part ${oldest} of ${this.target.key}${this.inFlight.size > 1 ? ` (and ${this.inFlight.size - 1} more in flight)` : ''}`;
  }

  /** Copies bytes into the part being filled; resolves once they are taken and the parts travelling leave room. */
  async write(chunk: Buffer): Promise<void> {
    this.assertOpen();
    let offset = 0;
    while (offset < chunk.length) {
      this.filling ??= this.takeBuffer(partSize(this.nextPart, this.firstPartBytes, this.growEvery));
      const n = chunk.copy(this.filling, this.fill, offset);
      this.fill += n;
      offset += n;
      if (this.fill === this.filling.length) {
        const full = this.filling;
        this.filling = undefined;
        this.fill = 0;
        await this.sendPart(full);
      }
    }
  }

  /**
   * Sends what is buffered as the last part and waits until every part is stored. Still cancellable by abort(),
   * unlike complete(): call it first where a stall watchdog should cover the last parts.
   */
  async flush(): Promise<void> {
    this.assertOpen();
    if (this.fill > 0 || this.parts.length + this.inFlight.size === 0) {
      const last = (this.filling ?? Buffer.alloc(0)).subarray(0, this.fill);
      this.filling = undefined;
      this.fill = 0;
      await this.sendPart(last);
    }
    this.waiting = true;
    try {
      await Promise.all(this.inFlight.keys());
    } finally {
      this.waiting = false;
    }
    this.throwIfFailed();
  }

  /** Flushes (if not done yet) and publishes the object. */
  async complete(): Promise<CompletedUpload> {
    await this.flush();
    this.assertOpen();
    this.state = 'completing';
    const parts = [...this.parts].sort((a, b) => a.PartNumber! - b.PartNumber!);
    try {
      // Not cancellable on purpose: once S3 may have published the object, abort() must not pretend it did not.
      const res = await this.s3.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.target.bucket,
          Key: this.target.key,
          UploadId: this.uploadId,
          MultipartUpload: { Parts: parts },
          IfNoneMatch: '*',
        }),
      );
      this.state = 'completed';
      return {
        ...(res.VersionId ? { versionId: res.VersionId } : {}),
        ...(res.ETag ? { etag: res.ETag } : {}),
        response: { ...(res.VersionId ? { VersionId: res.VersionId } : {}), ...(res.ServerSideEncryption ? { ServerSideEncryption: res.ServerSideEncryption } : {}) },
        parts: parts.length,
        sizeBytes: this.sent,
      };
    } catch (err) {
      this.state = 'open';
      if (isPreconditionFailed(err)) {
        throw new UserError(`a backup named ${this.target.key} already exists in bucket ${this.target.bucket} (written while this one ran): nothing was overwritten`, 1, { cause: err });
      }
      throw describeS3Error(err, `finish uploading ${this.target.key} to bucket ${this.target.bucket}`, this.target.bucket);
    }
  }

  /**
   * Cancels the parts still travelling, waits for them to settle and aborts the upload, so S3 keeps no part and
   * publishes nothing. Safe to call more than once and after a failure; never throws (returns the failure instead).
   */
  abort(): Promise<unknown> {
    // A completion in progress is never raced: if it fails, the caller aborts again afterwards.
    if (this.state === 'completed' || this.state === 'completing') return Promise.resolve(undefined);
    this.aborting ??= this.abortNow();
    return this.aborting;
  }

  private async abortNow(): Promise<unknown> {
    this.state = 'aborted';
    this.controller.abort();
    this.filling = undefined;
    this.spare = [];
    await Promise.allSettled(this.inFlight.keys());
    let lastError: unknown;
    // S3 may need the abort repeated when parts were arriving at the same moment; they have all settled here. All
    // attempts together get a few seconds: an endpoint that does not answer must not hold a shutdown (ECS kills at
    // its stopTimeout); the caller then says how to abort by hand.
    const deadline = AbortSignal.timeout(ABORT_BUDGET_MS);
    for (let attempt = 0; attempt < 3 && !deadline.aborted; attempt++) {
      try {
        await this.s3.send(new AbortMultipartUploadCommand({ Bucket: this.target.bucket, Key: this.target.key, UploadId: this.uploadId }), { abortSignal: deadline });
        return undefined;
      } catch (err) {
        if (err instanceof NoSuchUpload || errorCode(err) === 'NoSuchUpload') return undefined;
        lastError = err;
      }
    }
    return lastError;
  }

  private assertOpen(): void {
    this.throwIfFailed();
    if (this.state !== 'open') throw new Error(`multipart upload of ${this.target.key} is ${this.state}`);
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  /** A buffer for a part of `size` bytes: a stored part's when one of that size is free. */
  private takeBuffer(size: number): Buffer {
    // Sizes only grow: spare buffers of another size will never fit again.
    this.spare = this.spare.filter((b) => b.length === size);
    return this.spare.pop() ?? Buffer.allocUnsafeSlow(size);
  }

  private async sendPart(body: Buffer): Promise<void> {
    const partNumber = this.nextPart++;
    if (partNumber > MAX_PARTS) {
      throw new UserError(`backup is larger than S3's ${MAX_PARTS} parts (${maxUploadBytes(this.firstPartBytes, this.growEvery)} bytes from a first part size of ${this.firstPartBytes}): raise the first part size`);
    }
    this.sent += body.length;
    const upload = this.s3
      .send(
        new UploadPartCommand({
          Bucket: this.target.bucket,
          Key: this.target.key,
          UploadId: this.uploadId,
          PartNumber: partNumber,
          Body: body,
          ContentLength: body.length,
          ChecksumAlgorithm: this.target.checksumAlgorithm ?? 'CRC32',
        }),
        { abortSignal: this.controller.signal },
      )
      .then(
        (res) => {
          // S3 has answered: the SDK is done with the body (its retries happen before this), so it can be refilled.
          if (this.state === 'open' && body.byteOffset === 0 && body.length === body.buffer.byteLength) this.spare.push(body);
          this.onPartStored?.();
          this.parts.push({
            PartNumber: partNumber,
            ETag: res.ETag,
            ...(res.ChecksumCRC32 ? { ChecksumCRC32: res.ChecksumCRC32 } : {}),
            ...(res.ChecksumCRC32C ? { ChecksumCRC32C: res.ChecksumCRC32C } : {}),
            ...(res.ChecksumSHA1 ? { ChecksumSHA1: res.ChecksumSHA1 } : {}),
            ...(res.ChecksumSHA256 ? { ChecksumSHA256: res.ChecksumSHA256 } : {}),
            ...(res.ChecksumCRC64NVME ? { ChecksumCRC64NVME: res.ChecksumCRC64NVME } : {}),
          });
        },
        (err: unknown) => {
          // The first failure is the one to report; the aborts it causes in sibling parts are not news.
          if (this.failure === undefined) {
            this.failure = this.state === 'aborted'
              ? new Error('upload aborted')
              : describeS3Error(err, `upload part ${partNumber} of ${this.target.key} to bucket ${this.target.bucket}`, this.target.bucket);
          }
        },
      );
    const tracked: Promise<void> = upload.finally(() => this.inFlight.delete(tracked));
    this.inFlight.set(tracked, partNumber);
    // Bigger parts, fewer of them at once: the bytes travelling stay about maxInFlight first-size parts.
    const limit = partsInFlightFor(partSize(this.nextPart, this.firstPartBytes, this.growEvery), this.firstPartBytes, this.maxInFlight);
    this.waiting = true;
    try {
      while (this.inFlight.size >= limit) {
        await Promise.race(this.inFlight.keys());
        this.throwIfFailed();
      }
    } finally {
      this.waiting = false;
    }
    this.throwIfFailed();
  }
}
