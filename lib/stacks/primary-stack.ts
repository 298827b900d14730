import { CfnOutput, Fn, Stack, type StackProps } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { CHAT_COMMANDS, DEFAULT_PREFIX, ENV, RETENTION_CLASSES, RETENTION_TAG, SIDECAR_SUFFIX } from '../../src/contract';
import type { AppConfig, ChatConfig } from '../config';
import { BackupAlarms } from '../constructs/backup-alarms';
import { BackupBucket } from '../constructs/backup-bucket';
import { BackupKey, KEY_USE, type OtherRegionKey, keyUserRoleNames, otherRegionKey, otherRegionKeyStatement, roleArnByName } from '../constructs/backup-key';
import { BackupDashboard } from '../constructs/backup-dashboard';
import { BackupFailureAlarm } from '../constructs/backup-failure-alarm';
import { BackupSchedule } from '../constructs/backup-schedule';
import { ChatChannel, runbookLink } from '../constructs/chat-channel';
import { MeatbackupTask } from '../constructs/meatbackup-task';
import { OpsFunction } from '../constructs/ops-function';
import { PROMOTE_FUNCTION_NAME_ENV, promoteFunctionName } from '../constructs/promote-function';
import { RestoreTestSchedule } from '../constructs/restore-test-schedule';
import { StatusSchedule } from '../constructs/status-schedule';
import { TaskNetwork } from '../constructs/task-network';
import { TaskPlatform } from '../constructs/task-platform';
import { acknowledgeWildcardResource, defaultPolicyOf } from '../nag';
import { backupTaskFamily, primaryBucketName, replicaBucketName } from '../naming';

/** Task definition family of the restore task; the failure alarm matches on it too. */
export function restoreTaskFamily(config: AppConfig): string {
  return `${config.name}-restore`;
}

/** Physical name of the ops function when a chat channel types it (see OpsFunctionProps.functionName). */
export function opsFunctionName(config: AppConfig): string {
  return `${config.name}-ops`;
}

/** How the chat channel runs one of its commands, e.g. `@Amazon Q run backup-status`. */
function chatCommand(chat: ChatConfig, command: keyof typeof CHAT_COMMANDS): string {
  return `@Amazon Q run ${chat.aliasPrefix}${CHAT_COMMANDS[command]}`;
}

/** Task definition family of the scheduled restore test; the failure alarm matches on it too. */
export function restoreTestTaskFamily(config: AppConfig): string {
  return `${config.name}-restore-test`;
}

export interface PrimaryStackProps extends StackProps {
  readonly config: AppConfig;
}

/**
 * The primary region: the backup bucket replicating to the replica region, the Fargate task that runs
 * `meatbackup backup` on a schedule, the restore task the ops Lambda starts, the ops Lambda, the failure alarm, the
 * weekly restore test, the metric alarms and the dashboard.
 */
export class PrimaryStack extends Stack {
  /** The primary bucket's customer-managed key; none with `encryption: 's3'`. */
  readonly backupKey?: BackupKey;
  readonly backupBucket: BackupBucket;
  readonly network: TaskNetwork;
  readonly platform: TaskPlatform;
  readonly backupTask: MeatbackupTask;
  /** Runs `meatbackup restore <key> …`; the ops Lambda starts it with the key in its command override. */
  readonly restoreTask: MeatbackupTask;
  readonly schedule: BackupSchedule;
  readonly ops: OpsFunction;
  readonly alarm: BackupFailureAlarm;
  /** The weekly `meatbackup restore-test latest`: its task definition and schedule. */
  readonly restoreTest: RestoreTestSchedule;
  /** Metric alarms (backups, restore tests, replication) publishing to the failure alarm's topic. */
  readonly alarms: BackupAlarms;
  readonly dashboard: BackupDashboard;
  /** Invokes the ops Lambda's status hourly: the backup ages it reports as metrics. */
  readonly statusSchedule: StatusSchedule;
  /** The team's chat channel (configuration `chat`); none by default. */
  readonly chat?: ChatChannel;

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
    const roleNames = keyUserRoleNames(config);
    const replicaKey = config.encryption === 'kms' ? otherRegionKey(this, config, config.replicaRegion, replicaName) : undefined;
    this.backupKey = BackupKey.forBucket(this, config, primaryBucketName(config));
    // replication-check of the promotion function (replica region) reads the newest backup here.
    this.backupKey?.allow('PromotionReadsBackups', roleArnByName(this, config, roleNames.promote), KEY_USE.read);
    this.backupBucket = new BackupBucket(this, 'BackupBucket', {
      bucketName: primaryBucketName(config),
      retention: config.retention,
      encryptionKey: this.backupKey,
      replication: { destination: replica, roleName: roleNames.replication, destinationKey: replicaKey },
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
        [ENV.lockDays]: String(config.retention.lockDays),
      },
    });
    grantBackupWriter(bucket, this.backupTask, { key: this.backupKey, lockDays: config.retention.lockDays });

    const webService = config.webService ? webServiceArns(this, config.webService) : undefined;
    // Same image and database connection as the backup. Restore streams (about 150 MB RSS, no disk), so the backup's
    // CPU and memory do: the sha256 check, gunzip and psql each keep a core busy on a large backup.
    this.restoreTask = new MeatbackupTask(this, 'RestoreTask', {
      platform: this.platform,
      family: restoreTaskFamily(config),
      // Placeholder: the ops Lambda always overrides the command with the resolved key (src/ops/actions.ts).
      command: ['restore', 'latest'],
      cpu: config.task.cpu,
      memoryMiB: config.task.memoryMiB,
      streamPrefix: 'restore',
      environment: {
        [ENV.bucket]: bucket.bucketName,
        [ENV.prefix]: DEFAULT_PREFIX,
        ...(webService ? { [ENV.webService]: webService.ref } : {}),
      },
    });
    grantBackupReader(bucket, this.restoreTask, this.backupKey);
    if (webService) grantWebServiceStopStart(this.restoreTask, webService);

    this.schedule = new BackupSchedule(this, 'BackupSchedule', {
      platform: this.platform,
      task: this.backupTask,
      expression: config.schedule.expression,
      timeZone: config.schedule.timeZone,
      enabled: config.schedule.enabled,
    });

    this.restoreTest = new RestoreTestSchedule(this, 'RestoreTest', {
      platform: this.platform,
      bucket,
      family: restoreTestTaskFamily(config),
      config: config.restoreTest,
    });
    grantRestoreTester(bucket, this.restoreTest.task, this.backupKey);

    this.ops = new OpsFunction(this, 'Ops', {
      // Named only for a chat channel, whose commands type it; other deployments keep the generated name.
      functionName: config.chat ? opsFunctionName(config) : undefined,
      roleName: roleNames.ops,
      platform: this.platform,
      bucket,
      replicaBucketName: replicaName,
      replicaRegion: config.replicaRegion,
      backupTask: this.backupTask,
      logRetention: config.retention.logDays,
    });
    if (this.backupKey && replicaKey) grantOpsKeys(this.ops, this.backupKey, replicaKey);
    this.ops.allowRunTask(this.restoreTask);
    this.ops.addEnvironment(ENV.restoreTaskDefinition, this.restoreTask.taskDefinition.taskDefinitionArn);
    if (webService) this.ops.addEnvironment(ENV.webService, webService.ref);
    // status lists the restore test's tasks and reads its results (backups/*.restore-test.json, under ReadBackups).
    this.ops.addEnvironment(ENV.restoreTestTaskDefinition, this.restoreTest.task.taskDefinition.taskDefinitionArn);
    // promote runs from the replica region's function; this one's answer names it.
    this.ops.addEnvironment(PROMOTE_FUNCTION_NAME_ENV, promoteFunctionName(config));

    this.alarm = new BackupFailureAlarm(this, 'FailureAlarm', {
      platform: this.platform,
      families: [backupTaskFamily(config), restoreTaskFamily(config), restoreTestTaskFamily(config)],
      email: config.alarmEmail,
    });

    this.alarms = new BackupAlarms(this, 'Alarms', {
      namePrefix: config.name,
      database: config.database.name,
      thresholds: config.alarms,
      topic: this.alarm.topic,
      topicKey: this.alarm.key,
      sourceBucket: bucket,
      destinationBucketName: replicaName,
      ...(config.chat
        ? { guidance: { runbook: runbookLink(config.chat), statusCommand: chatCommand(config.chat, 'status'), backupCommand: chatCommand(config.chat, 'backup') } }
        : {}),
    });
    if (config.chat) this.chat = this.addChat(config, config.chat);
    this.statusSchedule = new StatusSchedule(this, 'StatusSchedule', { function: this.ops.function });
    this.dashboard = new BackupDashboard(this, 'Dashboard', {
      dashboardName: config.name,
      database: config.database.name,
      taskLogGroup: this.platform.logGroup,
      alarms: this.alarms,
      restoreTestMaxAgeDays: config.alarms.restoreTestMaxAgeDays,
      replicationLatencySeconds: config.alarms.replicationLatencySeconds,
    });

    new CfnOutput(this, 'BackupBucketName', { value: bucket.bucketName, description: 'Bucket holding backups/' });
    new CfnOutput(this, 'OpsFunctionName', { value: this.ops.function.functionName, description: 'Invoke with {"action": "list"}' });
    new CfnOutput(this, 'ClusterArn', { value: this.platform.cluster.clusterArn });
    new CfnOutput(this, 'BackupTaskDefinitionArn', { value: this.backupTask.taskDefinition.taskDefinitionArn });
    new CfnOutput(this, 'RestoreTaskDefinitionArn', { value: this.restoreTask.taskDefinition.taskDefinitionArn });
    new CfnOutput(this, 'RestoreTestTaskDefinitionArn', { value: this.restoreTest.task.taskDefinition.taskDefinitionArn });
    new CfnOutput(this, 'DashboardName', { value: this.dashboard.dashboard.dashboardName, description: 'CloudWatch dashboard of backups, restore tests and replication' });
    new CfnOutput(this, 'TaskSecurityGroupId', {
      value: this.platform.securityGroup.securityGroupId,
      description: 'Allow PostgreSQL from this security group on the database',
    });
    new CfnOutput(this, 'TaskLogGroupName', { value: this.platform.logGroup.logGroupName });
    new CfnOutput(this, 'AlarmTopicArn', { value: this.alarm.topic.topicArn });
  }

  /**
   * The chat channel: subscribed to the alarm topic (CloudWatch alarms, which Chatbot renders itself) and to a topic of
   * its own for failed tasks in Chatbot's custom-notification format (the alarm topic's plain text stays for e-mail);
   * the ops function answers the channel's commands through its chat alias.
   */
  private addChat(config: AppConfig, chat: ChatConfig): ChatChannel {
    if (chat.allowRestore) this.ops.addEnvironment(ENV.chatRestoreEnabled, 'true');
    if (chat.aliasPrefix) this.ops.addEnvironment(ENV.chatCommandPrefix, chat.aliasPrefix);
    const failures = new sns.Topic(this, 'ChatTopic', {
      displayName: 'meatbackup task failures for the chat channel',
      masterKey: this.alarm.key,
      enforceSSL: true,
    });
    this.alarm.notifyChat(failures, { database: config.database.name, runbook: runbookLink(chat), statusCommand: chatCommand(chat, 'status') });
    const channel = new ChatChannel(this, 'Chat', {
      name: config.name,
      chat,
      opsFunction: this.ops.function,
      functionName: opsFunctionName(config),
      topics: [this.alarm.topic, failures],
    });
    new CfnOutput(this, 'ChatChannelConfigurationArn', {
      value: channel.configuration.attrArn,
      description: 'The chat channel configuration (AWS Chatbot)',
    });
    return channel;
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
 * ListBucket limited to backups/ (resolving `latest`, never overwriting a key), `objects.actions` on the objects under
 * backups/ and nothing outside it, and the acknowledgement of that prefix wildcard with `objects.reason`; with KMS, the
 * bucket's key for `key.actions` (through S3, for this bucket only).
 */
function grantOnBackups(
  bucket: s3.IBucket,
  task: MeatbackupTask,
  objects: { sid: string; actions: string[]; reason: string },
  key?: { key: BackupKey; sid: string; actions: readonly string[] },
): void {
  const role = task.taskDefinition.taskRole;
  const backupObjects = bucket.arnForObjects(`${DEFAULT_PREFIX}*`);
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: 'ListBackups',
      actions: ['s3:ListBucket'],
      resources: [bucket.bucketArn],
      conditions: { StringLike: { 's3:prefix': [DEFAULT_PREFIX, `${DEFAULT_PREFIX}*`] } },
    }),
  );
  role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: objects.sid, actions: objects.actions, resources: [backupObjects] }));
  acknowledgeWildcardResource(defaultPolicyOf(role), backupObjects, objects.reason);
  key?.key.grant(key.sid, role, key.actions);
}

/**
 * What `meatbackup backup` does in S3: list backups/ (never overwrite a key; decide the retention class), upload with
 * multipart (and abort it on failure), read back for verification, read the bucket's Object Lock and lifecycle
 * configuration, tag each new object with its class, lock it (governance mode, `lockDays`), and take a failed run's
 * own objects back out by version id. Nothing outside backups/.
 *
 * - Tagging may only classify an object that has no class yet: re-tagging a monthly backup `daily` would expire it early.
 * - Retention is governance mode only (a compliance lock could never be lifted) and at most `lockDays` (+1 of slack).
 * - The delete by version id is the cleanup of a failed run, which must leave nothing under backups/ (DESIGN.md). It
 *   never needs s3:BypassGovernanceRetention, which no role has: the task locks its objects only once all are stored,
 *   so what it cleans up is never locked. It also lets this role remove any backup version of the
 *   primary bucket; never the replica's: a delete by version id is not replicated, and this role has no access there.
 */
function grantBackupWriter(bucket: s3.IBucket, task: MeatbackupTask, options: { key?: BackupKey; lockDays: number }): void {
  const role = task.taskDefinition.taskRole;
  const backupObjects = bucket.arnForObjects(`${DEFAULT_PREFIX}*`);
  grantOnBackups(
    bucket,
    task,
    {
      sid: 'WriteBackups',
      actions: ['s3:PutObject', 's3:GetObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts', 's3:GetObjectTagging', 's3:GetObjectRetention'],
      reason:
        'Backup keys carry their timestamp, so the task writes, classifies, locks and reads back any key under backups/, and removes only a failed run\'s own objects there; nothing outside it.',
    },
    options.key ? { key: options.key, sid: 'BackupWritesWithKey', actions: KEY_USE.write } : undefined,
  );
  const statements = [
    new iam.PolicyStatement({
      sid: 'ReadRetentionSettings',
      actions: ['s3:GetBucketObjectLockConfiguration', 's3:GetLifecycleConfiguration'],
      resources: [bucket.bucketArn],
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
  statements.push(
    new iam.PolicyStatement({
      sid: 'RemoveFailedBackup',
      actions: ['s3:DeleteObjectVersion'],
      resources: [backupObjects],
    }),
  );
  for (const statement of statements) role.addToPrincipalPolicy(statement);
}

/**
 * What `meatbackup restore` does in S3: resolve `latest` or a name by listing backups/, then read the backup (pinned to
 * its version), its manifest and globals, with their tags and retention. Read-only, nothing outside backups/.
 */
function grantBackupReader(bucket: s3.IBucket, task: MeatbackupTask, key?: BackupKey): void {
  grantOnBackups(
    bucket,
    task,
    {
      sid: 'ReadBackups',
      actions: ['s3:GetObject', 's3:GetObjectVersion', 's3:GetObjectTagging', 's3:GetObjectRetention'],
      reason: 'The restore reads whichever backup the operator picks (and its manifest) by key and version under backups/; it writes and deletes nothing.',
    },
    key ? { key, sid: 'RestoreReadsWithKey', actions: KEY_USE.read } : undefined,
  );
}

/**
 * What `meatbackup restore-test` does in S3: what the restore reads (list backups/, the backup by version, its manifest
 * and globals), and its result beside the backup it tested: only `backups/*.restore-test.json` is writable. With KMS,
 * the bucket's key to decrypt the backup and encrypt the result.
 */
function grantRestoreTester(bucket: s3.IBucket, task: MeatbackupTask, key?: BackupKey): void {
  grantOnBackups(
    bucket,
    task,
    {
      sid: 'ReadBackups',
      actions: ['s3:GetObject', 's3:GetObjectVersion'],
      reason: 'The restore test reads the newest backup (and its manifest and globals) by key and version under backups/; it writes only its result there.',
    },
    key ? { key, sid: 'RestoreTestUsesKey', actions: KEY_USE.write } : undefined,
  );
  const role = task.taskDefinition.taskRole;
  const results = bucket.arnForObjects(`${DEFAULT_PREFIX}*${SIDECAR_SUFFIX.restoreTest}`);
  // PutObject with a Tagging header needs PutObjectTagging too: the result carries its backup's retention class.
  role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'WriteRestoreTestResults', actions: ['s3:PutObject', 's3:PutObjectTagging'], resources: [results] }));
  acknowledgeWildcardResource(
    defaultPolicyOf(role),
    results,
    'The restore test writes its result beside the backup it tested, whose key carries its timestamp: *.restore-test.json under backups/ only.',
  );
}

/**
 * The ops function reads backups/ (list, status, the catalog) with this region's key and, for replication-check, the
 * replica's newest backup with the replica region's key, known by its alias.
 */
function grantOpsKeys(ops: OpsFunction, key: BackupKey, replicaKey: OtherRegionKey): void {
  key.grant('OpsReadsWithKey', ops.role, KEY_USE.read);
  ops.role.addToPrincipalPolicy(otherRegionKeyStatement('OpsReadsReplicaWithKey', replicaKey, KEY_USE.read));
  acknowledgeWildcardResource(
    defaultPolicyOf(ops.role),
    replicaKey.keyArnPattern,
    'replication-check decrypts the replica\'s newest backup with the replica region\'s key, known by alias only: limited to that alias, S3 and the replica bucket.',
  );
}

interface WebServiceArns {
  /** `CLUSTER/SERVICE`, as the restore reads it from WEB_SERVICE. */
  readonly ref: string;
  readonly clusterArn: string;
  readonly serviceArn: string;
  /** The cluster's tasks, `…:task/CLUSTER/*`. */
  readonly tasks: string;
}

/** The configured web service's ARNs: a cluster given by ARN is used as is, a name is in this stack's account and region. */
function webServiceArns(stack: Stack, web: NonNullable<AppConfig['webService']>): WebServiceArns {
  const arn = /^arn:([^:]+):ecs:([^:]+):([^:]+):cluster\/(.+)$/.exec(web.cluster);
  const [partition, region, account, cluster] = arn ? arn.slice(1) : [stack.partition, stack.region, stack.account, web.cluster];
  const base = `arn:${partition}:ecs:${region}:${account}`;
  return {
    ref: `${web.cluster}/${web.service}`,
    clusterArn: `${base}:cluster/${cluster}`,
    serviceArn: `${base}:service/${cluster}/${web.service}`,
    tasks: `${base}:task/${cluster}/*`,
  };
}

/**
 * What the restore does to the web service around the swap (src/restore/web-service.ts): read and scale that one
 * service, list its tasks and wait until they have stopped. Nothing else in its cluster.
 */
function grantWebServiceStopStart(task: MeatbackupTask, web: WebServiceArns): void {
  const role = task.taskDefinition.taskRole;
  const onCluster = { ArnEquals: { 'ecs:cluster': web.clusterArn } };
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: 'StopStartWebService',
      actions: ['ecs:DescribeServices', 'ecs:UpdateService'],
      resources: [web.serviceArn],
    }),
  );
  role.addToPrincipalPolicy(
    // ListTasks cannot be scoped to the service's tasks (Resource "*"); the ecs:cluster condition keeps it to that cluster.
    new iam.PolicyStatement({ sid: 'ListWebServiceTasks', actions: ['ecs:ListTasks'], resources: ['*'], conditions: onCluster }),
  );
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({ sid: 'DescribeWebServiceTasks', actions: ['ecs:DescribeTasks'], resources: [web.tasks], conditions: onCluster }),
  );
  const policy = defaultPolicyOf(role);
  acknowledgeWildcardResource(
    policy,
    '*',
    'ecs:ListTasks cannot be scoped by resource; the ecs:cluster condition limits it to the web service\'s cluster, which the restore waits on.',
  );
  acknowledgeWildcardResource(
    policy,
    web.tasks,
    'The web service\'s task ARNs are only known at run time; DescribeTasks is limited to that cluster\'s tasks (resource and ecs:cluster condition).',
  );
}
