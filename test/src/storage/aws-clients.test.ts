/**
 * Every AWS client comes from one factory: one retry budget per request (the SDK's), connection and request
 * timeouts, region redirects followed.
 */
import { once } from 'node:events';
import { type Server, type Socket, createServer } from 'node:net';
import { CreateBucketCommand, HeadObjectCommand, PutBucketVersioningCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { type LocalS3, startLocalS3 } from '../../../src/local/s3-emulator';
import { runPromotion } from '../../../src/promote/promote';
import { createEcsClient } from '../../../src/storage/ecs-client';
import { AWS_CLIENT_DEFAULTS, createS3Client, describeS3Error } from '../../../src/storage/s3';

describe('the AWS clients', () => {
  test('GIVEN no options WHEN the clients are made THEN they share the retry budget and S3 follows region redirects', async () => {
    const s3 = createS3Client({ region: 'eu-west-1' });
    const ecs = createEcsClient({ region: 'eu-west-1' });
    expect(await s3.config.maxAttempts()).toBe(AWS_CLIENT_DEFAULTS.maxAttempts);
    expect(await ecs.config.maxAttempts()).toBe(AWS_CLIENT_DEFAULTS.maxAttempts);
    expect(s3.config.followRegionRedirects).toBe(true);
    expect(await createS3Client({ region: 'ap-southeast-2' }).config.region()).toBe('ap-southeast-2');
    s3.destroy();
    ecs.destroy();
  });

  describe('an endpoint that accepts connections and never answers', () => {
    let server: Server;
    const sockets: Socket[] = [];
    beforeAll(async () => {
      server = createServer((socket) => void sockets.push(socket));
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
    });
    afterAll(async () => {
      for (const s of sockets) s.destroy();
      server.close();
    });

    test('GIVEN a frozen S3 endpoint WHEN a request is sent THEN it fails with "S3 did not answer" instead of waiting for ever', async () => {
      const { port } = server.address() as { port: number };
      const s3 = createS3Client({
        endpoint: `http://127.0.0.1:${port}`,
        region: 'us-east-1',
        credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
        requestTimeoutMs: 300,
        maxAttempts: 2,
      });
      const err = await s3.send(new HeadObjectCommand({ Bucket: 'meat', Key: 'backups/x.sql.gz' })).catch((e: unknown) => e);
      s3.destroy();
      expect((err as Error).name).toBe('TimeoutError');
      expect(describeS3Error(err, 'look up backups/x.sql.gz in bucket meat', 'meat').message).toMatch(
        /^could not look up backups\/x\.sql\.gz in bucket meat: S3 did not answer.*: check the network/,
      );
      // Both attempts reached the endpoint: a timeout is retried like any dropped connection, within the one budget.
      expect(sockets.length).toBe(2);
    });
  });

  describe('one retry budget per object', () => {
    let emulator: LocalS3;
    let client: S3Client;
    let copyAttempts = 0;
    beforeAll(async () => {
      emulator = await startLocalS3();
      client = emulator.client();
      await client.send(new CreateBucketCommand({ Bucket: 'meat-replica' }));
      // Versioned, as a replica is (promote refuses one without versioning).
      await client.send(new PutBucketVersioningCommand({ Bucket: 'meat-replica', VersioningConfiguration: { Status: 'Enabled' } }));
      await client.send(new PutObjectCommand({ Bucket: 'meat-replica', Key: 'transcripts/room-1.json', Body: '{"messages":[]}' }));
      // Below the SDK's retry step, so every attempt passes here: S3 sheds load on every copy.
      client.middlewareStack.add(
        (next, context) => async (args) => {
          if (context.commandName === 'CopyObjectCommand') {
            copyAttempts += 1;
            throw Object.assign(new Error('Please reduce your request rate.'), { name: 'SlowDown', $metadata: { httpStatusCode: 503 } });
          }
          return next(args);
        },
        { step: 'deserialize', name: 'slowDownEveryCopy' },
      );
    }, 120_000);
    afterAll(async () => {
      await emulator?.stop();
    });

    test('GIVEN S3 answers SlowDown to every copy WHEN the replica is promoted THEN each object is tried once per SDK attempt, not again above it, and the run says to resume', async () => {
      const error = await runPromotion({ from: 'meat-replica', to: 'meat-promoted', clients: { source: client, target: client }, tlsOnlyPolicy: false }).catch((e: unknown) => e);
      expect((error as Error).message).toMatch(/^1 object\(s\) could not be copied, first "transcripts\/room-1\.json": SlowDown \(HTTP 503\): .*run the same command again to resume$/);
      expect(copyAttempts).toBe(AWS_CLIENT_DEFAULTS.maxAttempts);
    });
  });
});
