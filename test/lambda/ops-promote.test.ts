/**
 * The ops Lambda's promote and replication-check actions through its handler, as an operator sends them from the
 * console. S3 and S3 Control are aws-sdk-client-mock stubs over a small in-memory bucket store, so every call the
 * actions make is visible: a plan writes nothing, bad input calls nothing, a confirmed run makes exactly the calls
 * promotion needs (the copy engine end to end on moto is test/src/promote/promote.test.ts).
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  CopyObjectCommand,
  CreateBucketCommand,
  GetBucketEncryptionCommand,
  GetBucketPolicyCommand,
  GetBucketVersioningCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutBucketEncryptionCommand,
  PutBucketPolicyCommand,
  PutBucketVersioningCommand,
  PutPublicAccessBlockCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { CreateJobCommand, DescribeJobCommand, S3ControlClient } from '@aws-sdk/client-s3-control';
import { mockClient } from 'aws-sdk-client-mock';
import { ENV, type Manifest, sidecarKey } from '../../src/contract';
import { SOURCE_ETAG_METADATA } from '../../src/promote/identity';
import { RUN_LIMITS, type RunLimits, promoteWithin } from '../../src/ops/promote';
import { handleEvent } from '../../lambda/ops/handler';
import type { OpsContext, OpsResult } from '../../lambda/ops/types';
import { createEcsClient } from '../../src/storage/ecs-client';
import { createS3Client } from '../../src/storage/s3';
import { readSettings } from '../../src/settings';

const ACCOUNT = '123456789012';
const REPLICA_REGION = 'eu-central-1';
const PRIMARY_REGION = 'eu-west-1';
const PRIMARY = `meatlizard-backup-${ACCOUNT}-${PRIMARY_REGION}`;
const REPLICA = `meatlizard-backup-replica-${ACCOUNT}-${REPLICA_REGION}`;
const BATCH_ROLE = `arn:aws:iam::${ACCOUNT}:role/meatlizard-backup-replica-BatchOperationsRole-ABC`;
const PROMOTE_FUNCTION = 'meatlizard-backup-promote';
const NOW = new Date('2025-09-17T12:00:00Z');

/** What the replica stack sets on the promotion function (test/lib/replica-stack.test.ts checks the stack's side). */
const PROMOTE_ENV = {
  [ENV.bucket]: PRIMARY,
  [ENV.prefix]: 'backups/',
  [ENV.replicaBucket]: REPLICA,
  [ENV.replicaRegion]: REPLICA_REGION,
  [ENV.primaryRegion]: PRIMARY_REGION,
  [ENV.batchOperationsRole]: BATCH_ROLE,
  [ENV.accountId]: ACCOUNT,
  [ENV.promoteTargets]: `${PRIMARY},meatlizard-backup-promoted-*`,
};
/** What the primary stack sets on its ops function that these actions read. */
const PRIMARY_ENV = {
  [ENV.bucket]: PRIMARY,
  [ENV.prefix]: 'backups/',
  [ENV.replicaBucket]: REPLICA,
  [ENV.replicaRegion]: REPLICA_REGION,
  [ENV.promoteFunctionName]: PROMOTE_FUNCTION,
};

/** Calls that only read; anything else a plan makes is a write. */
const READS = new Set(['HeadBucketCommand', 'ListObjectsV2Command', 'HeadObjectCommand', 'GetObjectCommand', 'GetBucketVersioningCommand']);

const s3Mock = mockClient(S3Client);
const controlMock = mockClient(S3ControlClient);

// ---------------------------------------------------------------------------------------------------------------
// A few buckets in memory, served through the mocks.
// ---------------------------------------------------------------------------------------------------------------

interface StoredObject {
  body: Buffer;
  etag: string;
  contentType?: string;
  metadata?: Record<string, string>;
  replicationStatus?: string;
  lastModified: Date;
}
let buckets: Map<string, Map<string, StoredObject>>;

function s3Error(name: string, status: number): Error {
  return Object.assign(new Error(name), { name, Code: name, $metadata: { httpStatusCode: status } });
}

function put(bucket: string, key: string, body: string | Buffer, extra: Partial<StoredObject> = {}): void {
  const bytes = Buffer.from(body);
  const objects = buckets.get(bucket) ?? new Map<string, StoredObject>();
  buckets.set(bucket, objects);
  objects.set(key, { body: bytes, etag: createHash('md5').update(bytes).digest('hex'), lastModified: NOW, ...extra });
}

function kmsEtag(bucket: string, etag: string): string {
  return createHash('md5').update(`${bucket}/${etag}`).digest('hex');
}

function objectsOf(bucket: string): Map<string, StoredObject> {
  const objects = buckets.get(bucket);
  if (!objects) throw s3Error('NoSuchBucket', 404);
  return objects;
}

function body(bytes: Buffer): GetObjectCommandBody {
  return Object.assign(Readable.from([bytes]), { transformToString: async () => bytes.toString('utf8') });
}
type GetObjectCommandBody = Readable & { transformToString: () => Promise<string> };

function serveBuckets(): void {
  s3Mock.on(HeadBucketCommand).callsFake(({ Bucket }) => {
    if (!buckets.has(Bucket)) throw s3Error('NotFound', 404);
    return {};
  });
  s3Mock.on(ListObjectsV2Command).callsFake(({ Bucket, Prefix, MaxKeys }) => {
    const contents = [...objectsOf(Bucket).entries()]
      .filter(([key]) => !Prefix || key.startsWith(Prefix))
      .sort(([a], [b]) => a.localeCompare(b))
      .slice(0, MaxKeys ?? 1000)
      .map(([Key, o]) => ({ Key, Size: o.body.length, ETag: `"${o.etag}"`, LastModified: o.lastModified, StorageClass: 'STANDARD' }));
    return { Contents: contents, IsTruncated: false, KeyCount: contents.length };
  });
  s3Mock.on(HeadObjectCommand).callsFake(({ Bucket, Key }) => {
    const o = objectsOf(Bucket).get(Key);
    if (!o) throw s3Error('NotFound', 404);
    // Both stacks' buckets are versioned: every object has a version id (promote refuses a bucket without one).
    return { ContentLength: o.body.length, ETag: `"${o.etag}"`, VersionId: `v-${o.etag}`, ContentType: o.contentType, Metadata: o.metadata ?? {}, ReplicationStatus: o.replicationStatus };
  });
  s3Mock.on(GetObjectCommand).callsFake(({ Bucket, Key }) => {
    const o = objectsOf(Bucket).get(Key);
    if (!o) throw s3Error('NoSuchKey', 404);
    return { Body: body(o.body), ContentLength: o.body.length, ETag: `"${o.etag}"` };
  });
  s3Mock.on(CreateBucketCommand).callsFake(({ Bucket }) => {
    if (buckets.has(Bucket)) throw s3Error('BucketAlreadyOwnedByYou', 409);
    buckets.set(Bucket, new Map());
    return { Location: `/${Bucket}` };
  });
  s3Mock.on(GetBucketVersioningCommand).resolves({});
  s3Mock.on(PutBucketVersioningCommand).resolves({});
  s3Mock.on(PutPublicAccessBlockCommand).resolves({});
  s3Mock.on(GetBucketEncryptionCommand).rejects(s3Error('ServerSideEncryptionConfigurationNotFoundError', 404));
  s3Mock.on(PutBucketEncryptionCommand).resolves({});
  s3Mock.on(GetBucketPolicyCommand).rejects(s3Error('NoSuchBucketPolicy', 404));
  s3Mock.on(PutBucketPolicyCommand).resolves({});
  // As under SSE-KMS, a copy's ETag is not its source's; REPLACE writes the metadata the request restates.
  s3Mock.on(CopyObjectCommand).callsFake(({ Bucket, Key, CopySource, MetadataDirective, Metadata }) => {
    const [from, ...rest] = (CopySource as string).split('/');
    const sourceKey = rest.map(decodeURIComponent).join('/');
    const source = objectsOf(from).get(sourceKey);
    if (!source) throw s3Error('NoSuchKey', 404);
    const etag = kmsEtag(Bucket, source.etag);
    objectsOf(Bucket).set(Key, { ...source, etag, metadata: MetadataDirective === 'REPLACE' ? Metadata : source.metadata });
    return { CopyObjectResult: { ETag: `"${etag}"` } };
  });
}

function messageOf(result: OpsResult): string {
  if (!result.ok) throw new Error(`expected a successful answer, got ${result.error}`);
  return String(result.message);
}

function errorOf(result: OpsResult): string {
  if (result.ok) throw new Error('expected a refusal');
  return result.error;
}

async function regionsByBucket(): Promise<Record<string, string[]>> {
  const seen: Record<string, Set<string>> = {};
  for (const call of s3Mock.calls()) {
    const bucket = (call.args[0].input as { Bucket: string }).Bucket;
    const client = call.thisValue as S3Client;
    (seen[bucket] ??= new Set()).add(await client.config.region());
  }
  return Object.fromEntries(Object.entries(seen).map(([bucket, regions]) => [bucket, [...regions]]));
}

/** The names of the S3 commands sent so far, in order. */
function s3Calls(): string[] {
  return s3Mock.calls().map((call) => call.args[0].constructor.name);
}

function context(env: Record<string, string>, region: string = REPLICA_REGION): OpsContext {
  // Made as the function makes its own: by the one client factory.
  return { s3: createS3Client({ region }), ecs: createEcsClient({ region }), settings: readSettings(env), now: () => NOW };
}

/** The replica's current objects: transcripts with odd keys and a backup with its manifest. */
function seedReplica(): void {
  put(REPLICA, 'transcripts/room one/2025-09-17.json', '{"messages": 3}', { contentType: 'application/json' });
  put(REPLICA, 'transcripts/a+b/ü ñ.json', '{"messages": 1}');
  put(REPLICA, 'backups/meatdb-2025-09-17T03:00:00.sql.gz', 'gzip bytes of the dump');
}

beforeEach(() => {
  s3Mock.reset();
  controlMock.reset();
  buckets = new Map();
  serveBuckets();
  // The promotion logs JSON lines on stderr (CloudWatch in Lambda); keep the test output readable.
  jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
});

afterEach(() => jest.restoreAllMocks());

describe('promote: the plan (no "confirm")', () => {
  test('GIVEN the replica and no target WHEN {"action": "promote"} THEN it plans replica -> original primary name and writes nothing', async () => {
    // GIVEN
    seedReplica();
    // WHEN
    const result = await handleEvent({ action: 'promote' }, context(PROMOTE_ENV));
    // THEN
    expect(result).toMatchObject({
      ok: true,
      action: 'promote',
      confirmed: false,
      message: `nothing was changed; add "confirm": true to promote ${REPLICA} into ${PRIMARY} (copy engine)`,
      confirmWith: { action: 'promote', from: REPLICA, to: PRIMARY, region: PRIMARY_REGION, engine: 'copy', confirm: true },
      fitsOneRun: true,
      estimatedCopySeconds: 0,
      region: PRIMARY_REGION,
      target: `will be created in ${PRIMARY_REGION}: versioned, public access blocked, encrypted (SSE-S3), TLS-only policy`,
      plan: {
        from: REPLICA,
        to: PRIMARY,
        engine: 'copy',
        region: PRIMARY_REGION,
        targetExists: false,
        source: { objects: 3, bytes: 15 + 15 + 22 },
        alreadyCopied: { objects: 0, bytes: 0 },
        toCopy: { objects: 3, bytes: 52 },
        recopy: { objects: 0, bytes: 0 },
        multipart: { objects: 0, bytes: 0 },
        conflicts: { count: 0, keys: [] },
      },
    });
    expect(s3Calls().filter((name) => !READS.has(name))).toEqual([]);
    // the replica, then one of its objects (is it versioned?), the target, the listing
    expect(s3Calls()).toEqual(['HeadBucketCommand', 'ListObjectsV2Command', 'HeadObjectCommand', 'HeadBucketCommand', 'ListObjectsV2Command']);
    expect(controlMock.calls()).toHaveLength(0);
    expect(buckets.has(PRIMARY)).toBe(false);
  });

  test('GIVEN a target that already holds other data WHEN planned THEN the plan names the conflict, offers no confirmation and writes nothing', async () => {
    // GIVEN
    seedReplica();
    put('meatlizard-backup-promoted-restored', 'transcripts/room one/2025-09-17.json', 'something else entirely');
    // WHEN
    const result = await handleEvent({ action: 'promote', to: 'meatlizard-backup-promoted-restored' }, context(PROMOTE_ENV));
    // THEN
    expect(result).toMatchObject({
      ok: true,
      confirmed: false,
      message: expect.stringContaining('this promotion cannot run here as asked: bucket meatlizard-backup-promoted-restored is not empty and holds data that is not the replica'),
      plan: { targetExists: true, conflicts: { count: 1, keys: ['transcripts/room one/2025-09-17.json'] } },
    });
    expect(result).not.toHaveProperty('confirmWith');
    expect(messageOf(result)).toContain('pass "to" with another name');
    expect(s3Calls().filter((name) => !READS.has(name))).toEqual([]);
  });

  test('GIVEN a replica too large for one run WHEN planned THEN it says so and points at the batch engine and the CLI', async () => {
    // GIVEN a run that allows only 1 s of copying at 1 object/s
    seedReplica();
    const limits: RunLimits = { ...RUN_LIMITS, budgetSeconds: 1, objectsPerSecond: 1 };
    // WHEN
    const result = await promoteWithin({ action: 'promote' }, context(PROMOTE_ENV), limits);
    // THEN
    expect(result).toMatchObject({ ok: true, confirmed: false, fitsOneRun: false, estimatedCopySeconds: 3 });
    const message = messageOf(result);
    expect(message).toContain('too large for one run of this function: 3 objects (52 B) to copy');
    expect(message).toContain('send "engine": "batch"');
    expect(message).toContain(`run the CLI, which has no time limit: meatbackup promote --from ${REPLICA} --to ${PRIMARY} --region ${PRIMARY_REGION} [--engine batch]`);
    expect(result).not.toHaveProperty('confirmWith');
    expect(s3Calls().filter((name) => !READS.has(name))).toEqual([]);
  });

  test('GIVEN the batch engine WHEN planned THEN it counts the replica and plans nothing in parts (no object over 5 GiB)', async () => {
    seedReplica();
    const result = await handleEvent({ action: 'promote', to: 'meatlizard-backup-promoted-new', engine: 'batch' }, context(PROMOTE_ENV));
    expect(result).toMatchObject({
      ok: true,
      confirmed: false,
      fitsOneRun: true,
      estimatedCopySeconds: 0,
      confirmWith: { action: 'promote', from: REPLICA, to: 'meatlizard-backup-promoted-new', engine: 'batch', confirm: true },
      plan: { engine: 'batch', source: { objects: 3, bytes: 52 }, multipart: { objects: 0, bytes: 0 } },
    });
    expect(controlMock.calls()).toHaveLength(0);
    expect(s3Calls().filter((name) => !READS.has(name))).toEqual([]);
  });
});

describe('promote: confirmed', () => {
  test('GIVEN the replica WHEN confirmed with the copy engine THEN the original name is created in the primary region, hardened, filled and verified', async () => {
    // GIVEN
    seedReplica();
    // WHEN
    const result = await handleEvent({ action: 'promote', confirm: true }, context(PROMOTE_ENV));
    // THEN
    expect(result).toMatchObject({
      ok: true,
      action: 'promote',
      confirmed: true,
      message: `promoted s3://${REPLICA} into s3://${PRIMARY} (created in ${PRIMARY_REGION}): 3 objects, 52 B verified by content (3 by copy record); 3 copied, 0 already identical`,
      engine: 'copy',
      from: REPLICA,
      to: PRIMARY,
      created: true,
      copied: { objects: 3, bytes: 52, single: 3, multipart: 0 },
      skipped: { objects: 0, bytes: 0 },
      verification: { ok: true, objects: 3, bytes: 52, proofs: { record: 3, checksum: 0, etag: 0 }, missing: [], different: [], extra: [] },
    });
    expect(s3Mock.commandCalls(CreateBucketCommand).map((c) => c.args[0].input)).toEqual([
      { Bucket: PRIMARY, ObjectOwnership: 'BucketOwnerEnforced', CreateBucketConfiguration: { LocationConstraint: PRIMARY_REGION } },
    ]);
    // every bucket is addressed by a client of its own region: the replica's reads here, the target's writes there
    expect(await regionsByBucket()).toEqual({ [REPLICA]: [REPLICA_REGION], [PRIMARY]: [PRIMARY_REGION] });
    expect(s3Mock.commandCalls(PutBucketVersioningCommand)).toHaveLength(1);
    expect(s3Mock.commandCalls(PutPublicAccessBlockCommand)).toHaveLength(1);
    expect(s3Mock.commandCalls(PutBucketEncryptionCommand)).toHaveLength(1);
    expect(s3Mock.commandCalls(CopyObjectCommand).map((c) => c.args[0].input.CopySource).sort()).toEqual([
      `${REPLICA}/backups/meatdb-2025-09-17T03%3A00%3A00.sql.gz`,
      `${REPLICA}/transcripts/a%2Bb/%C3%BC%20%C3%B1.json`,
      `${REPLICA}/transcripts/room%20one/2025-09-17.json`,
    ]);
    // the replica is only ever read
    for (const call of s3Mock.calls()) {
      const input = call.args[0].input as { Bucket?: string };
      if (input.Bucket === REPLICA) expect(READS.has(call.args[0].constructor.name)).toBe(true);
    }
    expect([...objectsOf(PRIMARY).keys()].sort()).toEqual([...objectsOf(REPLICA).keys()].sort());
    expect(controlMock.calls()).toHaveLength(0);
  });

  test('GIVEN the replica WHEN confirmed with the batch engine THEN one CreateJob runs as the stack role and the answer says how to follow it', async () => {
    // GIVEN
    seedReplica();
    controlMock.on(CreateJobCommand).resolves({ JobId: 'a1b2c3d4-job' });
    controlMock.on(DescribeJobCommand).resolves({ Job: { JobId: 'a1b2c3d4-job', Status: 'Preparing' } });
    // WHEN
    const result = await handleEvent({ action: 'promote', to: 'meatlizard-backup-promoted-restored', engine: 'batch', confirm: true }, context(PROMOTE_ENV));
    // THEN
    expect(result).toMatchObject({
      ok: true,
      confirmed: true,
      engine: 'batch',
      to: 'meatlizard-backup-promoted-restored',
      created: true,
      batchJob: { jobId: 'a1b2c3d4-job', accountId: ACCOUNT, region: REPLICA_REGION, status: 'Preparing' },
      follow: `meatbackup promote-status a1b2c3d4-job --region ${REPLICA_REGION} --wait`,
      copiedInParts: { objects: 0, bytes: 0 },
    });
    expect(messageOf(result)).toContain('S3 Batch Operations job a1b2c3d4-job submitted (Preparing)');
    const jobs = controlMock.commandCalls(CreateJobCommand).map((c) => c.args[0].input);
    expect(jobs).toHaveLength(1);
    expect(jobs[0]).toMatchObject({
      AccountId: ACCOUNT,
      RoleArn: BATCH_ROLE,
      ConfirmationRequired: false,
      Operation: { S3PutObjectCopy: { TargetResource: 'arn:aws:s3:::meatlizard-backup-promoted-restored', MetadataDirective: 'COPY' } },
      ManifestGenerator: { S3JobManifestGenerator: { SourceBucket: `arn:aws:s3:::${REPLICA}`, ExpectedBucketOwner: ACCOUNT, EnableManifestOutput: false } },
      Report: { Enabled: true, Bucket: 'arn:aws:s3:::meatlizard-backup-promoted-restored', Prefix: 'meatbackup-promote/reports', ReportScope: 'FailedTasksOnly' },
    });
    expect(controlMock.commandCalls(DescribeJobCommand).map((c) => c.args[0].input)).toEqual([{ AccountId: ACCOUNT, JobId: 'a1b2c3d4-job' }]);
    expect(s3Mock.commandCalls(CopyObjectCommand)).toHaveLength(0);
  });

  test('GIVEN a target holding other data WHEN confirmed THEN it is refused and nothing is written', async () => {
    seedReplica();
    put('meatlizard-backup-promoted-restored', 'notes.txt', 'not from the replica');
    const result = await handleEvent({ action: 'promote', to: 'meatlizard-backup-promoted-restored', confirm: true }, context(PROMOTE_ENV));
    expect(result).toEqual({ ok: false, action: 'promote', error: expect.stringContaining('is not empty and holds data that is not the replica') });
    expect(errorOf(result)).toContain('nothing was written');
    expect(s3Calls().filter((name) => !READS.has(name))).toEqual([]);
    expect(controlMock.calls()).toHaveLength(0);
  });

  test('GIVEN a replica too large for one run WHEN confirmed THEN it is refused before anything is created or submitted', async () => {
    seedReplica();
    const limits: RunLimits = { ...RUN_LIMITS, budgetSeconds: 1, objectsPerSecond: 1 };
    await expect(promoteWithin({ action: 'promote', confirm: true }, context(PROMOTE_ENV), limits)).rejects.toThrow(
      /too large for one run of this function: 3 objects \(52 B\) to copy.*; nothing was started$/,
    );
    expect(s3Calls().filter((name) => !READS.has(name))).toEqual([]);
    expect(controlMock.calls()).toHaveLength(0);
  });

  test('GIVEN a copy that reaches the deadline WHEN confirmed THEN it stops scheduling copies and says how to resume', async () => {
    // GIVEN 100 objects, copies that take 20 ms, and a deadline 1 ms after the start
    for (let i = 0; i < 100; i++) put(REPLICA, `transcripts/${String(i).padStart(3, '0')}.json`, `{"n": ${i}}`);
    s3Mock.on(CopyObjectCommand).callsFake(async ({ Bucket, Key, CopySource }) => {
      await new Promise((resolve) => setTimeout(resolve, 20));
      const [from, ...rest] = (CopySource as string).split('/');
      const source = objectsOf(from).get(rest.map(decodeURIComponent).join('/')) as StoredObject;
      objectsOf(Bucket).set(Key, { ...source });
      return { CopyObjectResult: { ETag: `"${source.etag}"` } };
    });
    const limits: RunLimits = { ...RUN_LIMITS, copyDeadlineSeconds: 0.001 };
    // WHEN
    const run = promoteWithin({ action: 'promote', confirm: true }, context(PROMOTE_ENV), limits);
    // THEN: the copies under way finish (32 at once), nothing more starts, and the answer says how to go on
    await expect(run).rejects.toThrow(/to answer within the function's time limit: \d+ of 100 objects copied into .*; send the same event again to resume/);
    const copied = s3Mock.commandCalls(CopyObjectCommand).length;
    expect(copied).toBeLessThan(100);
    expect(objectsOf(PRIMARY).size).toBe(copied);
  });

  test('GIVEN a half-done promotion (SSE-KMS: the copy has its own ETag) WHEN the same event is sent again THEN the recorded copy is skipped and the rest copied', async () => {
    seedReplica();
    const done = objectsOf(REPLICA).get('transcripts/a+b/ü ñ.json') as StoredObject;
    const earlier = { ...done, etag: kmsEtag(PRIMARY, done.etag), metadata: { [SOURCE_ETAG_METADATA]: done.etag } };
    buckets.set(PRIMARY, new Map([['transcripts/a+b/ü ñ.json', earlier]]));
    const result = await handleEvent({ action: 'promote', confirm: true }, context(PROMOTE_ENV));
    expect(result).toMatchObject({ ok: true, created: false, copied: { objects: 2 }, skipped: { objects: 1 }, verification: { ok: true, objects: 3 } });
    expect(s3Mock.commandCalls(CreateBucketCommand)).toHaveLength(0);
  });

  test('GIVEN "region" WHEN a new bucket name is confirmed THEN it is created and written in that region; without it, in this function\'s region', async () => {
    seedReplica();
    const there = await handleEvent({ action: 'promote', to: 'meatlizard-backup-promoted-new', region: 'us-east-2', confirm: true }, context(PROMOTE_ENV));
    const here = await handleEvent({ action: 'promote', to: 'meatlizard-backup-promoted-here', confirm: true }, context(PROMOTE_ENV));
    expect(there).toMatchObject({ ok: true, region: 'us-east-2', created: true });
    expect(here).toMatchObject({ ok: true, region: REPLICA_REGION, created: true });
    expect(s3Mock.commandCalls(CreateBucketCommand).map((c) => c.args[0].input.CreateBucketConfiguration?.LocationConstraint)).toEqual(['us-east-2', REPLICA_REGION]);
    expect(await regionsByBucket()).toMatchObject({ 'meatlizard-backup-promoted-new': ['us-east-2'], 'meatlizard-backup-promoted-here': [REPLICA_REGION] });
  });
});

describe('promote: bad input starts nothing', () => {
  test.each([
    [{ action: 'promote', from: 'some-other-bucket' }, `"from" must be the replica bucket ${REPLICA}, the only bucket this function may read; nothing was started`],
    [{ action: 'promote', to: REPLICA }, `"to" must be ${PRIMARY} or meatlizard-backup-promoted-*: the only buckets this function and its Batch role may create and write; nothing was started`],
    // CloudFormation names the access-log buckets after the stacks: <name>-primary-…, which <name>-* would match
    [{ action: 'promote', to: 'meatlizard-backup-primary-accesslogs-1a2b3c4d5e6f' }, '"to" must be'],
    [{ action: 'promote', from: 'Not_A_Bucket' }, 'invalid promote event: from: not a valid S3 bucket name'],
    [{ action: 'promote', to: 'x' }, 'invalid promote event: to: not a valid S3 bucket name'],
    [{ action: 'promote', engine: 'fast' }, 'invalid promote event: engine:'],
    [{ action: 'promote', confirm: 'yes' }, 'invalid promote event: confirm: confirm must be exactly true'],
    [{ action: 'promote', confirm: false }, 'invalid promote event: confirm: confirm must be exactly true'],
    [{ action: 'promote', region: 'Frankfurt' }, 'invalid promote event: region: not an AWS region name such as eu-west-1'],
    [{ action: 'promote', bucket: PRIMARY }, 'invalid promote event: bucket: not a field of the promote action'],
  ])('GIVEN %j WHEN handled THEN it answers %j and calls nothing', async (event, message) => {
    seedReplica();
    const result = await handleEvent(event, context(PROMOTE_ENV));
    expect(result).toEqual({ ok: false, ...((event as { action?: string }).action && !message.startsWith('invalid') ? { action: 'promote' } : {}), error: expect.stringContaining(message) });
    expect(s3Mock.calls()).toHaveLength(0);
    expect(controlMock.calls()).toHaveLength(0);
  });

  test('GIVEN the primary region ops function (no Batch role) WHEN asked to promote, even confirmed, THEN it names the promotion function and calls nothing', async () => {
    const result = await handleEvent({ action: 'promote', confirm: true }, context(PRIMARY_ENV, PRIMARY_REGION));
    expect(result).toEqual({
      ok: false,
      action: 'promote',
      error:
        `promote runs from the promotion function in the replica region (${REPLICA_REGION}), which keeps working while this region is down: ` +
        `invoke function ${PROMOTE_FUNCTION} in ${REPLICA_REGION} with this same event; nothing was started`,
    });
    expect(s3Mock.calls()).toHaveLength(0);
  });
});

describe('replication-check', () => {
  const KEY = 'backups/meatdb-2025-09-17T03:00:00.sql.gz';
  const DUMP = Buffer.from('gzip bytes of the dump');

  function seedBackup(options: { inReplica: boolean; status: string }): void {
    const manifest: Manifest = {
      format: 'meatbackup/manifest@1',
      key: KEY,
      database: 'meatdb',
      takenAt: '2025-09-17T03:00:00.000Z',
      completedAt: '2025-09-17T03:00:04.000Z',
      sizeBytes: DUMP.length,
      sha256: createHash('sha256').update(DUMP).digest('hex'),
      sqlBytes: 1000,
      serverVersion: '15.8',
      pgDumpVersion: '15.8',
      compression: { format: 'gzip', level: 1, memberBytes: 1048576 },
      durationSeconds: 4,
    };
    put(PRIMARY, KEY, DUMP, { replicationStatus: options.status });
    put(PRIMARY, sidecarKey(KEY, 'manifest'), JSON.stringify(manifest), { replicationStatus: options.status });
    buckets.set(REPLICA, buckets.get(REPLICA) ?? new Map());
    if (options.inReplica) {
      put(REPLICA, KEY, DUMP, { replicationStatus: 'REPLICA' });
      put(REPLICA, sidecarKey(KEY, 'manifest'), JSON.stringify(manifest), { replicationStatus: 'REPLICA' });
    }
  }

  test('GIVEN the newest backup replicated WHEN the promotion function checks THEN it is ok, reading the primary across regions', async () => {
    // GIVEN
    seedBackup({ inReplica: true, status: 'COMPLETED' });
    // WHEN
    const result = await handleEvent({ action: 'replication-check' }, context(PROMOTE_ENV));
    // THEN
    expect(result).toEqual({
      ok: true,
      action: 'replication-check',
      replicated: true,
      verdict: 'ok',
      message: 'the newest backup is in the replica with the same size and sha256',
      key: KEY,
      ageSeconds: 32396,
      primary: { bucket: PRIMARY, sizeBytes: DUMP.length, sha256: createHash('sha256').update(DUMP).digest('hex'), replicationStatus: 'COMPLETED' },
      replica: { bucket: REPLICA, exists: true, sizeBytes: DUMP.length, sha256: createHash('sha256').update(DUMP).digest('hex'), manifest: true },
    });
    // the primary is read by a client of its region, which would also follow S3 to another region
    const primaryClients = s3Mock.calls().filter((c) => (c.args[0].input as { Bucket: string }).Bucket === PRIMARY).map((c) => c.thisValue as S3Client);
    expect(primaryClients.every((c) => c.config.followRegionRedirects === true)).toBe(true);
    expect(s3Calls().filter((name) => !READS.has(name))).toEqual([]);
  });

  test('GIVEN a backup older than 15 minutes that never arrived WHEN the primary ops function checks THEN it reports missing, reading the replica in its region', async () => {
    // GIVEN
    seedBackup({ inReplica: false, status: 'PENDING' });
    // WHEN
    const result = (await handleEvent({ action: 'replication-check' }, context(PRIMARY_ENV, PRIMARY_REGION))) as Extract<OpsResult, { ok: true }>;
    // THEN
    expect(result).toMatchObject({
      ok: true,
      replicated: false,
      verdict: 'missing',
      message: 'the newest backup is not in the replica 540 min after it was taken (status PENDING)',
      replica: { bucket: REPLICA, exists: false, manifest: false },
    });
    expect(await regionsByBucket()).toEqual({ [PRIMARY]: [PRIMARY_REGION], [REPLICA]: [REPLICA_REGION] });
  });

  test('GIVEN no replica bucket WHEN checked THEN the answer says so', async () => {
    const result = await handleEvent({ action: 'replication-check' }, context(PROMOTE_ENV));
    expect(result).toEqual({ ok: false, action: 'replication-check', error: expect.stringContaining(`the replica bucket ${REPLICA} does not exist`) });
  });

  test('GIVEN an extra field WHEN checked THEN it is refused and nothing is read', async () => {
    const result = await handleEvent({ action: 'replication-check', bucket: PRIMARY }, context(PROMOTE_ENV));
    expect(result).toEqual({ ok: false, error: 'invalid replication-check event: bucket: not a field of the replication-check action' });
    expect(s3Mock.calls()).toHaveLength(0);
  });
});
