import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import type { AppConfig } from '../config';
import { BackupBucket } from '../constructs/backup-bucket';
import { BatchOperationsRole } from '../constructs/batch-operations-role';
import { PromoteFunction, promoteFunctionName, promotionTargetNames } from '../constructs/promote-function';
import { primaryBucketName, replicaBucketName } from '../naming';

export interface ReplicaStackProps extends StackProps {
  readonly config: AppConfig;
}

/**
 * The replica region (runbook 1.2 and 2.2): the versioned bucket S3 Replication copies the primary bucket into, and
 * what must keep working while the primary region is down: the promotion function and the role S3 Batch Operations
 * runs promotion copy jobs as. It is deployed first; the primary stack depends on it.
 */
export class ReplicaStack extends Stack {
  readonly backupBucket: BackupBucket;
  readonly batchOperationsRole: BatchOperationsRole;
  readonly promote: PromoteFunction;

  constructor(scope: Construct, id: string, props: ReplicaStackProps) {
    super(scope, id, props);
    const { config } = props;

    this.backupBucket = new BackupBucket(this, 'ReplicaBucket', {
      bucketName: replicaBucketName(config),
      retention: config.retention,
    });
    const replica = this.backupBucket.bucket;

    // Known by name, like the replica in the primary stack: the primary stack is deployed after this one.
    const primaryName = primaryBucketName(config);
    const targetBucketNames = promotionTargetNames(config, primaryName);
    this.batchOperationsRole = new BatchOperationsRole(this, 'BatchOperations', { source: replica, targetBucketNames });
    this.promote = new PromoteFunction(this, 'Promote', {
      functionName: promoteFunctionName(config),
      replica,
      primaryBucketName: primaryName,
      targetBucketNames,
      batchRole: this.batchOperationsRole,
      logRetention: config.retention.logDays,
    });

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
