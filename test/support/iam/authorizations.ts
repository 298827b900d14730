/**
 * What AWS authorizes for each recorded call: the IAM action(s), the resource ARN(s) and the request context the
 * condition keys read. A call missing from the table fails the simulation ("no IAM mapping"), so a new kind of call
 * cannot slip past it.
 *
 * Sources (AWS documentation):
 * - Service Authorization Reference, Amazon S3 (actions, resource types, condition keys):
 *   https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html
 * - Required permissions for Amazon S3 API operations (which action(s) each API call needs, e.g. CopyObject,
 *   tagging on write, object lock headers, versioned reads):
 *   https://docs.aws.amazon.com/AmazonS3/latest/userguide/using-with-s3-policy-actions.html
 * - SSE-KMS: S3 calls kms:GenerateDataKey (writes) and kms:Decrypt (reads, multipart uploads) with the caller's
 *   credentials, through S3 (kms:ViaService), with the object's or, with an S3 Bucket Key, the bucket's ARN as
 *   encryption context: https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html and
 *   https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucket-key.html ; multipart uploads need both:
 *   https://docs.aws.amazon.com/AmazonS3/latest/userguide/mpuoverview.html#mpuAndPermissions
 * - A GetObject/HeadObject of a missing key answers 404 only to a caller with s3:ListBucket, 403 otherwise:
 *   https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html
 * - Amazon ECS and S3 Control (Batch Operations): list_amazonelasticcontainerservice.html and the same S3 page
 *   (CreateJob, DescribeJob); RunTask passes the task and execution roles (iam:PassRole):
 *   https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-iam-roles.html
 */
import type { AwsCall } from './recorder';

export type ContextValues = Record<string, string | string[]>;

export interface Need {
  action: string;
  resource: string;
  context: ContextValues;
  /** Why this call needs it, when not obvious (e.g. "S3 decrypts the object with the caller's credentials"). */
  why?: string;
}

/** What the simulation knows about the world beyond the call. */
export interface World {
  account: string;
  /** The bucket as deployed: region and default encryption. Unknown buckets (created at recovery time) use SSE-S3. */
  bucket(name: string): { region: string; kmsKeyArn?: string; bucketKey: boolean };
  /** Tags the object carries before the call (for s3:ExistingObjectTag). */
  existingTags(bucket: string, key: string): Record<string, string>;
  /** Task definition ARN → the roles RunTask passes. */
  taskRoles(taskDefinitionArn: string): string[];
  /** The governance retain-until date of an object version at the time of the call, if it is locked. */
  lockedUntil?(bucket: string, key: string, versionId: string | undefined, at: Date): Date | undefined;
}

const s3Bucket = (b: string) => `arn:aws:s3:::${b}`;
const s3Object = (b: string, k: string) => `arn:aws:s3:::${b}/${k}`;

function str(input: Record<string, unknown>, field: string): string | undefined {
  const v = input[field];
  return v === undefined || v === null ? undefined : String(v);
}

function need(input: Record<string, unknown>, field: string, call: AwsCall): string {
  const v = str(input, field);
  if (v === undefined) throw new Error(`${call.service}:${call.operation} without ${field}: cannot tell what it touches`);
  return v;
}

/** Tags of an `x-amz-tagging` header / Tagging field (URL-encoded `k=v&k2=v2`). */
function parseTagging(tagging: string | undefined): Record<string, string> {
  if (!tagging) return {};
  return Object.fromEntries(new URLSearchParams(tagging).entries());
}

function requestTagContext(tags: Record<string, string>): ContextValues {
  const ctx: ContextValues = {};
  for (const [k, v] of Object.entries(tags)) ctx[`s3:RequestObjectTag/${k}`] = v;
  if (Object.keys(tags).length > 0) ctx['s3:RequestObjectTagKeys'] = Object.keys(tags);
  return ctx;
}

function existingTagContext(world: World, bucket: string, key: string): ContextValues {
  return Object.fromEntries(Object.entries(world.existingTags(bucket, key)).map(([k, v]) => [`s3:ExistingObjectTag/${k}`, v]));
}

/** Condition keys of an Object Lock retention being set (x-amz-object-lock-* headers or PutObjectRetention's body). */
function lockContext(mode: string | undefined, until: string | Date | undefined, at: Date): ContextValues {
  if (!mode && !until) return {};
  const ctx: ContextValues = {};
  if (mode) ctx['s3:object-lock-mode'] = mode;
  if (until) {
    const date = new Date(until);
    ctx['s3:object-lock-retain-until-date'] = date.toISOString();
    ctx['s3:object-lock-remaining-retention-days'] = String(Math.ceil((date.getTime() - at.getTime()) / 86_400_000));
  }
  return ctx;
}

/** What S3 asks KMS for, with the caller's credentials, when it reads or writes an object of `bucket`. */
function kmsNeeds(world: World, bucket: string, key: string, actions: string[], why: string): Need[] {
  const b = world.bucket(bucket);
  if (!b.kmsKeyArn) return [];
  const context: ContextValues = {
    'kms:ViaService': `s3.${b.region}.amazonaws.com`,
    'kms:EncryptionContext:aws:s3:arn': b.bucketKey ? s3Bucket(bucket) : s3Object(bucket, key),
    'kms:CallerAccount': world.account,
  };
  return actions.map((action) => ({ action, resource: b.kmsKeyArn!, context, why }));
}

const READ_KMS = 'S3 decrypts the object with the caller\'s credentials (SSE-KMS)';
const WRITE_KMS = 'S3 asks for a data key with the caller\'s credentials (SSE-KMS)';
const MULTIPART_KMS = 'a multipart upload into an SSE-KMS bucket needs kms:Decrypt and kms:GenerateDataKey';

/** GetObject/HeadObject-style read of one object (a version when VersionId is given). */
function readObject(call: AwsCall, world: World, bucket: string, key: string, versionId: string | undefined, decrypts: boolean): Need[] {
  const ctx: ContextValues = { ...existingTagContext(world, bucket, key), ...(versionId ? { 's3:versionid': versionId } : {}) };
  const needs: Need[] = [{ action: versionId ? 's3:GetObjectVersion' : 's3:GetObject', resource: s3Object(bucket, key), context: ctx }];
  if (call.status === 404) {
    needs.push({
      action: 's3:ListBucket',
      resource: s3Bucket(bucket),
      context: { 's3:prefix': key },
      why: 'the code expects 404 for a missing key; without s3:ListBucket AWS answers 403 AccessDenied instead',
    });
  }
  if (decrypts && call.status !== 404) needs.push(...kmsNeeds(world, bucket, key, ['kms:Decrypt'], READ_KMS));
  return needs;
}

/** PutObject / CreateMultipartUpload: the object write plus what its headers ask for. */
function writeObject(call: AwsCall, world: World, bucket: string, key: string, kms: { actions: string[]; why: string }): Need[] {
  const h = call.headers;
  const tags = parseTagging(h['x-amz-tagging'] ?? str(call.input, 'Tagging'));
  const lock = lockContext(h['x-amz-object-lock-mode'], h['x-amz-object-lock-retain-until-date'], call.at);
  const sse = h['x-amz-server-side-encryption'];
  const base: ContextValues = {
    ...requestTagContext(tags),
    ...lock,
    ...(sse ? { 's3:x-amz-server-side-encryption': sse } : {}),
    ...(h['x-amz-server-side-encryption-aws-kms-key-id'] ? { 's3:x-amz-server-side-encryption-aws-kms-key-id': h['x-amz-server-side-encryption-aws-kms-key-id'] } : {}),
    ...(h['x-amz-acl'] ? { 's3:x-amz-acl': h['x-amz-acl'] } : {}),
  };
  const needs: Need[] = [{ action: 's3:PutObject', resource: s3Object(bucket, key), context: base }];
  if (Object.keys(tags).length > 0) needs.push({ action: 's3:PutObjectTagging', resource: s3Object(bucket, key), context: requestTagContext(tags), why: 'the write sets tags (x-amz-tagging)' });
  if (Object.keys(lock).length > 0) needs.push({ action: 's3:PutObjectRetention', resource: s3Object(bucket, key), context: lock, why: 'the write sets an Object Lock retention' });
  if (h['x-amz-object-lock-legal-hold']) needs.push({ action: 's3:PutObjectLegalHold', resource: s3Object(bucket, key), context: {}, why: 'the write sets a legal hold' });
  if (h['x-amz-acl'] || h['x-amz-grant-full-control'] || h['x-amz-grant-read']) needs.push({ action: 's3:PutObjectAcl', resource: s3Object(bucket, key), context: {}, why: 'the write sets an ACL' });
  needs.push(...kmsNeeds(world, bucket, key, kms.actions, kms.why));
  return needs;
}

/** `x-amz-copy-source` / CopySource: `bucket/key[?versionId=…]`, URL-encoded. */
function copySource(call: AwsCall): { bucket: string; key: string; versionId?: string } {
  const raw = str(call.input, 'CopySource') ?? call.headers['x-amz-copy-source'];
  if (!raw) throw new Error(`${call.operation} without a copy source`);
  const [path, query] = raw.replace(/^\//, '').split('?');
  const slash = path.indexOf('/');
  const versionId = query ? new URLSearchParams(query).get('versionId') ?? undefined : undefined;
  return { bucket: decodeURIComponent(path.slice(0, slash)), key: decodeURIComponent(path.slice(slash + 1)), ...(versionId ? { versionId } : {}) };
}

function copyObject(call: AwsCall, world: World, part: boolean): Need[] {
  const bucket = need(call.input, 'Bucket', call);
  const key = need(call.input, 'Key', call);
  const src = copySource(call);
  const needs = readObject({ ...call, status: 200 }, world, src.bucket, src.key, src.versionId, true);
  if (part) {
    needs.push({ action: 's3:PutObject', resource: s3Object(bucket, key), context: {} });
    return needs;
  }
  const taggingDirective = str(call.input, 'TaggingDirective') ?? 'COPY';
  const copiedTags = taggingDirective === 'COPY' ? world.existingTags(src.bucket, src.key) : parseTagging(str(call.input, 'Tagging'));
  if (taggingDirective === 'COPY') {
    needs.push({ action: src.versionId ? 's3:GetObjectVersionTagging' : 's3:GetObjectTagging', resource: s3Object(src.bucket, src.key), context: {}, why: 'CopyObject copies the source\'s tags (TaggingDirective COPY)' });
  }
  needs.push(...writeObject({ ...call, headers: { ...call.headers, 'x-amz-tagging': new URLSearchParams(copiedTags).toString() } }, world, bucket, key, { actions: ['kms:GenerateDataKey'], why: WRITE_KMS }));
  return needs;
}

/**
 * A delete of one key or version. A version under a governance retention is deleted only with
 * x-amz-bypass-governance-retention and s3:BypassGovernanceRetention; without them S3 refuses it whatever else the
 * caller may do (https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lock-managing.html#object-lock-managing-bypass),
 * so such a delete needs the bypass. A delete without a version id only adds a delete marker and needs none.
 */
function deleteOne(call: AwsCall, world: World, bucket: string, key: string, versionId: string | undefined, bypass: boolean): Need[] {
  const needs: Need[] = [{ action: versionId ? 's3:DeleteObjectVersion' : 's3:DeleteObject', resource: s3Object(bucket, key), context: versionId ? { 's3:versionid': versionId } : {} }];
  const locked = versionId ? world.lockedUntil?.(bucket, key, versionId, call.at) : undefined;
  if (bypass || locked) {
    const why = locked ? `the version is locked (governance) until ${locked.toISOString()}` : `${call.operation} with x-amz-bypass-governance-retention`;
    needs.push({ action: 's3:BypassGovernanceRetention', resource: s3Object(bucket, key), context: {}, why });
  }
  return needs;
}

type Mapper = (call: AwsCall, world: World) => Need[];

const bucketAction = (action: string, context: (call: AwsCall) => ContextValues = () => ({})): Mapper => (call) => [
  { action, resource: s3Bucket(need(call.input, 'Bucket', call)), context: context(call) },
];

const listContext = (call: AwsCall): ContextValues => {
  const ctx: ContextValues = {};
  const prefix = str(call.input, 'Prefix');
  ctx['s3:prefix'] = prefix ?? '';
  const delimiter = str(call.input, 'Delimiter');
  if (delimiter) ctx['s3:delimiter'] = delimiter;
  const maxKeys = str(call.input, 'MaxKeys');
  if (maxKeys) ctx['s3:max-keys'] = maxKeys;
  return ctx;
};

/** S3 API operation → what IAM authorizes. */
export const S3_OPERATIONS: Record<string, Mapper> = {
  GetObject: (call, world) => readObject(call, world, need(call.input, 'Bucket', call), need(call.input, 'Key', call), str(call.input, 'VersionId'), true),
  // HEAD returns metadata only; S3 decrypts nothing for it.
  HeadObject: (call, world) => readObject(call, world, need(call.input, 'Bucket', call), need(call.input, 'Key', call), str(call.input, 'VersionId'), false),
  GetObjectAttributes: (call) => [
    { action: str(call.input, 'VersionId') ? 's3:GetObjectVersionAttributes' : 's3:GetObjectAttributes', resource: s3Object(need(call.input, 'Bucket', call), need(call.input, 'Key', call)), context: {} },
  ],
  PutObject: (call, world) => writeObject(call, world, need(call.input, 'Bucket', call), need(call.input, 'Key', call), { actions: ['kms:GenerateDataKey'], why: WRITE_KMS }),
  CreateMultipartUpload: (call, world) =>
    writeObject(call, world, need(call.input, 'Bucket', call), need(call.input, 'Key', call), { actions: ['kms:GenerateDataKey', 'kms:Decrypt'], why: MULTIPART_KMS }),
  UploadPart: (call, world) => {
    const bucket = need(call.input, 'Bucket', call);
    const key = need(call.input, 'Key', call);
    return [{ action: 's3:PutObject', resource: s3Object(bucket, key), context: {} }, ...kmsNeeds(world, bucket, key, ['kms:GenerateDataKey', 'kms:Decrypt'], MULTIPART_KMS)];
  },
  UploadPartCopy: (call, world) => copyObject(call, world, true),
  CompleteMultipartUpload: (call, world) => {
    const bucket = need(call.input, 'Bucket', call);
    const key = need(call.input, 'Key', call);
    return [{ action: 's3:PutObject', resource: s3Object(bucket, key), context: {} }, ...kmsNeeds(world, bucket, key, ['kms:Decrypt'], MULTIPART_KMS)];
  },
  AbortMultipartUpload: (call) => [{ action: 's3:AbortMultipartUpload', resource: s3Object(need(call.input, 'Bucket', call), need(call.input, 'Key', call)), context: {} }],
  ListParts: (call) => [{ action: 's3:ListMultipartUploadParts', resource: s3Object(need(call.input, 'Bucket', call), need(call.input, 'Key', call)), context: {} }],
  ListMultipartUploads: bucketAction('s3:ListBucketMultipartUploads'),
  CopyObject: (call, world) => copyObject(call, world, false),
  DeleteObject: (call, world) =>
    deleteOne(call, world, need(call.input, 'Bucket', call), need(call.input, 'Key', call), str(call.input, 'VersionId'), call.headers['x-amz-bypass-governance-retention'] === 'true'),
  DeleteObjects: (call, world) => {
    const bucket = need(call.input, 'Bucket', call);
    const objects = ((call.input.Delete as { Objects?: Array<{ Key?: string; VersionId?: string }> } | undefined)?.Objects ?? []);
    const bypass = call.headers['x-amz-bypass-governance-retention'] === 'true';
    return objects.flatMap((o) => deleteOne(call, world, bucket, o.Key ?? '', o.VersionId, bypass));
  },
  ListObjectsV2: bucketAction('s3:ListBucket', listContext),
  ListObjects: bucketAction('s3:ListBucket', listContext),
  ListObjectVersions: bucketAction('s3:ListBucketVersions', listContext),
  HeadBucket: bucketAction('s3:ListBucket'),
  GetBucketLocation: bucketAction('s3:GetBucketLocation'),
  GetObjectTagging: (call, world) => {
    const bucket = need(call.input, 'Bucket', call);
    const key = need(call.input, 'Key', call);
    const v = str(call.input, 'VersionId');
    return [{ action: v ? 's3:GetObjectVersionTagging' : 's3:GetObjectTagging', resource: s3Object(bucket, key), context: existingTagContext(world, bucket, key) }];
  },
  PutObjectTagging: (call, world) => {
    const bucket = need(call.input, 'Bucket', call);
    const key = need(call.input, 'Key', call);
    const v = str(call.input, 'VersionId');
    const tags = Object.fromEntries(((call.input.Tagging as { TagSet?: Array<{ Key: string; Value: string }> } | undefined)?.TagSet ?? []).map((t) => [t.Key, t.Value]));
    return [
      {
        action: v ? 's3:PutObjectVersionTagging' : 's3:PutObjectTagging',
        resource: s3Object(bucket, key),
        context: { ...existingTagContext(world, bucket, key), ...requestTagContext(tags), ...(v ? { 's3:versionid': v } : {}) },
      },
    ];
  },
  GetObjectRetention: (call) => [{ action: 's3:GetObjectRetention', resource: s3Object(need(call.input, 'Bucket', call), need(call.input, 'Key', call)), context: {} }],
  PutObjectRetention: (call) => {
    const bucket = need(call.input, 'Bucket', call);
    const key = need(call.input, 'Key', call);
    const r = call.input.Retention as { Mode?: string; RetainUntilDate?: Date | string } | undefined;
    const v = str(call.input, 'VersionId');
    const needs: Need[] = [
      { action: 's3:PutObjectRetention', resource: s3Object(bucket, key), context: { ...lockContext(r?.Mode, r?.RetainUntilDate, call.at), ...(v ? { 's3:versionid': v } : {}) } },
    ];
    if (call.headers['x-amz-bypass-governance-retention'] === 'true') {
      needs.push({ action: 's3:BypassGovernanceRetention', resource: s3Object(bucket, key), context: {}, why: 'PutObjectRetention with x-amz-bypass-governance-retention' });
    }
    return needs;
  },
  GetObjectLegalHold: (call) => [{ action: 's3:GetObjectLegalHold', resource: s3Object(need(call.input, 'Bucket', call), need(call.input, 'Key', call)), context: {} }],
  GetObjectLockConfiguration: bucketAction('s3:GetBucketObjectLockConfiguration'),
  GetBucketLifecycleConfiguration: bucketAction('s3:GetLifecycleConfiguration'),
  GetBucketReplication: bucketAction('s3:GetReplicationConfiguration'),
  GetBucketVersioning: bucketAction('s3:GetBucketVersioning'),
  PutBucketVersioning: bucketAction('s3:PutBucketVersioning'),
  GetBucketEncryption: bucketAction('s3:GetEncryptionConfiguration'),
  PutBucketEncryption: bucketAction('s3:PutEncryptionConfiguration'),
  GetPublicAccessBlock: bucketAction('s3:GetBucketPublicAccessBlock'),
  PutPublicAccessBlock: bucketAction('s3:PutBucketPublicAccessBlock'),
  GetBucketPolicy: bucketAction('s3:GetBucketPolicy'),
  PutBucketPolicy: bucketAction('s3:PutBucketPolicy'),
  GetBucketOwnershipControls: bucketAction('s3:GetBucketOwnershipControls'),
  PutBucketOwnershipControls: bucketAction('s3:PutBucketOwnershipControls'),
  GetBucketTagging: bucketAction('s3:GetBucketTagging'),
  CreateBucket: (call) => {
    const bucket = need(call.input, 'Bucket', call);
    const region = (call.input.CreateBucketConfiguration as { LocationConstraint?: string } | undefined)?.LocationConstraint;
    const needs: Need[] = [{ action: 's3:CreateBucket', resource: s3Bucket(bucket), context: region ? { 's3:locationconstraint': region } : {} }];
    if (call.input.ObjectLockEnabledForBucket === true) {
      needs.push(
        { action: 's3:PutBucketObjectLockConfiguration', resource: s3Bucket(bucket), context: {}, why: 'the bucket is created with Object Lock' },
        { action: 's3:PutBucketVersioning', resource: s3Bucket(bucket), context: {}, why: 'Object Lock turns versioning on' },
      );
    }
    if (call.input.ObjectOwnership) needs.push({ action: 's3:PutBucketOwnershipControls', resource: s3Bucket(bucket), context: {}, why: 'the bucket is created with x-amz-object-ownership' });
    return needs;
  },
};

/** S3 Control (Batch Operations). */
export const S3_CONTROL_OPERATIONS: Record<string, Mapper> = {
  CreateJob: (call) => {
    const roleArn = need(call.input, 'RoleArn', call);
    const tags = (call.input.Tags as Array<{ Key: string; Value: string }> | undefined) ?? [];
    const tagContext: ContextValues = tags.length > 0 ? { 'aws:TagKeys': tags.map((t) => t.Key), ...Object.fromEntries(tags.map((t) => [`aws:RequestTag/${t.Key}`, t.Value])) } : {};
    // With Tags, CreateJob also needs s3:PutJobTagging on the job it creates, whose id nobody knows before:
    // https://docs.aws.amazon.com/AmazonS3/latest/userguide/using-with-s3-policy-actions.html (CreateJob).
    const account = need(call.input, 'AccountId', call);
    return [
      { action: 's3:CreateJob', resource: '*', context: tagContext },
      ...(tags.length > 0 ? [{ action: 's3:PutJobTagging', resource: `arn:aws:s3:${call.region}:${account}:job/new-job-id`, context: tagContext, why: 'the job is created with Tags' }] : []),
      { action: 'iam:PassRole', resource: roleArn, context: { 'iam:PassedToService': 'batchoperations.s3.amazonaws.com' }, why: 'the job runs as this role' },
    ];
  },
  DescribeJob: (call) => [{ action: 's3:DescribeJob', resource: `arn:aws:s3:${call.region}:${need(call.input, 'AccountId', call)}:job/${need(call.input, 'JobId', call)}`, context: {} }],
};

function clusterArn(call: AwsCall, world: World): string {
  const c = need(call.input, 'cluster', call);
  return c.startsWith('arn:') ? c : `arn:aws:ecs:${call.region}:${world.account}:cluster/${c}`;
}

function clusterName(arn: string): string {
  return arn.split('/').pop() ?? arn;
}

/** Amazon ECS. */
export const ECS_OPERATIONS: Record<string, Mapper> = {
  RunTask: (call, world) => {
    const cluster = clusterArn(call, world);
    const td = need(call.input, 'taskDefinition', call);
    const needs: Need[] = [{ action: 'ecs:RunTask', resource: td, context: { 'ecs:cluster': cluster } }];
    for (const role of world.taskRoles(td)) {
      needs.push({ action: 'iam:PassRole', resource: role, context: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' }, why: 'RunTask hands the task definition\'s roles to ECS' });
    }
    if (call.input.tags || call.input.propagateTags) {
      needs.push({ action: 'ecs:TagResource', resource: `arn:aws:ecs:${call.region}:${world.account}:task/${clusterName(cluster)}/*`, context: { 'ecs:CreateAction': 'RunTask' }, why: 'RunTask tags the task' });
    }
    return needs;
  },
  DescribeTasks: (call, world) => {
    const cluster = clusterArn(call, world);
    return ((call.input.tasks as string[] | undefined) ?? []).map((t) => ({
      action: 'ecs:DescribeTasks',
      resource: t.startsWith('arn:') ? t : `arn:aws:ecs:${call.region}:${world.account}:task/${clusterName(cluster)}/${t}`,
      context: { 'ecs:cluster': cluster },
    }));
  },
  ListTasks: (call, world) => {
    const cluster = clusterArn(call, world);
    return [{ action: 'ecs:ListTasks', resource: `arn:aws:ecs:${call.region}:${world.account}:container-instance/${clusterName(cluster)}/any`, context: { 'ecs:cluster': cluster } }];
  },
  DescribeServices: (call, world) => {
    const cluster = clusterArn(call, world);
    return ((call.input.services as string[] | undefined) ?? []).map((s) => ({
      action: 'ecs:DescribeServices',
      resource: s.startsWith('arn:') ? s : `arn:aws:ecs:${call.region}:${world.account}:service/${clusterName(cluster)}/${s}`,
      context: { 'ecs:cluster': cluster },
    }));
  },
  UpdateService: (call, world) => {
    const cluster = clusterArn(call, world);
    const s = need(call.input, 'service', call);
    return [{ action: 'ecs:UpdateService', resource: s.startsWith('arn:') ? s : `arn:aws:ecs:${call.region}:${world.account}:service/${clusterName(cluster)}/${s}`, context: {} }];
  },
};

/** A function by name, partial ARN or ARN → its unqualified ARN (https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html). */
function functionArn(call: AwsCall, world: World): string {
  const name = need(call.input, 'FunctionName', call);
  if (name.startsWith('arn:')) return name;
  return `arn:aws:lambda:${call.region}:${world.account}:function:${name}`;
}

/**
 * Invoke needs lambda:InvokeFunction on the function (with its qualifier, when named):
 * https://docs.aws.amazon.com/service-authorization/latest/reference/list_awslambda.html
 */
export const LAMBDA_OPERATIONS: Record<string, Mapper> = {
  Invoke: (call, world) => [{ action: 'lambda:InvokeFunction', resource: functionArn(call, world), context: {} }],
};

/**
 * GetSecretValue needs secretsmanager:GetSecretValue on the secret; a secret under the aws/secretsmanager key needs
 * nothing of KMS from the caller: https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_iam-permissions.html
 */
export const SECRETS_OPERATIONS: Record<string, Mapper> = {
  GetSecretValue: (call) => [{ action: 'secretsmanager:GetSecretValue', resource: need(call.input, 'SecretId', call), context: {} }],
};

const BY_SERVICE: Record<string, Record<string, Mapper>> = { s3: S3_OPERATIONS, 's3-control': S3_CONTROL_OPERATIONS, ecs: ECS_OPERATIONS, lambda: LAMBDA_OPERATIONS, secretsmanager: SECRETS_OPERATIONS };

/** What IAM must allow for `call`; throws for an operation the table does not know. */
export function authorizationsFor(call: AwsCall, world: World): Need[] {
  const mapper = BY_SERVICE[call.service]?.[call.operation];
  if (!mapper) {
    throw new Error(`no IAM mapping for ${call.service}:${call.operation} (made by ${call.command}): add it to test/support/iam/authorizations.ts`);
  }
  return mapper(call, world);
}
