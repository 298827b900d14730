/**
 * Promotion across regions on moto, under S3's region rules (test/support/aws-rules.ts): the replica lives in the
 * replica region, the primary name is created again in the primary region, each bucket is addressed by a client of
 * its region, and a client sent to the wrong region follows S3's redirect. Objects carry SSE-KMS ETags.
 */
import { HeadBucketCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { ENV } from '../../../src/contract';
import { type LocalS3, startLocalS3 } from '../../../src/local/s3-emulator';
import { promoteWithin } from '../../../src/ops/promote';
import { listCurrentObjects } from '../../../src/promote/listing';
import { regionalClients } from '../../../src/promote/regional-clients';
import { createS3Client } from '../../../src/storage/s3';
import { kmsEtags, regionRules } from '../../support/aws-rules';
import { makeReplica } from './fixtures';
import { readSettings } from '../../../src/settings';

const PRIMARY_REGION = 'us-east-1';
const REPLICA_REGION = 'eu-west-1';
const ENV_OF_FUNCTION = {
  [ENV.bucket]: 'meat-primary',
  [ENV.replicaBucket]: 'meat-replica',
  [ENV.replicaRegion]: REPLICA_REGION,
  [ENV.primaryRegion]: PRIMARY_REGION,
  [ENV.batchOperationsRole]: 'arn:aws:iam::123456789012:role/batch',
  [ENV.accountId]: '123456789012',
};

describe('promote across regions', () => {
  let s3: LocalS3;
  let lookup: S3Client;
  let saved: NodeJS.ProcessEnv;
  let carried: string[];
  /** The storage layer's own clients (AWS_ENDPOINT_URL_S3 points them at moto), under S3's rules. */
  let clientOf: (region: string | undefined) => S3Client;

  beforeAll(async () => {
    s3 = await startLocalS3();
    saved = { ...process.env };
    Object.assign(process.env, s3.env);
    lookup = s3.client();
    clientOf = regionalClients((region) => regionRules(kmsEtags(createS3Client({ endpoint: s3.endpoint, ...(region ? { region } : {}) })), lookup));
    carried = await makeReplica(clientOf(REPLICA_REGION), 'meat-replica', { small: 40, region: REPLICA_REGION });
  }, 120_000);
  afterAll(async () => {
    process.env = saved;
    await s3?.stop();
  });

  const regionOf = async (bucket: string) => (await lookup.send(new HeadBucketCommand({ Bucket: bucket }))).BucketRegion;

  test('GIVEN the rules WHEN a client without redirects addresses a bucket of another region THEN S3 answers 301, and the storage layer\'s client follows it', async () => {
    const plain = regionRules(new S3Client({ endpoint: s3.endpoint, region: 'eu-central-1', forcePathStyle: true, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } }), lookup);
    await expect(plain.send(new ListObjectsV2Command({ Bucket: 'meat-replica', MaxKeys: 1 }))).rejects.toMatchObject({ $metadata: { httpStatusCode: 301 } });
    plain.destroy();
    const elsewhere = clientOf('eu-central-1');
    expect((await elsewhere.send(new ListObjectsV2Command({ Bucket: 'meat-replica', MaxKeys: 1 }))).KeyCount).toBe(1);
  });

  test('GIVEN the replica in the replica region WHEN the promotion function copies back under the original name THEN the bucket is made in the primary region, filled and verified; sent again, it has nothing left to do', async () => {
    // WHEN
    const first = await promoteWithin({ action: 'promote', confirm: true }, { settings: readSettings(ENV_OF_FUNCTION), s3ForRegion: clientOf });
    // THEN
    expect(first).toMatchObject({ ok: true, region: PRIMARY_REGION, created: true, copied: { objects: carried.length }, verification: { ok: true, objects: carried.length } });
    expect(await regionOf('meat-primary')).toBe(PRIMARY_REGION);
    expect(await regionOf('meat-replica')).toBe(REPLICA_REGION);
    expect((await listCurrentObjects(clientOf(PRIMARY_REGION), 'meat-primary')).map((o) => o.key).sort()).toEqual(carried);

    const again = await promoteWithin({ action: 'promote', confirm: true }, { settings: readSettings(ENV_OF_FUNCTION), s3ForRegion: clientOf });
    expect(again).toMatchObject({ ok: true, created: false, copied: { objects: 0 }, skipped: { objects: carried.length }, verification: { ok: true } });
  });

  test('GIVEN a new name and "region" WHEN promoted THEN the bucket is made in that region', async () => {
    const result = await promoteWithin({ action: 'promote', to: 'meat-promoted-ohio', region: 'us-east-2', confirm: true }, { settings: readSettings(ENV_OF_FUNCTION), s3ForRegion: clientOf });
    expect(result).toMatchObject({ ok: true, region: 'us-east-2', created: true, verification: { ok: true, objects: carried.length } });
    expect(await regionOf('meat-promoted-ohio')).toBe('us-east-2');
  });
});
