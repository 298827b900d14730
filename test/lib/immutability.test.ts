/**
 * Issue 8's stack part: Object Lock on both buckets, grandfather-father-son lifecycle rules per retention tag in both,
 * a customer-managed KMS key per region whose policy only the project's roles may use (through S3, for their bucket),
 * and S3 Replication of KMS-encrypted objects into the replica key.
 */
import { Annotations, Match, type Template } from 'aws-cdk-lib/assertions';
import { ENV, RETENTION_CLASSES, RETENTION_TAG } from '../../src/contract';
import type { AppConfigInput } from '../../lib/config';
import { OPERATOR_ROLE_ARN, TEST_CONFIG, logicalIdOf, policyStatements, type SynthesizedTemplates, synthesize } from './fixture';

const PRIMARY_BUCKET = 'meatlizard-backup-123456789012-eu-west-1';
const REPLICA_BUCKET = 'meatlizard-backup-replica-123456789012-eu-central-1';
const ALIAS = 'alias/meatlizard-backup-backup';
const CRYPTO_ACTIONS = /^kms:(Decrypt|Encrypt|GenerateDataKey.*|ReEncrypt.*|\*)$/;

type Statement = Record<string, unknown> & { Sid?: string; Action: string | string[]; Condition?: Record<string, Record<string, unknown>> };

function actions(statement: { Action: string | string[] }): string[] {
  return ([] as string[]).concat(statement.Action);
}

/** The backup key of a template (the one with the project's alias), its logical id and key policy. */
function backupKey(template: Template): { id: string; statements: Statement[]; resource: Record<string, unknown> } {
  const alias = Object.values(template.findResources('AWS::KMS::Alias', { Properties: { AliasName: ALIAS } }));
  expect(alias).toHaveLength(1);
  const id = alias[0].Properties.TargetKeyId['Fn::GetAtt'][0] as string;
  const resource = template.findResources('AWS::KMS::Key')[id];
  return { id, statements: resource.Properties.KeyPolicy.Statement as Statement[], resource };
}

/** The key policy statement with `sid`. */
function keyStatement(template: Template, sid: string): Statement {
  const found = backupKey(template).statements.filter((s) => s.Sid === sid);
  expect(found).toHaveLength(1);
  return found[0];
}

/** The statements of the DefaultPolicy of the role with `roleId`. */
function roleStatements(template: Template, roleId: string): Statement[] {
  return policyStatements(template)
    .filter(({ logicalId }) => {
      const roles = template.findResources('AWS::IAM::Policy')[logicalId]?.Properties.Roles as Array<{ Ref: string }> | undefined;
      return roles?.some((r) => r.Ref === roleId);
    })
    .map(({ statement }) => statement as Statement);
}

function roleIdNamed(template: Template, roleName: string): string {
  return logicalIdOf(template, 'AWS::IAM::Role', { RoleName: roleName });
}

function taskRoleOf(template: Template, family: string): string {
  const id = logicalIdOf(template, 'AWS::ECS::TaskDefinition', { Family: family });
  return template.findResources('AWS::ECS::TaskDefinition')[id].Properties.TaskRoleArn['Fn::GetAtt'][0] as string;
}

function bucketOf(template: Template, name: string): Record<string, unknown> {
  return template.findResources('AWS::S3::Bucket')[logicalIdOf(template, 'AWS::S3::Bucket', { BucketName: name })].Properties;
}

/** kms:ViaService and the encryption context of `bucket`, as every key use is conditioned. */
function throughS3(region: string, bucket: string): Record<string, unknown> {
  return {
    StringEquals: { 'kms:ViaService': `s3.${region}.amazonaws.com` },
    StringLike: { 'kms:EncryptionContext:aws:s3:arn': [`arn:aws:s3:::${bucket}`, `arn:aws:s3:::${bucket}/*`] },
  };
}

describe('immutability, retention classes and encryption', () => {
  // GIVEN the test configuration (encryption defaults to kms, lockDays to 35), synthesized once
  let synthesized: SynthesizedTemplates;
  beforeAll(() => {
    synthesized = synthesize();
  });

  describe('Object Lock', () => {
    test.each([
      ['primary', PRIMARY_BUCKET],
      ['replica', REPLICA_BUCKET],
    ] as const)('THEN the %s bucket has Object Lock enabled, without a default retention, and is versioned', (stack, name) => {
      const bucket = bucketOf(synthesized[stack], name);
      expect(bucket).toMatchObject({ ObjectLockEnabled: true, VersioningConfiguration: { Status: 'Enabled' } });
      // no default retention: the backup locks its own objects, transcripts stay unlocked
      expect(bucket.ObjectLockConfiguration).toBeUndefined();
    });

    test('THEN the access-log buckets have no Object Lock (S3 cannot deliver logs into a locked bucket)', () => {
      for (const template of [synthesized.primary, synthesized.replica]) {
        for (const bucket of Object.values(template.findResources('AWS::S3::Bucket', { Properties: { BucketName: Match.absent() } }))) {
          expect(bucket.Properties.ObjectLockEnabled).toBeUndefined();
        }
      }
    });

    test('THEN the backup task is told the lock days and each class\'s days, and may lock in governance mode only, for at most a monthly backup\'s life', () => {
      const { primary } = synthesized;
      primary.hasResourceProperties('AWS::ECS::TaskDefinition', {
        Family: 'meatlizard-backup-backup',
        ContainerDefinitions: [
          Match.objectLike({
            Environment: Match.arrayWith([
              { Name: ENV.lockDays, Value: '35' },
              { Name: ENV.retentionDays, Value: 'daily:14,weekly:56,monthly:365' },
            ]),
          }),
        ],
      });
      const statements = roleStatements(primary, taskRoleOf(primary, 'meatlizard-backup-backup'));
      expect(statements.find((s) => s.Sid === 'LockNewBackups')).toEqual({
        Sid: 'LockNewBackups',
        Action: 's3:PutObjectRetention',
        Effect: 'Allow',
        Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [expect.any(String), 'Arn'] }, '/backups/*']] },
        Condition: {
          StringEquals: { 's3:object-lock-mode': 'GOVERNANCE' },
          // a monthly backup is locked until it expires (365 days), +1 of slack
          NumericLessThanEquals: { 's3:object-lock-remaining-retention-days': '366' },
        },
      });
    });

    test('THEN nobody may bypass governance retention, and only the backup task may delete backup versions (its failed run\'s cleanup, of objects it has not locked yet), under backups/ only', () => {
      const found: string[] = [];
      const bypass: string[] = [];
      for (const template of [synthesized.primary, synthesized.replica]) {
        for (const { logicalId, statement } of policyStatements(template)) {
          if (statement.Effect !== 'Allow') continue;
          bypass.push(...actions(statement as Statement).filter((a) => /^s3:(\*|BypassGovernance\w*|Bypass\*)$/i.test(a)).map((a) => `${logicalId}: ${a}`));
          const granted = actions(statement as Statement).filter((a) => /^s3:(DeleteObjectVersion|BypassGovernanceRetention|PutBucketObjectLockConfiguration|PutLifecycleConfiguration|DeleteObject)$/.test(a));
          if (granted.length === 0) continue;
          found.push(logicalId);
          expect({ logicalId, statement }).toEqual({
            logicalId: expect.stringMatching(/^BackupTaskTaskDefinitionTaskRoleDefaultPolicy/),
            statement: {
              Sid: 'RemoveFailedBackup',
              Action: 's3:DeleteObjectVersion',
              Effect: 'Allow',
              Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [expect.any(String), 'Arn'] }, '/backups/*']] },
            },
          });
        }
      }
      expect(found).toHaveLength(1);
      expect(bypass).toEqual([]);
    });

    test('THEN the backup task may tag only objects without a class yet, and only with a class', () => {
      const statements = roleStatements(synthesized.primary, taskRoleOf(synthesized.primary, 'meatlizard-backup-backup'));
      const tagging = statements.filter((s) => actions(s).includes('s3:PutObjectTagging'));
      expect(tagging).toEqual([
        expect.objectContaining({
          Sid: 'ClassifyNewBackups',
          Action: 's3:PutObjectTagging',
          Condition: {
            Null: { [`s3:ExistingObjectTag/${RETENTION_TAG}`]: 'true' },
            StringEquals: { [`s3:RequestObjectTag/${RETENTION_TAG}`]: [...RETENTION_CLASSES] },
          },
        }),
      ]);
      expect(statements.find((s) => s.Sid === 'ReadRetentionSettings')).toMatchObject({
        Action: ['s3:GetBucketObjectLockConfiguration', 's3:GetLifecycleConfiguration'],
      });
    });

    test('THEN the replication role copies each version\'s retention and legal hold', () => {
      const { primary } = synthesized;
      const statements = roleStatements(primary, roleIdNamed(primary, 'meatlizard-backup-replication-eu-west-1'));
      expect(statements.find((s) => s.Sid === 'ReadSourceVersions')).toMatchObject({
        Action: expect.arrayContaining(['s3:GetObjectRetention', 's3:GetObjectLegalHold', 's3:GetObjectVersionForReplication']),
      });
    });

    test('GIVEN lockDays 0 WHEN synthesized THEN the buckets keep Object Lock, but the task may neither lock nor bypass', () => {
      // WHEN
      const { primary, replica } = synthesize({ ...TEST_CONFIG, retention: { lockDays: 0 } });
      // THEN
      expect(bucketOf(primary, PRIMARY_BUCKET).ObjectLockEnabled).toBe(true);
      expect(bucketOf(replica, REPLICA_BUCKET).ObjectLockEnabled).toBe(true);
      primary.hasResourceProperties('AWS::ECS::TaskDefinition', {
        Family: 'meatlizard-backup-backup',
        ContainerDefinitions: [Match.objectLike({ Environment: Match.arrayWith([{ Name: ENV.lockDays, Value: '0' }]) })],
      });
      const statements = roleStatements(primary, taskRoleOf(primary, 'meatlizard-backup-backup'));
      const granted = statements.flatMap(actions);
      expect(granted).not.toContain('s3:PutObjectRetention');
      expect(granted).not.toContain('s3:BypassGovernanceRetention');
      expect(statements.find((s) => s.Sid === 'RemoveFailedBackup')?.Action).toBe('s3:DeleteObjectVersion');
    });
  });

  describe('grandfather-father-son lifecycle', () => {
    test.each([
      ['primary', PRIMARY_BUCKET],
      ['replica', REPLICA_BUCKET],
    ] as const)('THEN the %s bucket expires each retention tag after its own period, tiers weekly and monthly, and keeps a catch-all', (stack, name) => {
      const rules = (bucketOf(synthesized[stack], name).LifecycleConfiguration as { Rules: unknown[] }).Rules;
      expect(rules).toEqual([
        { Id: 'abort-incomplete-multipart-uploads', Status: 'Enabled', AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 } },
        { Id: 'backups-daily', Status: 'Enabled', Prefix: 'backups/', TagFilters: [{ Key: RETENTION_TAG, Value: 'daily' }], ExpirationInDays: 14 },
        {
          Id: 'backups-weekly',
          Status: 'Enabled',
          Prefix: 'backups/',
          TagFilters: [{ Key: RETENTION_TAG, Value: 'weekly' }],
          Transitions: [{ StorageClass: 'STANDARD_IA', TransitionInDays: 30 }],
          ExpirationInDays: 56,
        },
        {
          Id: 'backups-monthly',
          Status: 'Enabled',
          Prefix: 'backups/',
          TagFilters: [{ Key: RETENTION_TAG, Value: 'monthly' }],
          Transitions: [{ StorageClass: 'GLACIER_IR', TransitionInDays: 30 }],
          ExpirationInDays: 365,
        },
        // untagged backups (written before tagging): S3 cannot match "no tag", so this matches every backup and is the longest
        { Id: 'backups-untagged', Status: 'Enabled', Prefix: 'backups/', ExpirationInDays: 365 },
        { Id: 'noncurrent-versions-expiry', Status: 'Enabled', NoncurrentVersionExpiration: { NoncurrentDays: 30 }, ExpiredObjectDeleteMarker: true },
      ]);
    });

    test('THEN the catch-all never expires a tagged backup before its own rule (the earliest expiry wins) and competes with no transition', () => {
      const rules = (bucketOf(synthesized.primary, PRIMARY_BUCKET).LifecycleConfiguration as { Rules: Array<Record<string, unknown>> }).Rules;
      const catchAll = rules.find((r) => r.Id === 'backups-untagged') as Record<string, unknown>;
      expect(catchAll.Transitions).toBeUndefined();
      for (const cls of RETENTION_CLASSES) {
        const rule = rules.find((r) => r.Id === `backups-${cls}`) as { ExpirationInDays: number };
        expect(rule.ExpirationInDays).toBeLessThanOrEqual(catchAll.ExpirationInDays as number);
      }
    });

    test('GIVEN other periods and transitions WHEN synthesized THEN both buckets follow them', () => {
      // GIVEN
      const input: AppConfigInput = {
        ...TEST_CONFIG,
        retention: {
          dailyDays: 7,
          weeklyDays: 35,
          monthlyDays: 730,
          transitions: { daily: null, weekly: null, monthly: { storageClass: 'STANDARD_IA', afterDays: 60 } },
        },
      };
      // WHEN
      const { primary, replica } = synthesize(input);
      // THEN
      for (const [template, name] of [
        [primary, PRIMARY_BUCKET],
        [replica, REPLICA_BUCKET],
      ] as const) {
        const rules = (bucketOf(template, name).LifecycleConfiguration as { Rules: Array<Record<string, unknown>> }).Rules;
        const byId = Object.fromEntries(rules.map((r) => [r.Id, r]));
        expect(byId['backups-daily']).toMatchObject({ ExpirationInDays: 7 });
        expect(byId['backups-weekly']).toMatchObject({ ExpirationInDays: 35 });
        expect(byId['backups-weekly'].Transitions).toBeUndefined();
        expect(byId['backups-monthly']).toMatchObject({ ExpirationInDays: 730, Transitions: [{ StorageClass: 'STANDARD_IA', TransitionInDays: 60 }] });
        expect(byId['backups-untagged']).toMatchObject({ ExpirationInDays: 730 });
      }
    });
  });

  describe('KMS keys', () => {
    test.each(['primary', 'replica'] as const)('THEN the %s stack has its own rotating key, aliased, retained with the bucket', (stack) => {
      const { resource } = backupKey(synthesized[stack]);
      expect(resource).toMatchObject({
        DeletionPolicy: 'Retain',
        UpdateReplacePolicy: 'Retain',
        Properties: { EnableKeyRotation: true, PendingWindowInDays: 30 },
      });
    });

    test.each([
      ['primary', PRIMARY_BUCKET],
      ['replica', REPLICA_BUCKET],
    ] as const)('THEN the %s bucket encrypts with that key and an S3 Bucket Key', (stack, name) => {
      expect(bucketOf(synthesized[stack], name).BucketEncryption).toEqual({
        ServerSideEncryptionConfiguration: [
          { BucketKeyEnabled: true, ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: { 'Fn::GetAtt': [backupKey(synthesized[stack]).id, 'Arn'] } } },
        ],
      });
    });

    test.each([
      ['primary', 'eu-west-1', PRIMARY_BUCKET],
      ['replica', 'eu-central-1', REPLICA_BUCKET],
    ] as const)('THEN the %s key policy: the account administers, and each use names one role, through S3, for its bucket', (stack, region, bucket) => {
      const { statements } = backupKey(synthesized[stack]);
      const [admin, noGrants, ...uses] = statements;
      // nobody gives themselves a grant (a grant would Decrypt past this policy), except an AWS service for its resource
      expect(noGrants).toEqual({
        Sid: 'NoGrantsExceptForAwsServices',
        Effect: 'Deny',
        Principal: { AWS: '*' },
        Action: 'kms:CreateGrant',
        Resource: '*',
        Condition: { BoolIfExists: { 'kms:GrantIsForAWSResource': 'false' } },
      });
      // administration only: nothing cryptographic, no kms:*
      expect(admin.Principal).toEqual({ AWS: 'arn:aws:iam::123456789012:root' });
      expect(admin.Condition).toBeUndefined();
      expect(actions(admin).filter((a) => CRYPTO_ACTIONS.test(a))).toEqual([]);
      expect(actions(admin)).toEqual(expect.arrayContaining(['kms:Put*', 'kms:ScheduleKeyDeletion']));
      expect(uses.length).toBeGreaterThanOrEqual(4);
      for (const use of uses) {
        // the operators' statement names the configured roles (ArnLike: a `*` may stand for a role's suffix)
        const naming = use.Sid === 'OperatorsUseThroughS3' ? { ArnLike: { 'aws:PrincipalArn': [OPERATOR_ROLE_ARN] } } : { ArnEquals: { 'aws:PrincipalArn': expect.anything() } };
        expect(use).toEqual({
          Sid: expect.any(String),
          Effect: 'Allow',
          Principal: { AWS: 'arn:aws:iam::123456789012:root' },
          Resource: '*',
          Action: use.Action,
          Condition: { ...naming, ...throughS3(region, bucket) },
        });
        for (const action of actions(use)) expect(action).toMatch(/^kms:(Decrypt|Encrypt|GenerateDataKey)$/);
      }
      for (const statement of [admin, ...uses]) {
        expect(JSON.stringify(statement.Principal)).not.toMatch(/"\*"/);
        expect(actions(statement)).not.toContain('kms:*');
      }
    });

    test('THEN the primary key is used by the backup task (write), the restore task, the ops function, the replication role and the promotion function (read)', () => {
      const { primary } = synthesized;
      const principal = (sid: string) => (keyStatement(primary, sid).Condition as { ArnEquals: { 'aws:PrincipalArn': unknown } }).ArnEquals['aws:PrincipalArn'];
      expect(keyStatement(primary, 'BackupWritesWithKey').Action).toEqual(['kms:Decrypt', 'kms:GenerateDataKey']);
      expect(principal('BackupWritesWithKey')).toEqual({ 'Fn::GetAtt': [taskRoleOf(primary, 'meatlizard-backup-backup'), 'Arn'] });
      expect(keyStatement(primary, 'RestoreReadsWithKey').Action).toBe('kms:Decrypt');
      expect(principal('RestoreReadsWithKey')).toEqual({ 'Fn::GetAtt': [taskRoleOf(primary, 'meatlizard-backup-restore'), 'Arn'] });
      expect(keyStatement(primary, 'OpsReadsWithKey').Action).toBe('kms:Decrypt');
      expect(principal('OpsReadsWithKey')).toEqual({ 'Fn::GetAtt': [roleIdNamed(primary, 'meatlizard-backup-ops-eu-west-1'), 'Arn'] });
      expect(keyStatement(primary, 'ReplicationDecryptsSource').Action).toBe('kms:Decrypt');
      expect(principal('ReplicationDecryptsSource')).toEqual({ 'Fn::GetAtt': [roleIdNamed(primary, 'meatlizard-backup-replication-eu-west-1'), 'Arn'] });
      // the promotion function lives in the replica stack, deployed first: named by its fixed role name
      expect(keyStatement(primary, 'PromotionReadsBackups').Action).toBe('kms:Decrypt');
      expect(principal('PromotionReadsBackups')).toBe('arn:aws:iam::123456789012:role/meatlizard-backup-promote-eu-central-1');
      roleIdNamed(synthesized.replica, 'meatlizard-backup-promote-eu-central-1');
    });

    test('THEN the replica key is used by the promotion function and the Batch Operations role (read), and by the primary\'s replication role and ops function, by their fixed names', () => {
      const { primary, replica } = synthesized;
      const principal = (sid: string) => (keyStatement(replica, sid).Condition as { ArnEquals: { 'aws:PrincipalArn': unknown } }).ArnEquals['aws:PrincipalArn'];
      expect(principal('PromotionReadsReplica')).toEqual({ 'Fn::GetAtt': [roleIdNamed(replica, 'meatlizard-backup-promote-eu-central-1'), 'Arn'] });
      expect(principal('BatchCopyReadsReplica')).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^BatchOperationsRole/), 'Arn'] });
      expect(keyStatement(replica, 'ReplicationEncryptsReplicas').Action).toEqual(['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey']);
      expect(principal('ReplicationEncryptsReplicas')).toBe('arn:aws:iam::123456789012:role/meatlizard-backup-replication-eu-west-1');
      expect(keyStatement(replica, 'OpsReadsReplica').Action).toBe('kms:Decrypt');
      expect(principal('OpsReadsReplica')).toBe('arn:aws:iam::123456789012:role/meatlizard-backup-ops-eu-west-1');
      // ...names the primary stack really gives those roles
      roleIdNamed(primary, 'meatlizard-backup-replication-eu-west-1');
      roleIdNamed(primary, 'meatlizard-backup-ops-eu-west-1');
    });

    test.each([
      ['primary', 'eu-west-1', PRIMARY_BUCKET],
      ['replica', 'eu-central-1', REPLICA_BUCKET],
    ] as const)('THEN the operator roles may read and write through S3 with the %s key, for its bucket only; nobody else outside the project', (stack, region, bucket) => {
      const template = synthesized[stack];
      expect(keyStatement(template, 'OperatorsUseThroughS3')).toEqual({
        Sid: 'OperatorsUseThroughS3',
        Effect: 'Allow',
        Principal: { AWS: 'arn:aws:iam::123456789012:root' },
        Resource: '*',
        Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
        Condition: { ArnLike: { 'aws:PrincipalArn': [OPERATOR_ROLE_ARN] }, ...throughS3(region, bucket) },
      });
      // no statement hands cryptographic use to the account's IAM without naming who (the AWS default key policy would)
      for (const statement of backupKey(template).statements) {
        if (!actions(statement).some((a) => CRYPTO_ACTIONS.test(a))) continue;
        expect(Object.keys(statement.Condition ?? {})).toEqual(expect.arrayContaining([expect.stringMatching(/^Arn(Equals|Like)$/)]));
      }
    });

    test('GIVEN no operator roles WHEN synthesized THEN neither key names one, and synth warns that no person can read a backup', () => {
      const { app, primary, replica } = synthesize({ ...TEST_CONFIG, operatorRoleArns: [] });
      for (const template of [primary, replica]) expect(backupKey(template).statements.map((s) => s.Sid)).not.toContain('OperatorsUseThroughS3');
      for (const stack of [app.stacks.primary, app.stacks.replica]) {
        Annotations.fromStack(stack).hasWarning(`/${stack.stackName}/BackupKey`, Match.stringLikeRegexp('operatorRoleArns is empty: no person can read a backup'));
      }
    });

    test('THEN every identity statement on a key is limited to S3 and one bucket, and names the key or, in the other region, its alias', () => {
      let checked = 0;
      for (const template of [synthesized.primary, synthesized.replica]) {
        for (const { statement } of policyStatements(template)) {
          const kmsActions = actions(statement as Statement).filter((a) => a.startsWith('kms:'));
          if (kmsActions.length === 0 || statement.Effect !== 'Allow') continue;
          checked += 1;
          const condition = statement.Condition as Record<string, Record<string, unknown>>;
          expect(condition.StringEquals['kms:ViaService']).toMatch(/^s3\.eu-(west|central)-1\.amazonaws\.com$/);
          expect(condition.StringLike['kms:EncryptionContext:aws:s3:arn']).toEqual(expect.arrayContaining([expect.stringMatching(/^arn:aws:s3:::meatlizard-backup-/)]));
          if (typeof statement.Resource === 'string') {
            expect(statement.Resource).toMatch(/^arn:aws:kms:eu-(west|central)-1:123456789012:key\/\*$/);
            expect(condition['ForAnyValue:StringEquals']).toEqual({ 'kms:ResourceAliases': [ALIAS] });
          } else {
            expect(statement.Resource).toEqual({ 'Fn::GetAtt': [backupKey(template).id, 'Arn'] });
          }
        }
      }
      // backup, restore, ops (both keys), replication (both keys); promotion (both keys), Batch Operations
      expect(checked).toBeGreaterThanOrEqual(9);
    });
  });

  describe('replication of encrypted objects', () => {
    test('THEN KMS-encrypted objects are replicated and the replicas are encrypted with the replica key, by its alias ARN', () => {
      const { primary, replica } = synthesized;
      const rule = (bucketOf(primary, PRIMARY_BUCKET).ReplicationConfiguration as { Rules: Array<Record<string, unknown>> }).Rules[0];
      expect(rule.SourceSelectionCriteria).toEqual({ SseKmsEncryptedObjects: { Status: 'Enabled' } });
      expect(rule.Destination).toMatchObject({
        Bucket: `arn:aws:s3:::${REPLICA_BUCKET}`,
        EncryptionConfiguration: { ReplicaKmsKeyID: `arn:aws:kms:eu-central-1:123456789012:${ALIAS}` },
      });
      // the alias the replica stack gives its key
      replica.hasResourceProperties('AWS::KMS::Alias', { AliasName: ALIAS, TargetKeyId: { 'Fn::GetAtt': [backupKey(replica).id, 'Arn'] } });
    });

    test('THEN the replication role decrypts the source with its key and encrypts the replicas with the replica key', () => {
      const { primary } = synthesized;
      const statements = roleStatements(primary, roleIdNamed(primary, 'meatlizard-backup-replication-eu-west-1'));
      expect(statements.filter((s) => actions(s).some((a) => a.startsWith('kms:')))).toEqual([
        {
          Sid: 'ReplicationDecryptsSource',
          Action: 'kms:Decrypt',
          Effect: 'Allow',
          Resource: { 'Fn::GetAtt': [backupKey(primary).id, 'Arn'] },
          Condition: throughS3('eu-west-1', PRIMARY_BUCKET),
        },
        {
          Sid: 'ReplicationEncryptsReplicas',
          Action: ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey'],
          Effect: 'Allow',
          Resource: 'arn:aws:kms:eu-central-1:123456789012:key/*',
          Condition: { ...throughS3('eu-central-1', REPLICA_BUCKET), 'ForAnyValue:StringEquals': { 'kms:ResourceAliases': [ALIAS] } },
        },
      ]);
    });
  });

  describe('GIVEN encryption "s3"', () => {
    let s3Only: SynthesizedTemplates;
    beforeAll(() => {
      s3Only = synthesize({ ...TEST_CONFIG, encryption: 's3' });
    });

    test('THEN no backup key exists and both buckets use SSE-S3', () => {
      for (const [template, name] of [
        [s3Only.primary, PRIMARY_BUCKET],
        [s3Only.replica, REPLICA_BUCKET],
      ] as const) {
        template.resourcePropertiesCountIs('AWS::KMS::Alias', { AliasName: ALIAS }, 0);
        expect(bucketOf(template, name).BucketEncryption).toEqual({
          ServerSideEncryptionConfiguration: [{ BucketKeyEnabled: false, ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
        });
        expect(bucketOf(template, name).ObjectLockEnabled).toBe(true);
      }
      // the replica stack has no key at all (the primary keeps the alarm topic's)
      expect(Object.keys(s3Only.replica.findResources('AWS::KMS::Key'))).toEqual([]);
    });

    test('THEN replication has no KMS settings and no role has a KMS permission', () => {
      const rule = (bucketOf(s3Only.primary, PRIMARY_BUCKET).ReplicationConfiguration as { Rules: Array<Record<string, unknown>> }).Rules[0];
      expect(rule.SourceSelectionCriteria).toBeUndefined();
      expect((rule.Destination as Record<string, unknown>).EncryptionConfiguration).toBeUndefined();
      for (const template of [s3Only.primary, s3Only.replica]) {
        expect(policyStatements(template).flatMap(({ statement }) => actions(statement as Statement)).filter((a) => a.startsWith('kms:'))).toEqual([]);
      }
    });
  });
});
