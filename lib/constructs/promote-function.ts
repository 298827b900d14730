import { Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { BATCH_JOB_TAG, DEFAULT_PREFIX, ENV, promotedBucketPattern } from '../../src/contract';
import type { AppConfig } from '../config';
import { acknowledgeWildcardResource, defaultPolicyOf } from '../nag';
import type { BackupKey, OtherRegionKey } from './backup-key';
import { type BatchOperationsRole, bucketArn } from './batch-operations-role';
import { addOpsHandler, grantKeyReads } from './ops-handler';

/**
 * Environment variable of the primary region's ops function naming this function, so its `promote` answer can say
 * where promotion runs. The ops handler reads the same name (lambda/ops/actions/promote.ts; a test keeps the two equal).
 */
export const PROMOTE_FUNCTION_NAME_ENV = ENV.promoteFunctionName;

/** Physical name of the promotion function: fixed, so an operator finds it by name during an outage. */
export function promoteFunctionName(config: AppConfig): string {
  return `${config.name}-promote`;
}

/**
 * The buckets a promotion may create and fill. The target is chosen at recovery time: the original name once S3 has
 * freed it, or a new name when it has not. A new name must match `<name>-promoted-*` (promotedBucketPattern in
 * src/contract.ts): `<name>-*` would also match the replica and the access-log buckets, whose names CloudFormation
 * derives from the stack names (`<name>-primary-…`, `<name>-replica-…`), and this role could rewrite their policies.
 */
export function promotionTargetNames(config: AppConfig, primaryBucketName: string): string[] {
  return [primaryBucketName, promotedBucketPattern(config.name)];
}

export interface PromoteFunctionProps {
  /** Physical function name (see {@link promoteFunctionName}). */
  readonly functionName: string;
  /**
   * Fixed name of the function's role, for the primary region's key policy, which must name it (replication-check
   * decrypts the primary's newest backup) without a cross-region reference.
   * @default - generated
   */
  readonly roleName?: string;
  /** The replica bucket: promotion's source and replication-check's copy; read, never written. */
  readonly replica: s3.IBucket;
  /**
   * Name of the primary bucket (in the other region): `promote`'s default target (copy back under the original name)
   * and what replication-check reads backups/ of.
   */
  readonly primaryBucketName: string;
  /** Region of the primary bucket: where `promote` creates the original name again unless the event names a region. */
  readonly primaryRegion: string;
  /** Names or `*` patterns of the buckets promotion may create and fill (see {@link promotionTargetNames}). */
  readonly targetBucketNames: string[];
  /** The role the function hands to S3 Batch Operations for `"engine": "batch"`. */
  readonly batchRole: BatchOperationsRole;
  readonly logRetention: logs.RetentionDays;
  /**
   * How long one invocation may run. The copy engine stops scheduling copies in time to answer, and the answer of a
   * plan says when the bucket is too large for one run.
   * @default Duration.minutes(15) (the Lambda maximum)
   */
  readonly timeout?: Duration;
  /** @default 1024 */
  readonly memorySize?: number;
}

/**
 * The promotion function, deployed in the replica region so it still runs when the primary region is down. It is the
 * same handler as the primary's ops function (lambda/ops/handler.ts, one event contract) with the replica's
 * environment: `{"action": "promote", …}` (plan unless `"confirm": true`) and `{"action": "replication-check"}`.
 *
 * Its role may do exactly what src/promote calls:
 * - replica: HeadBucket and ListObjectsV2 (s3:ListBucket); HeadObject, GetObject and the copy source of CopyObject
 *   and UploadPartCopy (s3:GetObject); GetObjectTagging, also implied by CopyObject's TaggingDirective COPY;
 * - primary: backups/ only, read, for replication-check (listBackups, manifests, HeadObject);
 * - target (see {@link promotionTargetNames}): CreateBucket with ObjectOwnership (s3:CreateBucket,
 *   s3:PutBucketOwnershipControls); HeadBucket and listings (s3:ListBucket); Get/PutBucketVersioning,
 *   PutPublicAccessBlock (s3:PutBucketPublicAccessBlock), Get/PutBucketEncryption (s3:Get/PutEncryptionConfiguration),
 *   Get/PutBucketPolicy; object writes (CopyObject, CreateMultipartUpload, UploadPartCopy, CompleteMultipartUpload:
 *   s3:PutObject; tags: s3:PutObjectTagging; AbortMultipartUpload), HeadObject for verification (s3:GetObject), in
 *   buckets of this account only (s3:ResourceAccount);
 * - S3 Batch Operations: s3:CreateJob (no resource-level permissions: "*"), s3:PutJobTagging (CreateJob with Tags)
 *   of its one tag and s3:DescribeJob on this region's jobs, and iam:PassRole of the Batch role to
 *   batchoperations.s3.amazonaws.com only;
 * - an explicit deny of every write it has on the replica (belt and braces: no target name matches it). The live
 *   primary is a target by its exact name, shared with the bucket a copy back recreates under it, so IAM cannot
 *   tell them apart: the primary's own bucket policy denies this role its settings writes instead
 *   (BackupBucket.denyBucketSettingsTo in backup-bucket.ts), and goes with the bucket when it is lost.
 * With `encryption: 'kms'`, {@link grantBackupKeys} adds Decrypt, through S3, of the replica's and the primary's objects;
 * every target uses SSE-S3, so copies need no key.
 */
export class PromoteFunction extends Construct {
  readonly function: nodejs.NodejsFunction;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: PromoteFunctionProps) {
    super(scope, id);
    const stack = Stack.of(this);

    const handler = addOpsHandler(this, {
      functionName: props.functionName,
      roleName: props.roleName,
      roleDescription: 'meatbackup promotion Lambda: read the replica, create and fill a promotion target, submit Batch copy jobs',
      description: 'meatbackup promotion (replica region): {"action": "promote" | "replication-check", …}',
      memorySize: props.memorySize ?? 1024,
      timeout: props.timeout ?? Duration.minutes(15),
      // A promotion is started by a person; a failed or stopped run is sent again by that person (it resumes).
      extra: { retryAttempts: 0 },
      logRetention: props.logRetention,
      environment: {
        [ENV.bucket]: props.primaryBucketName,
        [ENV.prefix]: DEFAULT_PREFIX,
        [ENV.replicaBucket]: props.replica.bucketName,
        [ENV.replicaRegion]: stack.region,
        [ENV.primaryRegion]: props.primaryRegion,
        [ENV.batchOperationsRole]: props.batchRole.role.roleArn,
        [ENV.accountId]: stack.account,
        [ENV.promoteTargets]: props.targetBucketNames.join(','),
      },
    });
    this.function = handler.function;
    this.role = handler.role;
    this.logGroup = handler.logGroup;

    this.grantPromotion(props);
  }

  /**
   * With KMS: read the replica with its key (this region), and the primary's newest backup with the primary region's
   * key, known by its alias (replication-check).
   */
  grantBackupKeys(replicaKey: BackupKey, primaryKey: OtherRegionKey): void {
    grantKeyReads(this.role, replicaKey, primaryKey, {
      local: 'PromotionReadsReplica',
      other: 'PromotionReadsPrimaryWithKey',
      otherReason: 'replication-check decrypts the primary\'s newest backup with the primary region\'s key, known by alias only: limited to that alias, S3 and the primary bucket.',
    });
  }

  /** Each statement of the class comment, in that order; each step acknowledges its own wildcards. */
  private grantPromotion(props: PromoteFunctionProps): void {
    this.grantReplicaRead(props.replica);
    this.grantPrimaryBackupsRead(props.primaryBucketName);
    this.grantTargetWrites(props.targetBucketNames);
    this.grantBatchJobs(props.batchRole);
    this.denyReplicaWrites(props.replica);
  }

  /** Promotion's source and replication-check's copy: list and read every object, with its tags. */
  private grantReplicaRead(replica: s3.IBucket): void {
    const replicaObjects = replica.arnForObjects('*');
    this.role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'ListReplica', actions: ['s3:ListBucket'], resources: [replica.bucketArn] }));
    this.role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'ReadReplica', actions: ['s3:GetObject', 's3:GetObjectTagging'], resources: [replicaObjects] }));
    acknowledgeWildcardResource(
      defaultPolicyOf(this.role),
      replicaObjects,
      'Promotion copies every current object of the replica and replication-check reads its newest backup: object reads on replica/*.',
    );
  }

  /** replication-check reads the primary's newest backup and its manifest (another region): backups/ only, read only. */
  private grantPrimaryBackupsRead(primaryBucketName: string): void {
    const primary = bucketArn(this, primaryBucketName);
    const primaryBackups = `${primary}/${DEFAULT_PREFIX}*`;
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ListPrimaryBackups',
        actions: ['s3:ListBucket'],
        resources: [primary],
        conditions: { StringLike: { 's3:prefix': [DEFAULT_PREFIX, `${DEFAULT_PREFIX}*`] } },
      }),
    );
    this.role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'ReadPrimaryBackups', actions: ['s3:GetObject'], resources: [primaryBackups] }));
    acknowledgeWildcardResource(
      defaultPolicyOf(this.role),
      primaryBackups,
      'replication-check reads the newest backup and its manifest in the primary bucket (another region): backups/ only, read only.',
    );
  }

  /** Create and harden the target named at recovery time, copy into it (this account's buckets only) and verify. */
  private grantTargetWrites(targetBucketNames: string[]): void {
    const targetBuckets = targetBucketNames.map((name) => bucketArn(this, name));
    const targetObjects = targetBuckets.map((arn) => `${arn}/*`);
    const statements = [
      new iam.PolicyStatement({ sid: 'CreateTarget', actions: ['s3:CreateBucket', 's3:PutBucketOwnershipControls'], resources: targetBuckets }),
      new iam.PolicyStatement({
        sid: 'HardenTarget',
        actions: [
          's3:ListBucket',
          's3:GetBucketVersioning',
          's3:PutBucketVersioning',
          's3:PutBucketPublicAccessBlock',
          's3:GetEncryptionConfiguration',
          's3:PutEncryptionConfiguration',
          's3:GetBucketPolicy',
          's3:PutBucketPolicy',
        ],
        resources: targetBuckets,
      }),
      new iam.PolicyStatement({
        sid: 'CopyIntoTarget',
        actions: ['s3:PutObject', 's3:PutObjectTagging', 's3:GetObject', 's3:AbortMultipartUpload'],
        resources: targetObjects,
        conditions: { StringEquals: { 's3:ResourceAccount': Stack.of(this).account } },
      }),
    ];
    for (const statement of statements) this.role.addToPrincipalPolicy(statement);
    const policy = defaultPolicyOf(this.role);
    targetBucketNames.forEach((name, i) => {
      if (name.includes('*')) {
        acknowledgeWildcardResource(
          policy,
          targetBuckets[i],
          `The promotion target is named at recovery time (${name}): create it and set versioning, public access block, encryption and TLS-only policy.`,
        );
      }
      acknowledgeWildcardResource(
        policy,
        targetObjects[i],
        `Promotion copies every replica key into the target named at recovery time (${name}), in this account only, and verifies it.`,
      );
    });
  }

  /** `"engine": "batch"`: submit and follow S3 Batch Operations jobs that run as the one Batch role. */
  private grantBatchJobs(batchRole: BatchOperationsRole): void {
    const stack = Stack.of(this);
    const jobs = `arn:${stack.partition}:s3:${stack.region}:${stack.account}:job/*`;
    const statements = [
      new iam.PolicyStatement({ sid: 'CreateBatchJob', actions: ['s3:CreateJob'], resources: ['*'] }),
      new iam.PolicyStatement({ sid: 'DescribeBatchJobs', actions: ['s3:DescribeJob'], resources: [jobs] }),
      // CreateJob with Tags also needs s3:PutJobTagging ("Required permissions for Amazon S3 API operations", CreateJob:
      // https://docs.aws.amazon.com/AmazonS3/latest/userguide/using-with-s3-policy-actions.html ; job tags:
      // https://docs.aws.amazon.com/AmazonS3/latest/userguide/batch-ops-job-tags.html). Only the one tag it sets.
      new iam.PolicyStatement({
        sid: 'TagBatchJobs',
        actions: ['s3:PutJobTagging'],
        resources: [jobs],
        conditions: {
          StringEquals: { [`aws:RequestTag/${BATCH_JOB_TAG.key}`]: BATCH_JOB_TAG.value },
          'ForAllValues:StringEquals': { 'aws:TagKeys': [BATCH_JOB_TAG.key] },
        },
      }),
      new iam.PolicyStatement({
        sid: 'PassBatchRole',
        actions: ['iam:PassRole'],
        resources: [batchRole.role.roleArn],
        conditions: { StringEquals: { 'iam:PassedToService': 'batchoperations.s3.amazonaws.com' } },
      }),
    ];
    for (const statement of statements) this.role.addToPrincipalPolicy(statement);
    const policy = defaultPolicyOf(this.role);
    acknowledgeWildcardResource(
      policy,
      '*',
      's3:CreateJob has no resource-level permissions; what a job may touch is bounded by the one role it may pass (iam:PassRole below).',
    );
    acknowledgeWildcardResource(policy, jobs, 'Batch job ids are only known once CreateJob answers; DescribeJob and tagging (its one tag) are limited to this account and region.');
  }

  /** During a recovery the replica is the only good copy: deny every write this role has on it, whatever the targets. */
  private denyReplicaWrites(replica: s3.IBucket): void {
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'NeverWriteReplica',
        effect: iam.Effect.DENY,
        actions: [
          's3:PutBucketOwnershipControls',
          's3:PutBucketVersioning',
          's3:PutBucketPublicAccessBlock',
          's3:PutEncryptionConfiguration',
          's3:PutBucketPolicy',
          's3:PutObject',
          's3:PutObjectTagging',
          's3:AbortMultipartUpload',
        ],
        resources: [replica.bucketArn, replica.arnForObjects('*')],
      }),
    );
  }
}
