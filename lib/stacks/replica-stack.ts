import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import type { AppConfig } from '../config';
import { BackupBucket } from '../constructs/backup-bucket';
import { BackupKey, KEY_USE, keyUserRoleNames, otherRegionKey, roleArnByName } from '../constructs/backup-key';
import { BatchOperationsRole } from '../constructs/batch-operations-role';
import { PromoteFunction, promoteFunctionName, promotionTargetNames } from '../constructs/promote-function';
import { primaryBucketName, replicaBucketName } from '../naming';

export interface ReplicaStackProps extends StackProps {
  readonly config: AppConfig;
}

/**
 * The replica region (runbook 1.2 and 2.2): the versioned bucket (with Object Lock, and its own KMS key) S3 Replication
 * copies the primary bucket into, and what must keep working while the primary region is down: the promotion function
 * and the role S3 Batch Operations runs promotion copy jobs as. It is deployed first; the primary stack depends on it.
 */
export class ReplicaStack extends Stack {
  /** The replica bucket's customer-managed key; none with `encryption: 's3'`. */
  readonly backupKey?: BackupKey;
  readonly backupBucket: BackupBucket;
  readonly batchOperationsRole: BatchOperationsRole;
  readonly promote: PromoteFunction;

  constructor(scope: Construct, id: string, props: ReplicaStackProps) {
    super(scope, id, props);
    const { config } = props;

    const roleNames = keyUserRoleNames(config);
    this.backupKey = BackupKey.forBucket(this, config, replicaBucketName(config));
    // Roles of the primary stack, deployed after this one: named by their fixed names.
    this.backupKey?.allow('ReplicationEncryptsReplicas', roleArnByName(this, config, roleNames.replication), KEY_USE.replicate);
    this.backupKey?.allow('OpsReadsReplica', roleArnByName(this, config, roleNames.ops), KEY_USE.read);
    this.backupBucket = new BackupBucket(this, 'ReplicaBucket', {
      bucketName: replicaBucketName(config),
      retention: config.retention,
      encryptionKey: this.backupKey,
    });
    const replica = this.backupBucket.bucket;

    // Known by name, like the replica in the primary stack: the primary stack is deployed after this one.
    const primaryName = primaryBucketName(config);
    const targetBucketNames = promotionTargetNames(config, primaryName);
    this.batchOperationsRole = new BatchOperationsRole(this, 'BatchOperations', { source: replica, targetBucketNames });
    this.promote = new PromoteFunction(this, 'Promote', {
      functionName: promoteFunctionName(config),
      roleName: roleNames.promote,
      replica,
      primaryBucketName: primaryName,
      primaryRegion: config.primaryRegion,
      targetBucketNames,
      batchRole: this.batchOperationsRole,
      logRetention: config.retention.logDays,
    });
    if (this.backupKey) {
      // Promotion and Batch copy jobs read the replica; replication-check also reads the primary's newest backup.
      this.promote.grantBackupKeys(this.backupKey, otherRegionKey(this, config, config.primaryRegion, primaryName));
      this.backupKey.grant('BatchCopyReadsReplica', this.batchOperationsRole.role, KEY_USE.read);
    }

    new CfnOutput(this, 'ReplicaBucketName', { value: replica.bucketName, description: 'Replica of the backup bucket' });
    new CfnOutput(this, 'PromoteFunctionName', {
      value: this.promote.function.functionName,
      description: 'Invoke with {"action": "promote"} for the plan, add "confirm": true to promote; {"action": "replication-check"}',
    });
    new CfnOutput(this, 'BatchOperationsRoleArn', {
      value: this.batchOperationsRole.role.roleArn,
      description: 'Role for meatbackup promote --engine batch --role-arn (BATCH_OPERATIONS_ROLE_ARN)',
    });
  }
}
