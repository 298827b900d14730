import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { DEFAULT_PREFIX, RETENTION_CLASSES, RETENTION_TAG, SIDECAR_SUFFIX, UNTAGGED_RULE_ID, retentionRuleId } from '../../src/contract';
import type { RetentionConfig } from '../config';
import { acknowledgeWildcardResource, defaultPolicyOf } from '../nag';
import { type BackupKey, KEY_USE, type OtherRegionKey, otherRegionKeyStatement } from './backup-key';

export interface BackupBucketReplication {
  /** The replica bucket (in another region); it must exist, be versioned and have Object Lock before this one deploys. */
  readonly destination: s3.IBucket;
  /** Fixed name of the replication role: the replica region's key policy names it (see keyUserRoleNames). */
  readonly roleName: string;
  /**
   * The replica region's key, by alias: replicas are encrypted with it (ReplicaKmsKeyID) and KMS-encrypted objects of
   * this bucket are replicated.
   * @default - no KMS: both buckets use SSE-S3
   */
  readonly destinationKey?: OtherRegionKey;
}

export interface BackupBucketProps {
  /** Physical bucket name (deterministic, see lib/naming.ts). */
  readonly bucketName: string;
  readonly retention: RetentionConfig;
  /**
   * Customer-managed key the bucket encrypts with by default (SSE-KMS with an S3 Bucket Key).
   * @default - SSE-S3
   */
  readonly encryptionKey?: BackupKey;
  /**
   * Replicate every object (and delete markers) to this destination with S3 Replication Time Control.
   * @default - no replication (the replica bucket itself)
   */
  readonly replication?: BackupBucketReplication;
}

/** S3 lifecycle storage classes by configuration name. */
const STORAGE_CLASS: Record<NonNullable<RetentionConfig['transitions']['daily']>['storageClass'], s3.StorageClass> = {
  STANDARD_IA: s3.StorageClass.INFREQUENT_ACCESS,
  ONEZONE_IA: s3.StorageClass.ONE_ZONE_INFREQUENT_ACCESS,
  INTELLIGENT_TIERING: s3.StorageClass.INTELLIGENT_TIERING,
  GLACIER_IR: s3.StorageClass.GLACIER_INSTANT_RETRIEVAL,
};

/**
 * The lifecycle both buckets share (a lifecycle expiry in the primary is not replicated, so the replica has its own):
 *
 * - grandfather-father-son: one rule per retention class, filtered by prefix backups/ and the tag `retention=<class>`
 *   the backup writes on the object and its sidecars, expiring it after the class's days and moving it to a colder
 *   storage class first when configured;
 * - a catch-all for backups/ with the longest period (monthlyDays): S3 cannot match "no tag", so it also matches
 *   tagged objects; where several rules expire an object the earliest wins, so it shortens no class and only expires
 *   what carries no class (backups written before tagging). No transition, so it never competes with a class's own;
 * - noncurrent versions (a lifecycle expiry or a delete leaves one) are removed after noncurrentVersionDays, and
 *   never before their Object Lock retention ends: S3 keeps a locked version until then.
 */
export function backupLifecycleRules(retention: RetentionConfig): s3.LifecycleRule[] {
  const byClass = RETENTION_CLASSES.map((cls): s3.LifecycleRule => {
    const transition = retention.transitions[cls];
    return {
      id: retentionRuleId(cls),
      prefix: DEFAULT_PREFIX,
      tagFilters: { [RETENTION_TAG]: cls },
      transitions: transition ? [{ storageClass: STORAGE_CLASS[transition.storageClass], transitionAfter: Duration.days(transition.afterDays) }] : undefined,
      expiration: Duration.days(retention[`${cls}Days`]),
    };
  });
  return [
    { id: 'abort-incomplete-multipart-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
    ...byClass,
    { id: UNTAGGED_RULE_ID, prefix: DEFAULT_PREFIX, expiration: Duration.days(retention.monthlyDays) },
    {
      id: 'noncurrent-versions-expiry',
      noncurrentVersionExpiration: Duration.days(retention.noncurrentVersionDays),
      expiredObjectDeleteMarker: true,
    },
  ];
}

/** The bucket-level writes that change how a bucket is protected (what hardening a new promotion target sets). */
export const BUCKET_SETTING_WRITES = [
  's3:PutBucketPolicy',
  's3:DeleteBucketPolicy',
  's3:PutBucketVersioning',
  's3:PutEncryptionConfiguration',
  's3:PutBucketPublicAccessBlock',
  's3:PutBucketOwnershipControls',
] as const;

/**
 * A versioned, encrypted, private, TLS-only bucket with Object Lock for backups (and the platform's transcripts), with
 * server access logs in a sibling bucket and, for the primary, S3 Replication to the replica bucket in the other region.
 * Object Lock has no default retention: the backup locks each of its objects (governance mode), transcripts stay
 * unlocked. Both buckets are retained when the stack is deleted: backups outlive their infrastructure.
 */
export class BackupBucket extends Construct {
  readonly bucket: s3.Bucket;
  /** Target of the bucket's server access logs. */
  readonly accessLogsBucket: s3.Bucket;
  /** The role S3 assumes to replicate; only with `replication`. */
  readonly replicationRole?: iam.Role;
  /** The bucket's customer-managed key (grant its use with {@link BackupKey.grant}); none with SSE-S3. */
  readonly encryptionKey?: BackupKey;

  constructor(scope: Construct, id: string, props: BackupBucketProps) {
    super(scope, id);

    this.accessLogsBucket = new s3.Bucket(this, 'AccessLogs', {
      // Log delivery writes with SSE-S3 only; KMS default encryption is not supported for access-log targets.
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      lifecycleRules: [
        { id: 'access-logs-expiry', expiration: Duration.days(props.retention.accessLogDays) },
        { id: 'abort-incomplete-multipart-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Validations.of(this.accessLogsBucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'This bucket is the server access log target of the backup bucket; logging it into itself would loop and a third bucket only moves the problem.',
    });

    if (props.replication) {
      this.replicationRole = new iam.Role(this, 'ReplicationRole', {
        roleName: props.replication.roleName,
        assumedBy: new iam.ServicePrincipal('s3.amazonaws.com'),
        description: `S3 Replication of ${props.bucketName} to the replica bucket`,
      });
    }

    const key = props.encryptionKey;
    this.encryptionKey = key;
    const destinationKey = props.replication?.destinationKey;
    this.bucket = new s3.Bucket(this, 'Bucket', {
      bucketName: props.bucketName,
      versioned: true,
      // Replication into a bucket with Object Lock needs Object Lock on the source too. No default retention.
      objectLockEnabled: true,
      // With a key, SSE-KMS is set on the L1 below.
      encryption: s3.BucketEncryption.S3_MANAGED,
      bucketKeyEnabled: false,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      serverAccessLogsBucket: this.accessLogsBucket,
      serverAccessLogsPrefix: 'access-logs/',
      lifecycleRules: backupLifecycleRules(props.retention),
      removalPolicy: RemovalPolicy.RETAIN,
      replicationRole: this.replicationRole,
      replicationRules: props.replication
        ? [
            {
              id: 'replicate-everything',
              destination: props.replication.destination,
              priority: 1,
              filter: { prefix: '' },
              replicationTimeControl: s3.ReplicationTimeValue.FIFTEEN_MINUTES,
              metrics: s3.ReplicationTimeValue.FIFTEEN_MINUTES,
              deleteMarkerReplication: true,
              ...(destinationKey ? { sseKmsEncryptedObjects: true } : {}),
            },
          ]
        : undefined,
    });
    const cfnBucket = this.bucket.node.defaultChild as s3.CfnBucket;
    if (key) {
      // SSE-KMS with the bucket's key (and an S3 Bucket Key), on the L1: the L2 bucket does not know the key, so its
      // grant helpers (grantRead, …) cannot add key statements to identity policies that this key's policy ignores (it
      // hands no use to IAM at large); every use goes through BackupKey.grant, with both halves and S3-only conditions.
      cfnBucket.bucketEncryption = {
        serverSideEncryptionConfiguration: [
          { bucketKeyEnabled: true, serverSideEncryptionByDefault: { sseAlgorithm: 'aws:kms', kmsMasterKeyId: key.key.keyArn } },
        ],
      };
    }
    if (destinationKey) {
      // S3 takes the key's alias ARN (a key ARN would need a cross-region reference): the replica key by its fixed alias.
      cfnBucket.addPropertyOverride('ReplicationConfiguration.Rules.0.Destination.EncryptionConfiguration', {
        ReplicaKmsKeyID: destinationKey.aliasArn,
      });
    }

    if (key) this.refuseOtherEncryption(key);
    if (props.replication && this.replicationRole) {
      this.grantReplication(this.replicationRole, props.replication, key);
    }
  }

  /**
   * The bucket's own policy refuses an object written with any encryption but its key. Without an encryption header S3
   * applies the bucket's default (SSE-KMS, this key); a header could ask for SSE-S3 (`AES256`), SSE-C, or SSE-KMS with
   * another key or none named, which S3 then does with the AWS managed key aws/s3 (PutObject, "x-amz-server-side-encryption-aws-kms-key-id":
   * https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html): an object the key policy no longer guards.
   * PutObject covers CopyObject and multipart uploads. Every writer here sends no header; a person who names one must
   * name `aws:kms` and this key's ARN. S3 Replication writes with s3:ReplicateObject, under the replica's own key.
   */
  private refuseOtherEncryption(key: BackupKey): void {
    const objects = this.bucket.arnForObjects('*');
    const deny = (sid: string, conditions: Record<string, Record<string, unknown>>) =>
      this.bucket.addToResourcePolicy(
        new iam.PolicyStatement({ sid, effect: iam.Effect.DENY, principals: [new iam.AnyPrincipal()], actions: ['s3:PutObject'], resources: [objects], conditions }),
      );
    deny('OnlyThisKeysEncryption', {
      Null: { 's3:x-amz-server-side-encryption': 'false' },
      StringNotEquals: { 's3:x-amz-server-side-encryption': 'aws:kms' },
    });
    deny('OnlyThisKeyByArn', {
      Null: { 's3:x-amz-server-side-encryption': 'false' },
      StringNotEqualsIfExists: { 's3:x-amz-server-side-encryption-aws-kms-key-id': key.key.keyArn },
    });
    deny('NoCustomerKeys', { Null: { 's3:x-amz-server-side-encryption-customer-algorithm': 'false' } });
  }

  /**
   * Deny, in this bucket's own policy, the bucket-setting writes a role holds on this bucket's name: the promotion
   * role recreates the primary's name once the primary is gone (copy back), and hardens what it creates. IAM cannot tell the live bucket from a new one of the same name (same ARN), but a
   * bucket policy goes with its bucket: while this bucket lives the role cannot replace its policy (and with it the
   * statements that protect it), suspend versioning, change its encryption, public access block or ownership; a bucket
   * created again under the name starts without this policy, so the copy back still hardens it. Matched on
   * aws:PrincipalArn (not a Principal element), so it holds even if the role is deleted and created again.
   * https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
   */
  denyBucketSettingsTo(sid: string, principalArn: string): void {
    this.bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid,
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: [...BUCKET_SETTING_WRITES],
        resources: [this.bucket.bucketArn],
        conditions: { ArnEquals: { 'aws:PrincipalArn': principalArn } },
      }),
    );
  }

  /**
   * The replication role: read each version of this bucket with its tags, ACL, Object Lock retention and legal hold
   * (copied with the replica), replicate objects, delete markers and tags into the replica bucket; with KMS, Decrypt of
   * this bucket's objects (its key, through S3) and use of the replica region's key for the replicas.
   */
  private grantReplication(role: iam.Role, replication: BackupBucketReplication, key: BackupKey | undefined): void {
    const statements = [
      new iam.PolicyStatement({
        sid: 'ReadReplicationConfiguration',
        actions: ['s3:GetReplicationConfiguration', 's3:ListBucket'],
        resources: [this.bucket.bucketArn],
      }),
      new iam.PolicyStatement({
        sid: 'ReadSourceVersions',
        actions: [
          's3:GetObjectVersionForReplication',
          's3:GetObjectVersionAcl',
          's3:GetObjectVersionTagging',
          's3:GetObjectRetention',
          's3:GetObjectLegalHold',
        ],
        resources: [this.bucket.arnForObjects('*')],
      }),
      new iam.PolicyStatement({
        sid: 'WriteReplicas',
        actions: ['s3:ReplicateObject', 's3:ReplicateDelete', 's3:ReplicateTags'],
        resources: [replication.destination.arnForObjects('*')],
      }),
    ];
    for (const statement of statements) role.addToPrincipalPolicy(statement);
    if (key) key.grant('ReplicationDecryptsSource', role, KEY_USE.read);
    if (replication.destinationKey) role.addToPrincipalPolicy(otherRegionKeyStatement('ReplicationEncryptsReplicas', replication.destinationKey, KEY_USE.replicate));
    const policy = defaultPolicyOf(role);
    acknowledgeWildcardResource(
      policy,
      this.bucket.arnForObjects('*'),
      'S3 Replication copies every object version of this bucket (the whole bucket is replicated): object-level read actions need bucket/*.',
    );
    acknowledgeWildcardResource(
      policy,
      replication.destination.arnForObjects('*'),
      'S3 Replication writes the replica of every key (and delete marker) into the replica bucket: object-level write actions need replica/*.',
    );
    if (replication.destinationKey) {
      acknowledgeWildcardResource(
        policy,
        replication.destinationKey.keyArnPattern,
        'The replica key lives in the other region and is known by its alias only: key/* of that region and account, limited to the alias, S3 and the replica bucket by conditions.',
      );
    }
  }

  /**
   * What `meatbackup backup` does in S3: list backups/ (never overwrite a key; decide the retention class), upload with
   * multipart (and abort it on failure), read back for verification, read the bucket's Object Lock and lifecycle
   * configuration, tag each new object with its class, lock it (governance mode, `lockDays`), and take a failed run's
   * own objects back out by version id. Nothing outside backups/.
   *
   * - Tagging may only classify an object that has no class yet: re-tagging a monthly backup `daily` would expire it early.
   * - Retention is governance mode only (a compliance lock could never be lifted) and at most `lockDays` (+1 of slack):
   *   the longest lock the task sets, a monthly backup's whole life (BACKUP_RETENTION_DAYS).
   * - The delete by version id is the cleanup of a failed run, which must leave nothing under backups/
   *   (docs/architecture.md). It never needs s3:BypassGovernanceRetention, which no role has: the task locks its
   *   objects only once all are stored, so what it cleans up is never locked. A finished backup is locked until its
   *   retention class expires, so this permission cannot delete one before it would expire anyway: S3 refuses to
   *   delete a version under a governance retention without the bypass
   *   (https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lock-managing.html#object-lock-managing-bypass).
   *   IAM cannot narrow the delete itself: s3:DeleteObjectVersion takes no object-tag condition. Never the replica's:
   *   a delete by version id is not replicated, and this role has no access there.
   */
  grantBackupWriter(role: iam.IRole, options: { lockDays: number }): void {
    const backupObjects = this.bucket.arnForObjects(`${DEFAULT_PREFIX}*`);
    this.grantOnBackups(
      role,
      {
        sid: 'WriteBackups',
        actions: ['s3:PutObject', 's3:GetObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts', 's3:GetObjectTagging', 's3:GetObjectRetention'],
        reason:
          'Backup keys carry their timestamp, so the task writes, classifies, locks and reads back any key under backups/, and removes only a failed run\'s own objects there; nothing outside it.',
      },
      { sid: 'BackupWritesWithKey', actions: KEY_USE.write },
    );
    const statements = [
      new iam.PolicyStatement({
        sid: 'ReadRetentionSettings',
        actions: ['s3:GetBucketObjectLockConfiguration', 's3:GetLifecycleConfiguration'],
        resources: [this.bucket.bucketArn],
      }),
      new iam.PolicyStatement({
        sid: 'ClassifyNewBackups',
        actions: ['s3:PutObjectTagging'],
        resources: [backupObjects],
        conditions: {
          Null: { [`s3:ExistingObjectTag/${RETENTION_TAG}`]: 'true' },
          StringEquals: { [`s3:RequestObjectTag/${RETENTION_TAG}`]: [...RETENTION_CLASSES] },
        },
      }),
    ];
    if (options.lockDays > 0) {
      statements.push(
        new iam.PolicyStatement({
          sid: 'LockNewBackups',
          actions: ['s3:PutObjectRetention'],
          resources: [backupObjects],
          conditions: {
            StringEquals: { 's3:object-lock-mode': 'GOVERNANCE' },
            NumericLessThanEquals: { 's3:object-lock-remaining-retention-days': String(options.lockDays + 1) },
          },
        }),
      );
    }
    statements.push(new iam.PolicyStatement({ sid: 'RemoveFailedBackup', actions: ['s3:DeleteObjectVersion'], resources: [backupObjects] }));
    for (const statement of statements) role.addToPrincipalPolicy(statement);
  }

  /**
   * What `meatbackup restore` does in S3: resolve `latest` or a name by listing backups/, then read the backup (pinned
   * to its version), its manifest and globals, with their tags and retention. Read-only, nothing outside backups/.
   */
  grantBackupReader(role: iam.IRole): void {
    this.grantOnBackups(
      role,
      {
        sid: 'ReadBackups',
        actions: ['s3:GetObject', 's3:GetObjectVersion', 's3:GetObjectTagging', 's3:GetObjectRetention'],
        reason: 'The restore reads whichever backup the operator picks (and its manifest) by key and version under backups/; it writes and deletes nothing.',
      },
      { sid: 'RestoreReadsWithKey', actions: KEY_USE.read },
    );
  }

  /**
   * What `meatbackup restore-test` does in S3: what the restore reads (list backups/, the backup by version, its
   * manifest and globals), and its result beside the backup it tested: only `backups/*.restore-test.json` is writable.
   * With KMS, the bucket's key to decrypt the backup and encrypt the result.
   */
  grantRestoreTester(role: iam.IRole): void {
    this.grantOnBackups(
      role,
      {
        sid: 'ReadBackups',
        actions: ['s3:GetObject', 's3:GetObjectVersion'],
        reason: 'The restore test reads the newest backup (and its manifest and globals) by key and version under backups/; it writes only its result there.',
      },
      { sid: 'RestoreTestUsesKey', actions: KEY_USE.write },
    );
    const results = this.bucket.arnForObjects(`${DEFAULT_PREFIX}*${SIDECAR_SUFFIX.restoreTest}`);
    // PutObject with a Tagging header needs PutObjectTagging too: the result carries its backup's retention class.
    role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'WriteRestoreTestResults', actions: ['s3:PutObject', 's3:PutObjectTagging'], resources: [results] }));
    acknowledgeWildcardResource(
      defaultPolicyOf(role),
      results,
      'The restore test writes its result beside the backup it tested, whose key carries its timestamp: *.restore-test.json under backups/ only.',
    );
  }

  /**
   * ListBucket limited to backups/ (resolving `latest`, never overwriting a key), `objects.actions` on the objects
   * under backups/ and nothing outside it, and the acknowledgement of that prefix wildcard with `objects.reason`; with
   * KMS, the bucket's key for `key.actions` (through S3, for this bucket only).
   */
  private grantOnBackups(role: iam.IRole, objects: { sid: string; actions: string[]; reason: string }, key: { sid: string; actions: readonly string[] }): void {
    const backupObjects = this.bucket.arnForObjects(`${DEFAULT_PREFIX}*`);
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ListBackups',
        actions: ['s3:ListBucket'],
        resources: [this.bucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': [DEFAULT_PREFIX, `${DEFAULT_PREFIX}*`] } },
      }),
    );
    role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: objects.sid, actions: objects.actions, resources: [backupObjects] }));
    acknowledgeWildcardResource(defaultPolicyOf(role), backupObjects, objects.reason);
    this.encryptionKey?.grant(key.sid, role, key.actions);
  }
}
