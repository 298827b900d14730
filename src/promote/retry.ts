/**
 * Retries for one copy: S3 sheds load with 503 SlowDown and answers the odd 500; connections drop. Those are
 * retried with exponential backoff and full jitter (AWS's recommended shape); anything else (access denied,
 * missing key, bad request) fails at once.
 */
import { isNetworkError } from '../storage/s3';

export interface RetryOptions {
  /** Attempts in all, the first included. @default 5 */
  attempts?: number;
  /** First backoff ceiling in ms; doubles each attempt. @default 100 */
  baseDelayMs?: number;
  /** Backoff ceiling. @default 5000 */
  maxDelayMs?: number;
  /** Stops retrying (not the attempt under way) when aborted. */
  signal?: AbortSignal;
  /** Told about each retry, for logs. */
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
  /** Injected for tests. */
  random?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

const RETRYABLE_CODES = new Set([
  'SlowDown',
  'ServiceUnavailable',
  'InternalError',
  'RequestTimeout',
  'RequestTimeoutException',
  'Throttling',
  'ThrottlingException',
  'TooManyRequestsException',
  'OperationAborted',
]);

export function isRetryable(err: unknown): boolean {
  if (isNetworkError(err)) return true;
  const e = err as { name?: string; Code?: string; $metadata?: { httpStatusCode?: number }; $retryable?: unknown };
  if (e?.$retryable) return true;
  if (RETRYABLE_CODES.has(e?.Code ?? e?.name ?? '')) return true;
  const status = e?.$metadata?.httpStatusCode;
  return status === 500 || status === 502 || status === 503 || status === 504;
}

/** Full-jitter backoff: a uniform delay in [0, min(max, base * 2^attempt)). */
export function backoffDelay(attempt: number, options: RetryOptions = {}): number {
  const base = options.baseDelayMs ?? 100;
  const max = options.maxDelayMs ?? 5000;
  const ceiling = Math.min(max, base * 2 ** attempt);
  return Math.floor((options.random ?? Math.random)() * ceiling);
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function withRetry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const attempts = options.attempts ?? 5;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (attempt + 1 >= attempts || !isRetryable(err) || options.signal?.aborted) throw err;
      const delay = backoffDelay(attempt, options);
      options.onRetry?.(err, attempt + 1, delay);
      await (options.sleep ?? defaultSleep)(delay);
    }
  }
}
