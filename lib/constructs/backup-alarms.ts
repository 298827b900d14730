import { Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { METRICS } from '../../src/contract';
import type { AlarmsConfig } from '../config';

/** A metric the meatbackup runners (or the ops Lambda's status) emit in Embedded Metric Format, for one database. */
export function meatbackupMetric(metricName: string, database: string, statistic: string, period: Duration, label?: string): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: METRICS.namespace,
    metricName,
    dimensionsMap: { [METRICS.dimensionDatabase]: database },
    statistic,
    period,
    ...(label ? { label } : {}),
  });
}

/** What S3 Replication (with metrics enabled) reports for one rule, in the source bucket's region. */
export interface ReplicationRuleMetrics {
  readonly ruleId: string;
  readonly latency: cloudwatch.Metric;
  readonly failedOperations: cloudwatch.Metric;
}

/** The replication rule ids a bucket's construct rendered (the RuleId dimension of its replication metrics). */
export function replicationRuleIds(bucket: s3.Bucket): string[] {
  const cfn = bucket.node.defaultChild as s3.CfnBucket;
  const config = Stack.of(bucket).resolve(cfn.replicationConfiguration) as { rules?: Array<{ id?: string }> } | undefined;
  return (config?.rules ?? []).map((rule, i) => {
    if (typeof rule.id !== 'string' || rule.id === '') {
      throw new Error(`replication rule ${i} of ${bucket.node.path} has no id: give it one, the replication alarms name it in their RuleId dimension`);
    }
    return rule.id;
  });
}

function replicationMetrics(source: string, destination: string, ruleId: string): ReplicationRuleMetrics {
  const dimensionsMap = { SourceBucket: source, DestinationBucket: destination, RuleId: ruleId };
  return {
    ruleId,
    latency: new cloudwatch.Metric({
      namespace: 'AWS/S3',
      metricName: 'ReplicationLatency',
      dimensionsMap,
      statistic: cloudwatch.Stats.MAXIMUM,
      period: Duration.minutes(5),
    }),
    failedOperations: new cloudwatch.Metric({
      namespace: 'AWS/S3',
      metricName: 'OperationsFailedReplication',
      dimensionsMap,
      statistic: cloudwatch.Stats.SUM,
      period: Duration.minutes(5),
    }),
  };
}

export interface BackupAlarmsProps {
  /** Prefix of every alarm name (the configuration's `name`); the topic admits CloudWatch alarms of that prefix. */
  readonly namePrefix: string;
  /** The Database dimension of the runners' metrics. */
  readonly database: string;
  readonly thresholds: AlarmsConfig;
  /** The alarm topic and the KMS key it is encrypted with. */
  readonly topic: sns.ITopic;
  readonly topicKey: kms.Key;
  /** The replicating source bucket and its destination's name. */
  readonly sourceBucket: s3.Bucket;
  readonly destinationBucketName: string;
  /**
   * For a chat channel (where the description is what people read first): each description ends with the first thing
   * to do and where the runbook says more.
   * @default - the descriptions alone
   */
  readonly guidance?: AlarmGuidance;
}

export interface AlarmGuidance {
  /** The runbook section (URL, or its name). */
  readonly runbook: string;
  /** How the channel asks for the status, e.g. `@Amazon Q run backup-status`. */
  readonly statusCommand: string;
  /** How the channel starts a backup, e.g. `@Amazon Q run backup-now`. */
  readonly backupCommand: string;
}

/** The first thing to do for each alarm, as the chat channel can do it. */
function firstSteps(g: AlarmGuidance) {
  return {
    noSuccessfulBackup: `${g.statusCommand}: read the last backup task's exit code and log, fix what it names, then ${g.backupCommand}`,
    restoreTestFailed: `${g.statusCommand}: it names the tested backup and the difference; restore that backup into a scratch database to look`,
    noRecentRestoreTest: `${g.statusCommand}: check that the restore-test schedule is enabled and read its last task's log`,
    restoreTestCannotRun: `${g.statusCommand}: it names the missing extension; add it to the image or switch the restore test to scratch mode (README: extensions in restore tests)`,
    replicationFailed: 'run the ops function\'s {"action": "replication-check"} to see whether the newest backup reached the replica',
    replicationLatency: 'wait for the lag to pass 15 minutes, then run {"action": "replication-check"}',
  };
}

/**
 * CloudWatch alarms on the backups, the restore tests and the replication, publishing to the alarm topic (and, with
 * `notifyOnOk`, again when they recover). Every alarm states its statistic, period, evaluation periods, datapoints
 * to alarm and missing-data treatment:
 *
 * - no successful backup: `BackupSuccess` Sum per hour < 1 in all of the last N (26) hours; an hour without data
 *   (no run, or a task that never started) is breaching, so one success anywhere in the window clears it. N hours of
 *   1-hour periods stay within CloudWatch's 7-day evaluation limit.
 * - a failed restore test: `RestoreTestSuccess` Minimum per day < 1; no data (no test that day) is fine. It stays in
 *   ALARM for up to a day after the failure; the failed task's exit code also fires the task-failure rule at once.
 * - a restore test that cannot run: `RestoreTestCannotTest` Maximum per day ≥ 1 (the target lacks an extension the
 *   backup needs); no data is fine. Apart from the failed-test alarm: nothing is known against the backup, but it
 *   goes unproven until the image or the mode changes, so it is worth a person's attention too. The task's exit
 *   code (5) also fires the task-failure rule.
 * - no recent restore test: `RestoreTestAgeSeconds` (hourly, from the ops Lambda's status) above N (8) days in 2
 *   consecutive hours; no data means the hourly check stopped, which is breaching. A count of test runs cannot do
 *   this: 8 days exceed an alarm's 7-day evaluation window, and a 7-day window would race the weekly schedule.
 * - S3 replication, per rule: OperationsFailedReplication Sum per 5 minutes > 0, and ReplicationLatency Maximum per
 *   5 minutes > the threshold (900 s, Replication Time Control's promise); S3 reports nothing while nothing
 *   replicates, which is fine.
 */
export class BackupAlarms extends Construct {
  readonly noSuccessfulBackup: cloudwatch.Alarm;
  readonly restoreTestFailed: cloudwatch.Alarm;
  readonly noRecentRestoreTest: cloudwatch.Alarm;
  readonly restoreTestCannotRun: cloudwatch.Alarm;
  readonly replication: ReadonlyArray<ReplicationRuleMetrics & { readonly failedAlarm: cloudwatch.Alarm; readonly latencyAlarm: cloudwatch.Alarm }>;

  constructor(scope: Construct, id: string, props: BackupAlarmsProps) {
    super(scope, id);
    const { database, thresholds, namePrefix } = props;
    this.allowCloudWatchToPublish(props);
    const first = props.guidance ? firstSteps(props.guidance) : undefined;

    const hours = thresholds.backupMaxAgeHours;
    this.noSuccessfulBackup = this.alarm(props, 'NoSuccessfulBackup', {
      alarmName: `${namePrefix}-no-successful-backup`,
      alarmDescription:
        `No successful backup of ${database} in ${hours} hours: no BackupSuccess datapoint of 1 in any of the last ${hours} hourly periods ` +
        '(no run, a failed run, or a task that never started). Check the ops Lambda\'s {"action": "status"} and the backup task\'s log.',
      metric: meatbackupMetric(METRICS.backupSuccess, database, cloudwatch.Stats.SUM, Duration.hours(1)),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: hours,
      datapointsToAlarm: hours,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    }, this, first?.noSuccessfulBackup);

    this.restoreTestFailed = this.alarm(props, 'RestoreTestFailed', {
      alarmName: `${namePrefix}-restore-test-failed`,
      alarmDescription:
        `A restore test of ${database} failed in the last day (RestoreTestSuccess 0): the backup did not restore, its catalog differed ` +
        'from what was recorded, or an assertion was false. The result is beside the backup (<key>.restore-test.json); {"action": "status"} shows it.',
      metric: meatbackupMetric(METRICS.restoreTestSuccess, database, cloudwatch.Stats.MINIMUM, Duration.days(1)),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: 1,
      datapointsToAlarm: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }, this, first?.restoreTestFailed);

    this.restoreTestCannotRun = this.alarm(props, 'RestoreTestCannotRun', {
      alarmName: `${namePrefix}-restore-test-cannot-run`,
      alarmDescription:
        `A restore test of ${database} could not run in the last day (RestoreTestCannotTest 1): its target lacks an extension the backup needs. ` +
        'This says nothing against the backup, but it is not proven until the extension is in the image or the test runs in scratch mode. ' +
        '{"action": "status"} names the extension.',
      metric: meatbackupMetric(METRICS.restoreTestCannotTest, database, cloudwatch.Stats.MAXIMUM, Duration.days(1)),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      datapointsToAlarm: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }, this, first?.restoreTestCannotRun);

    const days = thresholds.restoreTestMaxAgeDays;
    this.noRecentRestoreTest = this.alarm(props, 'NoRecentRestoreTest', {
      alarmName: `${namePrefix}-no-recent-restore-test`,
      alarmDescription:
        `No restore test of ${database} in ${days} days (RestoreTestAgeSeconds, reported hourly by the ops Lambda's scheduled status), ` +
        'or that hourly check stopped reporting. Check the restore-test schedule and task log.',
      metric: meatbackupMetric(METRICS.restoreTestAgeSeconds, database, cloudwatch.Stats.MAXIMUM, Duration.hours(1)),
      threshold: days * 86_400,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 2,
      datapointsToAlarm: 2,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    }, this, first?.noRecentRestoreTest);

    const source = props.sourceBucket.bucketName;
    const latencySeconds = thresholds.replicationLatencySeconds;
    this.replication = replicationRuleIds(props.sourceBucket).map((ruleId) => {
      const metrics = replicationMetrics(source, props.destinationBucketName, ruleId);
      const construct = new Construct(this, `Replication${ruleId.replace(/[^A-Za-z0-9]/g, '')}`);
      const failedAlarm = this.alarm(props, 'FailedOperations', {
        alarmName: `${namePrefix}-replication-failed-${ruleId}`,
        alarmDescription: `S3 Replication rule ${ruleId} failed to replicate objects to ${props.destinationBucketName} (OperationsFailedReplication > 0); see the replication failure events or S3 Batch Replication.`,
        metric: metrics.failedOperations,
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        datapointsToAlarm: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }, construct, first?.replicationFailed);
      const latencyAlarm = this.alarm(props, 'Latency', {
        alarmName: `${namePrefix}-replication-latency-${ruleId}`,
        alarmDescription: `S3 Replication rule ${ruleId} took longer than ${latencySeconds} s to replicate to ${props.destinationBucketName} (ReplicationLatency Maximum): the replica lags behind the backups.`,
        metric: metrics.latency,
        threshold: latencySeconds,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        datapointsToAlarm: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }, construct, first?.replicationLatency);
      return { ...metrics, failedAlarm, latencyAlarm };
    });
  }

  /** Every alarm of this construct, for the dashboard's alarm status widget. */
  get alarms(): cloudwatch.Alarm[] {
    return [
      this.noSuccessfulBackup,
      this.restoreTestFailed,
      this.noRecentRestoreTest,
      this.restoreTestCannotRun,
      ...this.replication.flatMap((r) => [r.failedAlarm, r.latencyAlarm]),
    ];
  }

  private alarm(
    props: BackupAlarmsProps,
    id: string,
    alarmProps: cloudwatch.AlarmProps,
    scope: Construct = this,
    firstStep?: string,
  ): cloudwatch.Alarm {
    const guided = props.guidance && firstStep ? `${alarmProps.alarmDescription} First: ${firstStep}. Runbook: ${props.guidance.runbook}` : undefined;
    const alarm = new cloudwatch.Alarm(scope, id, guided ? { ...alarmProps, alarmDescription: guided } : alarmProps);
    const action = new cloudwatchActions.SnsAction(props.topic);
    alarm.addAlarmAction(action);
    if (props.thresholds.notifyOnOk) alarm.addOkAction(action);
    return alarm;
  }

  /**
   * CloudWatch publishes alarm notifications as its service principal: the topic admits it for this account's alarms
   * of this prefix only (confused-deputy conditions), and, the topic being KMS-encrypted, the key lets it encrypt the
   * message (as the SNS documentation's example for CloudWatch: without it notifications are dropped silently).
   */
  private allowCloudWatchToPublish(props: BackupAlarmsProps): void {
    const stack = Stack.of(this);
    const cloudwatchPrincipal = new iam.ServicePrincipal('cloudwatch.amazonaws.com');
    props.topic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchAlarmsPublish',
        principals: [cloudwatchPrincipal],
        actions: ['sns:Publish'],
        resources: [props.topic.topicArn],
        conditions: {
          StringEquals: { 'aws:SourceAccount': stack.account },
          ArnLike: { 'aws:SourceArn': `arn:${stack.partition}:cloudwatch:${stack.region}:${stack.account}:alarm:${props.namePrefix}-*` },
        },
      }),
    );
    props.topicKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchAlarmsUseKey',
        principals: [cloudwatchPrincipal],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
      }),
    );
  }
}
