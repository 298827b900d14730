import { join } from 'node:path';
import { CfnOutput, Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { ENV } from '../../src/contract';
import { addOpsHandler } from './ops-handler';
import { REPO_ROOT } from './task-platform';

export interface DiscordInteractionsProps {
  /** Physical name (the function invokes itself by it, which names it in its own policy without a reference cycle). */
  readonly functionName: string;
  readonly publicKey: string;
  readonly guildId: string;
  readonly roleIds: readonly string[];
  /** The ops function, which does the work (it holds the S3 and ECS permissions). */
  readonly opsFunction: lambda.IFunction;
  readonly logRetention: logs.RetentionDays;
}

/**
 * The Discord interactions endpoint (lambda/discord/interactions.ts) behind a Lambda function URL. The URL's auth
 * type is NONE because Discord cannot sign AWS requests; the function checks every request's Ed25519 signature
 * with the application's public key and answers 401 otherwise. Its role may only invoke the ops function (for the
 * commands' answers) and itself (to run a deferred command after answering): no S3, no ECS, no secret. The commands
 * it sends the ops function are backup, list, status and an unconfirmed restore (a plan).
 */
export class DiscordInteractions extends Construct {
  readonly function: lambda.IFunction;
  readonly role: iam.Role;
  readonly url: lambda.FunctionUrl;

  constructor(scope: Construct, id: string, props: DiscordInteractionsProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const handler = addOpsHandler(this, {
      entry: join(REPO_ROOT, 'lambda', 'discord', 'interactions.ts'),
      functionName: props.functionName,
      roleDescription: 'meatbackup Discord interactions: invoke the ops function and itself, nothing else',
      description: 'meatbackup Discord slash commands (interactions endpoint): /backup, /backups, /status, /restore-plan',
      memorySize: 256,
      // The URL request is answered in milliseconds; a follow-up waits for the ops function (status lists S3 and ECS).
      timeout: Duration.minutes(2),
      logRetention: props.logRetention,
      // A follow-up that failed once is not run again: its answer would come twice, or a second backup start.
      extra: { retryAttempts: 0 },
      environment: {
        [ENV.discordPublicKey]: props.publicKey,
        [ENV.discordGuildId]: props.guildId,
        [ENV.discordRoleIds]: props.roleIds.join(','),
        [ENV.opsFunctionName]: props.opsFunction.functionName,
      },
    });
    this.function = handler.function;
    this.role = handler.role;
    const self = `arn:${stack.partition}:lambda:${stack.region}:${stack.account}:function:${props.functionName}`;
    this.role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'AskOps', actions: ['lambda:InvokeFunction'], resources: [props.opsFunction.functionArn] }));
    this.role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'FollowUpItself', actions: ['lambda:InvokeFunction'], resources: [self] }));
    this.url = handler.function.addFunctionUrl({ authType: lambda.FunctionUrlAuthType.NONE });
    new CfnOutput(stack, 'DiscordInteractionsUrl', {
      value: this.url.url,
      description: 'Discord Developer Portal: General Information, Interactions Endpoint URL',
    });
  }
}
