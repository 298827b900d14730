/**
 * The bucket a promotion writes into: looked up, created when missing, and hardened the way the stacks harden
 * theirs (versioning on, public access blocked, default encryption, a policy that denies anything but TLS, like
 * CDK's `enforceSSL`). S3's answers about bucket names become one line the operator can act on.
 */
import {
  CreateBucketCommand,
  type BucketLocationConstraint,
  GetBucketEncryptionCommand,
  GetBucketPolicyCommand,
  GetBucketVersioningCommand,
  HeadBucketCommand,
  PutBucketEncryptionCommand,
  PutBucketPolicyCommand,
  PutBucketVersioningCommand,
  PutPublicAccessBlockCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { UserError } from '../core/errors';
import { errorCode, httpStatus, isAccessDenied, isNoSuchBucket } from '../storage/aws-errors';
import { describeS3Error } from '../storage/s3';

export type BucketState = { exists: false } | { exists: true; region?: string };

function bucketRegionHeader(err: unknown): string | undefined {
  const headers = (err as { $response?: { headers?: Record<string, string> } })?.$response?.headers;
  return headers?.['x-amz-bucket-region'];
}

/**
 * HeadBucket on a bucket we are about to read or write. `role` names it in messages ("replica", "target").
 * 404 → does not exist; 403 → exists but belongs to someone else (or we may not touch it); 301 → another region.
 */
export async function inspectBucket(s3: S3Client, bucket: string, role: 'replica' | 'target', flag: string): Promise<BucketState> {
  try {
    const res = await s3.send(new HeadBucketCommand({ Bucket: bucket }));
    return { exists: true, ...(res.BucketRegion ? { region: res.BucketRegion } : {}) };
  } catch (err) {
    const code = httpStatus(err);
    // HeadBucket: a 404 (NotFound, or NoSuchBucket from an endpoint that sends a body) is the bucket missing.
    if (code === 404 || isNoSuchBucket(err) || errorCode(err) === 'NotFound') return { exists: false };
    if (isAccessDenied(err)) {
      throw new UserError(
        role === 'target'
          ? `bucket ${bucket} already exists and belongs to another account (or this role may not use it): pass ${flag} with another name`
          : `access denied to the ${role} bucket ${bucket}: the role needs s3:ListBucket and s3:GetObject* on it (check ${flag})`,
        1,
        { cause: err },
      );
    }
    if (code === 301 || errorCode(err) === 'PermanentRedirect' || errorCode(err) === 'MovedPermanently') {
      const region = bucketRegionHeader(err);
      throw new UserError(`the ${role} bucket ${bucket} is in ${region ?? 'another region'}: pass the matching region option`, 2, { cause: err });
    }
    throw describeS3Error(err, `look up the ${role} bucket ${bucket}`, bucket);
  }
}

/** AWS partition of a region, for ARNs. */
export function partitionOf(region: string | undefined): string {
  if (region?.startsWith('cn-')) return 'aws-cn';
  if (region?.startsWith('us-gov-')) return 'aws-us-gov';
  return 'aws';
}

export const TLS_ONLY_SID = 'MeatbackupDenyInsecureTransport';

/** The statement CDK's `enforceSSL: true` adds: deny every S3 action on the bucket and its objects without TLS. */
export function tlsOnlyStatement(bucket: string, region?: string) {
  const arn = `arn:${partitionOf(region)}:s3:::${bucket}`;
  return {
    Sid: TLS_ONLY_SID,
    Effect: 'Deny',
    Principal: { AWS: '*' },
    Action: 's3:*',
    Resource: [arn, `${arn}/*`],
    Condition: { Bool: { 'aws:SecureTransport': 'false' } },
  };
}

interface PolicyDocument {
  Version?: string;
  Statement?: Record<string, unknown>[] | Record<string, unknown>;
}

/** Adds the TLS-only statement to an existing policy (kept as it is otherwise), or makes a policy of it. */
export function withTlsOnly(policy: string | undefined, bucket: string, region?: string): string | undefined {
  const doc: PolicyDocument = policy ? (JSON.parse(policy) as PolicyDocument) : { Version: '2012-10-17', Statement: [] };
  const statements = Array.isArray(doc.Statement) ? doc.Statement : doc.Statement ? [doc.Statement] : [];
  const alreadyDenies = statements.some(
    (s) => s.Effect === 'Deny' && JSON.stringify(s.Condition ?? {}).includes('"aws:SecureTransport":"false"'),
  );
  if (alreadyDenies) return undefined;
  return JSON.stringify({ ...doc, Version: doc.Version ?? '2012-10-17', Statement: [...statements, tlsOnlyStatement(bucket, region)] });
}

/** Creates the target; S3's refusals about the name become instructions. */
export async function createBucket(s3: S3Client, bucket: string, region: string | undefined, flag: string): Promise<'created' | 'already-yours'> {
  try {
    await s3.send(
      new CreateBucketCommand({
        Bucket: bucket,
        ObjectOwnership: 'BucketOwnerEnforced',
        ...(region && region !== 'us-east-1' ? { CreateBucketConfiguration: { LocationConstraint: region as BucketLocationConstraint } } : {}),
      }),
    );
    return 'created';
  } catch (err) {
    const code = errorCode(err);
    if (code === 'BucketAlreadyOwnedByYou') return 'already-yours';
    if (code === 'BucketAlreadyExists') {
      throw new UserError(
        `bucket name ${bucket} is taken: another account owns it, or it was deleted recently and S3 has not freed the name yet (that can take a while): pass ${flag} with another name`,
        1,
        { cause: err },
      );
    }
    if (code === 'OperationAborted' || httpStatus(err) === 409) {
      throw new UserError(
        `S3 has not freed the name ${bucket} yet after its deletion (${code ?? 'HTTP 409'}: a conflicting conditional operation is in progress): S3 can take time to free a name; pass ${flag} with another name, or retry later`,
        1,
        { cause: err },
      );
    }
    if (code === 'InvalidBucketName') throw new UserError(`${bucket} is not a valid S3 bucket name: pass ${flag} with another name`, 2, { cause: err });
    if (code === 'TooManyBuckets') throw new UserError(`this account has reached its bucket quota: delete an unused bucket or raise the quota, then retry`, 1, { cause: err });
    throw describeS3Error(err, `create bucket ${bucket}`, bucket);
  }
}

export interface Hardening {
  versioning: 'enabled' | 'already';
  publicAccessBlocked: true;
  encryption: 'set' | 'already';
  /** 'skipped' only when asked to (an emulator on plain http: the policy would lock this process out). */
  tlsOnlyPolicy: 'set' | 'already' | 'skipped';
}

/** Versioning, public access block, default encryption and the TLS-only policy; existing settings are kept. */
export async function hardenBucket(s3: S3Client, bucket: string, region: string | undefined, options: { tlsOnlyPolicy?: boolean } = {}): Promise<Hardening> {
  const step = async <T>(doing: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      throw describeS3Error(err, `${doing} on bucket ${bucket}`, bucket);
    }
  };
  const versioning = await step('read versioning', () => s3.send(new GetBucketVersioningCommand({ Bucket: bucket })));
  const enableVersioning = versioning.Status !== 'Enabled';
  if (enableVersioning) {
    await step('enable versioning', () => s3.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } })));
  }
  await step('block public access', () =>
    s3.send(
      new PutPublicAccessBlockCommand({
        Bucket: bucket,
        PublicAccessBlockConfiguration: { BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: true, RestrictPublicBuckets: true },
      }),
    ),
  );
  const hasEncryption = await s3.send(new GetBucketEncryptionCommand({ Bucket: bucket })).then(
    (res) => (res.ServerSideEncryptionConfiguration?.Rules?.length ?? 0) > 0,
    (err: unknown) => {
      if (errorCode(err) === 'ServerSideEncryptionConfigurationNotFoundError') return false;
      throw describeS3Error(err, `read default encryption on bucket ${bucket}`, bucket);
    },
  );
  if (!hasEncryption) {
    await step('set default encryption', () =>
      s3.send(
        new PutBucketEncryptionCommand({
          Bucket: bucket,
          ServerSideEncryptionConfiguration: { Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' }, BucketKeyEnabled: true }] },
        }),
      ),
    );
  }
  if (options.tlsOnlyPolicy === false) {
    return { versioning: enableVersioning ? 'enabled' : 'already', publicAccessBlocked: true, encryption: hasEncryption ? 'already' : 'set', tlsOnlyPolicy: 'skipped' };
  }
  const existingPolicy = await s3.send(new GetBucketPolicyCommand({ Bucket: bucket })).then(
    (res) => res.Policy,
    (err: unknown) => {
      if (errorCode(err) === 'NoSuchBucketPolicy' || httpStatus(err) === 404) return undefined;
      throw describeS3Error(err, `read the policy of bucket ${bucket}`, bucket);
    },
  );
  const policy = withTlsOnly(existingPolicy, bucket, region);
  if (policy) await step('set the TLS-only policy', () => s3.send(new PutBucketPolicyCommand({ Bucket: bucket, Policy: policy })));
  return {
    versioning: enableVersioning ? 'enabled' : 'already',
    publicAccessBlocked: true,
    encryption: hasEncryption ? 'already' : 'set',
    tlsOnlyPolicy: policy ? 'set' : 'already',
  };
}
