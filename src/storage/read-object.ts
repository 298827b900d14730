/**
 * Reading a stored object back as a stream, with the sha256 and size of its bytes computed on the way: what `verify`
 * checks against a backup's manifest, what `restore` checks before it touches a database, and what
 * `replication-check` compares between the primary and the replica.
 */
import { createHash, type Hash } from 'node:crypto';
import { Readable, Transform, type TransformCallback, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { Manifest } from '../contract';
import { describeS3Error } from './s3';

export interface OpenedObject {
  body: Readable;
  /** Content-Length S3 announced. */
  sizeBytes?: number;
  versionId?: string;
  contentType?: string;
  metadata: Record<string, string>;
}

export interface ReadOptions {
  /** A specific version; the current one when absent. */
  versionId?: string;
  signal?: AbortSignal;
}

/** GetObject as a Node stream; S3 failures become one actionable line. */
export async function openObject(s3: S3Client, bucket: string, key: string, options: ReadOptions = {}): Promise<OpenedObject> {
  try {
    const res = await s3.send(
      new GetObjectCommand({ Bucket: bucket, Key: key, ...(options.versionId ? { VersionId: options.versionId } : {}) }),
      options.signal ? { abortSignal: options.signal } : {},
    );
    if (!(res.Body instanceof Readable)) throw new Error(`S3 returned no readable body for ${key}`);
    return {
      body: res.Body,
      ...(res.ContentLength !== undefined ? { sizeBytes: res.ContentLength } : {}),
      ...(res.VersionId ? { versionId: res.VersionId } : {}),
      ...(res.ContentType ? { contentType: res.ContentType } : {}),
      metadata: res.Metadata ?? {},
    };
  } catch (err) {
    throw describeS3Error(err, `read ${key} from bucket ${bucket}`, bucket);
  }
}

export interface Digest {
  /** Hex sha256 of the bytes that went through. */
  sha256: string;
  sizeBytes: number;
}

/** A pass-through that hashes and counts what flows through it. */
export class DigestStream extends Transform {
  private readonly hash: Hash = createHash('sha256');
  private bytes = 0;
  private final_: Digest | undefined;

  constructor(private readonly onBytes?: (bytes: number) => void) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    this.onBytes?.(this.bytes);
    done(null, chunk);
  }

  get bytesSeen(): number {
    return this.bytes;
  }

  /** The digest; call once the stream has ended. */
  digest(): Digest {
    this.final_ ??= { sha256: this.hash.digest('hex'), sizeBytes: this.bytes };
    return this.final_;
  }
}

/** Streams an object end to end and returns the sha256 and size of its stored bytes. Memory stays flat. */
export async function checksumObject(
  s3: S3Client,
  bucket: string,
  key: string,
  options: ReadOptions & { onBytes?: (bytes: number) => void } = {},
): Promise<Digest & { versionId?: string }> {
  const object = await openObject(s3, bucket, key, options);
  const digest = new DigestStream(options.onBytes);
  const sink = new Writable({ write: (_chunk, _enc, done) => done() });
  try {
    await pipeline(object.body, digest, sink, ...(options.signal ? [{ signal: options.signal }] : []));
  } catch (err) {
    if (options.signal?.aborted) throw options.signal.reason;
    throw describeS3Error(err, `read ${key} from bucket ${bucket}`, bucket);
  }
  return { ...digest.digest(), ...(object.versionId ? { versionId: object.versionId } : {}) };
}

/**
 * What differs between the stored bytes and what the manifest recorded, as phrases for one error line; empty when
 * they match.
 */
export function digestMismatches(actual: Digest, manifest: Pick<Manifest, 'sha256' | 'sizeBytes'>): string[] {
  const problems: string[] = [];
  if (actual.sizeBytes !== manifest.sizeBytes) {
    problems.push(`it is ${actual.sizeBytes} bytes but the manifest records ${manifest.sizeBytes}`);
  }
  if (actual.sha256 !== manifest.sha256) {
    problems.push(`its sha256 is ${actual.sha256.slice(0, 12)}… but the manifest records ${manifest.sha256.slice(0, 12)}…`);
  }
  return problems;
}
