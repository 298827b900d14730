/**
 * SDK middleware that makes the S3 emulator answer the way AWS does where moto is kinder, so the tests hold the code
 * to AWS's rules (docs/architecture.md, "Tests"):
 *
 * - `kmsEtags`: under SSE-KMS an object's ETag is not the MD5 of its bytes
 *   (https://docs.aws.amazon.com/AmazonS3/latest/API/API_Object.html, "ETag"), so a copy's ETag differs from its
 *   source's; moto answers the MD5 everywhere. Single-part ETags are rewritten per bucket (a copy into another bucket
 *   gets another ETag, the same object always the same one) in HeadObject, GetObject, PutObject, CopyObject and the
 *   listings; conditional headers carrying a rewritten ETag are mapped back before moto sees them. Part-layout ETags
 *   (`…-N`) are left alone: AWS's are not MD5s either.
 * - `regions`: a request signed for one region to a bucket in another gets S3's 301 PermanentRedirect with the
 *   bucket's region in `x-amz-bucket-region` (https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html);
 *   moto serves every bucket from any region. CreateBucket must be sent to the region it names
 *   (IllegalLocationConstraintException otherwise). moto keeps the region a bucket was created in (CreateBucket with a
 *   LocationConstraint) and answers it in HeadBucket, which is where the rule looks it up.
 */
import { createHash } from 'node:crypto';
import { HeadBucketCommand, type S3Client } from '@aws-sdk/client-s3';

/** Rewritten ETag → moto's, for every client in the test process (rewritten values are unique hashes). */
const motoEtagOf = new Map<string, string>();

function kmsEtag(bucket: string, etag: string): string {
  const fake = createHash('sha256').update(`sse-kms\n${bucket}\n${etag}`).digest('hex').slice(0, 32);
  motoEtagOf.set(fake, etag);
  return fake;
}

const SINGLE_PART = /^"?([0-9a-f]{32})"?$/;

function rewriteHeaderEtag(bucket: string, value: string | undefined): string | undefined {
  const m = value ? SINGLE_PART.exec(value) : null;
  return m ? `"${kmsEtag(bucket, m[1])}"` : value;
}

function rewriteXmlEtags(bucket: string, xml: string): string {
  return xml.replace(/<ETag>(&quot;|&#34;|")([0-9a-f]{32})(&quot;|&#34;|")<\/ETag>/g, (_m, q1: string, etag: string, q2: string) => `<ETag>${q1}${kmsEtag(bucket, etag)}${q2}</ETag>`);
}

function restoreConditional(value: string): string {
  return value
    .split(',')
    .map((part) => {
      const m = SINGLE_PART.exec(part.trim());
      const real = m ? motoEtagOf.get(m[1]) : undefined;
      return real ? `"${real}"` : part;
    })
    .join(',');
}

interface RawRequest {
  headers: Record<string, string>;
}
interface RawResponse {
  statusCode: number;
  headers: Record<string, string>;
  body?: unknown;
}
type Next = (args: { request: unknown; input: unknown }) => Promise<{ response: unknown; output?: unknown }>;
interface Context {
  commandName?: string;
}

const XML_BODIES = new Set(['ListObjectsV2Command', 'ListObjectVersionsCommand', 'CopyObjectCommand']);
const ETAG_HEADERS = new Set(['HeadObjectCommand', 'GetObjectCommand', 'PutObjectCommand']);
const CONDITIONAL = ['if-match', 'if-none-match', 'x-amz-copy-source-if-match', 'x-amz-copy-source-if-none-match'];

async function readBody(body: unknown): Promise<Buffer> {
  if (body instanceof Uint8Array) return Buffer.from(body);
  const chunks: Buffer[] = [];
  for await (const chunk of body as AsyncIterable<Buffer>) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

/** Gives this client's objects AWS's SSE-KMS ETags (see the file comment). */
export function kmsEtags(client: S3Client): S3Client {
  client.middlewareStack.add(
    ((next: Next) => async (args: { request: unknown; input: unknown }) => {
      const request = args.request as RawRequest;
      for (const name of CONDITIONAL) if (request.headers[name] && request.headers[name] !== '*') request.headers[name] = restoreConditional(request.headers[name]);
      return next(args);
    }) as never,
    { step: 'build', name: 'testKmsEtagConditions', priority: 'low' },
  );
  client.middlewareStack.add(
    ((next: Next, context: Context) => async (args: { request: unknown; input: unknown }) => {
      const result = await next(args);
      const response = result.response as RawResponse;
      const bucket = (args.input as { Bucket?: string }).Bucket;
      if (!bucket || response.statusCode >= 300) return result;
      if (ETAG_HEADERS.has(context.commandName ?? '') && response.headers.etag) response.headers.etag = rewriteHeaderEtag(bucket, response.headers.etag) ?? '';
      if (XML_BODIES.has(context.commandName ?? '')) {
        const xml = rewriteXmlEtags(bucket, (await readBody(response.body)).toString('utf8'));
        response.body = Buffer.from(xml);
        response.headers['content-length'] = String(Buffer.byteLength(xml));
      }
      return result;
    }) as never,
    { step: 'deserialize', name: 'testKmsEtags', priority: 'low' },
  );
  return client;
}

/** The region a request was signed for, from its SigV4 credential scope. */
function signedRegion(request: RawRequest): string | undefined {
  return /Credential=[^/]+\/\d{8}\/([^/]+)\/s3\//.exec(request.headers.authorization ?? '')?.[1];
}

/**
 * Makes this client meet S3's region rules (see the file comment). `lookup` is a client without these rules, used to
 * ask moto where a bucket lives.
 */
export function regionRules(client: S3Client, lookup: S3Client): S3Client {
  const known = new Map<string, string>();
  const regionOf = async (bucket: string): Promise<string | undefined> => {
    if (known.has(bucket)) return known.get(bucket);
    const region = await lookup.send(new HeadBucketCommand({ Bucket: bucket })).then(
      (res) => res.BucketRegion ?? 'us-east-1',
      () => undefined,
    );
    if (region) known.set(bucket, region);
    return region;
  };
  const answer = (statusCode: number, headers: Record<string, string>, code: string, message: string) => ({
    response: { statusCode, reason: code, headers: { 'content-type': 'application/xml', ...headers }, body: Buffer.from(`<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>`) },
  });
  client.middlewareStack.add(
    ((next: Next, context: Context) => async (args: { request: unknown; input: unknown }) => {
      const request = args.request as RawRequest;
      const input = args.input as { Bucket?: string; CreateBucketConfiguration?: { LocationConstraint?: string } };
      const signed = signedRegion(request);
      if (!input.Bucket || !signed) return next(args);
      if (context.commandName === 'CreateBucketCommand') {
        const wanted = input.CreateBucketConfiguration?.LocationConstraint ?? 'us-east-1';
        if (wanted !== signed) {
          return answer(400, {}, 'IllegalLocationConstraintException', `The ${wanted} location constraint is incompatible for the region specific endpoint this request was sent to.`);
        }
        return next(args);
      }
      const region = await regionOf(input.Bucket);
      if (region && region !== signed) {
        return answer(301, { 'x-amz-bucket-region': region }, 'PermanentRedirect', 'The bucket you are attempting to access must be addressed using the specified endpoint.');
      }
      return next(args);
    }) as never,
    { step: 'deserialize', name: 'testRegionRules', priority: 'low' },
  );
  return client;
}
