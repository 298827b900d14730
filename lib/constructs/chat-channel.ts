import * as chatbot from 'aws-cdk-lib/aws-chatbot';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { CHAT_ALIAS, CHAT_COMMANDS, type ChatCommandKey, type OpsEvent, chatCommandEvent, chatCommandPayload } from '../../src/contract';
import type { ChatConfig } from '../config';

/** The README section every chat message links to (its anchor as GitHub renders "When an alarm fires"). */
export const RUNBOOK_SECTION = { anchor: 'when-an-alarm-fires', title: 'When an alarm fires' } as const;

/** Where a message points for what to do first: the published README's section, or its name when none is configured. */
export function runbookLink(chat: Pick<ChatConfig, 'runbookUrl'>): string {
  return chat.runbookUrl ? `${chat.runbookUrl.replace(/#.*$/, '')}#${RUNBOOK_SECTION.anchor}` : `README.md, section "${RUNBOOK_SECTION.title}"`;
}

/**
 * One chat command: an alias that invokes the ops function's chat alias with a fixed event. `$key` in the event is a
 * Chatbot variable, filled in with what the channel member gives when running the command.
 */
export interface ChatCommand {
  /** The alias the channel types: `@Amazon Q run <aliasName>`. */
  readonly aliasName: string;
  /** The custom action's name (unique in the account, in its ARN). */
  readonly actionName: string;
  /** The ops event the command stands for (with `$key` where the member fills in a backup). */
  readonly event: OpsEvent;
  /** What Chatbot runs: `lambda invoke` of the chat alias with the command's short payload. */
  readonly commandText: string;
  /** What the README says it does. */
  readonly description: string;
}

/** Chatbot's limit on a custom action's command text (https://docs.aws.amazon.com/chatbot/latest/APIReference/API_CustomActionDefinition.html). */
export const COMMAND_TEXT_MAX = 100;

/**
 * The commands of a deployment's channel. Each invokes `<function>:chat` (Lambda's `name:alias` form of the function
 * name, https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html), the only thing the channel may invoke, with
 * the command's short payload, which the ops function expands into its event (contract: chatCommandPayload).
 * Chatbot runs a custom action's command text as a CLI command without the leading `aws`, with `$name` variables
 * (https://docs.aws.amazon.com/chatbot/latest/adminguide/custom-actions.html). A text over Chatbot's 100 characters
 * would fail the stack's creation, so it fails the synth instead, in one line.
 */
export function chatCommands(options: { name: string; region: string; functionName: string; chat: Pick<ChatConfig, 'aliasPrefix' | 'allowRestore'> }): ChatCommand[] {
  const target = `${options.functionName}:${CHAT_ALIAS}`;
  const command = (key: ChatCommandKey, description: string): ChatCommand => {
    const commandText = `lambda invoke --function-name ${target} --payload ${chatCommandPayload(key)}`;
    if (commandText.length > COMMAND_TEXT_MAX) {
      throw new Error(`chat command ${CHAT_COMMANDS[key]}: its command text is ${commandText.length} characters, over Chatbot's ${COMMAND_TEXT_MAX}: shorten the ops function's name (${options.functionName})`);
    }
    return {
      aliasName: `${options.chat.aliasPrefix}${CHAT_COMMANDS[key]}`,
      actionName: chatActionName(options.name, options.region, key),
      event: chatCommandEvent(key, '$key'),
      commandText,
      description,
    };
  };
  return [
    command('backup', "the runbook's /admin backup: starts the backup task now (refused while a backup or restore runs); answers the task and its log link"),
    command('list', 'the 5 newest backups: name, age, size, whether a manifest (sha256) was recorded'),
    command('status', 'the newest backup and its age, its latest restore test, and the running or recently stopped tasks with exit codes'),
    command('restorePlan', 'the restore plan for a backup (`latest` or a backup name): what would be restored, into which database, what is stopped; starts nothing'),
    ...(options.chat.allowRestore
      ? [command('restoreRun', 'carries out the restore of that backup (only with chat.allowRestore); answers the task and its log link, marked as started from chat')]
      : []),
  ];
}

/**
 * Chatbot's channel configurations and custom actions are named once per account, not per region: their ARNs carry no
 * region (`arn:aws:chatbot::ACCOUNT:custom-action/NAME`,
 * https://docs.aws.amazon.com/chatbot/latest/APIReference/API_CustomAction.html), whatever region the stack that
 * creates them deploys to. The stacks' own names are per region, so two deployments of one name in two regions of an
 * account would otherwise only clash here: the primary region in these names keeps them apart. Command aliases are
 * per account too; the configuration's aliasPrefix tells two deployments' aliases apart.
 */
export function chatConfigurationName(name: string, region: string): string {
  return `${name}-${region}`;
}

export function chatActionName(name: string, region: string, command: ChatCommandKey): string {
  return `${chatConfigurationName(name, region)}-${CHAT_COMMANDS[command]}`;
}

export interface ChatChannelProps {
  /** The configuration's name: the channel configuration's and the custom actions' names start with it. */
  readonly name: string;
  /** The primary region, in those names (chatConfigurationName). */
  readonly region: string;
  readonly chat: ChatConfig;
  /** The ops function; the channel invokes its `chat` alias. Its physical name must be `functionName`. */
  readonly opsFunction: lambda.Function;
  readonly functionName: string;
  /** SNS topics whose messages the channel shows (the alarm topic, the chat-formatted task failures). */
  readonly topics: sns.ITopic[];
}

/**
 * The team's chat channel as an AWS Chatbot ("Amazon Q Developer in chat applications") channel configuration:
 *
 * - subscribed to the given topics: CloudWatch alarms are rendered by Chatbot itself, custom notifications as sent;
 * - command aliases (custom actions) that invoke the ops function's `chat` alias;
 * - a channel role and a guardrail policy that both allow `lambda:InvokeFunction` on that alias and nothing else: a
 *   member can do what both the guardrail and their role (the channel role, or their own user role when
 *   `userRoleRequired`) allow (https://docs.aws.amazon.com/chatbot/latest/adminguide/understanding-permissions.html).
 *   Without guardrails Chatbot would apply AdministratorAccess as the default guardrail.
 */
export class ChatChannel extends Construct {
  /** The alias the channel invokes (on the function's current version). */
  readonly alias: lambda.Alias;
  readonly role: iam.Role;
  readonly guardrail: iam.ManagedPolicy;
  readonly commands: ChatCommand[];
  readonly customActions: chatbot.CfnCustomAction[];
  readonly configuration: chatbot.CfnSlackChannelConfiguration | chatbot.CfnMicrosoftTeamsChannelConfiguration;

  constructor(scope: Construct, id: string, props: ChatChannelProps) {
    super(scope, id);
    const { chat } = props;

    this.alias = new lambda.Alias(this, 'Alias', {
      aliasName: CHAT_ALIAS,
      version: props.opsFunction.currentVersion,
      description: 'What the chat channel invokes: requests through this alias are answered and restricted as chat requests',
    });

    // An exact alias ARN: an unqualified or other-qualifier invocation of the function does not match it.
    const invokeThroughChat = new iam.PolicyStatement({
      sid: 'InvokeOpsFunctionThroughChatAlias',
      actions: ['lambda:InvokeFunction'],
      resources: [this.alias.functionArn],
    });
    this.guardrail = new iam.ManagedPolicy(this, 'Guardrail', {
      description: 'meatbackup chat channel guardrail: invoke the ops function through its chat alias, nothing else',
      statements: [invokeThroughChat],
    });
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('chatbot.amazonaws.com'),
      description: 'meatbackup chat channel: invoke the ops function through its chat alias, nothing else',
      managedPolicies: [this.guardrail],
    });

    this.commands = chatCommands({ name: props.name, region: props.region, functionName: props.functionName, chat });
    this.customActions = this.commands.map(
      (command) =>
        new chatbot.CfnCustomAction(this, `Command${command.aliasName.replace(/[^A-Za-z0-9]/g, '')}`, {
          actionName: command.actionName,
          aliasName: command.aliasName,
          definition: { commandText: command.commandText },
        }),
    );

    const common = {
      configurationName: chatConfigurationName(props.name, props.region),
      iamRoleArn: this.role.roleArn,
      guardrailPolicies: [this.guardrail.managedPolicyArn],
      userRoleRequired: chat.userRoleRequired,
      loggingLevel: chat.loggingLevel,
      snsTopicArns: props.topics.map((topic) => topic.topicArn),
      customizationResourceArns: this.customActions.map((action) => action.attrCustomActionArn),
    };
    if (chat.slack) {
      this.configuration = new chatbot.CfnSlackChannelConfiguration(this, 'Slack', {
        ...common,
        slackWorkspaceId: chat.slack.workspaceId,
        slackChannelId: chat.slack.channelId,
      });
    } else if (chat.teams) {
      this.configuration = new chatbot.CfnMicrosoftTeamsChannelConfiguration(this, 'Teams', {
        ...common,
        teamId: chat.teams.teamId,
        teamsTenantId: chat.teams.tenantId,
        teamsChannelId: chat.teams.channelId,
      });
    } else {
      throw new Error('chat needs slack or teams (lib/config.ts validates this)');
    }
  }
}
