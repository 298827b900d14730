import { CfnOutput, Fn, Stack, type StackProps } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { CHAT_COMMANDS, DEFAULT_PREFIX, ENV, formatRetentionDays } from '../../src/contract';
import type { AppConfig, ChatConfig } from '../config';
import { BackupAlarms } from '../constructs/backup-alarms';
import { BackupBucket } from '../constructs/backup-bucket';
import { BackupKey, KEY_USE, type OtherRegionKey, keyUserRoleNames, otherRegionKey, roleArnByName } from '../constructs/backup-key';
import { BackupDashboard } from '../constructs/backup-dashboard';
import { BackupFailureAlarm } from '../constructs/backup-failure-alarm';
import { BackupSchedule } from '../constructs/backup-schedule';
import { ChatChannel, runbookLink } from '../constructs/chat-channel';
import { DiscordInteractions } from '../constructs/discord-interactions';
import { DiscordNotifier } from '../constructs/discord-notifier';
import { MeatbackupTask } from '../constructs/meatbackup-task';
import { OpsFunction } from '../constructs/ops-function';
import { PROMOTE_FUNCTION_NAME_ENV, promoteFunctionName } from '../constructs/promote-function';
import { RestoreTestSchedule } from '../constructs/restore-test-schedule';
import { StatusSchedule } from '../constructs/status-schedule';
import { TaskNetwork } from '../constructs/task-network';
import { TaskPlatform } from '../constructs/task-platform';
import { WebService } from '../constructs/web-service';
import { backupTaskFamily, primaryBucketName, replicaBucketName, restoreTaskFamily, restoreTestTaskFamily } from '../naming';

/** Physical name of the ops function when a chat channel types it (see OpsFunctionProps.functionName). */
export function opsFunctionName(config: AppConfig): string {
  return `${config.name}-ops`;
}

/** How the chat channel runs one of its commands, e.g. `@Amazon Q run backup-status`. */
function chatCommand(chat: ChatConfig, command: keyof typeof CHAT_COMMANDS): string {
  return `@Amazon Q run ${chat.aliasPrefix}${CHAT_COMMANDS[command]}`;
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
  /** Discord slash commands (configuration `discord.interactions`); none by default. */
  readonly discordInteractions?: DiscordInteractions;
  /** Alarms to a Discord channel (configuration `discord.webhookSecretArn`); none by default. */
  readonly discordNotifier?: DiscordNotifier;

  constructor(scope: Construct, id: string, props: PrimaryStackProps) {
    super(scope, id, props);
    const { config } = props;
    const replica = this.replicaTarget(config);
    this.backupKey = this.createBackupKey(config);
    this.backupBucket = new BackupBucket(this, 'BackupBucket', {
      bucketName: primaryBucketName(config),
      retention: config.retention,
      encryptionKey: this.backupKey,
      replication: { destination: replica.bucket, roleName: keyUserRoleNames(config).replication, destinationKey: replica.key },
    });
    // The promotion role may harden buckets under the project's name pattern, which this one matches too.
    this.backupBucket.denyBucketSettingsTo('PromotionNeverReconfiguresLivePrimary', roleArnByName(this, config, keyUserRoleNames(config).promote));
    this.network = new TaskNetwork(this, 'Network', { network: config.network, logRetention: config.retention.logDays });
    this.platform = new TaskPlatform(this, 'Tasks', {
      vpc: this.network.vpc,
      subnets: this.network.subnets,
      assignPublicIp: this.network.assignPublicIp,
      database: config.database,
      logRetention: config.retention.logDays,
      image: config.image,
    });
    const webService = config.webService ? new WebService(this, config.webService) : undefined;
    this.backupTask = this.createBackupTask(config);
    this.restoreTask = this.createRestoreTask(config, webService);
    this.schedule = new BackupSchedule(this, 'BackupSchedule', {
      platform: this.platform,
      task: this.backupTask,
      expression: config.schedule.expression,
      timeZone: config.schedule.timeZone,
      enabled: config.schedule.enabled,
    });
    this.restoreTest = this.createRestoreTest(config);
    this.ops = this.createOps(config, replica.key, webService);
    this.alarm = new BackupFailureAlarm(this, 'FailureAlarm', {
      platform: this.platform,
      families: [backupTaskFamily(config), restoreTaskFamily(config), restoreTestTaskFamily(config)],
      email: config.alarmEmail,
    });
    this.alarms = this.createAlarms(config);
    if (config.chat) this.chat = this.addChat(config, config.chat);
    if (config.discord?.interactions) {
      this.discordInteractions = new DiscordInteractions(this, 'DiscordInteractions', {
        functionName: `${config.name}-discord`,
        ...config.discord.interactions,
        opsFunction: this.ops.function,
        logRetention: config.retention.logDays,
      });
    }
    if (config.discord?.webhookSecretArn) {
      this.discordNotifier = new DiscordNotifier(this, 'DiscordNotifier', {
        webhookSecretArn: config.discord.webhookSecretArn,
        topic: this.alarm.topic,
        platform: this.platform,
        restoreFamily: restoreTaskFamily(config),
        database: config.database.name,
        logRetention: config.retention.logDays,
      });
    }
    this.statusSchedule = new StatusSchedule(this, 'StatusSchedule', { function: this.ops.function });
    this.dashboard = new BackupDashboard(this, 'Dashboard', {
      dashboardName: config.name,
      database: config.database.name,
      taskLogGroup: this.platform.logGroup,
      alarms: this.alarms,
      restoreTestMaxAgeDays: config.alarms.restoreTestMaxAgeDays,
      replicationLatencySeconds: config.alarms.replicationLatencySeconds,
    });
    this.addOutputs();
  }

  /**
   * The replica bucket (and, with KMS, its key), known by name and alias rather than by cross-stack reference: the
   * replica stack creates them under the same deterministic names, in another region.
   */
  private replicaTarget(config: AppConfig): { bucket: s3.IBucket; key?: OtherRegionKey } {
    const replicaName = replicaBucketName(config);
    const bucket = s3.Bucket.fromBucketAttributes(this, 'Replica', { bucketName: replicaName, region: config.replicaRegion, account: this.account });
    return { bucket, key: config.encryption === 'kms' ? otherRegionKey(this, config, config.replicaRegion, replicaName) : undefined };
  }

  /** The primary bucket's key; the promotion function's replication-check (replica region) reads the newest backup with it. */
  private createBackupKey(config: AppConfig): BackupKey | undefined {
    const key = BackupKey.forBucket(this, config, primaryBucketName(config));
    key?.allow('PromotionReadsBackups', roleArnByName(this, config, keyUserRoleNames(config).promote), KEY_USE.read);
    return key;
  }

  /** `meatbackup backup`: writes backups/. It never reads the replica (replication-check does, from the ops function). */
  private createBackupTask(config: AppConfig): MeatbackupTask {
    const task = new MeatbackupTask(this, 'BackupTask', {
      platform: this.platform,
      family: backupTaskFamily(config),
      databaseJob: 'backup',
      command: ['backup'],
      cpu: config.task.cpu,
      memoryMiB: config.task.memoryMiB,
      streamPrefix: 'backup',
      environment: {
        [ENV.bucket]: this.backupBucket.bucket.bucketName,
        [ENV.prefix]: DEFAULT_PREFIX,
        [ENV.lockDays]: String(config.retention.lockDays),
        // Each backup is locked until its class expires: the task, which may delete a failed run's versions, cannot
        // delete a finished one before it would expire anyway.
        [ENV.retentionDays]: formatRetentionDays({ daily: config.retention.dailyDays, weekly: config.retention.weeklyDays, monthly: config.retention.monthlyDays }),
      },
    });
    const longestLock = config.retention.lockDays > 0 ? Math.max(config.retention.lockDays, config.retention.monthlyDays) : 0;
    this.backupBucket.grantBackupWriter(task.taskDefinition.taskRole, { lockDays: longestLock });
    return task;
  }

  /**
   * `meatbackup restore <key>`: same image and database connection as the backup, its own size (`restoreTask`): the
   * load runs over several sessions of the server (RESTORE_JOBS, default the task's vCPUs). Restore streams (about 150 MB RSS,
   * no disk), so the backup's CPU and memory do: the sha256 check, gunzip and psql each keep a core busy on a large
   * backup. It stops and starts the web service around the swap.
   */
  private createRestoreTask(config: AppConfig, webService: WebService | undefined): MeatbackupTask {
    const task = new MeatbackupTask(this, 'RestoreTask', {
      platform: this.platform,
      family: restoreTaskFamily(config),
      databaseJob: 'restore',
      // Placeholder: the ops Lambda always overrides the command with the resolved key (src/ops/actions.ts).
      command: ['restore', 'latest'],
      cpu: config.restoreTask.cpu,
      memoryMiB: config.restoreTask.memoryMiB,
      streamPrefix: 'restore',
      environment: {
        [ENV.bucket]: this.backupBucket.bucket.bucketName,
        [ENV.prefix]: DEFAULT_PREFIX,
        ...(config.restoreTask.jobs !== undefined ? { [ENV.restoreJobs]: String(config.restoreTask.jobs) } : {}),
        ...(webService ? { [ENV.webService]: webService.ref } : {}),
      },
    });
    this.backupBucket.grantBackupReader(task.taskDefinition.taskRole);
    webService?.grantStopStart(task.taskDefinition.taskRole);
    return task;
  }

  /** The weekly `meatbackup restore-test latest`: reads backups/, writes only its result beside the backup it tested. */
  private createRestoreTest(config: AppConfig): RestoreTestSchedule {
    const restoreTest = new RestoreTestSchedule(this, 'RestoreTest', {
      platform: this.platform,
      bucket: this.backupBucket.bucket,
      family: restoreTestTaskFamily(config),
      config: config.restoreTest,
    });
    this.backupBucket.grantRestoreTester(restoreTest.task.taskDefinition.taskRole);
    return restoreTest;
  }

  /** The ops Lambda: reads backups/ (both keys), runs the backup and restore tasks, and knows the restore test's tasks. */
  private createOps(config: AppConfig, replicaKey: OtherRegionKey | undefined, webService: WebService | undefined): OpsFunction {
    const ops = new OpsFunction(this, 'Ops', {
      // Named only for a chat channel, whose commands type it; other deployments keep the generated name.
      functionName: config.chat ? opsFunctionName(config) : undefined,
      roleName: keyUserRoleNames(config).ops,
      platform: this.platform,
      bucket: this.backupBucket.bucket,
      replicaBucketName: replicaBucketName(config),
      replicaRegion: config.replicaRegion,
      backupTask: this.backupTask,
      logRetention: config.retention.logDays,
    });
    if (this.backupKey && replicaKey) ops.grantBackupKeys(this.backupKey, replicaKey);
    ops.allowRunTask(this.restoreTask);
    ops.addEnvironment(ENV.restoreTaskDefinition, this.restoreTask.taskDefinition.taskDefinitionArn);
    if (webService) ops.addEnvironment(ENV.webService, webService.ref);
    // status lists the restore test's tasks and reads its results (backups/*.restore-test.json, under ReadBackups).
    ops.addEnvironment(ENV.restoreTestTaskDefinition, this.restoreTest.task.taskDefinition.taskDefinitionArn);
    // promote runs from the replica region's function; this one's answer names it.
    ops.addEnvironment(PROMOTE_FUNCTION_NAME_ENV, promoteFunctionName(config));
    return ops;
  }

  /** Metric alarms on backups, restore tests and replication, publishing to the failure alarm's topic. */
  private createAlarms(config: AppConfig): BackupAlarms {
    return new BackupAlarms(this, 'Alarms', {
      namePrefix: config.name,
      database: config.database.name,
      thresholds: config.alarms,
      topic: this.alarm.topic,
      topicKey: this.alarm.key,
      sourceBucket: this.backupBucket.bucket,
      destinationBucketName: replicaBucketName(config),
      ...(config.chat
        ? { guidance: { runbook: runbookLink(config.chat), statusCommand: chatCommand(config.chat, 'status'), backupCommand: chatCommand(config.chat, 'backup') } }
        : {}),
    });
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
      region: config.primaryRegion,
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

  private addOutputs(): void {
    new CfnOutput(this, 'BackupBucketName', { value: this.backupBucket.bucket.bucketName, description: 'Bucket holding backups/' });
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
   * Two AZs without a context lookup: `Fn::GetAZs` resolves at deploy time in whatever account deploys, so synth
   * needs no credentials even when the configuration pins the account.
   */
  override get availabilityZones(): string[] {
    return [Fn.select(0, Fn.getAzs()), Fn.select(1, Fn.getAzs())];
  }
}
