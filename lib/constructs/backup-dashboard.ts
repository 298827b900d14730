import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { METRICS } from '../../src/contract';
import { type BackupAlarms, meatbackupMetric } from './backup-alarms';

export interface BackupDashboardProps {
  /** The dashboard's name (the configuration's `name`). */
  readonly dashboardName: string;
  /** The Database dimension of the runners' metrics. */
  readonly database: string;
  /** The tasks' log group: the newest successful backup is read from its EMF records. */
  readonly taskLogGroup: logs.ILogGroup;
  readonly alarms: BackupAlarms;
  /** Days after which the newest restore test is too old (the staleness alarm's threshold), drawn as a line. */
  readonly restoreTestMaxAgeDays: number;
  readonly replicationLatencySeconds: number;
}

const DAY = Duration.days(1);
const HOUR = Duration.hours(1);

/**
 * One CloudWatch dashboard for the backups: the alarms' states; the newest backup's age (hourly from the ops Lambda's
 * status, which reads S3) and its record in the task log; size, duration and outcome of each day's backups; the
 * restore tests' results, duration and age; S3 replication latency and failures. Two weeks by default, so the
 * weekly restore test always shows.
 *
 * "Age of the newest backup" is not something metric math can derive from BackupSuccess (it has no "time since the
 * last datapoint"), so the age is measured where the truth is, the bucket, and the task log shows when the newest
 * successful backup ran.
 */
export class BackupDashboard extends Construct {
  readonly dashboard: cloudwatch.Dashboard;
  private readonly props: BackupDashboardProps;

  constructor(scope: Construct, id: string, props: BackupDashboardProps) {
    super(scope, id);
    this.props = props;
    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: props.dashboardName,
      defaultInterval: Duration.days(14),
    });
    // CloudFormation accepts Tags on a dashboard (the stack's tags land there); cfn-lint 1.51's schema predates them and
    // reports E3002 "Additional properties are not allowed ('Tags' was unexpected)" for this resource alone.
    (this.dashboard.node.defaultChild as cloudwatch.CfnDashboard).addMetadata('cfn-lint', { config: { ignore_checks: ['E3002'] } });
    this.addHeader();
    this.addNewestBackupRow();
    this.addBackupTrendsRow();
    this.addRestoreTestRow();
    this.addReplicationRow();
  }

  private metric(name: string, statistic: string, period: Duration, label: string): cloudwatch.Metric {
    return meatbackupMetric(name, this.props.database, statistic, period, label);
  }

  /** An age metric (seconds, the hourly status' maximum) in hours or days: `secondsPerUnit` 3600 or 86400. */
  private age(name: string, secondsPerUnit: number, label: string): cloudwatch.MathExpression {
    return new cloudwatch.MathExpression({
      expression: `age / ${secondsPerUnit}`,
      usingMetrics: { age: this.metric(name, cloudwatch.Stats.MAXIMUM, HOUR, 'age (s)') },
      label,
      period: HOUR,
    });
  }

  /** What the dashboard shows and where its numbers come from; then every alarm's state. */
  private addHeader(): void {
    this.dashboard.addWidgets(
      new cloudwatch.TextWidget({
        markdown:
          `# Backups of ${this.props.database}\n` +
          'Daily `meatbackup backup` to S3 (replicated to the replica region), a weekly `meatbackup restore-test` of the newest backup. ' +
          'Ages come from the ops Lambda\'s hourly `{"action": "status"}`, which reads the bucket; the rest from the runners\' own metrics.',
        width: 24,
        height: 2,
      }),
    );
    this.dashboard.addWidgets(new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: this.props.alarms.alarms, width: 24, height: 3 }));
  }

  /** The newest backup's age (from the bucket, via the ops Lambda's status) and its records in the task log. */
  private addNewestBackupRow(): void {
    const backupAgeHours = this.age(METRICS.newestBackupAgeSeconds, 3600, 'newest backup age (hours)');
    this.dashboard.addWidgets(
      new cloudwatch.SingleValueWidget({ title: 'Newest backup age (hours)', metrics: [backupAgeHours], sparkline: true, width: 6, height: 6 }),
      new cloudwatch.LogQueryWidget({
        title: 'Newest successful backups (task log)',
        logGroupNames: [this.props.taskLogGroup.logGroupName],
        queryLines: [
          'fields @timestamp, Database, BackupBytes, BackupSeconds',
          `filter event = "backup" and BackupSuccess = 1 and Database = ${JSON.stringify(this.props.database)}`,
          'sort @timestamp desc',
          'limit 5',
        ],
        view: cloudwatch.LogQueryVisualizationType.TABLE,
        width: 18,
        height: 6,
      }),
    );
  }

  /** Size, duration and outcome of each day's backups. */
  private addBackupTrendsRow(): void {
    const backupRuns = this.metric(METRICS.backupSuccess, cloudwatch.Stats.SAMPLE_COUNT, DAY, 'runs');
    const backupSuccesses = this.metric(METRICS.backupSuccess, cloudwatch.Stats.SUM, DAY, 'succeeded');
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Backup size (bytes stored)',
        left: [this.metric(METRICS.backupBytes, cloudwatch.Stats.MAXIMUM, DAY, 'compressed size')],
        leftYAxis: { min: 0, showUnits: true },
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Backup duration (seconds)',
        left: [this.metric(METRICS.backupSeconds, cloudwatch.Stats.MAXIMUM, DAY, 'duration')],
        leftYAxis: { min: 0 },
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Backups per day',
        left: [
          backupSuccesses,
          new cloudwatch.MathExpression({ expression: 'runs - succeeded', usingMetrics: { runs: backupRuns, succeeded: backupSuccesses }, label: 'failed', period: DAY }),
        ],
        leftYAxis: { min: 0 },
        stacked: true,
        width: 8,
      }),
    );
  }

  /** Restore test results and durations, and the age of the newest one against the staleness alarm's threshold. */
  private addRestoreTestRow(): void {
    const restoreTestAgeDays = this.age(METRICS.restoreTestAgeSeconds, 86400, 'days since the newest restore test');
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Restore test results (1 = passed, 0 = failed)',
        left: [this.metric(METRICS.restoreTestSuccess, cloudwatch.Stats.MINIMUM, DAY, 'result')],
        right: [this.metric(METRICS.restoreTestSeconds, cloudwatch.Stats.MAXIMUM, DAY, 'duration (s)')],
        leftYAxis: { min: 0, max: 1 },
        rightYAxis: { min: 0 },
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'Days since the newest restore test',
        left: [restoreTestAgeDays],
        leftAnnotations: [{ value: this.props.restoreTestMaxAgeDays, label: 'alarm', color: cloudwatch.Color.RED }],
        leftYAxis: { min: 0 },
        width: 12,
      }),
    );
  }

  /** S3 replication latency (against the alarm's threshold) and failed operations, per replication rule. */
  private addReplicationRow(): void {
    const replication = this.props.alarms.replication;
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'S3 replication latency (seconds)',
        left: replication.map((r) => r.latency.with({ label: `latency (${r.ruleId})` })),
        leftAnnotations: [{ value: this.props.replicationLatencySeconds, label: 'alarm', color: cloudwatch.Color.RED }],
        leftYAxis: { min: 0 },
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'S3 replication: failed operations',
        left: replication.map((r) => r.failedOperations.with({ label: `failed operations (${r.ruleId})` })),
        leftYAxis: { min: 0 },
        width: 12,
      }),
    );
  }
}
