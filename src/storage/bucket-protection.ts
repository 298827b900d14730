/**
 * Which of the AWS stacks' protections a bucket lacks (an S3-compatible store, or an AWS bucket made by hand): said
 * once per command, in one line, and never a failure (docs/compose.md, S3-compatible storage). It is read from what
 * the command's own requests already showed, never asked for separately: a stored object's version id (a bucket with
 * versioning gives every new object one; an unversioned one gives none, or "null"), its server-side encryption, and
 * the bucket's Object Lock configuration where the backup reads it, and for `list` the version id the newest backup's
 * manifest recorded. So no role needs a permission for it, and a
 * protection the command saw nothing of is not mentioned.
 * https://docs.aws.amazon.com/AmazonS3/latest/userguide/versioning-workflows.html (version ID "null")
 */
import { HeadObjectCommand, type HeadObjectCommandOutput, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { UserError } from '../core/errors';
import type { Logger } from '../core/log';
import { describeS3Error } from './s3';

/** What one command saw: true has it, false lacks it, undefined not seen. */
export interface SeenProtections {
  versioning?: boolean;
  objectLock?: boolean;
  /** SSE-KMS (the stacks' buckets encrypt with their own key). */
  kms?: boolean;
}

/** What a stored object's response (PutObject, CompleteMultipartUpload, HeadObject) shows. */
export function seenOnObject(response: { VersionId?: string; ServerSideEncryption?: string }): SeenProtections {
  return {
    versioning: Boolean(response.VersionId && response.VersionId !== 'null'),
    kms: response.ServerSideEncryption === 'aws:kms' || response.ServerSideEncryption === 'aws:kms:dsse',
  };
}

/** What the newest backup's manifest recorded of its upload: its version id (null or none without versioning). */
export function seenInManifest(manifest: { versionId?: string }): SeenProtections {
  return { versioning: Boolean(manifest.versionId && manifest.versionId !== 'null') };
}

const WHAT_GOES: Record<keyof SeenProtections, { name: string; without: string }> = {
  versioning: { name: 'versioning', without: 'a deleted or overwritten backup cannot be brought back' },
  objectLock: { name: 'Object Lock', without: 'nothing keeps a backup from being deleted' },
  kms: { name: 'SSE-KMS', without: 'backups are encrypted at rest only as the store itself does' },
};

export const PLAIN_BUCKET_DOC = 'docs/compose.md#s3-compatible-storage-without-versioning-or-object-lock';

/** The protections `seen` shows missing, in the order the line names them. */
function lackedOf(seen: SeenProtections): Array<keyof SeenProtections> {
  return (Object.keys(WHAT_GOES) as Array<keyof SeenProtections>).filter((p) => seen[p] === false);
}

/** The one line, or undefined when nothing seen is missing. */
export function lackedProtectionsLine(bucket: string, seen: SeenProtections): string | undefined {
  const lacked = lackedOf(seen);
  if (lacked.length === 0) return undefined;
  const names = lacked.map((p) => WHAT_GOES[p].name);
  const list = names.length === 1 ? names[0] : `${names.slice(0, -1).join(', ')} or ${names.at(-1)}`;
  return `bucket ${bucket} has no ${list}: ${lacked.map((p) => WHAT_GOES[p].without).join('; ')} (this works; see ${PLAIN_BUCKET_DOC})`;
}

const said = new Set<string>();

/** Warns with {@link lackedProtectionsLine} once per bucket in this process. */
export function sayLackedProtections(logger: Pick<Logger, 'warn'> | undefined, bucket: string, seen: SeenProtections): void {
  const line = lackedProtectionsLine(bucket, seen);
  if (!line || said.has(bucket)) return;
  said.add(bucket);
  logger?.warn(line, { bucket, lacks: lackedOf(seen) });
}

/**
 * Refuses a bucket without versioning for a command that needs it (promote, replication-check: S3 replication, which
 * made the replica they work on, runs only between versioned buckets), told by the version id of one of its objects,
 * `key` or else the first one listed (s3:ListBucket and s3:GetObject, which both commands' role has there). An empty
 * bucket has nothing to tell by and passes: the command's own checks say what is missing.
 * https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-requirements.html
 */
export async function refuseUnversioned(s3: S3Client, bucket: string, needs: string, key?: string): Promise<void> {
  let object = key;
  let response: HeadObjectCommandOutput;
  try {
    object ??= (await s3.send(new ListObjectsV2Command({ Bucket: bucket, MaxKeys: 1 }))).Contents?.[0]?.Key;
    if (object === undefined) return;
    response = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: object }));
  } catch (err) {
    throw describeS3Error(err, `read ${object ?? 'the first object'} of bucket ${bucket}`, bucket);
  }
  const refusal = unversionedRefusal(bucket, object, response, needs);
  if (refusal) throw refusal;
}

/** The refusal when `response` (the HeadObject of `key`) shows no versioning; undefined when it has a version id. */
export function unversionedRefusal(bucket: string, key: string, response: { VersionId?: string }, needs: string): UserError | undefined {
  if (seenOnObject(response).versioning) return undefined;
  return new UserError(`bucket ${bucket} has no versioning (${key} has no version id): ${needs}; nothing was changed`, 2);
}
