/**
 * The one storage layer every command goes through: an S3 client built from the SDK's own configuration chain,
 * the bucket from --bucket or BACKUP_BUCKET, and S3 failures turned into one line an operator can act on.
 */
import { S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { ENV } from '../contract';
import { UserError } from '../core/errors';

export interface S3Options {
  region?: string;
}

/** The endpoint override the SDK will use, if any (emulators, VPC endpoints). */
export function endpointOverride(): string | undefined {
  return process.env.AWS_ENDPOINT_URL_S3 || process.env.AWS_ENDPOINT_URL || undefined;
}

export function createS3Client(options: S3Options = {}): S3Client {
  const region = options.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
  return new S3Client({
    ...(region ? { region } : {}),
    // Emulators and most S3-compatible endpoints only understand path-style addressing.
    forcePathStyle: endpointOverride() !== undefined,
    // A bucket in another region answers 301 with its region; the SDK then retries there instead of failing.
    followRegionRedirects: true,
    maxAttempts: 3,
    // Every backup read is checked against the sha256 in its manifest, end to end, so the SDK's own response
    // CRC check adds nothing for us; and after a server-side copy of a multipart object some S3 implementations
    // (moto among them) answer with a stale composite CRC that the SDK would reject as a mismatch.
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

export function resolveBucket(flag: string | undefined, envName: string = ENV.bucket): string {
  const bucket = flag ?? process.env[envName];
  if (!bucket) throw new UserError(`no bucket given: pass --bucket NAME or set ${envName}`, 2);
  return bucket;
}

function errorCode(err: unknown): string | undefined {
  if (err instanceof S3ServiceException) return err.name;
  const e = err as { name?: string; code?: string; Code?: string } | undefined;
  return e?.Code ?? e?.code ?? e?.name;
}

function httpStatus(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
}

/** Connection-level failures (nothing answered), as opposed to S3 saying no. */
export function isNetworkError(err: unknown): boolean {
  const code = errorCode(err) ?? '';
  const cause = (err as { cause?: { code?: string } })?.cause?.code ?? '';
  return /ECONNREFUSED|ECONNRESET|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|EPIPE|TimeoutError|socket hang up/i.test(
    `${code} ${cause} ${(err as Error)?.message ?? ''}`,
  );
}

/**
 * Translates an S3 failure into a UserError whose message says what went wrong and what to do.
 * `doing` completes the sentence "could not <doing>", e.g. "upload backups/x.sql.gz to bucket b".
 */
export function describeS3Error(err: unknown, doing: string, bucket?: string): UserError {
  if (err instanceof UserError) return err;
  const code = errorCode(err);
  const status = httpStatus(err);
  const where = endpointOverride() ? ` at ${endpointOverride()}` : '';
  let hint: string;
  if (isNetworkError(err)) {
    hint = `S3 did not answer${where}: check the network, AWS_ENDPOINT_URL_S3 and the region`;
  } else if (code === 'NoSuchBucket') {
    hint = `bucket ${bucket ?? '(unnamed)'} does not exist: check --bucket or ${ENV.bucket}`;
  } else if (code === 'InvalidAccessKeyId' || code === 'SignatureDoesNotMatch' || code === 'UnrecognizedClientException' || code === 'ExpiredToken') {
    hint = `S3 rejected the credentials (${code}): check AWS_PROFILE / AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY`;
  } else if ((code === 'AccessDenied' || status === 403) && /\bkms:/i.test((err as Error)?.message ?? '')) {
    // S3 answers AccessDenied naming the kms: action when the bucket's key policy does not name the caller.
    hint = `access denied by the KMS key of bucket ${bucket ?? '(unnamed)'}: assume one of the stacks' operatorRoleArns (README, "Who may read backups")`;
  } else if (code === 'AccessDenied' || status === 403) {
    hint = `access denied${bucket ? ` to bucket ${bucket}` : ''}: the role or user needs s3 permissions on it`;
  } else if (/Region is missing/i.test((err as Error)?.message ?? '')) {
    // Only promote and promote-status take --region; every command reads AWS_REGION (or the profile's region).
    hint = 'no AWS region configured: set AWS_REGION, or a region in the AWS_PROFILE';
  } else if (code === 'CredentialsProviderError' || /Could not load credentials/i.test((err as Error)?.message ?? '')) {
    hint = 'no AWS credentials found: configure a profile, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or a role';
  } else {
    const message = (err as Error)?.message ?? String(err);
    hint = `${code ?? 'error'}${status ? ` (HTTP ${status})` : ''}: ${message}`;
  }
  return new UserError(`could not ${doing}: ${hint}`, 1, { cause: err });
}
