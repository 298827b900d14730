import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import type { AppConfig } from '../config';
import { BackupBucket } from '../constructs/backup-bucket';
import { replicaBucketName } from '../naming';

export interface ReplicaStackProps extends StackProps {
  readonly config: AppConfig;
}

/**
 * The replica region (runbook 1.2 and 2.2): the versioned bucket S3 Replication copies the primary bucket into.
 * It is deployed first; the primary stack depends on it. What must keep working while the primary region is down
 * (the promotion Lambda) belongs here.
 */
export class ReplicaStack extends Stack {
  readonly backupBucket: BackupBucket;

  constructor(scope: Construct, id: string, props: ReplicaStackProps) {
    super(scope, id, props);
    const { config } = props;

    this.backupBucket = new BackupBucket(this, 'ReplicaBucket', {
      bucketName: replicaBucketName(config),
      retention: config.retention,
    });

    new CfnOutput(this, 'ReplicaBucketName', { value: this.backupBucket.bucket.bucketName, description: 'Replica of the backup bucket' });
  }
}
