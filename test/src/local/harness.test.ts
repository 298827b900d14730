import { CreateBucketCommand, ListBucketsCommand } from '@aws-sdk/client-s3';
import { type LocalCluster, startLocalCluster } from '../../../src/local/postgres-cluster';
import { type LocalS3, startLocalS3 } from '../../../src/local/s3-emulator';

describe('the local harness the demo and the integration tests stand on', () => {
  let pg: LocalCluster;
  let s3: LocalS3;
  beforeAll(async () => {
    [pg, s3] = await Promise.all([startLocalCluster(), startLocalS3()]);
  });
  afterAll(async () => {
    await Promise.all([pg?.stop(), s3?.stop()]);
  });

  test('GIVEN a throwaway cluster WHEN I query it THEN it answers as PostgreSQL on loopback', async () => {
    const rows = await pg.query<{ v: string }>("select current_setting('server_version_num') as v");
    expect(Number(rows[0].v)).toBeGreaterThanOrEqual(130000);
    expect(pg.url()).toMatch(/^postgresql:\/\/postgres@127\.0\.0\.1:\d+\/postgres$/);
  });

  test('GIVEN the emulator WHEN I create a bucket THEN it is listed', async () => {
    const client = s3.client();
    await client.send(new CreateBucketCommand({ Bucket: 'harness-check' }));
    const { Buckets } = await client.send(new ListBucketsCommand({}));
    expect(Buckets?.map((b) => b.Name)).toContain('harness-check');
  });
});
