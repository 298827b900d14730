import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { ENV, TASK_CONTAINER_NAME } from '../../src/contract';
import type { AppConfigInput } from '../../lib/config';
import { opsConfig } from '../../src/ops/config';
import { maskHashes } from '../support/mask-hashes';
import { TEST_CONFIG, logicalIdOf, type SynthesizedTemplates, synthesize } from './fixture';
import { readSettings } from '../../src/settings';

expect.addSnapshotSerializer(maskHashes);

const PRIMARY_BUCKET = 'meatlizard-backup-123456789012-eu-west-1';
const REPLICA_BUCKET = 'meatlizard-backup-replica-123456789012-eu-central-1';
const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:meatdb/backup-AbC123';

describe('PrimaryStack', () => {
  // GIVEN the test configuration (account 123456789012, eu-west-1 → eu-central-1, new VPC), synthesized once
  let synthesized: SynthesizedTemplates;
  let template: Template;
  const ids = {
    bucket: '',
    cluster: '',
    taskDefinition: '',
    taskRole: '',
    executionRole: '',
    restoreTaskDefinition: '',
    restoreTaskRole: '',
    restoreExecutionRole: '',
    logGroup: '',
    securityGroup: '',
    topic: '',
  };

  beforeAll(() => {
    synthesized = synthesize();
    template = synthesized.primary;
    ids.bucket = logicalIdOf(template, 'AWS::S3::Bucket', { BucketName: PRIMARY_BUCKET });
    ids.cluster = logicalIdOf(template, 'AWS::ECS::Cluster', {});
    ids.taskDefinition = logicalIdOf(template, 'AWS::ECS::TaskDefinition', { Family: 'meatlizard-backup-backup' });
    ids.securityGroup = logicalIdOf(template, 'AWS::EC2::SecurityGroup', { GroupDescription: Match.stringLikeRegexp('^meatbackup tasks') });
    ids.topic = logicalIdOf(template, 'AWS::SNS::Topic', {});
    const taskDefinition = template.findResources('AWS::ECS::TaskDefinition')[ids.taskDefinition].Properties;
    ids.taskRole = taskDefinition.TaskRoleArn['Fn::GetAtt'][0];
    ids.executionRole = taskDefinition.ExecutionRoleArn['Fn::GetAtt'][0];
    ids.logGroup = taskDefinition.ContainerDefinitions[0].LogConfiguration.Options['awslogs-group'].Ref;
    ids.restoreTaskDefinition = logicalIdOf(template, 'AWS::ECS::TaskDefinition', { Family: 'meatlizard-backup-restore' });
    const restoreTaskDefinition = template.findResources('AWS::ECS::TaskDefinition')[ids.restoreTaskDefinition].Properties;
    ids.restoreTaskRole = restoreTaskDefinition.TaskRoleArn['Fn::GetAtt'][0];
    ids.restoreExecutionRole = restoreTaskDefinition.ExecutionRoleArn['Fn::GetAtt'][0];
  });

  test('THEN the stack is pinned to the primary region, protected, and deployed after the replica stack', () => {
    const { primary, replica } = synthesized.app.stacks;
    expect(primary.region).toBe('eu-west-1');
    expect(primary.account).toBe('123456789012');
    expect(primary.terminationProtection).toBe(true);
    expect(primary.dependencies).toContain(replica);
  });

  describe('backup bucket', () => {
    test('THEN it is versioned, locked, encrypted with its key, private and retained', () => {
      template.hasResource('AWS::S3::Bucket', {
        Properties: Match.objectLike({
          BucketName: PRIMARY_BUCKET,
          VersioningConfiguration: { Status: 'Enabled' },
          ObjectLockEnabled: true,
          BucketEncryption: {
            ServerSideEncryptionConfiguration: [
              {
                BucketKeyEnabled: true,
                ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: { 'Fn::GetAtt': [Match.stringLikeRegexp('^BackupKey'), 'Arn'] } },
              },
            ],
          },
          PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
          OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
        }),
        DeletionPolicy: 'Retain',
        UpdateReplacePolicy: 'Retain',
      });
    });

    test('THEN it replicates everything to the replica bucket with RTC 15 minutes, metrics and delete markers', () => {
      template.hasResourceProperties('AWS::S3::Bucket', {
        BucketName: PRIMARY_BUCKET,
        ReplicationConfiguration: {
          Role: { 'Fn::GetAtt': [Match.stringLikeRegexp('^BackupBucketReplicationRole'), 'Arn'] },
          Rules: [
            {
              Id: 'replicate-everything',
              Status: 'Enabled',
              Priority: 1,
              Filter: { Prefix: '' },
              DeleteMarkerReplication: { Status: 'Enabled' },
              Destination: {
                Bucket: `arn:aws:s3:::${REPLICA_BUCKET}`,
                ReplicationTime: { Status: 'Enabled', Time: { Minutes: 15 } },
                Metrics: { Status: 'Enabled', EventThreshold: { Minutes: 15 } },
                EncryptionConfiguration: { ReplicaKmsKeyID: 'arn:aws:kms:eu-central-1:123456789012:alias/meatlizard-backup-backup' },
              },
              SourceSelectionCriteria: { SseKmsEncryptedObjects: { Status: 'Enabled' } },
            },
          ],
        },
      });
    });

    test('THEN the explicit replication role (fixed name, for the replica key\'s policy) is assumed by S3 and may only read the source and write the replica', () => {
      template.hasResourceProperties('AWS::IAM::Role', {
        RoleName: 'meatlizard-backup-replication-eu-west-1',
        AssumeRolePolicyDocument: { Statement: [{ Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 's3.amazonaws.com' } }] },
        Description: Match.stringLikeRegexp('^S3 Replication of'),
      });
      template.hasResourceProperties('AWS::IAM::Policy', {
        Roles: [{ Ref: Match.stringLikeRegexp('^BackupBucketReplicationRole') }],
        PolicyDocument: {
          Statement: [
            {
              Sid: 'ReadReplicationConfiguration',
              Action: ['s3:GetReplicationConfiguration', 's3:ListBucket'],
              Effect: 'Allow',
              Resource: { 'Fn::GetAtt': [ids.bucket, 'Arn'] },
            },
            {
              Sid: 'ReadSourceVersions',
              Action: ['s3:GetObjectLegalHold', 's3:GetObjectRetention', 's3:GetObjectVersionAcl', 's3:GetObjectVersionForReplication', 's3:GetObjectVersionTagging'],
              Effect: 'Allow',
              Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [ids.bucket, 'Arn'] }, '/*']] },
            },
            {
              Sid: 'WriteReplicas',
              Action: ['s3:ReplicateDelete', 's3:ReplicateObject', 's3:ReplicateTags'],
              Effect: 'Allow',
              Resource: `arn:aws:s3:::${REPLICA_BUCKET}/*`,
            },
            // the keys of both regions (test/lib/immutability.test.ts)
            Match.objectLike({ Sid: 'ReplicationDecryptsSource', Action: 'kms:Decrypt' }),
            Match.objectLike({ Sid: 'ReplicationEncryptsReplicas', Action: ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey'] }),
          ],
        },
      });
    });

    test('THEN the lifecycle aborts multipart uploads, expires backups/ by retention class, and expires noncurrent versions', () => {
      // each rule in detail: test/lib/immutability.test.ts
      template.hasResourceProperties('AWS::S3::Bucket', {
        BucketName: PRIMARY_BUCKET,
        LifecycleConfiguration: {
          Rules: [
            { Id: 'abort-incomplete-multipart-uploads', Status: 'Enabled', AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 } },
            Match.objectLike({ Id: 'backups-daily', Prefix: 'backups/', TagFilters: [{ Key: 'retention', Value: 'daily' }], ExpirationInDays: 14 }),
            Match.objectLike({ Id: 'backups-weekly', Prefix: 'backups/', TagFilters: [{ Key: 'retention', Value: 'weekly' }], ExpirationInDays: 56 }),
            Match.objectLike({ Id: 'backups-monthly', Prefix: 'backups/', TagFilters: [{ Key: 'retention', Value: 'monthly' }], ExpirationInDays: 365 }),
            { Id: 'backups-untagged', Status: 'Enabled', Prefix: 'backups/', ExpirationInDays: 365 },
            { Id: 'noncurrent-versions-expiry', Status: 'Enabled', NoncurrentVersionExpiration: { NoncurrentDays: 30 }, ExpiredObjectDeleteMarker: true },
          ],
        },
      });
    });

    test('THEN server access logs go to a private, TLS-only access-log bucket that expires them', () => {
      template.hasResourceProperties('AWS::S3::Bucket', {
        BucketName: PRIMARY_BUCKET,
        LoggingConfiguration: { DestinationBucketName: { Ref: Match.stringLikeRegexp('^BackupBucketAccessLogs') }, LogFilePrefix: 'access-logs/' },
      });
      template.hasResourceProperties('AWS::S3::Bucket', {
        BucketName: Match.absent(),
        LifecycleConfiguration: { Rules: Match.arrayWith([Match.objectLike({ Id: 'access-logs-expiry', ExpirationInDays: 365 })]) },
        PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      });
      template.hasResourceProperties('AWS::S3::BucketPolicy', {
        Bucket: { Ref: Match.stringLikeRegexp('^BackupBucketAccessLogs') },
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Effect: 'Allow',
              Action: 's3:PutObject',
              Principal: { Service: 'logging.s3.amazonaws.com' },
              Condition: { ArnLike: { 'aws:SourceArn': { 'Fn::GetAtt': [ids.bucket, 'Arn'] } }, StringEquals: { 'aws:SourceAccount': '123456789012' } },
            }),
          ]),
        },
      });
    });

    test('THEN its policy denies requests without TLS (1.2 or newer)', () => {
      template.hasResourceProperties('AWS::S3::BucketPolicy', {
        Bucket: { Ref: ids.bucket },
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({ Effect: 'Deny', Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
            Match.objectLike({ Effect: 'Deny', Action: 's3:*', Condition: { NumericLessThan: { 's3:TlsVersion': 1.2 } } }),
          ]),
        },
      });
    });

    test('THEN its policy denies the promotion role (by ARN, whatever its role id) every write of its settings, which a bucket recreated under the name lacks', () => {
      template.hasResourceProperties('AWS::S3::BucketPolicy', {
        Bucket: { Ref: ids.bucket },
        PolicyDocument: {
          Statement: Match.arrayWith([
            {
              Sid: 'PromotionNeverReconfiguresLivePrimary',
              Effect: 'Deny',
              Principal: { AWS: '*' },
              Action: ['s3:DeleteBucketPolicy', 's3:PutBucketOwnershipControls', 's3:PutBucketPolicy', 's3:PutBucketPublicAccessBlock', 's3:PutBucketVersioning', 's3:PutEncryptionConfiguration'],
              Resource: { 'Fn::GetAtt': [ids.bucket, 'Arn'] },
              Condition: { ArnEquals: { 'aws:PrincipalArn': 'arn:aws:iam::123456789012:role/meatlizard-backup-promote-eu-central-1' } },
            },
          ]),
        },
      });
    });
  });

  describe('network', () => {
    test('THEN a small VPC spans two AZs without lookups, with one NAT gateway', () => {
      template.hasResourceProperties('AWS::EC2::VPC', { CidrBlock: '10.80.0.0/20' });
      template.resourceCountIs('AWS::EC2::NatGateway', 1);
      template.resourcePropertiesCountIs('AWS::EC2::Subnet', { MapPublicIpOnLaunch: false }, 2);
      template.hasResourceProperties('AWS::EC2::Subnet', { AvailabilityZone: { 'Fn::Select': [1, { 'Fn::GetAZs': '' }] } });
    });

    test('THEN S3 traffic takes a gateway endpoint and flow logs are on', () => {
      template.hasResourceProperties('AWS::EC2::VPCEndpoint', {
        VpcEndpointType: 'Gateway',
        ServiceName: { 'Fn::Join': ['', ['com.amazonaws.', { Ref: 'AWS::Region' }, '.s3']] },
      });
      template.hasResourceProperties('AWS::EC2::FlowLog', { TrafficType: 'ALL', ResourceType: 'VPC', LogDestinationType: 'cloud-watch-logs' });
    });
  });

  describe('backup task', () => {
    test('THEN the cluster has Container Insights', () => {
      template.hasResourceProperties('AWS::ECS::Cluster', { ClusterSettings: [{ Name: 'containerInsights', Value: 'enabled' }] });
    });

    test('THEN the Fargate task definition runs `backup` in the contract container with a read-only root filesystem', () => {
      template.hasResourceProperties('AWS::ECS::TaskDefinition', {
        Family: 'meatlizard-backup-backup',
        Cpu: '2048',
        Memory: '4096',
        NetworkMode: 'awsvpc',
        RequiresCompatibilities: ['FARGATE'],
        RuntimePlatform: { CpuArchitecture: 'X86_64', OperatingSystemFamily: 'LINUX' },
        ContainerDefinitions: [
          Match.objectLike({
            Name: TASK_CONTAINER_NAME,
            Command: ['backup'],
            Essential: true,
            ReadonlyRootFilesystem: true,
            StopTimeout: 120,
            Image: { 'Fn::Sub': Match.stringLikeRegexp('cdk-hnb659fds-container-assets-123456789012-eu-west-1:[0-9a-f]{64}$') },
          }),
        ],
      });
    });

    test('THEN the environment carries the bucket names and libpq settings, and never the password', () => {
      const env = (pairs: Record<string, unknown>) => Object.entries(pairs).map(([Name, Value]) => ({ Name, Value }));
      template.hasResourceProperties('AWS::ECS::TaskDefinition', {
        ContainerDefinitions: [
          Match.objectLike({
            Environment: env({
              PGHOST: 'meatdb.cluster-abc.eu-west-1.rds.amazonaws.com',
              PGPORT: '5432',
              PGDATABASE: 'meatdb',
              PGUSER: 'meatbackup',
              PGSSLMODE: 'require',
              [ENV.bucket]: { Ref: ids.bucket },
              [ENV.prefix]: 'backups/',
              [ENV.lockDays]: '35',
              // each backup is locked until its class expires (the lifecycle rules' days)
              [ENV.retentionDays]: 'daily:14,weekly:56,monthly:365',
            }),
            Secrets: [{ Name: 'PGPASSWORD', ValueFrom: `${SECRET_ARN}:password::` }],
          }),
        ],
      });
    });

    test('THEN logs go to a log group with the configured retention, in blocking mode', () => {
      template.hasResourceProperties('AWS::ECS::TaskDefinition', {
        ContainerDefinitions: [
          Match.objectLike({
            LogConfiguration: {
              LogDriver: 'awslogs',
              Options: { 'awslogs-group': { Ref: ids.logGroup }, 'awslogs-stream-prefix': 'backup', 'awslogs-region': 'eu-west-1', mode: 'blocking' },
            },
          }),
        ],
      });
      expect(template.findResources('AWS::Logs::LogGroup')[ids.logGroup].Properties).toEqual({ RetentionInDays: 90, Tags: expect.any(Array) });
    });

    test('THEN the execution role may read exactly the password secret', () => {
      template.hasResourceProperties('AWS::IAM::Policy', {
        Roles: [{ Ref: ids.executionRole }],
        PolicyDocument: {
          Statement: Match.arrayWith([{ Action: ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue'], Effect: 'Allow', Resource: SECRET_ARN }]),
        },
      });
    });

    test('THEN the task role may list, write, classify and lock backups/ only, and delete nothing but a failed run\'s own versions', () => {
      const backupObjects = { 'Fn::Join': ['', [{ 'Fn::GetAtt': [ids.bucket, 'Arn'] }, '/backups/*']] };
      template.hasResourceProperties('AWS::IAM::Policy', {
        Roles: [{ Ref: ids.taskRole }],
        PolicyDocument: {
          Statement: [
            {
              Sid: 'ListBackups',
              Action: 's3:ListBucket',
              Effect: 'Allow',
              Resource: { 'Fn::GetAtt': [ids.bucket, 'Arn'] },
              Condition: { StringLike: { 's3:prefix': ['backups/', 'backups/*'] } },
            },
            {
              Sid: 'WriteBackups',
              Action: ['s3:AbortMultipartUpload', 's3:GetObject', 's3:GetObjectRetention', 's3:GetObjectTagging', 's3:ListMultipartUploadParts', 's3:PutObject'],
              Effect: 'Allow',
              Resource: backupObjects,
            },
            // conditions of these in detail: test/lib/immutability.test.ts
            Match.objectLike({ Sid: 'BackupWritesWithKey', Action: ['kms:Decrypt', 'kms:GenerateDataKey'] }),
            {
              Sid: 'ReadRetentionSettings',
              Action: ['s3:GetBucketObjectLockConfiguration', 's3:GetLifecycleConfiguration'],
              Effect: 'Allow',
              Resource: { 'Fn::GetAtt': [ids.bucket, 'Arn'] },
            },
            Match.objectLike({ Sid: 'ClassifyNewBackups', Action: 's3:PutObjectTagging', Resource: backupObjects }),
            Match.objectLike({ Sid: 'LockNewBackups', Action: 's3:PutObjectRetention', Resource: backupObjects }),
            { Sid: 'RemoveFailedBackup', Action: 's3:DeleteObjectVersion', Effect: 'Allow', Resource: backupObjects },
          ],
        },
      });
    });

    test('THEN the security group admits nothing and lets out HTTPS and PostgreSQL only', () => {
      template.hasResourceProperties('AWS::EC2::SecurityGroup', {
        GroupDescription: Match.stringLikeRegexp('^meatbackup tasks'),
        SecurityGroupIngress: Match.absent(),
        SecurityGroupEgress: [
          { CidrIp: '0.0.0.0/0', IpProtocol: 'tcp', FromPort: 443, ToPort: 443, Description: Match.anyValue() },
          { CidrIp: '0.0.0.0/0', IpProtocol: 'tcp', FromPort: 5432, ToPort: 5432, Description: 'PostgreSQL' },
        ],
      });
    });

    test('THEN each target of container/Dockerfile is an image built for linux/amd64 with the Dockerfile\'s own defaults, from the few files the build needs', () => {
      // GIVEN the asset manifest of the synthesized primary stack
      const manifest = JSON.parse(readFileSync(join(synthesized.app.outdir, 'meatlizard-backup-primary.assets.json'), 'utf8'));
      const images = Object.values(manifest.dockerImages) as Array<{ source: { directory: string; dockerFile: string; platform: string; dockerBuildTarget: string; dockerBuildArgs?: unknown } }>;
      // THEN one image per target: the backup's and the restore test's (cluster mode, the default)
      expect(images.map((image) => image.source.dockerBuildTarget).sort()).toEqual(['restore-test', 'runtime']);
      for (const image of images) {
        expect(image.source).toMatchObject({ dockerFile: 'container/Dockerfile', platform: 'linux/amd64' });
        // production's build: no build argument, so PGDG, the RDS bundle and the base image are the Dockerfile's defaults
        expect(image.source.dockerBuildArgs).toBeUndefined();
        const context = join(synthesized.app.outdir, image.source.directory);
        for (const needed of ['.dockerignore', 'container/Dockerfile', 'container/apt-install', 'container/clean-rootfs', 'container/check-image', 'container/certs', 'package.json', 'package-lock.json', 'tsconfig.json', 'scripts/build.mjs', 'bin/meatbackup.js', 'src/contract.ts', 'src/cli/main.ts']) {
          expect(existsSync(join(context, needed))).toBe(true);
        }
        for (const excluded of ['node_modules', 'cdk.out', 'dist', '.git', 'lib', 'test', 'bin/app.ts', 'src/contract.test.ts', 'container/certs/README.md']) {
          expect(existsSync(join(context, excluded))).toBe(false);
        }
      }
    });

    test('THEN the context is filtered the same by either builder: by the root .dockerignore only', () => {
      // The classic builder reads only <context>/.dockerignore; BuildKit would prefer a <Dockerfile>.dockerignore, and
      // the two builders would then see different contexts.
      expect(existsSync(join(__dirname, '..', '..', '.dockerignore'))).toBe(true);
      expect(existsSync(join(__dirname, '..', '..', 'container', 'Dockerfile.dockerignore'))).toBe(false);
    });

    test('THEN the task starts the CLI as an operator does, with the V8 settings it is measured with and no source maps', () => {
      // GIVEN the Dockerfile and the CLI's entry file
      const dockerfile = readFileSync(join(__dirname, '..', '..', 'container', 'Dockerfile'), 'utf8');
      const entry = readFileSync(join(__dirname, '..', '..', 'bin', 'meatbackup.js'), 'utf8');
      // THEN the entrypoint is the file itself (its first line starts Node), executable in the image
      expect(dockerfile).toMatch(/^ENTRYPOINT \["\/app\/bin\/meatbackup\.js"\]$/m);
      expect(dockerfile).toContain('chmod 0755 bin/meatbackup.js');
      expect(dockerfile).toContain('COPY --from=build /build/bin/meatbackup.js /app/bin/meatbackup.js');
      expect(entry.split('\n')[0]).toBe('#!/usr/bin/env -S node --max-semi-space-size=2');
      // AND nothing loads the 6 MB source map unless --debug asks for it
      expect(dockerfile).not.toMatch(/^\s*(ENV\s+)?NODE_OPTIONS=.*enable-source-maps/m);
      expect(entry).toContain("if (process.argv.includes('--debug')) process.setSourceMapsEnabled(true);");
    });
  });

  describe('restore task', () => {
    let restore: Record<string, unknown>;
    beforeAll(() => {
      restore = template.findResources('AWS::ECS::TaskDefinition')[ids.restoreTaskDefinition].Properties;
    });

    test('THEN it runs the same image as the backup in the contract container, read-only, with 2 minutes to stop cleanly', () => {
      const backup = template.findResources('AWS::ECS::TaskDefinition')[ids.taskDefinition].Properties;
      expect(restore).toMatchObject({
        Family: 'meatlizard-backup-restore',
        Cpu: '2048',
        Memory: '4096',
        NetworkMode: 'awsvpc',
        RequiresCompatibilities: ['FARGATE'],
        RuntimePlatform: { CpuArchitecture: 'X86_64', OperatingSystemFamily: 'LINUX' },
      });
      // no ephemeral storage beyond the default: the restore streams and writes nothing to disk
      expect(restore.EphemeralStorage).toBeUndefined();
      const [container] = restore.ContainerDefinitions as Array<Record<string, unknown>>;
      expect(container).toMatchObject({
        Name: TASK_CONTAINER_NAME,
        // a placeholder: the ops Lambda always overrides it with the resolved key
        Command: ['restore', 'latest'],
        Essential: true,
        ReadonlyRootFilesystem: true,
        StopTimeout: 120,
      });
      expect(container.Image).toEqual(backup.ContainerDefinitions[0].Image);
    });

    test('THEN its environment names the bucket, the libpq settings and the web service, and the password is a secret', () => {
      const [container] = restore.ContainerDefinitions as Array<Record<string, unknown>>;
      expect(container.Environment).toEqual([
        { Name: 'PGHOST', Value: 'meatdb.cluster-abc.eu-west-1.rds.amazonaws.com' },
        { Name: 'PGPORT', Value: '5432' },
        { Name: 'PGDATABASE', Value: 'meatdb' },
        { Name: 'PGUSER', Value: 'meatbackup' },
        { Name: 'PGSSLMODE', Value: 'require' },
        { Name: ENV.bucket, Value: { Ref: ids.bucket } },
        { Name: ENV.prefix, Value: 'backups/' },
        { Name: ENV.webService, Value: 'meatlizard/web' },
      ]);
      expect(container.Secrets).toEqual([{ Name: 'PGPASSWORD', ValueFrom: `${SECRET_ARN}:password::` }]);
    });

    test('THEN it logs to the tasks\' log group under the restore stream prefix, which the ops Lambda links to', () => {
      const [container] = restore.ContainerDefinitions as Array<Record<string, unknown>>;
      expect(container.LogConfiguration).toEqual({
        LogDriver: 'awslogs',
        Options: { 'awslogs-group': { Ref: ids.logGroup }, 'awslogs-stream-prefix': 'restore', 'awslogs-region': 'eu-west-1', mode: 'blocking' },
      });
    });

    test('THEN its roles are its own, and its execution role may read exactly the password secret', () => {
      expect([ids.restoreTaskRole, ids.restoreExecutionRole]).not.toContain(ids.taskRole);
      expect([ids.restoreTaskRole, ids.restoreExecutionRole]).not.toContain(ids.executionRole);
      template.hasResourceProperties('AWS::IAM::Policy', {
        Roles: [{ Ref: ids.restoreExecutionRole }],
        PolicyDocument: {
          Statement: Match.arrayWith([{ Action: ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue'], Effect: 'Allow', Resource: SECRET_ARN }]),
        },
      });
    });

    test('THEN its role may read backups/ (by version), stop and start exactly the web service, and watch its cluster\'s tasks; nothing else', () => {
      const webCluster = 'arn:aws:ecs:eu-west-1:123456789012:cluster/meatlizard';
      const policies = template.findResources('AWS::IAM::Policy', { Properties: { Roles: Match.arrayWith([{ Ref: ids.restoreTaskRole }]) } });
      expect(Object.values(policies).map((p) => p.Properties.PolicyDocument.Statement)).toEqual([
        [
          {
            Sid: 'ListBackups',
            Action: 's3:ListBucket',
            Effect: 'Allow',
            Resource: { 'Fn::GetAtt': [ids.bucket, 'Arn'] },
            Condition: { StringLike: { 's3:prefix': ['backups/', 'backups/*'] } },
          },
          {
            Sid: 'ReadBackups',
            Action: ['s3:GetObject', 's3:GetObjectRetention', 's3:GetObjectTagging', 's3:GetObjectVersion'],
            Effect: 'Allow',
            Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [ids.bucket, 'Arn'] }, '/backups/*']] },
          },
          expect.objectContaining({ Sid: 'RestoreReadsWithKey', Action: 'kms:Decrypt', Resource: { 'Fn::GetAtt': [expect.stringMatching(/^BackupKey/), 'Arn'] } }),
          {
            Sid: 'StopStartWebService',
            Action: ['ecs:DescribeServices', 'ecs:UpdateService'],
            Effect: 'Allow',
            Resource: 'arn:aws:ecs:eu-west-1:123456789012:service/meatlizard/web',
          },
          { Sid: 'ListWebServiceTasks', Action: 'ecs:ListTasks', Effect: 'Allow', Resource: '*', Condition: { ArnEquals: { 'ecs:cluster': webCluster } } },
          {
            Sid: 'DescribeWebServiceTasks',
            Action: 'ecs:DescribeTasks',
            Effect: 'Allow',
            Resource: 'arn:aws:ecs:eu-west-1:123456789012:task/meatlizard/*',
            Condition: { ArnEquals: { 'ecs:cluster': webCluster } },
          },
        ],
      ]);
      expect(template.findResources('AWS::IAM::Role')[ids.restoreTaskRole].Properties.ManagedPolicyArns).toBeUndefined();
    });
  });

  describe('schedule', () => {
    test('THEN EventBridge Scheduler runs the backup task on Fargate daily at 03:00 UTC in the task subnets', () => {
      template.hasResourceProperties('AWS::Scheduler::Schedule', {
        ScheduleExpression: 'cron(0 3 * * ? *)',
        ScheduleExpressionTimezone: 'UTC',
        State: 'ENABLED',
        FlexibleTimeWindow: { Mode: 'OFF' },
        Target: {
          Arn: { 'Fn::GetAtt': [ids.cluster, 'Arn'] },
          RoleArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^BackupScheduleRole'), 'Arn'] },
          RetryPolicy: { MaximumEventAgeInSeconds: 21600, MaximumRetryAttempts: 10 },
          EcsParameters: {
            LaunchType: 'FARGATE',
            TaskDefinitionArn: { Ref: ids.taskDefinition },
            PropagateTags: 'TASK_DEFINITION',
            NetworkConfiguration: {
              AwsvpcConfiguration: {
                AssignPublicIp: 'DISABLED',
                SecurityGroups: [{ 'Fn::GetAtt': [ids.securityGroup, 'GroupId'] }],
                Subnets: [{ Ref: Match.stringLikeRegexp('^NetworkVpctasksSubnet1') }, { Ref: Match.stringLikeRegexp('^NetworkVpctasksSubnet2') }],
              },
            },
          },
        },
      });
    });

    test("THEN the scheduler's role is for this account and may only run the backup task and pass its roles", () => {
      template.hasResourceProperties('AWS::IAM::Role', {
        AssumeRolePolicyDocument: {
          Statement: [
            { Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'scheduler.amazonaws.com' }, Condition: { StringEquals: { 'aws:SourceAccount': '123456789012' } } },
          ],
        },
      });
      template.hasResourceProperties('AWS::IAM::Policy', {
        Roles: [{ Ref: Match.stringLikeRegexp('^BackupScheduleRole') }],
        PolicyDocument: {
          Statement: [
            {
              Action: 'iam:PassRole',
              Effect: 'Allow',
              Condition: { StringLike: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
              Resource: [{ 'Fn::GetAtt': [ids.executionRole, 'Arn'] }, { 'Fn::GetAtt': [ids.taskRole, 'Arn'] }],
            },
            { Action: 'ecs:RunTask', Effect: 'Allow', Resource: { Ref: ids.taskDefinition } },
            {
              Action: 'ecs:TagResource',
              Effect: 'Allow',
              Resource: { 'Fn::Join': ['', ['arn:aws:ecs:eu-west-1:123456789012:task/', { Ref: ids.cluster }, '/*']] },
            },
          ],
        },
      });
    });
  });

  describe('ops Lambda', () => {
    let functionRole: string;
    beforeAll(() => {
      const fn = Object.values(template.findResources('AWS::Lambda::Function', { Properties: { Runtime: 'nodejs22.x' } }));
      expect(fn).toHaveLength(1);
      functionRole = fn[0].Properties.Role['Fn::GetAtt'][0];
    });

    test('THEN it runs on Node.js 22 with its own log group, long enough for replication-check to hash a large backup', () => {
      template.hasResourceProperties('AWS::Lambda::Function', {
        Runtime: 'nodejs22.x',
        Handler: 'index.handler',
        Architectures: ['arm64'],
        Timeout: 900,
        LoggingConfig: { LogGroup: { Ref: Match.stringLikeRegexp('^OpsLogs') } },
      });
    });

    test('THEN its environment names come from the contract', () => {
      template.hasResourceProperties('AWS::Lambda::Function', {
        Runtime: 'nodejs22.x',
        Environment: {
          Variables: {
            [ENV.bucket]: { Ref: ids.bucket },
            [ENV.prefix]: 'backups/',
            [ENV.replicaBucket]: REPLICA_BUCKET,
            [ENV.replicaRegion]: 'eu-central-1',
            [ENV.ecsCluster]: { 'Fn::GetAtt': [ids.cluster, 'Arn'] },
            [ENV.backupTaskDefinition]: { Ref: ids.taskDefinition },
            [ENV.taskContainerName]: TASK_CONTAINER_NAME,
            [ENV.taskSubnets]: {
              'Fn::Join': ['', [{ Ref: Match.stringLikeRegexp('^NetworkVpctasksSubnet1') }, ',', { Ref: Match.stringLikeRegexp('^NetworkVpctasksSubnet2') }]],
            },
            [ENV.taskSecurityGroups]: { 'Fn::GetAtt': [ids.securityGroup, 'GroupId'] },
            [ENV.taskAssignPublicIp]: 'false',
            [ENV.taskLogGroup]: { Ref: ids.logGroup },
            NODE_OPTIONS: '--enable-source-maps',
            [ENV.restoreTaskDefinition]: { Ref: ids.restoreTaskDefinition },
            [ENV.webService]: 'meatlizard/web',
          },
        },
      });
    });

    test('THEN its environment has every setting the ops actions read (src/ops/config.ts)', () => {
      // GIVEN the function's variables, with each deploy-time token replaced by a placeholder
      const fn = Object.values(template.findResources('AWS::Lambda::Function', { Properties: { Runtime: 'nodejs22.x' } }))[0];
      const variables = fn.Properties.Environment.Variables as Record<string, unknown>;
      const env = Object.fromEntries(Object.entries(variables).map(([name, value]) => [name, typeof value === 'string' ? value : `deployed-${name}`]));
      // WHEN / THEN: nothing missing, and the web service parses
      expect(opsConfig(readSettings(env))).toMatchObject({
        taskDefinitions: { backup: `deployed-${ENV.backupTaskDefinition}`, restore: `deployed-${ENV.restoreTaskDefinition}` },
        containerName: TASK_CONTAINER_NAME,
        assignPublicIp: false,
        logGroup: `deployed-${ENV.taskLogGroup}`,
        webService: { cluster: 'meatlizard', service: 'web' },
      });
    });

    test('THEN its role has no managed policies', () => {
      expect(template.findResources('AWS::IAM::Role')[functionRole].Properties.ManagedPolicyArns).toBeUndefined();
    });

    test('THEN it may read backups/ only, and list, describe, run and pass roles only for the backup and restore tasks on its cluster', () => {
      const clusterArn = { 'Fn::GetAtt': [ids.cluster, 'Arn'] };
      template.hasResourceProperties('AWS::IAM::Policy', {
        Roles: [{ Ref: functionRole }],
        PolicyDocument: {
          Statement: [
            { Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Effect: 'Allow', Resource: { 'Fn::GetAtt': [Match.stringLikeRegexp('^OpsLogs'), 'Arn'] } },
            {
              Sid: 'ListBackups',
              Action: 's3:ListBucket',
              Effect: 'Allow',
              Resource: { 'Fn::GetAtt': [ids.bucket, 'Arn'] },
              Condition: { StringLike: { 's3:prefix': ['backups/', 'backups/*'] } },
            },
            {
              Sid: 'ReadBackups',
              Action: ['s3:GetObject', 's3:GetObjectRetention', 's3:GetObjectTagging'],
              Effect: 'Allow',
              Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [ids.bucket, 'Arn'] }, '/backups/*']] },
            },
            // list: each backup's expiry under the bucket's lifecycle rules
            { Sid: 'ReadLifecycle', Action: 's3:GetLifecycleConfiguration', Effect: 'Allow', Resource: { 'Fn::GetAtt': [ids.bucket, 'Arn'] } },
            // ListTasks is authorized on "*" only; the condition keeps it to the meatbackup cluster
            { Sid: 'ListTasks', Action: 'ecs:ListTasks', Effect: 'Allow', Resource: '*', Condition: { ArnEquals: { 'ecs:cluster': clusterArn } } },
            {
              Sid: 'DescribeTasks',
              Action: 'ecs:DescribeTasks',
              Effect: 'Allow',
              Resource: { 'Fn::Join': ['', ['arn:aws:ecs:eu-west-1:123456789012:task/', { Ref: ids.cluster }, '/*']] },
              Condition: { ArnEquals: { 'ecs:cluster': clusterArn } },
            },
            {
              Action: 'ecs:RunTask',
              Effect: 'Allow',
              Resource: [{ Ref: ids.taskDefinition }, { Ref: ids.restoreTaskDefinition }],
              Condition: { ArnEquals: { 'ecs:cluster': clusterArn } },
            },
            {
              Action: 'iam:PassRole',
              Effect: 'Allow',
              Resource: [
                { 'Fn::GetAtt': [ids.executionRole, 'Arn'] },
                { 'Fn::GetAtt': [ids.taskRole, 'Arn'] },
                { 'Fn::GetAtt': [ids.restoreExecutionRole, 'Arn'] },
                { 'Fn::GetAtt': [ids.restoreTaskRole, 'Arn'] },
              ],
              Condition: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
            },
            // this region's key for backups/, the replica's (by alias) for replication-check: test/lib/immutability.test.ts
            Match.objectLike({ Sid: 'OpsReadsWithKey', Action: 'kms:Decrypt' }),
            Match.objectLike({ Sid: 'OpsReadsReplicaWithKey', Action: 'kms:Decrypt' }),
          ],
        },
      });
    });
  });

  describe('failure alarm', () => {
    test('THEN the topic is encrypted with a rotating key, TLS-only, and mails the configured address', () => {
      template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^FailureAlarmKey'), 'Arn'] } });
      template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
      template.hasResourceProperties('AWS::SNS::TopicPolicy', {
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({ Effect: 'Deny', Action: 'sns:Publish', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
            Match.objectLike({ Effect: 'Allow', Action: 'sns:Publish', Principal: { Service: 'events.amazonaws.com' } }),
          ]),
        },
      });
      template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com', TopicArn: { Ref: ids.topic } });
    });

    test('THEN EventBridge may use the key to publish', () => {
      template.hasResourceProperties('AWS::KMS::Key', {
        KeyPolicy: {
          Statement: Match.arrayWith([
            Match.objectLike({ Effect: 'Allow', Principal: { Service: 'events.amazonaws.com' }, Action: ['kms:Decrypt', 'kms:GenerateDataKey*'] }),
          ]),
        },
      });
    });

    test('THEN a rule matches stopped backup, restore and restore-test tasks with a non-zero exit code (or that never started) and publishes to the topic', () => {
      template.hasResourceProperties('AWS::Events::Rule', {
        State: 'ENABLED',
        EventPattern: {
          source: ['aws.ecs'],
          'detail-type': ['ECS Task State Change'],
          detail: {
            clusterArn: [{ 'Fn::GetAtt': [ids.cluster, 'Arn'] }],
            lastStatus: ['STOPPED'],
            taskDefinitionArn: [
              { prefix: 'arn:aws:ecs:eu-west-1:123456789012:task-definition/meatlizard-backup-backup:' },
              { prefix: 'arn:aws:ecs:eu-west-1:123456789012:task-definition/meatlizard-backup-restore:' },
              { prefix: 'arn:aws:ecs:eu-west-1:123456789012:task-definition/meatlizard-backup-restore-test:' },
            ],
            $or: [{ containers: { exitCode: [{ 'anything-but': 0 }] } }, { stopCode: ['TaskFailedToStart'] }],
          },
        },
        Targets: [
          Match.objectLike({
            Arn: { Ref: ids.topic },
            InputTransformer: Match.objectLike({
              InputPathsMap: Match.objectLike({ 'detail-taskArn': '$.detail.taskArn', 'detail-stoppedReason': '$.detail.stoppedReason' }),
            }),
          }),
        ],
      });
    });
  });

  test('THEN it outputs what operators and later stacks need', () => {
    for (const output of ['BackupBucketName', 'OpsFunctionName', 'ClusterArn', 'BackupTaskDefinitionArn', 'RestoreTaskDefinitionArn', 'TaskSecurityGroupId', 'TaskLogGroupName', 'AlarmTopicArn']) {
      template.hasOutput(output, {});
    }
  });

  test('THEN every resource carries the Project tag and the configured tags', () => {
    template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      Tags: Match.arrayWith([{ Key: 'CostCenter', Value: 'platform' }, { Key: 'Project', Value: 'meatlizard-backup' }]),
    });
  });

  test('THEN the template matches the snapshot (asset hashes masked)', () => {
    expect(template.toJSON()).toMatchSnapshot();
  });
});

describe('PrimaryStack with an existing VPC', () => {
  const existing = (assignPublicIp: boolean): AppConfigInput => ({
    ...TEST_CONFIG,
    network: {
      mode: 'existing',
      vpcId: 'vpc-0123456789abcdef0',
      availabilityZones: ['eu-west-1a', 'eu-west-1b'],
      subnetIds: ['subnet-0123456789abcdef0', 'subnet-0123456789abcdef1'],
      assignPublicIp,
    },
  });

  test('GIVEN private subnets WHEN synthesized THEN no VPC is created and the tasks run in those subnets', () => {
    // WHEN
    const { primary } = synthesize(existing(false));
    // THEN
    primary.resourceCountIs('AWS::EC2::VPC', 0);
    primary.resourceCountIs('AWS::EC2::NatGateway', 0);
    primary.hasResourceProperties('AWS::EC2::SecurityGroup', { VpcId: 'vpc-0123456789abcdef0' });
    primary.hasResourceProperties('AWS::Scheduler::Schedule', {
      Target: {
        EcsParameters: {
          NetworkConfiguration: {
            AwsvpcConfiguration: { AssignPublicIp: 'DISABLED', Subnets: ['subnet-0123456789abcdef0', 'subnet-0123456789abcdef1'], SecurityGroups: Match.anyValue() },
          },
        },
      },
    });
    primary.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({ [ENV.taskSubnets]: 'subnet-0123456789abcdef0,subnet-0123456789abcdef1', [ENV.taskAssignPublicIp]: 'false' }),
      },
    });
  });

  test('GIVEN public subnets WHEN synthesized THEN tasks get a public IP', () => {
    // WHEN
    const { primary } = synthesize(existing(true));
    // THEN
    primary.hasResourceProperties('AWS::Scheduler::Schedule', {
      Target: { EcsParameters: { NetworkConfiguration: { AwsvpcConfiguration: Match.objectLike({ AssignPublicIp: 'ENABLED' }) } } },
    });
    primary.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ [ENV.taskAssignPublicIp]: 'true' }) },
    });
  });
});

describe('PrimaryStack and the web service a restore stops', () => {
  /** The restore task's container environment and its role's statements. */
  function restoreSide(primary: Template): { environment: Array<{ Name: string }>; statements: Array<Record<string, unknown>> } {
    const id = logicalIdOf(primary, 'AWS::ECS::TaskDefinition', { Family: 'meatlizard-backup-restore' });
    const definition = primary.findResources('AWS::ECS::TaskDefinition')[id].Properties;
    const role = definition.TaskRoleArn['Fn::GetAtt'][0];
    const policies = primary.findResources('AWS::IAM::Policy', { Properties: { Roles: Match.arrayWith([{ Ref: role }]) } });
    return {
      environment: definition.ContainerDefinitions[0].Environment,
      statements: Object.values(policies).flatMap((p) => p.Properties.PolicyDocument.Statement),
    };
  }

  test('GIVEN no webService WHEN synthesized THEN the restore may only read backups/, and neither it nor the Lambda names a web service', () => {
    // WHEN
    const { primary } = synthesize({ ...TEST_CONFIG, webService: undefined });
    // THEN
    const { environment, statements } = restoreSide(primary);
    expect(statements.map((s) => s.Sid)).toEqual(['ListBackups', 'ReadBackups', 'RestoreReadsWithKey']);
    expect(environment.map((e) => e.Name)).not.toContain(ENV.webService);
    const fn = Object.values(primary.findResources('AWS::Lambda::Function', { Properties: { Runtime: 'nodejs22.x' } }))[0];
    expect(Object.keys(fn.Properties.Environment.Variables)).not.toContain(ENV.webService);
    expect(JSON.stringify(primary.toJSON())).not.toMatch(/ecs:UpdateService|ecs:DescribeServices/);
  });

  test('GIVEN the web cluster by ARN WHEN synthesized THEN the grants name that cluster\'s service and tasks', () => {
    // GIVEN
    const clusterArn = 'arn:aws:ecs:eu-west-1:123456789012:cluster/platform';
    // WHEN
    const { primary } = synthesize({ ...TEST_CONFIG, webService: { cluster: clusterArn, service: 'web' } });
    // THEN
    const { environment, statements } = restoreSide(primary);
    expect(environment).toContainEqual({ Name: ENV.webService, Value: `${clusterArn}/web` });
    expect(statements).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ Sid: 'StopStartWebService', Resource: 'arn:aws:ecs:eu-west-1:123456789012:service/platform/web' }),
        expect.objectContaining({ Sid: 'ListWebServiceTasks', Condition: { ArnEquals: { 'ecs:cluster': clusterArn } } }),
        expect.objectContaining({ Sid: 'DescribeWebServiceTasks', Resource: 'arn:aws:ecs:eu-west-1:123456789012:task/platform/*' }),
      ]),
    );
  });
});

describe('password secret encrypted with a customer-managed key', () => {
  const KEY_ARN = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';

  /** The execution role of each task definition, by family, with the statements of its policies that use KMS. */
  function executionRoleKmsStatements(template: Template): Record<string, unknown[]> {
    const taskDefinitions = template.findResources('AWS::ECS::TaskDefinition');
    const policies = Object.values(template.findResources('AWS::IAM::Policy'));
    const out: Record<string, unknown[]> = {};
    for (const { Properties: taskDefinition } of Object.values(taskDefinitions)) {
      const roleId = taskDefinition.ExecutionRoleArn['Fn::GetAtt'][0];
      out[taskDefinition.Family] = policies
        .filter((policy) => (policy.Properties.Roles as Array<{ Ref: string }>).some((role) => role.Ref === roleId))
        .flatMap((policy) => policy.Properties.PolicyDocument.Statement as Array<{ Action: string | string[] }>)
        .filter((statement) => [statement.Action].flat().some((action) => action.startsWith('kms:')));
    }
    return out;
  }

  test('GIVEN the key named and a scratch-mode restore test WHEN synthesized THEN each execution role that reads the secret may decrypt with exactly that key, through Secrets Manager only', () => {
    // GIVEN
    const input: AppConfigInput = {
      ...TEST_CONFIG,
      database: { ...TEST_CONFIG.database, passwordSecretKmsKeyArn: KEY_ARN },
      restoreTest: { mode: 'scratch' },
    };
    // WHEN
    const { primary } = synthesize(input);
    // THEN
    const decrypt = {
      Sid: 'DecryptPasswordSecret',
      Effect: 'Allow',
      Action: 'kms:Decrypt',
      Resource: KEY_ARN,
      Condition: { StringEquals: { 'kms:ViaService': 'secretsmanager.eu-west-1.amazonaws.com' } },
    };
    expect(executionRoleKmsStatements(primary)).toEqual({
      'meatlizard-backup-backup': [decrypt],
      'meatlizard-backup-restore': [decrypt],
      'meatlizard-backup-restore-test': [decrypt],
    });
  });

  test('GIVEN the key named and the default cluster-mode restore test WHEN synthesized THEN the restore test, which never reads the secret, gets no key grant', () => {
    // WHEN
    const { primary } = synthesize({ ...TEST_CONFIG, database: { ...TEST_CONFIG.database, passwordSecretKmsKeyArn: KEY_ARN } });
    // THEN
    const statements = executionRoleKmsStatements(primary);
    expect(statements['meatlizard-backup-restore-test']).toEqual([]);
    expect(statements['meatlizard-backup-backup']).toHaveLength(1);
    expect(statements['meatlizard-backup-restore']).toHaveLength(1);
  });

  test('GIVEN no key named WHEN synthesized THEN no execution role has any KMS statement', () => {
    // WHEN
    const { primary } = synthesize({ ...TEST_CONFIG, restoreTest: { mode: 'scratch' } });
    // THEN
    expect(executionRoleKmsStatements(primary)).toEqual({
      'meatlizard-backup-backup': [],
      'meatlizard-backup-restore': [],
      'meatlizard-backup-restore-test': [],
    });
    expect(JSON.stringify(primary.toJSON())).not.toContain('secretsmanager.eu-west-1.amazonaws.com');
  });
});

describe('a database role per job (database.logins)', () => {
  const secret = (name: string) => `arn:aws:secretsmanager:eu-west-1:123456789012:secret:meatdb/${name}-AbC123`;
  const KEY_ARN = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';

  /** Per task family: PGUSER, the PGPASSWORD secret it reads, and the secrets and keys its execution role may read. */
  function loginsOf(template: Template): Record<string, { user?: string; reads?: string; secrets: string[]; keys: string[] }> {
    const policies = Object.values(template.findResources('AWS::IAM::Policy'));
    const out: Record<string, { user?: string; reads?: string; secrets: string[]; keys: string[] }> = {};
    for (const { Properties: td } of Object.values(template.findResources('AWS::ECS::TaskDefinition'))) {
      const container = td.ContainerDefinitions[0] as { Environment: Array<{ Name: string; Value: string }>; Secrets?: Array<{ ValueFrom: string }> };
      const roleId = td.ExecutionRoleArn['Fn::GetAtt'][0];
      const statements = policies
        .filter((p) => (p.Properties.Roles as Array<{ Ref: string }>).some((r) => r.Ref === roleId))
        .flatMap((p) => p.Properties.PolicyDocument.Statement as Array<{ Action: string | string[]; Resource: string }>);
      const resourcesOf = (prefix: string) => statements.filter((st) => [st.Action].flat().some((a) => a.startsWith(prefix))).map((st) => st.Resource);
      out[td.Family] = {
        user: container.Environment.find((e) => e.Name === 'PGUSER')?.Value,
        reads: container.Secrets?.[0]?.ValueFrom,
        secrets: resourcesOf('secretsmanager:'),
        keys: resourcesOf('kms:'),
      };
    }
    return out;
  }

  test('GIVEN a role per job, one with its own key WHEN synthesized THEN each task logs in as its own role and its execution role reads only that role\'s secret', () => {
    // GIVEN the least-privilege roles of docs/deploying-aws.md, the restore test in scratch mode (it connects)
    const input: AppConfigInput = {
      ...TEST_CONFIG,
      database: {
        ...TEST_CONFIG.database,
        logins: {
          backup: { user: 'meatbackup_backup', passwordSecretArn: secret('backup'), passwordSecretField: 'password' },
          restore: { user: 'meatbackup_restore', passwordSecretArn: secret('restore'), passwordSecretKmsKeyArn: KEY_ARN },
          restoreTest: { user: 'meatbackup_restore_test', passwordSecretArn: secret('restore-test') },
        },
      },
      restoreTest: { mode: 'scratch' },
    };
    // WHEN
    const { primary } = synthesize(input);
    // THEN
    expect(loginsOf(primary)).toEqual({
      'meatlizard-backup-backup': { user: 'meatbackup_backup', reads: `${secret('backup')}:password::`, secrets: [secret('backup')], keys: [] },
      'meatlizard-backup-restore': { user: 'meatbackup_restore', reads: secret('restore'), secrets: [secret('restore')], keys: [KEY_ARN] },
      'meatlizard-backup-restore-test': { user: 'meatbackup_restore_test', reads: secret('restore-test'), secrets: [secret('restore-test')], keys: [] },
    });
  });

  test('GIVEN a role for the backup only WHEN synthesized THEN the restore keeps the shared user and secret', () => {
    const { primary } = synthesize({ ...TEST_CONFIG, database: { ...TEST_CONFIG.database, logins: { backup: { user: 'meatbackup_backup', passwordSecretArn: secret('backup') } } } });
    const logins = loginsOf(primary);
    expect(logins['meatlizard-backup-backup']).toMatchObject({ user: 'meatbackup_backup', secrets: [secret('backup')] });
    expect(logins['meatlizard-backup-restore']).toMatchObject({ user: 'meatbackup', reads: `${SECRET_ARN}:password::`, secrets: [SECRET_ARN] });
  });

  test('GIVEN a login\'s key in another region WHEN parsed THEN one line names that login\'s key', () => {
    const input: AppConfigInput = {
      ...TEST_CONFIG,
      database: { ...TEST_CONFIG.database, logins: { restore: { user: 'r', passwordSecretArn: secret('restore'), passwordSecretKmsKeyArn: KEY_ARN.replace('eu-west-1', 'us-east-1') } } },
    };
    expect(() => synthesize(input)).toThrow(/config\.database\.logins\.restore\.passwordSecretKmsKeyArn: must be a key in primaryRegion eu-west-1, not us-east-1/);
  });
});

describe('GIVEN a restore task sized for a parallel load', () => {
  test('WHEN restoreTask names 4 vCPUs and 6 jobs THEN the restore task has them, and the backup task keeps its own size', () => {
    // WHEN
    const { primary } = synthesize({ ...TEST_CONFIG, restoreTask: { cpu: 4096, memoryMiB: 8192, jobs: 6 } });
    // THEN
    const definitions = primary.findResources('AWS::ECS::TaskDefinition');
    const byFamily = (family: string) => Object.values(definitions).find((d) => d.Properties.Family === family)!.Properties;
    expect(byFamily('meatlizard-backup-restore')).toMatchObject({ Cpu: '4096', Memory: '8192' });
    expect(byFamily('meatlizard-backup-restore').ContainerDefinitions[0].Environment).toContainEqual({ Name: ENV.restoreJobs, Value: '6' });
    expect(byFamily('meatlizard-backup-backup')).toMatchObject({ Cpu: '2048', Memory: '4096' });
  });
});
