import { join } from 'node:path';
import { Duration, Stack } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as eventTargets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import { ENV } from '../../src/contract';
import { addOpsHandler } from './ops-handler';
import type { TaskPlatform } from './task-platform';
import { REPO_ROOT } from './task-platform';

export interface DiscordNotifierProps {
  /** The secret holding the channel webhook's URL. */
  readonly webhookSecretArn: string;
  /** The alarm topic (alarms and failed tasks). */
  readonly topic: sns.ITopic;
  readonly platform: TaskPlatform;
  /** Family of the restore task, whose start and clean stop are posted too. */
  readonly restoreFamily: string;
  /** The database the deployment backs up, named in the messages. */
  readonly database: string;
  readonly logRetention: logs.RetentionDays;
}

/**
 * Posts alarms, failed tasks and restore starts and ends to the operators' Discord channel
 * (lambda/discord/notify.ts): subscribed to the alarm topic, and the target of an EventBridge rule for the restore
 * task starting (RUNNING) and stopping with exit code 0 (a failure already reaches the topic). Its role may read the
 * one secret holding the webhook URL, nothing else.
 */
export class DiscordNotifier extends Construct {
  readonly function: lambda.IFunction;
  readonly role: iam.Role;
  readonly rule: events.Rule;

  constructor(scope: Construct, id: string, props: DiscordNotifierProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const handler = addOpsHandler(this, {
      entry: join(REPO_ROOT, 'lambda', 'discord', 'notify.ts'),
      roleDescription: 'meatbackup Discord notifier: read the webhook secret, nothing else',
      description: 'meatbackup: posts alarms and restore starts and ends to the Discord channel webhook',
      memorySize: 128,
      timeout: Duration.seconds(30),
      logRetention: props.logRetention,
      environment: {
        [ENV.discordWebhookSecretArn]: props.webhookSecretArn,
        [ENV.database]: props.database,
      },
    });
    this.function = handler.function;
    this.role = handler.role;
    this.role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'ReadWebhookUrl', actions: ['secretsmanager:GetSecretValue'], resources: [props.webhookSecretArn] }));
    props.topic.addSubscription(new subscriptions.LambdaSubscription(handler.function));
    this.rule = new events.Rule(this, 'RestoreStartedOrDone', {
      description: 'The meatbackup restore task started, or stopped with exit code 0 (failures reach the alarm topic)',
      eventPattern: {
        source: ['aws.ecs'],
        detailType: ['ECS Task State Change'],
        detail: {
          clusterArn: [props.platform.cluster.clusterArn],
          taskDefinitionArn: [{ prefix: `arn:${stack.partition}:ecs:${stack.region}:${stack.account}:task-definition/${props.restoreFamily}:` }],
          $or: [{ lastStatus: ['RUNNING'] }, { lastStatus: ['STOPPED'], containers: { exitCode: [0] } }],
        },
      },
    });
    this.rule.addTarget(new eventTargets.LambdaFunction(handler.function, { retryAttempts: 4, maxEventAge: Duration.hours(1) }));
  }
}
