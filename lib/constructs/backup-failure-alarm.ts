import { Stack } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as eventTargets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import type { TaskPlatform } from './task-platform';

/** Key administration, as `Key.grantAdmin` lists it (kms:PutKeyPolicy among them, so the key can never lock out). */
const KEY_ADMIN_ACTIONS = [
  'kms:Create*',
  'kms:Describe*',
  'kms:Enable*',
  'kms:List*',
  'kms:Put*',
  'kms:Update*',
  'kms:Revoke*',
  'kms:Disable*',
  'kms:Get*',
  'kms:Delete*',
  'kms:TagResource',
  'kms:UntagResource',
  'kms:ScheduleKeyDeletion',
  'kms:CancelKeyDeletion',
];

/** What a chat message about a failed task adds to the facts of the event. */
export interface ChatFailureGuidance {
  /** The database the tasks back up and restore. */
  readonly database: string;
  /** The runbook section (URL, or its name). */
  readonly runbook: string;
  /** How the channel asks for the status, e.g. `@Amazon Q run backup-status`. */
  readonly statusCommand: string;
}

export interface BackupFailureAlarmProps {
  readonly platform: TaskPlatform;
  /** Task definition families whose failures alarm, e.g. the backup's. */
  readonly families: string[];
  /** Subscribed to the topic when given (the recipient confirms the subscription). */
  readonly email?: string;
}

/**
 * An SNS topic (encrypted with its own KMS key, TLS-only) and an EventBridge rule that publishes to it when a task of
 * the given families stops with a non-zero container exit code, or never starts (image pull, secret or network
 * failures stop the task before any container exits).
 */
export class BackupFailureAlarm extends Construct {
  readonly topic: sns.Topic;
  readonly key: kms.Key;
  readonly rule: events.Rule;
  private readonly logGroupName: string;

  constructor(scope: Construct, id: string, props: BackupFailureAlarmProps) {
    super(scope, id);

    this.key = new kms.Key(this, 'Key', {
      description: 'meatbackup alarm topic',
      enableKeyRotation: true,
      // The account administers the key (IAM decides who); not the default `kms:*`: nothing here grants a whole service.
      policy: new iam.PolicyDocument({
        statements: [
          new iam.PolicyStatement({ sid: 'AccountAdministersKey', principals: [new iam.AccountRootPrincipal()], actions: KEY_ADMIN_ACTIONS, resources: ['*'] }),
        ],
      }),
    });

    // The SnsTopic rule target grants events.amazonaws.com sns:Publish and, because of masterKey, use of this key.
    this.topic = new sns.Topic(this, 'Topic', {
      displayName: 'meatbackup alarms',
      masterKey: this.key,
      enforceSSL: true,
    });
    if (props.email) this.topic.addSubscription(new subscriptions.EmailSubscription(props.email));

    const stack = Stack.of(this);
    const taskDefinitionPrefixes = props.families.map((family) => ({
      prefix: `arn:${stack.partition}:ecs:${stack.region}:${stack.account}:task-definition/${family}:`,
    }));

    this.rule = new events.Rule(this, 'TaskFailed', {
      description: 'A meatbackup task stopped with a non-zero exit code or failed to start',
      eventPattern: {
        source: ['aws.ecs'],
        detailType: ['ECS Task State Change'],
        detail: {
          clusterArn: [props.platform.cluster.clusterArn],
          lastStatus: ['STOPPED'],
          taskDefinitionArn: taskDefinitionPrefixes,
          $or: [{ containers: { exitCode: [{ 'anything-but': 0 }] } }, { stopCode: ['TaskFailedToStart'] }],
        },
      },
    });
    this.logGroupName = props.platform.logGroup.logGroupName;
    const field = (path: string) => events.EventField.fromPath(path);
    this.rule.addTarget(
      new eventTargets.SnsTopic(this.topic, {
        message: events.RuleTargetInput.fromText(
          `meatbackup task failed: ${field('$.detail.group')} task ${field('$.detail.taskArn')} stopped ` +
            `(${field('$.detail.stopCode')}, exit code ${field('$.detail.containers[0].exitCode')}): ` +
            `${field('$.detail.stoppedReason')}. Logs: CloudWatch log group ${props.platform.logGroup.logGroupName}.`,
        ),
      }),
    );
  }

  /**
   * Also publishes each failure to `topic` as an AWS Chatbot custom notification (version 1.0, source custom): the
   * plain-text message above is what e-mail shows, but Chatbot renders only the formats it knows
   * (https://docs.aws.amazon.com/chatbot/latest/adminguide/custom-notifs.html). Which task, which database, since
   * when (the time ECS stopped it) and the first thing to do. EventBridge escapes the values it puts into a JSON
   * template (only its aws.events.event variables are inserted raw:
   * https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-transform-target-input.html), so a stop reason with
   * quotes keeps the message valid JSON.
   */
  notifyChat(topic: sns.ITopic, guidance: ChatFailureGuidance): void {
    const field = (path: string) => events.EventField.fromPath(path);
    this.rule.addTarget(
      new eventTargets.SnsTopic(topic, {
        message: events.RuleTargetInput.fromObject({
          version: '1.0',
          source: 'custom',
          id: field('$.id'),
          content: {
            textType: 'client-markdown',
            title: `:rotating_light: meatbackup task failed: ${field('$.detail.group')}`,
            description:
              `*Database* ${guidance.database}\n*Since* ${field('$.detail.stoppedAt')} (stopped; created ${field('$.detail.createdAt')})\n` +
              `*Task* ${field('$.detail.taskArn')}\n*Why* ${field('$.detail.stopCode')}, exit code ${field('$.detail.containers[0].exitCode')}: ` +
              `${field('$.detail.stoppedReason')}\n*Logs* log group ${this.logGroupName}`,
            nextSteps: [
              `First: ${guidance.statusCommand}: it shows the task's exit code, stop reason and log link`,
              `Runbook: ${guidance.runbook}`,
            ],
          },
          metadata: {
            summary: `meatbackup task failed (${guidance.database})`,
            eventType: 'MeatbackupTaskFailed',
            relatedResources: [field('$.detail.taskArn')],
          },
        }),
      }),
    );
  }
}
