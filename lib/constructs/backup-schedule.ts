import { Duration, Stack, TimeZone } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import { Construct } from 'constructs';
import { acknowledgeWildcardResource, defaultPolicyOf } from '../nag';
import type { MeatbackupTask } from './meatbackup-task';
import type { TaskPlatform } from './task-platform';

export interface BackupScheduleProps {
  readonly platform: TaskPlatform;
  /** The task to run; its container's default command is `backup`. */
  readonly task: MeatbackupTask;
  /** EventBridge Scheduler expression, e.g. `cron(0 3 * * ? *)`. */
  readonly expression: string;
  /** IANA time zone the cron expression is read in. */
  readonly timeZone: string;
  readonly enabled: boolean;
  /** The task's name in the role's description. @default backup */
  readonly taskName?: string;
  /** @default the backup's: `meatbackup backup: pg_dump to S3 backups/` */
  readonly description?: string;
  /** @default the platform's security group */
  readonly securityGroups?: ec2.ISecurityGroup[];
}

/**
 * EventBridge Scheduler runs the backup task on Fargate (runbook 1.1). The command comes from the task definition
 * (`backup`), so the schedule carries no overrides. RunTask failures (no capacity, throttling) are retried for up to
 * six hours; a task that starts and fails is caught by the BackupFailureAlarm.
 */
export class BackupSchedule extends Construct {
  readonly schedule: scheduler.Schedule;
  /** The role EventBridge Scheduler assumes to call RunTask. */
  readonly role: iam.Role;

  constructor(scope: Construct, id: string, props: BackupScheduleProps) {
    super(scope, id);
    const cluster = props.platform.cluster;
    const stack = Stack.of(this);
    // Our own role (rather than the target's shared one) so its one wildcard can be acknowledged right here.
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
      }),
      description: `EventBridge Scheduler: run the meatbackup ${props.taskName ?? 'backup'} task`,
    });
    this.schedule = new scheduler.Schedule(this, 'Schedule', {
      description: props.description ?? 'meatbackup backup: pg_dump to S3 backups/',
      schedule: scheduler.ScheduleExpression.expression(props.expression, TimeZone.of(props.timeZone)),
      timeWindow: scheduler.TimeWindow.off(),
      enabled: props.enabled,
      target: new targets.EcsRunFargateTask(props.platform.cluster, {
        taskDefinition: props.task.taskDefinition,
        vpcSubnets: props.platform.subnets,
        securityGroups: props.securityGroups ?? [props.platform.securityGroup],
        assignPublicIp: props.platform.assignPublicIp,
        role: this.role,
        // Tasks carry the task definition's tags (Project=…) for cost allocation; this needs ecs:TagResource.
        propagateTags: true,
        retryAttempts: 10,
        maxEventAge: Duration.hours(6),
      }),
    });
    acknowledgeWildcardResource(
      defaultPolicyOf(this.role),
      `arn:${stack.partition}:ecs:${cluster.env.region}:${props.task.taskDefinition.env.account}:task/${cluster.clusterName}/*`,
      'ecs:TagResource tags the task RunTask starts; its ARN is only known then, so the resource is any task of this cluster.',
    );
  }
}
