import { Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import { Construct } from 'constructs';
import { acknowledgeWildcardResource, defaultPolicyOf } from '../nag';

/** The event the schedule sends: the ops Lambda's status, which also reports the backup ages as metrics. */
export const STATUS_EVENT = { action: 'status' } as const;

export interface StatusScheduleProps {
  /** The ops function. */
  readonly function: lambda.IFunction;
  /** @default rate(1 hour) */
  readonly expression?: string;
}

/**
 * EventBridge Scheduler invokes the ops Lambda with `{"action": "status"}` every hour. The answer is thrown away;
 * what counts is the metrics the status action emits from what it finds in S3 (NewestBackupAgeSeconds,
 * RestoreTestAgeSeconds): the newest backup's age on the dashboard and the no-recent-restore-test alarm.
 */
export class StatusSchedule extends Construct {
  readonly schedule: scheduler.Schedule;
  readonly role: iam.Role;

  constructor(scope: Construct, id: string, props: StatusScheduleProps) {
    super(scope, id);
    const stack = Stack.of(this);
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
      }),
      description: 'EventBridge Scheduler: invoke the meatbackup ops Lambda for its hourly status metrics',
    });
    this.schedule = new scheduler.Schedule(this, 'Schedule', {
      description: 'meatbackup status: report the ages of the newest backup and restore test as metrics',
      schedule: scheduler.ScheduleExpression.expression(props.expression ?? 'rate(1 hour)'),
      timeWindow: scheduler.TimeWindow.off(),
      target: new targets.LambdaInvoke(props.function, {
        input: scheduler.ScheduleTargetInput.fromObject(STATUS_EVENT),
        role: this.role,
        // A missed hour is tolerated by the alarm (2 of 2 hours); retrying late would only blur the hourly series.
        retryAttempts: 2,
        maxEventAge: Duration.minutes(30),
      }),
    });
    acknowledgeWildcardResource(
      defaultPolicyOf(this.role),
      `${props.function.functionArn}:*`,
      'lambda:InvokeFunction on the ops function and its versions/aliases (the Scheduler target grant); no other function.',
    );
  }
}
