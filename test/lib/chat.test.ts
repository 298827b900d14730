/**
 * The chat channel (configuration `chat`): an AWS Chatbot channel configuration subscribed to the alarm topic and to
 * the chat-formatted task failures, command aliases whose payloads are valid ops events, a channel role and guardrail
 * that allow invoking the ops function's chat alias and nothing else, and no change at all without `chat`.
 */
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { COMMAND_TEXT_MAX, chatCommands } from '../../lib/constructs/chat-channel';
import { type AppConfigInput, ConfigError, parseConfig } from '../../lib/config';
import { CHAT_ALIAS, ENV, opsEventSchema } from '../../src/contract';
import { expandChatCommand } from '../../src/ops/chat';
import { TEST_CHAT_CONFIG, TEST_CONFIG, logicalIdOf, policyStatements, synthesize } from './fixture';

const FUNCTION_NAME = 'meatlizard-backup-ops';
const RUNBOOK = 'https://github.com/example/meatlizard-backup/blob/main/README.md#when-an-alarm-fires';

/** The resources of a type as [logical id, resource] (their properties typed as the assertions library types them). */
function resourcesOf(template: Template, type: string) {
  return Object.entries(template.findResources(type));
}

/** The ops event a custom action's command text stands for, with `$key` as the member would fill it in. */
function eventOf(commandText: string, key = 'latest'): Record<string, unknown> {
  const expanded = expandChatCommand(JSON.parse(/--payload (\S+)$/.exec(commandText)![1].replace('$key', key)));
  if (!('event' in expanded)) throw new Error(expanded.error);
  return expanded.event as Record<string, unknown>;
}

describe('GIVEN a configuration with a Slack channel', () => {
  let template: Template;
  const ids = { alias: '', guardrail: '', role: '', alarmTopic: '', chatTopic: '', fn: '' };

  beforeAll(() => {
    template = synthesize(TEST_CHAT_CONFIG).primary;
    ids.alias = logicalIdOf(template, 'AWS::Lambda::Alias', { Name: CHAT_ALIAS });
    ids.guardrail = logicalIdOf(template, 'AWS::IAM::ManagedPolicy', { Description: Match.stringLikeRegexp('chat channel guardrail') });
    ids.role = logicalIdOf(template, 'AWS::IAM::Role', { AssumeRolePolicyDocument: Match.objectLike({ Statement: [Match.objectLike({ Principal: { Service: 'chatbot.amazonaws.com' } })] }) });
    ids.alarmTopic = logicalIdOf(template, 'AWS::SNS::Topic', { DisplayName: 'meatbackup alarms' });
    ids.chatTopic = logicalIdOf(template, 'AWS::SNS::Topic', { DisplayName: Match.stringLikeRegexp('chat channel') });
    ids.fn = logicalIdOf(template, 'AWS::Lambda::Function', { FunctionName: FUNCTION_NAME });
  });

  test('THEN one Slack channel configuration has the workspace, the channel, both topics, the guardrail, the channel role, user roles required and the commands', () => {
    const actions = resourcesOf(template, 'AWS::Chatbot::CustomAction').map(([id]) => ({ 'Fn::GetAtt': [id, 'CustomActionArn'] }));
    template.resourceCountIs('AWS::Chatbot::SlackChannelConfiguration', 1);
    template.resourceCountIs('AWS::Chatbot::MicrosoftTeamsChannelConfiguration', 0);
    template.hasResourceProperties('AWS::Chatbot::SlackChannelConfiguration', {
      ConfigurationName: 'meatlizard-backup-eu-west-1',
      SlackWorkspaceId: 'T0123ABCD',
      SlackChannelId: 'C0123ABCDEF',
      IamRoleArn: { 'Fn::GetAtt': [ids.role, 'Arn'] },
      GuardrailPolicies: [{ Ref: ids.guardrail }],
      UserRoleRequired: true,
      LoggingLevel: 'ERROR',
      SnsTopicArns: [{ Ref: ids.alarmTopic }, { Ref: ids.chatTopic }],
      CustomizationResourceArns: actions,
    });
    expect(actions).toHaveLength(4);
  });

  test('THEN the guardrail allows exactly lambda:InvokeFunction on the chat alias, and the channel role has that policy and nothing else', () => {
    const guardrail = template.findResources('AWS::IAM::ManagedPolicy')[ids.guardrail].Properties.PolicyDocument;
    expect(guardrail).toEqual({
      Version: '2012-10-17',
      Statement: [{ Sid: 'InvokeOpsFunctionThroughChatAlias', Effect: 'Allow', Action: 'lambda:InvokeFunction', Resource: { Ref: ids.alias } }],
    });
    const role = template.findResources('AWS::IAM::Role')[ids.role].Properties;
    expect(role.ManagedPolicyArns).toEqual([{ Ref: ids.guardrail }]);
    expect(role.Policies).toBeUndefined();
    // no identity policy anywhere attaches more to the channel role
    const attached = resourcesOf(template, 'AWS::IAM::Policy').filter(([, p]) => JSON.stringify(p.Properties.Roles ?? []).includes(`"${ids.role}"`));
    expect(attached).toEqual([]);
    expect(policyStatements(template).filter(({ logicalId }) => logicalId === ids.role)).toEqual([]);
  });

  test('THEN the chat alias points at the ops function\'s current version, and the function has the name the commands type', () => {
    template.hasResourceProperties('AWS::Lambda::Alias', {
      Name: CHAT_ALIAS,
      FunctionName: { Ref: ids.fn },
      FunctionVersion: { 'Fn::GetAtt': [Match.stringLikeRegexp('^OpsFunctionCurrentVersion'), 'Version'] },
    });
    // a version the alias no longer points to is deleted, not kept forever
    template.hasResource('AWS::Lambda::Version', { DeletionPolicy: 'Delete', Properties: { FunctionName: { Ref: ids.fn } } });
    const env = template.findResources('AWS::Lambda::Function')[ids.fn].Properties.Environment.Variables;
    // chat restores off, no alias prefix: neither setting is present
    expect(env[ENV.chatRestoreEnabled]).toBeUndefined();
    expect(env[ENV.chatCommandPrefix]).toBeUndefined();
  });

  test('THEN each command alias invokes the chat alias with a payload that stands for a valid ops event, and no restore is carried out from chat', () => {
    const defined = resourcesOf(template, 'AWS::Chatbot::CustomAction').map(([, r]) => r.Properties);
    expect(defined.map((p) => [p.AliasName, p.ActionName])).toEqual([
      ['backup-now', 'meatlizard-backup-eu-west-1-backup-now'],
      ['list-backups', 'meatlizard-backup-eu-west-1-list-backups'],
      ['backup-status', 'meatlizard-backup-eu-west-1-backup-status'],
      ['restore-plan', 'meatlizard-backup-eu-west-1-restore-plan'],
    ]);
    for (const p of defined) {
      const match = /^lambda invoke --function-name (\S+) --payload (\S+)$/.exec(p.Definition.CommandText);
      expect(match?.[1]).toBe(`${FUNCTION_NAME}:${CHAT_ALIAS}`);
      const event = eventOf(p.Definition.CommandText);
      expect({ alias: p.AliasName, valid: opsEventSchema.safeParse(event).success }).toEqual({ alias: p.AliasName, valid: true });
      expect(event.confirm).toBeUndefined();
    }
  });

  test('THEN failed tasks also go to the chat topic as a Chatbot custom notification naming the task, the database, since when, and the first step', () => {
    const rule = resourcesOf(template, 'AWS::Events::Rule').find(([, r]) => r.Properties.Description?.startsWith('A meatbackup task stopped'))![1];
    const chatTarget = rule.Properties.Targets.find((t: { Arn: unknown }) => JSON.stringify(t.Arn) === JSON.stringify({ Ref: ids.chatTopic }));
    const { InputPathsMap: paths, InputTemplate: inputTemplate } = chatTarget.InputTransformer;
    // GIVEN an ECS event whose stop reason has quotes (EventBridge escapes the values it inserts into a string, and
    // inserts a JSON value where the placeholder stands alone)
    const values: Record<string, string> = {
      id: 'e-1',
      'detail-group': 'family:meatlizard-backup-backup',
      'detail-stoppedAt': '2025-09-17T03:04:05Z',
      'detail-createdAt': '2025-09-17T03:00:01Z',
      'detail-taskArn': 'arn:aws:ecs:eu-west-1:123456789012:task/c/abc',
      'detail-stopCode': 'EssentialContainerExited',
      'detail-containers-0--exitCode': '1',
      'detail-stoppedReason': 'Essential container in task exited: "pg_dump" failed',
    };
    expect(Object.keys(paths).sort()).toEqual(Object.keys(values).sort());
    const text = (inputTemplate['Fn::Join'][1] as unknown[]).map((part) => (typeof part === 'string' ? part : 'meatlizard-backup-primary-TasksLogs')).join('');
    // WHEN EventBridge fills the template in
    const filled = text
      .replace(/([[:,])<([A-Za-z0-9-]+)>(?=[\],}])/g, (_m, before: string, name: string) => `${before}${JSON.stringify(values[name])}`)
      .replace(/<([A-Za-z0-9-]+)>/g, (_m, name: string) => JSON.stringify(values[name]).slice(1, -1));
    const message = JSON.parse(filled);
    // THEN
    expect(message).toMatchObject({
      version: '1.0',
      source: 'custom',
      id: 'e-1',
      content: { textType: 'client-markdown' },
      metadata: { relatedResources: ['arn:aws:ecs:eu-west-1:123456789012:task/c/abc'] },
    });
    expect(message.content.title).toBe(':rotating_light: meatbackup task failed: family:meatlizard-backup-backup');
    expect(message.content.description).toContain('*Database* meatdb');
    expect(message.content.description).toContain('*Since* 2025-09-17T03:04:05Z');
    expect(message.content.description).toContain('exit code 1: Essential container in task exited: "pg_dump" failed');
    expect(message.content.nextSteps).toEqual([expect.stringMatching(/^First: @Amazon Q run backup-status: /), `Runbook: ${RUNBOOK}`]);
    // AND the e-mail target keeps its plain text
    expect(rule.Properties.Targets).toHaveLength(2);
  });

  test('THEN every alarm\'s description ends with the first thing to do and the runbook link', () => {
    const alarms = resourcesOf(template, 'AWS::CloudWatch::Alarm');
    expect(alarms.length).toBeGreaterThanOrEqual(5);
    for (const [id, alarm] of alarms) {
      expect({ id, description: alarm.Properties.AlarmDescription }).toEqual({ id, description: expect.stringMatching(new RegExp(` First: .+\\. Runbook: ${RUNBOOK.replace(/[.?]/g, '\\$&')}$`)) });
      expect(alarm.Properties.AlarmDescription.length).toBeLessThanOrEqual(1024);
    }
    const noBackup = alarms.find(([, a]) => a.Properties.AlarmName === 'meatlizard-backup-no-successful-backup')![1];
    expect(noBackup.Properties.AlarmDescription).toMatch(/^No successful backup of meatdb in 26 hours.* First: @Amazon Q run backup-status: .* then @Amazon Q run backup-now\./);
  });
});

describe('GIVEN a Teams channel with chat restores allowed and an alias prefix', () => {
  let template: Template;
  beforeAll(() => {
    template = synthesize({
      ...TEST_CONFIG,
      chat: {
        teams: { teamId: '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d', tenantId: '1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e', channelId: '19%3Aabc123%40thread.tacv2' },
        allowRestore: true,
        aliasPrefix: 'prod-',
      },
    }).primary;
  });

  test('THEN a Teams configuration is created with the team, tenant and channel, and user roles are not required', () => {
    template.resourceCountIs('AWS::Chatbot::SlackChannelConfiguration', 0);
    template.hasResourceProperties('AWS::Chatbot::MicrosoftTeamsChannelConfiguration', {
      TeamId: '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d',
      TeamsTenantId: '1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e',
      TeamsChannelId: '19%3Aabc123%40thread.tacv2',
      UserRoleRequired: false,
    });
  });

  test('THEN the restore-run command exists with the confirm field, and the function knows chat restores are on and the prefix', () => {
    const runs = resourcesOf(template, 'AWS::Chatbot::CustomAction').filter(([, r]) => r.Properties.AliasName === 'prod-restore-run');
    expect(runs).toHaveLength(1);
    const payload = eventOf(runs[0][1].Properties.Definition.CommandText, 'backups/meatdb-2025-09-17T03:00:00.sql.gz');
    expect(payload).toEqual({ action: 'restore', key: 'backups/meatdb-2025-09-17T03:00:00.sql.gz', confirm: true });
    expect(opsEventSchema.safeParse(payload).success).toBe(true);
    template.hasResourceProperties('AWS::Lambda::Function', {
      FunctionName: FUNCTION_NAME,
      Environment: { Variables: Match.objectLike({ [ENV.chatRestoreEnabled]: 'true', [ENV.chatCommandPrefix]: 'prod-' }) },
    });
  });

  test('THEN without a runbook URL the messages name the README section', () => {
    const [, alarm] = resourcesOf(template, 'AWS::CloudWatch::Alarm')[0];
    expect(alarm.Properties.AlarmDescription).toMatch(/Runbook: README\.md, section "When an alarm fires"$/);
  });
});

describe('GIVEN the configuration without chat', () => {
  test('THEN there is no Chatbot resource, no chat alias or topic, and the ops function keeps its generated name', () => {
    const template = synthesize(TEST_CONFIG).primary;
    for (const type of ['AWS::Chatbot::SlackChannelConfiguration', 'AWS::Chatbot::MicrosoftTeamsChannelConfiguration', 'AWS::Chatbot::CustomAction', 'AWS::Lambda::Alias', 'AWS::Lambda::Version', 'AWS::IAM::ManagedPolicy']) {
      template.resourceCountIs(type, 0);
    }
    template.resourceCountIs('AWS::SNS::Topic', 1);
    for (const [, fn] of resourcesOf(template, 'AWS::Lambda::Function')) expect(fn.Properties.FunctionName).not.toBe(FUNCTION_NAME);
  });
});

describe('configuration of the chat channel', () => {
  const base = { primaryRegion: 'eu-west-1', replicaRegion: 'eu-central-1', database: TEST_CONFIG.database } as AppConfigInput;

  test.each([
    [{}, 'config.chat: needs exactly one of slack ({workspaceId, channelId}) and teams'],
    [{ slack: { workspaceId: 'T0123ABCD', channelId: 'C0123ABCDEF' }, teams: { teamId: '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d', tenantId: '1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e', channelId: '19%3Aa%40thread.tacv2' } }, 'config.chat: needs exactly one of'],
    [{ slack: { workspaceId: 'my workspace', channelId: 'C0123ABCDEF' } }, 'config.chat.slack.workspaceId: must be the Slack workspace id'],
    [{ slack: { workspaceId: 'T0123ABCD', channelId: '#ops' } }, 'config.chat.slack.channelId: must be a Slack channel id'],
    [{ teams: { teamId: 'team', tenantId: '1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e', channelId: '19%3Aa%40thread.tacv2' } }, 'config.chat.teams.teamId: must be the Microsoft Teams team id'],
    [{ slack: { workspaceId: 'T0123ABCD', channelId: 'C0123ABCDEF' }, runbookUrl: 'http://wiki/runbook' }, 'config.chat.runbookUrl: must be an https:// URL'],
    [{ slack: { workspaceId: 'T0123ABCD', channelId: 'C0123ABCDEF' }, aliasPrefix: 'a prefix' }, 'config.chat.aliasPrefix: must be at most 15 letters'],
    [{ slack: { workspaceId: 'T0123ABCD', channelId: 'C0123ABCDEF' }, allowRestores: true }, 'config.chat.allowRestores: is not a known setting'],
  ])('GIVEN chat %j THEN the configuration is refused with %j', (chat, message) => {
    expect(() => parseConfig({ ...base, chat })).toThrow(ConfigError);
    expect(() => parseConfig({ ...base, chat })).toThrow(message);
  });

  test('GIVEN the longest prefix THEN every alias fits Chatbot\'s 30 characters and every action name its 64', () => {
    const commands = chatCommands({ name: 'a'.repeat(24), region: 'ap-southeast-4', functionName: 'x', chat: { aliasPrefix: 'p'.repeat(15), allowRestore: true } });
    for (const c of commands) {
      expect(c.aliasName).toMatch(/^[A-Za-z0-9_-]{1,30}$/);
      expect(c.actionName).toMatch(/^[A-Za-z0-9_-]{1,64}$/);
    }
  });

  test('GIVEN the longest name the configuration accepts, with chat restores on THEN every command text fits Chatbot\'s 100 characters, at the bound', () => {
    // GIVEN: 24 characters, the configuration's longest name (shorter ones only shorten the function name the commands type)
    const name = `m${'x'.repeat(22)}p`;
    expect(parseConfig({ ...base, name }).name).toBe(name);
    expect(() => parseConfig({ ...base, name: `${name}q` })).toThrow('config.name: must be 3-24');
    const template = synthesize({ ...TEST_CHAT_CONFIG, name, chat: { ...TEST_CHAT_CONFIG.chat!, allowRestore: true } }).primary;
    // THEN
    const texts = resourcesOf(template, 'AWS::Chatbot::CustomAction').map(([, r]) => r.Properties.Definition.CommandText as string);
    expect(texts).toHaveLength(5);
    for (const text of texts) {
      expect({ text, length: text.length }).toEqual({ text, length: expect.any(Number) });
      expect(text.length).toBeLessThanOrEqual(COMMAND_TEXT_MAX);
      expect(text).toContain(`--function-name ${name}-ops:${CHAT_ALIAS} `);
    }
    // the longest of them (restore-plan's) is 97: three characters to spare
    expect(Math.max(...texts.map((t) => t.length))).toBe(97);
    template.hasResourceProperties('AWS::Lambda::Function', { FunctionName: `${name}-ops` });
  });

  test('GIVEN a function name that would make a command text too long THEN the synth stops with one line naming the command and its length', () => {
    expect(() => chatCommands({ name: 'n', region: 'eu-west-1', functionName: 'f'.repeat(40), chat: { aliasPrefix: '', allowRestore: false } })).toThrow(
      /^chat command backup-now: its command text is 105 characters, over Chatbot's 100: shorten the ops function's name \(f{40}\)$/,
    );
  });
});
