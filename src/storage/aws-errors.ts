/**
 * What an AWS failure means, decided in one place. Every S3 and ECS call site asks these questions (is the object
 * missing? did a condition fail? were we refused?) instead of reading `name`, `Code` and `$metadata` itself, so
 * that "not found" means the same thing in restore, verify, promote and replication-check.
 *
 * A failure already described for the operator (a UserError made by `describeS3Error`) still answers for what AWS
 * said: the classifiers look at its `cause`.
 */
import { UserError } from '../core/errors';

interface AwsErrorShape {
  name?: string;
  Code?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  cause?: unknown;
}

/** The AWS error itself: a UserError wrapping one answers with its cause. */
function awsError(err: unknown): AwsErrorShape | undefined {
  if (err instanceof UserError && err.cause !== undefined) return awsError(err.cause);
  return typeof err === 'object' && err !== null ? (err as AwsErrorShape) : undefined;
}

/** The service's error code (`NoSuchKey`, `AccessDenied`, …): the XML `Code`, else the SDK's exception name. */
export function errorCode(err: unknown): string | undefined {
  const e = awsError(err);
  return e?.Code ?? e?.code ?? e?.name;
}

export function httpStatus(err: unknown): number | undefined {
  return awsError(err)?.$metadata?.httpStatusCode;
}

/**
 * The object (or the version of it) is not there. A missing *bucket* is not a missing object: NoSuchBucket is a 404
 * too, but treating it as "the manifest is absent" or "the copy vanished" would hide a misconfigured or deleted
 * bucket behind a milder message, so it is excluded here and reported by `describeS3Error`. A HEAD answer has no
 * body, so S3 cannot name the reason there: a HEAD 404 counts as not found.
 */
export function isNotFound(err: unknown): boolean {
  const code = errorCode(err);
  if (code === 'NoSuchBucket') return false;
  return code === 'NotFound' || code === 'NoSuchKey' || code === 'NoSuchVersion' || httpStatus(err) === 404;
}

export function isNoSuchBucket(err: unknown): boolean {
  return errorCode(err) === 'NoSuchBucket';
}

/** An If-Match / If-None-Match condition failed: someone else wrote or changed the object. */
export function isPreconditionFailed(err: unknown): boolean {
  return errorCode(err) === 'PreconditionFailed' || httpStatus(err) === 412;
}

/** S3 says `AccessDenied`, ECS and most JSON services `AccessDeniedException`; a HEAD says only 403. */
export function isAccessDenied(err: unknown): boolean {
  const code = errorCode(err);
  return code === 'AccessDenied' || code === 'AccessDeniedException' || code === 'Forbidden' || httpStatus(err) === 403;
}

/** The credentials themselves were refused or are missing (as opposed to lacking a permission). */
export function isCredentialsError(err: unknown): boolean {
  const code = errorCode(err);
  return code === 'InvalidAccessKeyId' || code === 'SignatureDoesNotMatch' || code === 'UnrecognizedClientException' || code === 'ExpiredToken';
}

/** Connection-level failures (nothing answered), as opposed to the service saying no. */
export function isNetworkError(err: unknown): boolean {
  const e = awsError(err);
  const cause = (e?.cause as { code?: string } | undefined)?.code ?? '';
  return /ECONNREFUSED|ECONNRESET|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|EPIPE|TimeoutError|socket hang up/i.test(
    `${errorCode(err) ?? ''} ${cause} ${e?.message ?? ''}`,
  );
}

/**
 * An ECS call failed: one line saying what could not be done and, when it was a missing permission, which
 * (`whenDenied`, e.g. "the role needs ecs:UpdateService on …").
 */
export function ecsFailed(err: unknown, doing: string, whenDenied: string): UserError {
  if (err instanceof UserError) return err;
  const e = awsError(err);
  const hint = isAccessDenied(err) ? `access denied: ${whenDenied}` : `${e?.name ?? 'error'}: ${e?.message ?? String(err)}`;
  return new UserError(`could not ${doing}: ${hint}`, 1, { cause: err });
}
