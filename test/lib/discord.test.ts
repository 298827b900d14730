/**
 * Discord in the stacks (configuration `discord`): the interactions endpoint is a Lambda function URL whose function
 * may only invoke the ops function and itself, the notifier reads only the webhook secret and hears the alarm topic
 * and the restore task's start and clean stop, and without the key nothing Discord-related exists.
 */
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { ConfigError, parseConfig } from '../../lib/config';
import { ENV } from '../../src/contract';
import { TEST_CONFIG, logicalIdOf, synthesize } from './fixture';

const PUBLIC_KEY = 'a'.repeat(64);
const WEBHOOK_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:meatlizard/discord-webhook-AbC123';
const DISCORD = { interactions: { publicKey: PUBLIC_KEY, guildId: '123456789012345678', roleIds: ['234567890123456789'] }, webhookSecretArn: WEBHOOK_SECRET };

/** The statements of the identity policies attached to the role of function `functionId`, but its log writes. */
function roleStatements(template: Template, functionId: string): Array<Record<string, unknown>> {
  const resources = template.toJSON().Resources as Record<string, { Type: string; Properties: Record<string, unknown> }>;
  const role = (resources[functionId].Properties.Role as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0];
  return Object.values(resources)
    .filter((r) => r.Type === 'AWS::IAM::Policy' && (r.Properties.Roles as unknown[]).some((x) => JSON.stringify(x) === JSON.stringify({ Ref: role })))
    .flatMap((r) => (r.Properties.PolicyDocument as { Statement: Array<Record<string, unknown>> }).Statement)
    .filter((s) => !JSON.stringify(s.Action).includes('logs:'));
}

describe('GIVEN a configuration with Discord commands and a channel webhook', () => {
  let template: Template;
  let ids: { discord: string; notifier: string; ops: string; topic: string };

  beforeAll(() => {
    template = synthesize({ ...TEST_CONFIG, discord: DISCORD }).primary;
    ids = {
      discord: logicalIdOf(template, 'AWS::Lambda::Function', { FunctionName: 'meatlizard-backup-discord' }),
      notifier: logicalIdOf(template, 'AWS::Lambda::Function', { Environment: { Variables: Match.objectLike({ [ENV.discordWebhookSecretArn]: WEBHOOK_SECRET }) } }),
      ops: logicalIdOf(template, 'AWS::Lambda::Function', { Description: Match.stringLikeRegexp('^meatbackup operations') }),
      topic: logicalIdOf(template, 'AWS::SNS::Topic', { DisplayName: 'meatbackup alarms' }),
    };
  });

  test('THEN the interactions function has a function URL without AWS auth (Discord signs with Ed25519), and its settings', () => {
    template.hasResourceProperties('AWS::Lambda::Url', { AuthType: 'NONE', TargetFunctionArn: { 'Fn::GetAtt': [ids.discord, 'Arn'] } });
    template.hasResourceProperties('AWS::Lambda::Function', {
      FunctionName: 'meatlizard-backup-discord',
      Environment: { Variables: Match.objectLike({ [ENV.discordPublicKey]: PUBLIC_KEY, [ENV.discordGuildId]: DISCORD.interactions.guildId, [ENV.discordRoleIds]: DISCORD.interactions.roleIds[0], [ENV.opsFunctionName]: { Ref: ids.ops } }) },
    });
    template.hasOutput('DiscordInteractionsUrl', Match.anyValue());
  });

  test('THEN the interactions role may invoke the ops function and itself, and nothing but its own logs besides', () => {
    const statements = roleStatements(template, ids.discord);
    expect(statements).toEqual([
      expect.objectContaining({ Sid: 'AskOps', Action: 'lambda:InvokeFunction', Resource: { 'Fn::GetAtt': [ids.ops, 'Arn'] } }),
      expect.objectContaining({ Sid: 'FollowUpItself', Action: 'lambda:InvokeFunction', Resource: 'arn:aws:lambda:eu-west-1:123456789012:function:meatlizard-backup-discord' }),
    ]);
  });

  test('THEN the notifier reads only the webhook secret, hears the alarm topic and the restore task starting or stopping cleanly', () => {
    const statements = roleStatements(template, ids.notifier);
    expect(statements).toEqual([expect.objectContaining({ Sid: 'ReadWebhookUrl', Action: 'secretsmanager:GetSecretValue', Resource: WEBHOOK_SECRET })]);
    template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'lambda', TopicArn: { Ref: ids.topic }, Endpoint: { 'Fn::GetAtt': [ids.notifier, 'Arn'] } });
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: Match.objectLike({
        detail: Match.objectLike({ $or: [{ lastStatus: ['RUNNING'] }, { lastStatus: ['STOPPED'], containers: { exitCode: [0] } }] }),
      }),
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [ids.notifier, 'Arn'] } })],
    });
  });
});

describe('GIVEN the configuration without discord', () => {
  test('THEN no function URL, no Discord function and no Discord variable exist', () => {
    const template = synthesize(TEST_CONFIG).primary;
    template.resourceCountIs('AWS::Lambda::Url', 0);
    expect(JSON.stringify(template.toJSON())).not.toMatch(/DISCORD_|discord/i);
  });
});

describe('GIVEN a discord key that cannot be used', () => {
  test.each([
    [{ interactions: { ...DISCORD.interactions, publicKey: 'abc' } }, /config\.discord\.interactions\.publicKey: must be the application's Public Key/],
    [{ interactions: { ...DISCORD.interactions, roleIds: [] } }, /config\.discord\.interactions\.roleIds: name at least one role/],
    [{ interactions: { ...DISCORD.interactions, guildId: 'meatlizard' } }, /config\.discord\.interactions\.guildId: must be a Discord id/],
    [{}, /config\.discord: give interactions/],
    [{ webhookSecretArn: 'discord-webhook' }, /config\.discord\.webhookSecretArn: must be the complete ARN/],
  ])('THEN %j fails synth naming the field', (discord, message) => {
    expect(() => parseConfig({ ...TEST_CONFIG, discord } as never)).toThrow(ConfigError);
    expect(() => parseConfig({ ...TEST_CONFIG, discord } as never)).toThrow(message);
  });
});
