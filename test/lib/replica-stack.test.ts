import { Match, type Template } from 'aws-cdk-lib/assertions';
import { maskHashes } from '../support/mask-hashes';
import { logicalIdOf, type SynthesizedTemplates, synthesize } from './fixture';

expect.addSnapshotSerializer(maskHashes);

const REPLICA_BUCKET = 'meatlizard-backup-replica-123456789012-eu-central-1';

describe('ReplicaStack', () => {
  // GIVEN the test configuration (account 123456789012, replica in eu-central-1), synthesized once for the file
  let synthesized: SynthesizedTemplates;
  let template: Template;
  let bucketId: string;
  beforeAll(() => {
    synthesized = synthesize();
    template = synthesized.replica;
    bucketId = logicalIdOf(template, 'AWS::S3::Bucket', { BucketName: REPLICA_BUCKET });
  });

  test('THEN the stack is pinned to the replica region and protected from deletion', () => {
    const { app } = synthesized;
    expect(app.stacks.replica.region).toBe('eu-central-1');
    expect(app.stacks.replica.terminationProtection).toBe(true);
  });

  test('THEN the replica bucket has the deterministic name the primary stack replicates to', () => {
    template.hasResourceProperties('AWS::S3::Bucket', { BucketName: REPLICA_BUCKET });
  });

  test('THEN the replica bucket is versioned, encrypted and blocks all public access', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketName: REPLICA_BUCKET,
      VersioningConfiguration: { Status: 'Enabled' },
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
    });
  });

  test('THEN the replica bucket is retained when the stack is deleted', () => {
    template.hasResource('AWS::S3::Bucket', {
      Properties: Match.objectLike({ BucketName: REPLICA_BUCKET }),
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
  });

  test('THEN noncurrent versions expire, and backups/ expire as in the primary (lifecycle deletes are not replicated)', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketName: REPLICA_BUCKET,
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({ Id: 'abort-incomplete-multipart-uploads', AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 } }),
          Match.objectLike({ Id: 'backups-tiering-and-expiry', Prefix: 'backups/', ExpirationInDays: 90 }),
          Match.objectLike({ Id: 'noncurrent-versions-expiry', NoncurrentVersionExpiration: { NoncurrentDays: 30 }, Status: 'Enabled' }),
        ]),
      },
    });
  });

  test('THEN the bucket policy denies every request without TLS 1.2', () => {
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: bucketId },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Action: 's3:*', Principal: { AWS: '*' }, Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          Match.objectLike({ Effect: 'Deny', Action: 's3:*', Condition: { NumericLessThan: { 's3:TlsVersion': 1.2 } } }),
        ]),
      },
    });
  });

  test('THEN server access logs go to a sibling bucket', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketName: REPLICA_BUCKET,
      LoggingConfiguration: { DestinationBucketName: { Ref: Match.stringLikeRegexp('^ReplicaBucketAccessLogs') }, LogFilePrefix: 'access-logs/' },
    });
  });

  test('THEN it has no replication configuration of its own', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketName: REPLICA_BUCKET,
      ReplicationConfiguration: Match.absent(),
    });
  });

  test('THEN it outputs the replica bucket name', () => {
    template.hasOutput('ReplicaBucketName', { Value: { Ref: bucketId } });
  });

  test('THEN the template matches the snapshot (asset hashes masked)', () => {
    expect(template.toJSON()).toMatchSnapshot();
  });
});
