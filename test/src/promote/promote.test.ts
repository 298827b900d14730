/**
 * Promotion on moto S3: 1,000+ objects, versions, odd keys, headers/metadata/tags, parts, resume, refusals. Every
 * client gives objects SSE-KMS ETags, as AWS does under the stacks' default encryption (test/support/aws-rules.ts):
 * no proof may rest on a copy's ETag equalling its source's. Each test promotes into its own target; the replica is
 * made once and only read.
 */
import {
  CopyObjectCommand,
  CreateBucketCommand,
  GetBucketEncryptionCommand,
  GetBucketVersioningCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  GetPublicAccessBlockCommand,
  HeadObjectCommand,
  ListObjectVersionsCommand,
  type ObjectVersion,
  PutBucketVersioningCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { type LocalS3, startLocalS3 } from '../../../src/local/s3-emulator';
import { kmsEtags } from '../../support/aws-rules';
import { writeBackupFixture } from '../../support/backup-fixture';
import { verifyBackup } from '../../../src/backup/verify';
import { createLogger } from '../../../src/core/log';
import { type CopyOutcome, copySource } from '../../../src/promote/copy-object';
import { SOURCE_ETAG_METADATA, SOURCE_VERSION_METADATA } from '../../../src/promote/identity';
import { listCurrentObjects } from '../../../src/promote/listing';
import { type PromotionOptions, type PromotionResult, planPromotion, runPromotion } from '../../../src/promote/promote';
import { hardenBucket } from '../../../src/promote/target-bucket';
import { UserError } from '../../../src/core/errors';
import { BIG_KEY, DELETED_KEY, HEADERS, HEADERS_KEY, MiB, ODD_KEYS, PARTS_SOURCE_KEY, TAGS, VERSIONED_KEY, makeReplica } from './fixtures';
import { installedDecompressor } from '../../support/compressors';

const REPLICA = 'meat-replica';

// A promotion of 1,000+ objects makes two requests per object (HeadObject, CopyObject) and then proves every one; on
// a shared 2-core machine running other suites this outlasts the default two minutes. Nothing here measures speed.
jest.setTimeout(300_000);
const SMALL = 1000;

describe('promote: copy the replica into a new bucket, verified and resumable', () => {
  let s3: LocalS3;
  let client: S3Client;
  let carried: string[];
  const base = (to: string, extra: Partial<PromotionOptions> = {}): PromotionOptions => ({
    from: REPLICA,
    to,
    clients: { source: client, target: client },
    // moto speaks plain http: a TLS-only policy would deny this very process (tested on its own below).
    tlsOnlyPolicy: false,
    // 5 GiB in production; lowered so a 12 MiB object is copied in 5 MiB parts.
    tuning: { multipartThreshold: 8 * MiB, partSize: 5 * MiB },
    concurrency: 16,
    ...extra,
  });

  beforeAll(async () => {
    s3 = await startLocalS3();
    client = kmsEtags(s3.client());
    carried = await makeReplica(client, REPLICA, { small: SMALL });
  }, 120_000);
  afterAll(async () => {
    await s3?.stop();
  });

  async function allVersions(bucket: string): Promise<ObjectVersion[]> {
    const versions: ObjectVersion[] = [];
    let KeyMarker: string | undefined;
    let VersionIdMarker: string | undefined;
    for (;;) {
      const page = await client.send(new ListObjectVersionsCommand({ Bucket: bucket, KeyMarker, VersionIdMarker }));
      versions.push(...(page.Versions ?? []));
      if (!page.IsTruncated) return versions;
      KeyMarker = page.NextKeyMarker;
      VersionIdMarker = page.NextVersionIdMarker;
    }
  }

  /** The promotion into meat-promoted, run by whichever test needs it first. */
  let promotedRun: Promise<{ result: PromotionResult; outcomes: Map<string, CopyOutcome> }> | undefined;
  const promoted = () =>
    (promotedRun ??= (async () => {
      const outcomes = new Map<string, CopyOutcome>();
      const result = await runPromotion(base('meat-promoted', { onCopied: (o, outcome) => outcomes.set(o.key, outcome) }));
      return { result, outcomes };
    })());

  const text = async (bucket: string, key: string) => (await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToString();
  const tags = async (bucket: string, key: string) =>
    ((await client.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: key }))).TagSet ?? []).map((t) => `${t.Key}=${t.Value}`).sort();

  test('GIVEN a replica of 1,000+ objects WHEN I promote it into a new bucket THEN every current object is there once, identical, and the listings verify', async () => {
    const { result } = await promoted();

    expect(result.ok).toBe(true);
    expect(result.created).toBe(true);
    expect(result.plan.source.objects).toBe(carried.length);
    expect(carried.length).toBeGreaterThan(SMALL);
    expect(result.copied.objects).toBe(carried.length);
    expect(result.skipped.objects).toBe(0);
    expect(result.verification).toMatchObject({ ok: true, objects: carried.length, missing: [], different: [], extra: [] });
    // SSE-KMS ETags never match across buckets: every object is proven by the record written with its copy.
    expect(result.verification?.proofs).toEqual({ record: carried.length, checksum: 0, etag: 0 });
    expect(result.copied).toMatchObject({ single: carried.length - 1, multipart: 1 });

    const target = await listCurrentObjects(client, 'meat-promoted');
    expect(target.map((o) => o.key).sort()).toEqual(carried);
    // Each key written once: one version per key in the (versioned) target.
    expect((await allVersions('meat-promoted')).length).toBe(carried.length);
  });

  test('GIVEN a key with three versions and a deleted key WHEN promoted THEN only the latest version is carried and the deleted key is not', async () => {
    await promoted();
    expect(JSON.parse(await text('meat-promoted', VERSIONED_KEY))).toEqual({ version: 3 });
    const versions = (await allVersions('meat-promoted')).filter((v) => v.Key === VERSIONED_KEY);
    expect(versions).toHaveLength(1);
    await expect(client.send(new HeadObjectCommand({ Bucket: 'meat-promoted', Key: DELETED_KEY }))).rejects.toMatchObject({ name: 'NotFound' });
  });

  test('GIVEN keys with spaces, plus signs, unicode and percent signs WHEN promoted THEN each is copied under the same key with the same bytes', async () => {
    await promoted();
    for (const key of ODD_KEYS) expect(await text('meat-promoted', key)).toBe(`odd ${key}`);
  });

  test('GIVEN an object with content headers, user metadata and tags WHEN promoted THEN all of them are kept', async () => {
    await promoted();
    const head = await client.send(new HeadObjectCommand({ Bucket: 'meat-promoted', Key: HEADERS_KEY }));
    expect(head).toMatchObject({
      ContentType: HEADERS.ContentType,
      CacheControl: HEADERS.CacheControl,
      ContentDisposition: HEADERS.ContentDisposition,
      ContentEncoding: HEADERS.ContentEncoding,
      ContentLanguage: HEADERS.ContentLanguage,
      Metadata: { ...HEADERS.Metadata, [SOURCE_ETAG_METADATA]: expect.any(String), [SOURCE_VERSION_METADATA]: expect.any(String) },
    });
    expect(head.Expires?.toISOString()).toBe(HEADERS.Expires.toISOString());
    expect(await tags('meat-promoted', HEADERS_KEY)).toEqual(TAGS.replace('%20', ' ').split('&').sort());
  });

  test('GIVEN a multi-megabyte object over the (lowered) threshold WHEN promoted THEN it is copied in parts with its headers, metadata and tags', async () => {
    await promoted();
    const source = await client.send(new HeadObjectCommand({ Bucket: REPLICA, Key: BIG_KEY }));
    const copy = await client.send(new HeadObjectCommand({ Bucket: 'meat-promoted', Key: BIG_KEY }));
    expect(copy.ETag).toMatch(/-3"$/); // 12 MiB in 5 MiB parts
    expect(copy.ContentLength).toBe(12 * MiB);
    expect(copy).toMatchObject({ ContentType: 'application/octet-stream', CacheControl: 'no-cache' });
    expect(copy.Metadata).toEqual({ big: 'yes', [SOURCE_ETAG_METADATA]: source.ETag!.replace(/"/g, ''), [SOURCE_VERSION_METADATA]: source.VersionId });
    expect(await tags('meat-promoted', BIG_KEY)).toEqual(['size=big']);
    const [a, b] = await Promise.all(
      [REPLICA, 'meat-promoted'].map(async (bucket) => Buffer.from(await (await client.send(new GetObjectCommand({ Bucket: bucket, Key: BIG_KEY }))).Body!.transformToByteArray())),
    );
    expect(b.equals(a)).toBe(true);
  });

  test('GIVEN an object uploaded in parts (a backup) WHEN promoted in one copy THEN it keeps its metadata plus the source-ETag record resumption relies on', async () => {
    await promoted();
    const source = await client.send(new HeadObjectCommand({ Bucket: REPLICA, Key: PARTS_SOURCE_KEY }));
    const copy = await client.send(new HeadObjectCommand({ Bucket: 'meat-promoted', Key: PARTS_SOURCE_KEY }));
    expect(source.ETag).toMatch(/-2"$/);
    expect(copy.ContentType).toBe('application/gzip');
    expect(copy.Metadata).toEqual({ 'meatbackup-database': 'meatdb', [SOURCE_ETAG_METADATA]: source.ETag!.replace(/"/g, ''), [SOURCE_VERSION_METADATA]: source.VersionId });
    expect(await tags('meat-promoted', PARTS_SOURCE_KEY)).toEqual(['kind=backup']);
  });

  test('GIVEN a new target WHEN promoted THEN it is versioned, blocks public access and encrypts by default', async () => {
    await promoted();
    expect((await client.send(new GetBucketVersioningCommand({ Bucket: 'meat-promoted' }))).Status).toBe('Enabled');
    expect((await client.send(new GetPublicAccessBlockCommand({ Bucket: 'meat-promoted' }))).PublicAccessBlockConfiguration).toEqual({
      BlockPublicAcls: true,
      IgnorePublicAcls: true,
      BlockPublicPolicy: true,
      RestrictPublicBuckets: true,
    });
    const enc = await client.send(new GetBucketEncryptionCommand({ Bucket: 'meat-promoted' }));
    expect(enc.ServerSideEncryptionConfiguration?.Rules?.[0].ApplyServerSideEncryptionByDefault?.SSEAlgorithm).toBe('AES256');
  });

  test('GIVEN a promotion interrupted after 100 copies WHEN I run it again (SSE-KMS: no copy has its source ETag) THEN it skips what arrived, copies the rest, and every object is written exactly once', async () => {
    // GIVEN a replica of its own (300 objects and the special ones), so this test needs no other
    const replica = 'meat-replica-resume';
    const keys = await makeReplica(client, replica, { small: 300 });
    const resumeBase = (extra: Partial<PromotionOptions> = {}) => ({ ...base('meat-resumed', extra), from: replica });
    const firstRun: string[] = [];
    const stop = new AbortController();
    await expect(
      runPromotion(
        resumeBase({
          signal: stop.signal,
          onCopied: (o) => {
            firstRun.push(o.key);
            if (firstRun.length === 100) stop.abort(new Error('operator pressed Ctrl-C'));
          },
        }),
      ),
    ).rejects.toThrow('operator pressed Ctrl-C');
    // Nothing after the abort starts. Copies under way are cut off (a stopped run must end within seconds even when S3
    // does not answer), though S3 may still have written some of them: each carries its record, so the next run
    // proves and skips it.
    expect(firstRun.length).toBeGreaterThanOrEqual(100);
    expect(firstRun.length).toBeLessThan(100 + 16 + 1);
    const afterFirst = await listCurrentObjects(client, 'meat-resumed');
    expect(afterFirst.length).toBeGreaterThanOrEqual(firstRun.length);

    const prepared = await planPromotion(resumeBase());
    const arrived = prepared.skipped.length;
    expect(arrived).toBeGreaterThanOrEqual(afterFirst.length);
    expect(arrived).toBeLessThan(100 + 16 + 1);
    expect(prepared.plan).toMatchObject({ targetExists: true, alreadyCopied: { objects: arrived }, toCopy: { objects: keys.length - arrived }, conflicts: { count: 0 } });

    const secondRun: string[] = [];
    const result = await runPromotion(resumeBase({ onCopied: (o) => secondRun.push(o.key) }), prepared);
    expect(result.created).toBe(false);
    expect(result.skipped.objects).toBe(arrived);
    expect(result.copied.objects).toBe(keys.length - arrived);
    expect(result.verification?.ok).toBe(true);
    expect([...prepared.skipped.map((o) => o.key), ...secondRun].sort()).toEqual(keys);
    expect((await allVersions('meat-resumed')).length).toBe(keys.length);

    // A third run has nothing left to do, including the multipart and recorded copies.
    const third = await runPromotion(resumeBase());
    expect(third).toMatchObject({ copied: { objects: 0 }, skipped: { objects: keys.length }, ok: true });
    expect(third.verification?.proofs).toEqual({ record: keys.length, checksum: 0, etag: 0 });
  }, 300_000);

  test('GIVEN a target a Batch Operations job filled (plain copies, no record) WHEN the copy engine runs THEN it proves them by S3 checksum, copies again what nothing proves, and verifies every object', async () => {
    // GIVEN a replica with one object uploaded without any checksum (as objects written before S3 added default
    // checksums are), and a target where a Batch job copied every object it may (PutObjectCopy: MetadataDirective
    // COPY, no record; the big one is left to the caller, as the job's size filter does)
    const replica = 'meat-replica-batch';
    const keys = await makeReplica(client, replica, { small: 20 });
    const legacy = kmsEtags(
      new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' }, requestChecksumCalculation: 'WHEN_REQUIRED' }),
    );
    await legacy.send(new PutObjectCommand({ Bucket: replica, Key: 'legacy/before-checksums.txt', Body: 'written in 2019' }));
    legacy.destroy();
    const all = [...keys, 'legacy/before-checksums.txt'].sort();
    await client.send(new CreateBucketCommand({ Bucket: 'meat-batch-copied' }));
    const batchCopied = (await listCurrentObjects(client, replica)).filter((o) => o.key !== BIG_KEY);
    for (const o of batchCopied) {
      await client.send(new CopyObjectCommand({ Bucket: 'meat-batch-copied', Key: o.key, CopySource: copySource(replica, o.key), MetadataDirective: 'COPY', TaggingDirective: 'COPY' }));
    }

    // WHEN the documented next step runs: the copy engine on the same target
    const prepared = await planPromotion({ ...base('meat-batch-copied'), from: replica });
    const copiedNow: string[] = [];
    const result = await runPromotion({ ...base('meat-batch-copied'), from: replica, onCopied: (o) => copiedNow.push(o.key) }, prepared);

    // THEN no refusal: the Batch copies with S3's checksum are proven and skipped; the ones without (the legacy
    // object, and the backup uploaded in parts with no checksum algorithm) are copied again, with their record
    const unproven = [PARTS_SOURCE_KEY, 'legacy/before-checksums.txt'];
    expect(prepared.plan).toMatchObject({ conflicts: { count: 0 }, alreadyCopied: { objects: batchCopied.length - 2 }, recopy: { objects: 2 }, toCopy: { objects: 3 } });
    expect(copiedNow.sort()).toEqual([BIG_KEY, ...unproven].sort());
    expect(result.verification).toMatchObject({ ok: true, objects: all.length, missing: [], different: [], extra: [] });
    expect(result.verification?.proofs).toEqual({ checksum: batchCopied.length - 2, record: 3, etag: 0 });
    expect((await listCurrentObjects(client, 'meat-batch-copied')).map((o) => o.key).sort()).toEqual(all);
  });

  test('GIVEN a backup promoted into a new bucket WHEN verified there THEN it passes and names the version it is a copy of, calmly', async () => {
    // GIVEN a replica holding a backup and its manifest (the manifest names the version the backup run wrote)
    const replica = 'meat-replica-backup';
    await client.send(new CreateBucketCommand({ Bucket: replica }));
    await client.send(new PutBucketVersioningCommand({ Bucket: replica, VersioningConfiguration: { Status: 'Enabled' } }));
    const backup = await writeBackupFixture(client, replica, { sql: 'select 1;\n-- PostgreSQL database dump complete\n', database: 'meatdb', takenAt: new Date('2025-09-17T10:30:00Z') });
    expect(backup.manifest.versionId).toBeDefined();
    await runPromotion({ ...base('meat-promoted-backup'), from: replica });

    // WHEN
    const lines: string[] = [];
    const logger = { ...createLogger({ quiet: true }), info: (message: string) => lines.push(message) };
    const result = await verifyBackup({ decompressor: installedDecompressor(), s3: client, bucket: 'meat-promoted-backup', key: backup.key, logger });

    // THEN
    expect(result.sha256).toBe(backup.manifest.sha256);
    expect(result.versionId).not.toBe(backup.manifest.versionId);
    expect(lines).toContain(`${backup.key} is a promoted copy of version ${backup.manifest.versionId}, the version its manifest names; checking its content against the manifest`);
  });

  test('GIVEN a target that holds other data WHEN I promote into it THEN it is refused, naming the keys, and nothing is written', async () => {
    await client.send(new CreateBucketCommand({ Bucket: 'someone-elses-data' }));
    await client.send(new PutObjectCommand({ Bucket: 'someone-elses-data', Key: 'invoices/2025.csv', Body: 'not ours' }));
    await client.send(new PutObjectCommand({ Bucket: 'someone-elses-data', Key: VERSIONED_KEY, Body: 'a different settings file' }));

    const prepared = await planPromotion(base('someone-elses-data'));
    expect(prepared.plan.conflicts.count).toBe(2);
    const error = await runPromotion(base('someone-elses-data'), prepared).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect((error as Error).message).toMatch(/bucket someone-elses-data is not empty .*"versions\/settings.json".*"invoices\/2025.csv".*pass --to with another name/);
    expect((error as Error).message).not.toContain('\n');

    expect((await listCurrentObjects(client, 'someone-elses-data')).map((o) => o.key).sort()).toEqual(['invoices/2025.csv', VERSIONED_KEY]);
    expect((await client.send(new GetBucketVersioningCommand({ Bucket: 'someone-elses-data' }))).Status).toBeUndefined();
  });

  test('GIVEN a replica that does not exist WHEN I promote THEN it is refused in one line and no bucket is created', async () => {
    const error = await runPromotion({ ...base('never-created'), from: 'no-such-replica' }).catch((e: unknown) => e);
    expect((error as Error).message).toBe('the replica bucket no-such-replica does not exist: check --from and the replica\'s region');
    await expect(client.send(new GetBucketVersioningCommand({ Bucket: 'never-created' }))).rejects.toMatchObject({ name: 'NoSuchBucket' });
  });

  test('GIVEN the TLS-only policy WHEN it is put on a bucket THEN S3 denies plain-http requests to it', async () => {
    await client.send(new CreateBucketCommand({ Bucket: 'tls-only' }));
    await client.send(new PutObjectCommand({ Bucket: 'tls-only', Key: 'k', Body: 'v' }));
    const hardening = await hardenBucket(client, 'tls-only', 'us-east-1');
    expect(hardening.tlsOnlyPolicy).toBe('set');
    // The emulator speaks http: from now on it refuses us, which proves the policy bites.
    await expect(client.send(new GetObjectCommand({ Bucket: 'tls-only', Key: 'k' }))).rejects.toMatchObject({ $metadata: { httpStatusCode: 403 } });
  });
});
