import { CfnOutput, Fn, Stack, type StackProps } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { DEFAULT_PREFIX, ENV } from '../../src/contract';
import type { AppConfig } from '../config';
import { BackupBucket } from '../constructs/backup-bucket';
import { BackupFailureAlarm } from '../constructs/backup-failure-alarm';
import { BackupSchedule } from '../constructs/backup-schedule';
import { MeatbackupTask } from '../constructs/meatbackup-task';
import { OpsFunction } from '../constructs/ops-function';
import { PROMOTE_FUNCTION_NAME_ENV, promoteFunctionName } from '../constructs/promote-function';
import { TaskNetwork } from '../constructs/task-network';
import { TaskPlatform } from '../constructs/task-platform';
import { acknowledgeWildcardResource, defaultPolicyOf } from '../nag';
import { backupTaskFamily, primaryBucketName, replicaBucketName } from '../naming';

export interface PrimaryStackProps extends StackProps {
  readonly config: AppConfig;
}

/**
 * The primary region: the backup bucket replicating to the replica region, the Fargate task that runs
 * `meatbackup backup` on a schedule, the ops Lambda, and the failure alarm.
 */
export class PrimaryStack extends Stack {
  readonly backupBucket: BackupBucket;
  readonly network: TaskNetwork;
  readonly platform: TaskPlatform;
  readonly backupTask: MeatbackupTask;
  readonly schedule: BackupSchedule;
  readonly ops: OpsFunction;
  readonly alarm: BackupFailureAlarm;

  constructor(scope: Construct, id: string, props: PrimaryStackProps) {
    super(scope, id, props);
    const { config } = props;
    const replicaName = replicaBucketName(config);

    // Known by name, not by cross-stack reference: the replica stack creates it under the same deterministic name.
    const replica = s3.Bucket.fromBucketAttributes(this, 'Replica', {
      bucketName: replicaName,
      region: config.replicaRegion,
      account: this.account,
    });
    this.backupBucket = new BackupBucket(this, 'BackupBucket', {
      bucketName: primaryBucketName(config),
      retention: config.retention,
      replication: { destination: replica },
    });
    const bucket = this.backupBucket.bucket;

    this.network = new TaskNetwork(this, 'Network', { network: config.network, logRetention: config.retention.logDays });
    this.platform = new TaskPlatform(this, 'Tasks', {
      vpc: this.network.vpc,
      subnets: this.network.subnets,
      assignPublicIp: this.network.assignPublicIp,
      database: config.database,
      logRetention: config.retention.logDays,
    });

    this.backupTask = new MeatbackupTask(this, 'BackupTask', {
      platform: this.platform,
      family: backupTaskFamily(config),
      command: ['backup'],
      cpu: config.task.cpu,
      memoryMiB: config.task.memoryMiB,
      streamPrefix: 'backup',
      environment: {
        [ENV.bucket]: bucket.bucketName,
        [ENV.prefix]: DEFAULT_PREFIX,
        [ENV.replicaBucket]: replicaName,
        [ENV.replicaRegion]: config.replicaRegion,
      },
    });
    grantBackupWriter(bucket, this.backupTask);

    this.schedule = new BackupSchedule(this, 'BackupSchedule', {
      platform: this.platform,
      task: this.backupTask,
      expression: config.schedule.expression,
      timeZone: config.schedule.timeZone,
      enabled: config.schedule.enabled,
    });

    this.ops = new OpsFunction(this, 'Ops', {
      platform: this.platform,
      bucket,
      replicaBucketName: replicaName,
      replicaRegion: config.replicaRegion,
      backupTask: this.backupTask,
      logRetention: config.retention.logDays,
    });
    // promote runs from the replica region's function; this one's answer names it.
    this.ops.addEnvironment(PROMOTE_FUNCTION_NAME_ENV, promoteFunctionName(config));

    this.alarm = new BackupFailureAlarm(this, 'FailureAlarm', {
      platform: this.platform,
      families: [backupTaskFamily(config)],
      email: config.alarmEmail,
    });

    new CfnOutput(this, 'BackupBucketName', { value: bucket.bucketName, description: 'Bucket holding backups/' });
    new CfnOutput(this, 'OpsFunctionName', { value: this.ops.function.functionName, description: 'Invoke with {"action": "list"}' });
    new CfnOutput(this, 'ClusterArn', { value: this.platform.cluster.clusterArn });
    new CfnOutput(this, 'BackupTaskDefinitionArn', { value: this.backupTask.taskDefinition.taskDefinitionArn });
    new CfnOutput(this, 'TaskSecurityGroupId', {
      value: this.platform.securityGroup.securityGroupId,
      description: 'Allow PostgreSQL from this security group on the database',
    });
    new CfnOutput(this, 'TaskLogGroupName', { value: this.platform.logGroup.logGroupName });
    new CfnOutput(this, 'AlarmTopicArn', { value: this.alarm.topic.topicArn });
  }

  /**
   * Two AZs without a context lookup: `Fn::GetAZs` resolves at deploy time in whatever account deploys, so synth
   * needs no credentials even when the configuration pins the account.
   */
  override get availabilityZones(): string[] {
    return [Fn.select(0, Fn.getAzs()), Fn.select(1, Fn.getAzs())];
  }
}

/**
 * What `meatbackup backup` does in S3: list backups/ (never overwrite a key), upload with multipart (and abort it on
 * failure), read back for verification. Nothing outside backups/, no deletes.
 */
function grantBackupWriter(bucket: s3.IBucket, task: MeatbackupTask): void {
  const role = task.taskDefinition.taskRole;
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: 'ListBackups',
      actions: ['s3:ListBucket'],
      resources: [bucket.bucketArn],
      conditions: { StringLike: { 's3:prefix': [DEFAULT_PREFIX, `${DEFAULT_PREFIX}*`] } },
    }),
  );
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: 'WriteBackups',
      actions: ['s3:PutObject', 's3:GetObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'],
      resources: [bucket.arnForObjects(`${DEFAULT_PREFIX}*`)],
    }),
  );
  acknowledgeWildcardResource(
    defaultPolicyOf(role),
    bucket.arnForObjects(`${DEFAULT_PREFIX}*`),
    'Backup keys carry their timestamp, so the task writes any key under backups/ and nothing outside it; it deletes nothing.',
  );
}
