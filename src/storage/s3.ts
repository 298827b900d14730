/**
 * The one storage layer every command goes through: every AWS client is made here (the SDK's own configuration
 * chain, one retry budget, connection and request timeouts, S3 region redirects followed), the bucket comes from
 * --bucket or BACKUP_BUCKET, and S3 failures are turned into one line an operator can act on.
 */
import { type ListObjectsV2CommandInput, type ListObjectsV2CommandOutput, S3Client, paginateListObjectsV2 } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { ENV } from '../contract';
import { UserError } from '../core/errors';
import { DEFAULT_STALL_SECONDS } from '../core/watchdog';
import { addStallLimit } from './stall-limit';
import { errorCode, httpStatus, isAccessDenied, isCredentialsError, isNetworkError } from './aws-errors';

export { isNetworkError } from './aws-errors';

/** How every AWS client talks to its service; the defaults are AWS_CLIENT_DEFAULTS. */
export interface AwsClientOptions {
  /** @default the SDK's region chain (AWS_REGION, the profile, …) */
  region?: string;
  /** How long opening a connection may take. */
  connectTimeoutMs?: number;
  /**
   * How long a request may take until the service starts to answer (the body of an upload included). A frozen
   * endpoint (packets dropped, not refused) otherwise holds a request for ever.
   */
  requestTimeoutMs?: number;
  /** Attempts per request, the first included: the only retry layer (see below). */
  maxAttempts?: number;
}

/**
 * One retry budget per request, the SDK's: its standard mode retries throttling (SlowDown, 503), 500/502/504,
 * dropped connections and timeouts with jittered backoff and a client-wide retry quota, so nothing above it retries
 * those again (stacked layers multiplied into 15 tries per object). 5 attempts: a promotion copying thousands of
 * objects meets S3's load shedding, and a backup part must not fail the run on one SlowDown.
 * The timeouts are generous for a 64 MiB part on a slow link and still end a frozen request within minutes.
 */
export const AWS_CLIENT_DEFAULTS = { connectTimeoutMs: 10_000, requestTimeoutMs: 120_000, maxAttempts: 5 } as const;

export interface S3ClientOptions extends AwsClientOptions {
  /** An endpoint other than AWS's (an emulator: settings.aws.endpoint, from AWS_ENDPOINT_URL_S3); path-style addressing follows. */
  endpoint?: string;
  /** Credentials other than the SDK's chain (the local emulator's dummy ones). */
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /**
   * Seconds a request may wait for S3 to start answering before it fails as stalled (./stall-limit); 0 never.
   * @default DEFAULT_STALL_SECONDS (120), the commands pass their --stall-timeout
   */
  stallSeconds?: number;
}

/** The endpoint an S3 client was made for when it is not AWS's (an emulator), as `protocol//host[:port]`; undefined for AWS. */
export async function customEndpoint(s3: S3Client): Promise<string | undefined> {
  if (!s3.config.isCustomEndpoint || !s3.config.endpoint) return undefined;
  const e = await s3.config.endpoint();
  return `${e.protocol}//${e.hostname}${e.port ? `:${e.port}` : ''}`;
}

/** Where a failed request was sent, on the error itself, for {@link describeS3Error} (set only for an endpoint override). */
const ENDPOINT_OF_ERROR = '$meatbackupEndpoint';

/** The settings every AWS client shares: region, retry budget and timeouts. */
export function awsClientConfig(options: AwsClientOptions = {}) {
  const region = options.region;
  return {
    ...(region ? { region } : {}),
    maxAttempts: options.maxAttempts ?? AWS_CLIENT_DEFAULTS.maxAttempts,
    requestHandler: new NodeHttpHandler({
      connectionTimeout: options.connectTimeoutMs ?? AWS_CLIENT_DEFAULTS.connectTimeoutMs,
      requestTimeout: options.requestTimeoutMs ?? AWS_CLIENT_DEFAULTS.requestTimeoutMs,
      // Without it a request over its timeout is only logged as a warning and keeps waiting.
      throwOnRequestTimeout: true,
    }),
  };
}

/**
 * The S3 client every command uses; `region` for a client per region (a promotion's source and target).
 * followRegionRedirects: a bucket in another region answers 301 (or 400 to a HEAD); the SDK then retries in the
 * bucket's region instead of failing, so a client made for one region still reaches a bucket moved or recreated in
 * another. https://docs.aws.amazon.com/AWSJavaScriptSDK/v3/latest/Package/-aws-sdk-client-s3/Interface/S3ClientConfig/
 */
export function createS3Client(options: S3ClientOptions = {}): S3Client {
  const client = new S3Client({
    ...awsClientConfig(options),
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    ...(options.credentials ? { credentials: options.credentials } : {}),
    followRegionRedirects: true,
    // Emulators and most S3-compatible endpoints only understand path-style addressing.
    forcePathStyle: options.endpoint !== undefined,
    // Every backup read is checked against the sha256 in its manifest, end to end, so the SDK's own response
    // CRC check adds nothing for us; and after a server-side copy of a multipart object some S3 implementations
    // (moto among them) answer with a stale composite CRC that the SDK would reject as a mismatch.
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  addStallLimit(client, options.stallSeconds ?? DEFAULT_STALL_SECONDS);
  const { endpoint } = options;
  if (endpoint !== undefined) {
    // A failure names the endpoint it was sent to: "S3 did not answer at http://…" says which override points at nothing.
    client.middlewareStack.add(
      (next) => async (args) => {
        try {
          return await next(args);
        } catch (err) {
          if (err !== null && typeof err === 'object') Object.defineProperty(err, ENDPOINT_OF_ERROR, { value: endpoint, configurable: true });
          throw err;
        }
      },
      { step: 'initialize', name: 'meatbackupEndpointOfError' },
    );
  }
  return client;
}


/** The bucket from the flag, else the setting `envName` gave. */
export function resolveBucket(flag: string | undefined, configured: string | undefined, envName: string = ENV.bucket): string {
  const bucket = flag ?? configured;
  if (!bucket) throw new UserError(`no bucket given: pass --bucket NAME or set ${envName}`, 2);
  return bucket;
}

/**
 * Translates an S3 failure into a UserError whose message says what went wrong and what to do.
 * `doing` completes the sentence "could not <doing>", e.g. "upload backups/x.sql.gz to bucket b".
 */
export function describeS3Error(err: unknown, doing: string, bucket?: string): UserError {
  if (err instanceof UserError) return err;
  const code = errorCode(err);
  const status = httpStatus(err);
  const endpoint = err !== null && typeof err === 'object' ? (err as Record<string, unknown>)[ENDPOINT_OF_ERROR] : undefined;
  const where = typeof endpoint === 'string' ? ` at ${endpoint}` : '';
  let hint: string;
  if (isNetworkError(err)) {
    hint = `S3 did not answer${where}: check the network, AWS_ENDPOINT_URL_S3 and the region`;
  } else if (code === 'NoSuchBucket') {
    hint = `bucket ${bucket ?? '(unnamed)'} does not exist: check --bucket or ${ENV.bucket}`;
  } else if (isCredentialsError(err)) {
    hint = `S3 rejected the credentials (${code}): check AWS_PROFILE / AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY`;
  } else if (isAccessDenied(err) && /\bkms:/i.test((err as Error)?.message ?? '')) {
    // S3 answers AccessDenied naming the kms: action when the bucket's key policy does not name the caller.
    hint = `access denied by the KMS key of bucket ${bucket ?? '(unnamed)'}: assume one of the stacks' operatorRoleArns (README, "Who may read backups")`;
  } else if (isAccessDenied(err)) {
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

/**
 * The pages of a ListObjectsV2 listing (the SDK's paginator); a failure to fetch a page becomes one actionable line,
 * "could not <doing>". Breaking out of the loop stops the listing.
 */
export async function* listObjectPages(s3: S3Client, input: ListObjectsV2CommandInput & { Bucket: string }, doing: string, pageSize?: number): AsyncGenerator<ListObjectsV2CommandOutput> {
  const pages = paginateListObjectsV2({ client: s3, ...(pageSize ? { pageSize } : {}) }, input)[Symbol.asyncIterator]();
  for (;;) {
    let next: IteratorResult<ListObjectsV2CommandOutput>;
    try {
      next = await pages.next();
    } catch (err) {
      throw describeS3Error(err, doing, input.Bucket);
    }
    if (next.done) return;
    yield next.value;
  }
}
