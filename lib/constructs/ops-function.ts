import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { DEFAULT_PREFIX, ENV, TASK_CONTAINER_NAME } from '../../src/contract';
import { acknowledgeWildcardResource, defaultPolicyOf } from '../nag';
import type { BackupKey, OtherRegionKey } from './backup-key';
import type { MeatbackupTask } from './meatbackup-task';
import { addOpsHandler, grantKeyReads } from './ops-handler';
import type { TaskPlatform } from './task-platform';

export interface OpsFunctionProps {
  /**
   * Physical function name, for a name people type (the chat channel's commands name the function).
   * @default - generated
   */
  readonly functionName?: string;
  /**
   * Fixed name of the function's role, for a key policy in the other region that must name it before it exists.
   * @default - generated
   */
  readonly roleName?: string;
  readonly platform: TaskPlatform;
  /** The primary bucket; the function reads backups/ in it. */
  readonly bucket: s3.IBucket;
  readonly replicaBucketName: string;
  readonly replicaRegion: string;
  /** Tasks the function may run (RunTask, PassRole of their roles); the first is the backup task. */
  readonly backupTask: MeatbackupTask;
  readonly logRetention: logs.RetentionDays;
}

/**
 * The ops Lambda (lambda/ops/handler.ts): what an operator or the chat bot invokes for backup, list, restore, status
 * and promote. Node.js 22, bundled with the local esbuild (never Docker), with a role that may only read backups/,
 * run and describe the project's tasks on its cluster, and pass those tasks' roles to ECS.
 *
 * Later actions add what they need through {@link allowRunTask} and {@link addEnvironment}.
 */
export class OpsFunction extends Construct {
  readonly function: nodejs.NodejsFunction;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;
  private readonly platform: TaskPlatform;

  constructor(scope: Construct, id: string, props: OpsFunctionProps) {
    super(scope, id);
    const platform = props.platform;
    this.platform = platform;

    const handler = addOpsHandler(this, {
      functionName: props.functionName,
      roleName: props.roleName,
      roleDescription: 'meatbackup ops Lambda: read backups/, run and describe meatbackup tasks',
      description: 'meatbackup operations: {"action": "list" | "backup" | "restore" | "status" | "promote", …}',
      // Only a chat channel publishes versions (for its alias); a replaced version is not kept forever.
      extra: { currentVersionOptions: { removalPolicy: RemovalPolicy.DESTROY } },
      memorySize: 256,
      // replication-check reads the whole newest backup from the replica to recompute its sha256: at ~100 MB/s a
      // 10 GB backup takes minutes. Every other action answers in seconds.
      timeout: Duration.minutes(15),
      logRetention: props.logRetention,
      environment: {
        [ENV.bucket]: props.bucket.bucketName,
        [ENV.prefix]: DEFAULT_PREFIX,
        [ENV.replicaBucket]: props.replicaBucketName,
        [ENV.replicaRegion]: props.replicaRegion,
        [ENV.database]: platform.databaseEnvironment.PGDATABASE,
        [ENV.ecsCluster]: platform.cluster.clusterArn,
        [ENV.backupTaskDefinition]: props.backupTask.taskDefinition.taskDefinitionArn,
        [ENV.taskContainerName]: TASK_CONTAINER_NAME,
        [ENV.taskSubnets]: platform.subnetIds.join(','),
        [ENV.taskSecurityGroups]: platform.securityGroup.securityGroupId,
        [ENV.taskAssignPublicIp]: String(platform.assignPublicIp),
        [ENV.taskLogGroup]: platform.logGroup.logGroupName,
      },
    });
    this.function = handler.function;
    this.role = handler.role;
    this.logGroup = handler.logGroup;

    const backupObjects = props.bucket.arnForObjects(`${DEFAULT_PREFIX}*`);
    // list and the catalog: ListBucket limited to backups/, GetObject on backups/* only; each backup's class (its tags),
    // lock (its retention) and expiry (the bucket's lifecycle rules).
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ListBackups',
        actions: ['s3:ListBucket'],
        resources: [props.bucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': [DEFAULT_PREFIX, `${DEFAULT_PREFIX}*`] } },
      }),
    );
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({ sid: 'ReadBackups', actions: ['s3:GetObject', 's3:GetObjectTagging', 's3:GetObjectRetention'], resources: [backupObjects] }),
    );
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({ sid: 'ReadLifecycle', actions: ['s3:GetLifecycleConfiguration'], resources: [props.bucket.bucketArn] }),
    );
    // status, and the refusal to start a task beside a running one: list and describe the tasks of this cluster only.
    const stack = Stack.of(this);
    const onCluster = { ArnEquals: { 'ecs:cluster': platform.cluster.clusterArn } };
    const clusterTasks = `arn:${stack.partition}:ecs:${stack.region}:${stack.account}:task/${platform.cluster.clusterName}/*`;
    this.role.addToPrincipalPolicy(
      // ListTasks cannot be scoped to the tasks it lists (Resource "*"); the ecs:cluster condition keeps it to this cluster.
      new iam.PolicyStatement({ sid: 'ListTasks', actions: ['ecs:ListTasks'], resources: ['*'], conditions: onCluster }),
    );
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({ sid: 'DescribeTasks', actions: ['ecs:DescribeTasks'], resources: [clusterTasks], conditions: onCluster }),
    );
    this.allowRunTask(props.backupTask);
    this.allowReplicaRead(props.replicaBucketName);

    const policy = defaultPolicyOf(this.role);
    acknowledgeWildcardResource(
      policy,
      backupObjects,
      'GetObject on the backups/ prefix only: the catalog reads any backup and its manifest there, nothing else in the bucket.',
    );
    acknowledgeWildcardResource(
      policy,
      clusterTasks,
      'Task ARNs are only known at run time; DescribeTasks is limited to the tasks of this cluster (resource and ecs:cluster condition).',
    );
    acknowledgeWildcardResource(
      policy,
      '*',
      'ecs:ListTasks cannot be scoped by resource; the ecs:cluster condition limits it to the meatbackup cluster, where status and the running-task check look.',
    );
  }

  /**
   * replication-check compares the newest backup with its copy in the replica (another region; IAM is global): a
   * HeadBucket on the replica (s3:ListBucket, which also makes a missing key a 404 rather than a 403) and reads of
   * backups/* there. A policy of its own, beside the default one, so this grant reads as one concern.
   */
  private allowReplicaRead(replicaBucketName: string): void {
    const replicaArn = `arn:${Stack.of(this).partition}:s3:::${replicaBucketName}`;
    const replicaBackups = `${replicaArn}/${DEFAULT_PREFIX}*`;
    const policy = new iam.Policy(this, 'ReplicaReadPolicy', {
      roles: [this.role],
      statements: [
        new iam.PolicyStatement({ sid: 'ListReplica', actions: ['s3:ListBucket'], resources: [replicaArn] }),
        new iam.PolicyStatement({ sid: 'ReadReplicaBackups', actions: ['s3:GetObject'], resources: [replicaBackups] }),
      ],
    });
    // Like the default policy: the function is not created (and invoked) before its permissions exist.
    this.function.node.addDependency(policy);
    acknowledgeWildcardResource(
      policy,
      replicaBackups,
      'replication-check reads the newest backup and its manifest in the replica to compare sha256; backups/ only, read only.',
    );
  }

  /** Lets the function start `task` on the platform's cluster: RunTask on that task definition, PassRole of its roles. */
  allowRunTask(task: MeatbackupTask): void {
    const taskDefinition = task.taskDefinition;
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['ecs:RunTask'],
        resources: [taskDefinition.taskDefinitionArn],
        conditions: { ArnEquals: { 'ecs:cluster': this.platform.cluster.clusterArn } },
      }),
    );
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['iam:PassRole'],
        resources: [taskDefinition.taskRole.roleArn, taskDefinition.obtainExecutionRole().roleArn],
        conditions: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
      }),
    );
  }

  /**
   * With KMS: list, status and the catalog read backups/ with this region's key; replication-check reads the replica's
   * newest backup with the replica region's key, known by its alias.
   */
  grantBackupKeys(key: BackupKey, replicaKey: OtherRegionKey): void {
    grantKeyReads(this.role, key, replicaKey, {
      local: 'OpsReadsWithKey',
      other: 'OpsReadsReplicaWithKey',
      otherReason: 'replication-check decrypts the replica\'s newest backup with the replica region\'s key, known by alias only: limited to that alias, S3 and the replica bucket.',
    });
  }

  /** Adds an environment variable (a name from ENV in src/contract.ts) for a later action. */
  addEnvironment(name: string, value: string): void {
    this.function.addEnvironment(name, value);
  }
}
