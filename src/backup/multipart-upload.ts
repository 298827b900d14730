/**
 * One S3 multipart upload with bounded memory: bytes are gathered into parts, at most `maxInFlight` parts are being
 * sent at once, and write() does not return while that many are in flight. That wait is what holds back the
 * compressor and, behind it, pg_dump.
 *
 * Every part carries a CRC32 checksum (ChecksumAlgorithm on the upload; the SDK computes it with zlib's native
 * crc32): S3 checks each part on arrival, and buckets with Object Lock require a checksum on every part. The algorithm
 * is named on every request, so the SDK sends the checksum even when configured to send checksums only when an
 * operation requires them (requestChecksumCalculation WHEN_REQUIRED).
 *
 * complete() publishes the object only if the key is still free (`If-None-Match: *`); abort() cancels the parts
 * still travelling, waits for them and aborts the upload, so no part is left billed and nothing appears.
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
import { describeS3Error } from '../storage/s3';

export const MIN_PART_BYTES = 5 * 1024 * 1024;
export const DEFAULT_PART_BYTES = 8 * 1024 * 1024;
export const DEFAULT_PARTS_IN_FLIGHT = 4;
export const MAX_PARTS = 10_000;

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
  /** Bytes per part (all but the last); at least 5 MiB. @default 8 MiB */
  partBytes?: number;
  /** Parts being uploaded at once. @default 4 */
  maxInFlight?: number;
}

export interface CompletedUpload {
  versionId?: string;
  etag?: string;
  parts: number;
  sizeBytes: number;
}

/** Smallest part size (a whole number of MiB, at least `base`) that fits `expectedBytes` in S3's 10,000 parts with room to spare. */
export function partSizeFor(expectedBytes: number, base: number = DEFAULT_PART_BYTES): number {
  const mib = 1024 * 1024;
  const needed = Math.ceil(expectedBytes / (MAX_PARTS * 0.8) / mib) * mib;
  return Math.max(base, needed);
}

export class MultipartUpload {
  private readonly partBytes: number;
  private readonly maxInFlight: number;
  private readonly controller = new AbortController();
  private readonly inFlight = new Set<Promise<void>>();
  private readonly parts: CompletedPart[] = [];
  private buffered: Buffer[] = [];
  private bufferedBytes = 0;
  private nextPart = 1;
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
    this.partBytes = Math.max(MIN_PART_BYTES, options.partBytes ?? DEFAULT_PART_BYTES);
    this.maxInFlight = Math.max(1, options.maxInFlight ?? DEFAULT_PARTS_IN_FLIGHT);
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
    return this.sent + this.bufferedBytes;
  }

  /** Queues bytes; resolves once they are buffered and fewer than `maxInFlight` parts are travelling. */
  async write(chunk: Buffer): Promise<void> {
    this.assertOpen();
    this.buffered.push(chunk);
    this.bufferedBytes += chunk.length;
    while (this.bufferedBytes >= this.partBytes) {
      const all = Buffer.concat(this.buffered, this.bufferedBytes);
      this.buffered = all.length > this.partBytes ? [all.subarray(this.partBytes)] : [];
      this.bufferedBytes = all.length - this.partBytes;
      await this.sendPart(all.subarray(0, this.partBytes));
    }
  }

  /** Sends what is buffered as the last part, waits for every part and publishes the object. */
  async complete(): Promise<CompletedUpload> {
    this.assertOpen();
    if (this.bufferedBytes > 0 || this.parts.length + this.inFlight.size === 0) {
      const last = Buffer.concat(this.buffered, this.bufferedBytes);
      this.buffered = [];
      this.bufferedBytes = 0;
      await this.sendPart(last);
    }
    await Promise.all(this.inFlight);
    this.throwIfFailed();
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
      return { ...(res.VersionId ? { versionId: res.VersionId } : {}), ...(res.ETag ? { etag: res.ETag } : {}), parts: parts.length, sizeBytes: this.sent };
    } catch (err) {
      this.state = 'open';
      const code = (err as { name?: string; Code?: string }).Code ?? (err as { name?: string }).name;
      if (code === 'PreconditionFailed' || (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 412) {
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
    await Promise.allSettled(this.inFlight);
    let lastError: unknown;
    // S3 may need the abort repeated when parts were arriving at the same moment; they have all settled here.
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await this.s3.send(new AbortMultipartUploadCommand({ Bucket: this.target.bucket, Key: this.target.key, UploadId: this.uploadId }));
        return undefined;
      } catch (err) {
        if (err instanceof NoSuchUpload || (err as { name?: string }).name === 'NoSuchUpload') return undefined;
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

  private async sendPart(body: Buffer): Promise<void> {
    const partNumber = this.nextPart++;
    if (partNumber > MAX_PARTS) {
      throw new UserError(`backup is larger than ${MAX_PARTS} parts of ${this.partBytes} bytes: S3 allows no more parts; raise the part size`);
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
    this.inFlight.add(tracked);
    while (this.inFlight.size >= this.maxInFlight) {
      await Promise.race(this.inFlight);
      this.throwIfFailed();
    }
    this.throwIfFailed();
  }
}
