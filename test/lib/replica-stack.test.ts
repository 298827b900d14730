import { Match, type Template } from 'aws-cdk-lib/assertions';
import { ENV } from '../../src/contract';
import { EXAMPLE_CONFIG } from '../../lib/config';
import { PROMOTE_FUNCTION_NAME_ENV } from '../../lib/constructs/promote-function';
import { maskHashes } from '../support/mask-hashes';
import { TEST_CONFIG, logicalIdOf, type SynthesizedTemplates, synthesize } from './fixture';

expect.addSnapshotSerializer(maskHashes);

const REPLICA_BUCKET = 'meatlizard-backup-replica-123456789012-eu-central-1';
const PRIMARY_BUCKET = 'meatlizard-backup-123456789012-eu-west-1';
const PROMOTE_FUNCTION = 'meatlizard-backup-promote';

/** The one resource of `type` whose logical id starts with `prefix`. */
function idStartingWith(template: Template, type: string, prefix: string): string {
  const ids = Object.keys(template.findResources(type)).filter((id) => id.startsWith(prefix));
  if (ids.length !== 1) throw new Error(`expected one ${type} starting with ${prefix}, found ${ids.join(', ') || 'none'}`);
  return ids[0];
}

/** The statements of the one identity policy attached to `roleId`. */
function statementsOf(template: Template, roleId: string): Record<string, unknown>[] {
  const policies = Object.values(template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: roleId }] } }));
  expect(policies).toHaveLength(1);
  return policies[0].Properties.PolicyDocument.Statement as Record<string, unknown>[];
}

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

  test('THEN the replica bucket is versioned, locked (replication into it needs Object Lock), encrypted with its key and blocks all public access', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketName: REPLICA_BUCKET,
      VersioningConfiguration: { Status: 'Enabled' },
      ObjectLockEnabled: true,
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [
          { BucketKeyEnabled: true, ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: { 'Fn::GetAtt': [Match.stringLikeRegexp('^BackupKey'), 'Arn'] } } },
        ],
      },
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

  test('THEN noncurrent versions expire, and backups/ expire by retention class as in the primary (lifecycle deletes are not replicated)', () => {
    const rulesOf = (t: Template, name: string) =>
      Object.values(t.findResources('AWS::S3::Bucket', { Properties: { BucketName: name } }))[0].Properties.LifecycleConfiguration.Rules;
    expect(rulesOf(template, REPLICA_BUCKET)).toEqual(rulesOf(synthesized.primary, PRIMARY_BUCKET));
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketName: REPLICA_BUCKET,
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({ Id: 'abort-incomplete-multipart-uploads', AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 } }),
          Match.objectLike({ Id: 'backups-daily', Prefix: 'backups/', TagFilters: [{ Key: 'retention', Value: 'daily' }], ExpirationInDays: 14 }),
          Match.objectLike({ Id: 'backups-untagged', Prefix: 'backups/', ExpirationInDays: 365 }),
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

  describe('promotion function', () => {
    let functionId: string;
    let roleId: string;
    let batchRoleId: string;
    beforeAll(() => {
      functionId = logicalIdOf(template, 'AWS::Lambda::Function', { FunctionName: PROMOTE_FUNCTION });
      roleId = template.findResources('AWS::Lambda::Function')[functionId].Properties.Role['Fn::GetAtt'][0];
      batchRoleId = idStartingWith(template, 'AWS::IAM::Role', 'BatchOperationsRole');
    });

    test('THEN it runs the ops handler on Node.js 22 in the replica region, with a fixed name an operator can find', () => {
      template.hasResourceProperties('AWS::Lambda::Function', {
        FunctionName: PROMOTE_FUNCTION,
        Runtime: 'nodejs22.x',
        Handler: 'index.handler',
        Architectures: ['arm64'],
        LoggingConfig: { LogGroup: { Ref: Match.stringLikeRegexp('^PromoteLogs') } },
      });
      expect(synthesized.app.stacks.replica.promote.function.stack.region).toBe('eu-central-1');
    });

    test('THEN it may run for the Lambda maximum of 15 minutes with 1024 MB, and is never retried on its own', () => {
      template.hasResourceProperties('AWS::Lambda::Function', { FunctionName: PROMOTE_FUNCTION, Timeout: 900, MemorySize: 1024 });
      template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', { FunctionName: { Ref: functionId }, MaximumRetryAttempts: 0 });
    });

    test('THEN its environment (names from the contract) says: promote the replica, back under the primary name by default', () => {
      template.hasResourceProperties('AWS::Lambda::Function', {
        FunctionName: PROMOTE_FUNCTION,
        Environment: {
          Variables: Match.objectEquals({
            [ENV.bucket]: PRIMARY_BUCKET,
            [ENV.prefix]: 'backups/',
            [ENV.replicaBucket]: { Ref: bucketId },
            [ENV.replicaRegion]: 'eu-central-1',
            [ENV.primaryRegion]: 'eu-west-1',
            [ENV.batchOperationsRole]: { 'Fn::GetAtt': [batchRoleId, 'Arn'] },
            [ENV.accountId]: '123456789012',
            [ENV.promoteTargets]: `${PRIMARY_BUCKET},meatlizard-backup-promoted-*`,
            NODE_OPTIONS: '--enable-source-maps',
          }),
        },
      });
    });

    test('THEN it logs to its own log group, kept as configured, and its role has no managed policy', () => {
      template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 90 });
      expect(template.findResources('AWS::IAM::Role')[roleId].Properties.ManagedPolicyArns).toBeUndefined();
    });

    test('THEN its role may do exactly what promotion and replication-check call, and never write into the replica', () => {
      const replicaArn = { 'Fn::GetAtt': [bucketId, 'Arn'] };
      const replicaObjects = { 'Fn::Join': ['', [replicaArn, '/*']] };
      expect(statementsOf(template, roleId)).toEqual([
        { Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Effect: 'Allow', Resource: { 'Fn::GetAtt': [expect.stringMatching(/^PromoteLogs/), 'Arn'] } },
        // the replica: HeadBucket, listing, HeadObject/GetObject/copy source, tags
        { Sid: 'ListReplica', Action: 's3:ListBucket', Effect: 'Allow', Resource: replicaArn },
        { Sid: 'ReadReplica', Action: ['s3:GetObject', 's3:GetObjectTagging'], Effect: 'Allow', Resource: replicaObjects },
        // the primary (another region; IAM is global): backups/ only, for replication-check
        {
          Sid: 'ListPrimaryBackups',
          Action: 's3:ListBucket',
          Effect: 'Allow',
          Resource: `arn:aws:s3:::${PRIMARY_BUCKET}`,
          Condition: { StringLike: { 's3:prefix': ['backups/', 'backups/*'] } },
        },
        { Sid: 'ReadPrimaryBackups', Action: 's3:GetObject', Effect: 'Allow', Resource: `arn:aws:s3:::${PRIMARY_BUCKET}/backups/*` },
        // the target, named at recovery time: the original name, or a new one under <name>-promoted-* (never <name>-*,
        // which matches the replica and the access-log buckets CloudFormation names after the stacks)
        { Sid: 'CreateTarget', Action: ['s3:CreateBucket', 's3:PutBucketOwnershipControls'], Effect: 'Allow', Resource: [`arn:aws:s3:::${PRIMARY_BUCKET}`, 'arn:aws:s3:::meatlizard-backup-promoted-*'] },
        {
          Sid: 'HardenTarget',
          Action: [
            's3:GetBucketPolicy',
            's3:GetBucketVersioning',
            's3:GetEncryptionConfiguration',
            's3:ListBucket',
            's3:PutBucketPolicy',
            's3:PutBucketPublicAccessBlock',
            's3:PutBucketVersioning',
            's3:PutEncryptionConfiguration',
          ],
          Effect: 'Allow',
          Resource: [`arn:aws:s3:::${PRIMARY_BUCKET}`, 'arn:aws:s3:::meatlizard-backup-promoted-*'],
        },
        {
          Sid: 'CopyIntoTarget',
          Action: ['s3:AbortMultipartUpload', 's3:GetObject', 's3:PutObject', 's3:PutObjectTagging'],
          Effect: 'Allow',
          Resource: [`arn:aws:s3:::${PRIMARY_BUCKET}/*`, 'arn:aws:s3:::meatlizard-backup-promoted-*/*'],
          Condition: { StringEquals: { 's3:ResourceAccount': '123456789012' } },
        },
        // the distributed engine
        { Sid: 'CreateBatchJob', Action: 's3:CreateJob', Effect: 'Allow', Resource: '*' },
        { Sid: 'DescribeBatchJobs', Action: 's3:DescribeJob', Effect: 'Allow', Resource: 'arn:aws:s3:eu-central-1:123456789012:job/*' },
        {
          // CreateJob with Tags: only the one tag promotion sets
          Sid: 'TagBatchJobs',
          Action: 's3:PutJobTagging',
          Effect: 'Allow',
          Resource: 'arn:aws:s3:eu-central-1:123456789012:job/*',
          Condition: { StringEquals: { 'aws:RequestTag/meatbackup': 'promote' }, 'ForAllValues:StringEquals': { 'aws:TagKeys': ['meatbackup'] } },
        },
        {
          Sid: 'PassBatchRole',
          Action: 'iam:PassRole',
          Effect: 'Allow',
          Resource: { 'Fn::GetAtt': [batchRoleId, 'Arn'] },
          Condition: { StringEquals: { 'iam:PassedToService': 'batchoperations.s3.amazonaws.com' } },
        },
        {
          Sid: 'NeverWriteReplica',
          Action: [
            's3:AbortMultipartUpload',
            's3:PutBucketOwnershipControls',
            's3:PutBucketPolicy',
            's3:PutBucketPublicAccessBlock',
            's3:PutBucketVersioning',
            's3:PutEncryptionConfiguration',
            's3:PutObject',
            's3:PutObjectTagging',
          ],
          Effect: 'Deny',
          Resource: [replicaArn, replicaObjects],
        },
        // decrypt the replica (this region's key) and the primary's newest backup (the primary region's key, by alias):
        // conditions in test/lib/immutability.test.ts
        expect.objectContaining({ Sid: 'PromotionReadsReplica', Action: 'kms:Decrypt', Resource: { 'Fn::GetAtt': [expect.stringMatching(/^BackupKey/), 'Arn'] } }),
        expect.objectContaining({ Sid: 'PromotionReadsPrimaryWithKey', Action: 'kms:Decrypt', Resource: 'arn:aws:kms:eu-west-1:123456789012:key/*' }),
      ]);
    });

    test('THEN its role has the fixed name the primary key\'s policy names', () => {
      expect(template.findResources('AWS::IAM::Role')[roleId].Properties.RoleName).toBe('meatlizard-backup-promote-eu-central-1');
    });

    test('GIVEN encryption "s3" THEN it has no KMS permission', () => {
      const { replica } = synthesize({ ...TEST_CONFIG, encryption: 's3' });
      const id = Object.values(replica.findResources('AWS::Lambda::Function', { Properties: { FunctionName: PROMOTE_FUNCTION } }))[0].Properties.Role['Fn::GetAtt'][0];
      expect(JSON.stringify(statementsOf(replica, id))).not.toContain('kms:');
    });

    test('THEN it outputs the function name', () => {
      template.hasOutput('PromoteFunctionName', { Value: { Ref: functionId } });
    });
  });

  describe('S3 Batch Operations role', () => {
    let roleId: string;
    beforeAll(() => {
      roleId = idStartingWith(template, 'AWS::IAM::Role', 'BatchOperationsRole');
    });

    test('THEN only S3 Batch Operations may assume it', () => {
      const role = template.findResources('AWS::IAM::Role')[roleId];
      expect(role.Properties.AssumeRolePolicyDocument.Statement).toEqual([
        { Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'batchoperations.s3.amazonaws.com' } },
      ]);
      expect(role.Properties.ManagedPolicyArns).toBeUndefined();
    });

    test('THEN it may read (and list) the replica, write copies and the report into targets of this account, and never write the replica', () => {
      const replicaArn = { 'Fn::GetAtt': [bucketId, 'Arn'] };
      const replicaObjects = { 'Fn::Join': ['', [replicaArn, '/*']] };
      expect(statementsOf(template, roleId)).toEqual([
        { Sid: 'ListReplica', Action: ['s3:GetBucketLocation', 's3:ListBucket'], Effect: 'Allow', Resource: replicaArn },
        {
          Sid: 'ReadReplica',
          Action: ['s3:GetObject', 's3:GetObjectTagging', 's3:GetObjectVersion', 's3:GetObjectVersionTagging'],
          Effect: 'Allow',
          Resource: replicaObjects,
        },
        { Sid: 'LocateTarget', Action: 's3:GetBucketLocation', Effect: 'Allow', Resource: [`arn:aws:s3:::${PRIMARY_BUCKET}`, 'arn:aws:s3:::meatlizard-backup-promoted-*'] },
        {
          // the copies, and the failure report under meatbackup-promote/ in the same target
          Sid: 'WriteTarget',
          Action: ['s3:PutObject', 's3:PutObjectTagging'],
          Effect: 'Allow',
          Resource: [`arn:aws:s3:::${PRIMARY_BUCKET}/*`, 'arn:aws:s3:::meatlizard-backup-promoted-*/*'],
          Condition: { StringEquals: { 's3:ResourceAccount': '123456789012' } },
        },
        { Sid: 'NeverWriteReplica', Action: ['s3:PutObject', 's3:PutObjectTagging'], Effect: 'Deny', Resource: replicaObjects },
        // the copy source is KMS-encrypted with the replica key (the targets use SSE-S3)
        expect.objectContaining({ Sid: 'BatchCopyReadsReplica', Action: 'kms:Decrypt', Resource: { 'Fn::GetAtt': [expect.stringMatching(/^BackupKey/), 'Arn'] } }),
      ]);
    });

    test('THEN it outputs the role ARN', () => {
      template.hasOutput('BatchOperationsRoleArn', { Value: { 'Fn::GetAtt': [roleId, 'Arn'] } });
    });
  });

  describe("the primary region's ops function", () => {
    test('THEN it knows the promotion function by name, to point promote requests at it', () => {
      synthesized.primary.hasResourceProperties('AWS::Lambda::Function', {
        Runtime: 'nodejs22.x',
        Environment: { Variables: { [PROMOTE_FUNCTION_NAME_ENV]: PROMOTE_FUNCTION } },
      });
    });

    test('THEN it may read backups/ in the replica, for replication-check, in a policy of its own', () => {
      synthesized.primary.hasResourceProperties('AWS::IAM::Policy', {
        Roles: [{ Ref: Match.stringLikeRegexp('^OpsRole') }],
        PolicyDocument: {
          Statement: [
            { Sid: 'ListReplica', Action: 's3:ListBucket', Effect: 'Allow', Resource: `arn:aws:s3:::${REPLICA_BUCKET}` },
            { Sid: 'ReadReplicaBackups', Action: 's3:GetObject', Effect: 'Allow', Resource: `arn:aws:s3:::${REPLICA_BUCKET}/backups/*` },
          ],
        },
      });
    });
  });

  describe('GIVEN a configured primary bucket name outside the project prefix', () => {
    test('THEN promotion may also create and fill that name (copy back under the original name)', () => {
      // WHEN
      const { replica } = synthesize({ ...TEST_CONFIG, buckets: { primary: 'acme-meatdb-backups' } });
      // THEN
      const promoteRole = replica.findResources('AWS::Lambda::Function', { Properties: { FunctionName: PROMOTE_FUNCTION } });
      const roleId = Object.values(promoteRole)[0].Properties.Role['Fn::GetAtt'][0];
      const byId = Object.fromEntries(statementsOf(replica, roleId).map((s) => [s.Sid, s]));
      expect([...(byId.CreateTarget.Resource as string[])].sort()).toEqual(['arn:aws:s3:::acme-meatdb-backups', 'arn:aws:s3:::meatlizard-backup-promoted-*']);
      expect([...(byId.CopyIntoTarget.Resource as string[])].sort()).toEqual(['arn:aws:s3:::acme-meatdb-backups/*', 'arn:aws:s3:::meatlizard-backup-promoted-*/*']);
      replica.hasResourceProperties('AWS::Lambda::Function', {
        FunctionName: PROMOTE_FUNCTION,
        Environment: { Variables: { [ENV.bucket]: 'acme-meatdb-backups' } },
      });
    });
  });

  describe('GIVEN the example configuration (no account pinned)', () => {
    test('THEN the names resolve in the deploying account and a new target name stays under <name>-promoted-*', () => {
      // WHEN
      const { replica } = synthesize(EXAMPLE_CONFIG);
      // THEN
      replica.hasResourceProperties('AWS::Lambda::Function', {
        FunctionName: PROMOTE_FUNCTION,
        Environment: {
          Variables: {
            [ENV.bucket]: { 'Fn::Join': ['', ['meatlizard-backup-', { Ref: 'AWS::AccountId' }, '-eu-west-1']] },
            [ENV.accountId]: { Ref: 'AWS::AccountId' },
          },
        },
      });
      replica.hasResourceProperties('AWS::IAM::Policy', {
        PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Sid: 'CreateTarget', Resource: Match.arrayWith(['arn:aws:s3:::meatlizard-backup-promoted-*']) })]) },
      });
    });
  });

  test('THEN the template matches the snapshot (asset hashes masked)', () => {
    expect(template.toJSON()).toMatchSnapshot();
  });
});
