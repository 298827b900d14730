/**
 * IAM, simulated, for the Discord functions (the rest of the runbooks: iam-simulation.test.ts). The interactions
 * function runs a /backup and a /status as Discord sends them through its function URL, and the notifier posts an
 * alarm; every AWS call they make (recorded from aws-sdk-client-mock: a Lambda invocation cannot run here, a secret
 * cannot be read) is simulated under the role the stacks give each function. The ops function's own calls for those
 * events are the ones iam-simulation.test.ts already holds to the ops role. What must be denied is checked too: the
 * function Discord reaches from the internet may not read backups, start tasks, or invoke any other function.
 */
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { parseConfig } from '../../lib/config';
import { ENV } from '../../src/contract';
import { type InteractionsContext, contextFrom as interactionsContext, respond } from '../../lambda/discord/interactions';
import { contextFrom as notifierContext, notify } from '../../lambda/discord/notify';
import { type Need, type World, authorizationsFor } from '../support/iam/authorizations';
import { type AwsCall, CallRecorder } from '../support/iam/recorder';
import { type PolicyWorld, type Principal, simulate } from '../support/iam/simulate';
import { bucketsOf, functionOf, keysOf, stackModel } from '../support/iam/templates';
import { type FakeDiscord, slashCommand, startFakeDiscord, testApplicationKey } from '../support/fake-discord';
import { TEST_CONFIG, synthesize } from './fixture';

const PUBLIC = testApplicationKey();
const GUILD = '123456789012345678';
const OPERATORS = '234567890123456789';
const SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:meatlizard/discord-webhook-AbC123';
const input = { ...TEST_CONFIG, discord: { interactions: { publicKey: PUBLIC.publicKeyHex, guildId: GUILD, roleIds: [OPERATORS] }, webhookSecretArn: SECRET } };
const config = parseConfig(input, 'test');
const ACCOUNT = config.account!;
const templates = synthesize(input);
const primary = stackModel('primary', templates.primary.toJSON() as never, config.primaryRegion, ACCOUNT);
const replica = stackModel('replica', templates.replica.toJSON() as never, config.replicaRegion, ACCOUNT);
const policyWorld: PolicyWorld = { account: ACCOUNT, buckets: [...bucketsOf(primary), ...bucketsOf(replica)], keys: [...keysOf(primary), ...keysOf(replica)] };
const interactionsFn = functionOf(primary, 'Discord interactions function', (p) => p.FunctionName === `${config.name}-discord`);
const notifierFn = functionOf(primary, 'Discord notifier', (p) => JSON.stringify(p.Environment ?? {}).includes(ENV.discordWebhookSecretArn));
const opsFn = functionOf(primary, 'ops function', (p) => JSON.stringify(p.Environment ?? {}).includes(ENV.backupTaskDefinition));
const SELF_ARN = `arn:aws:lambda:${config.primaryRegion}:${ACCOUNT}:function:${config.name}-discord`;

const principal = (name: string, model: { arn: string; policies: Principal['policies'] }): Principal => ({ name, arn: model.arn, policies: model.policies });
const INTERACTIONS = principal('Discord interactions role', interactionsFn.role);
const NOTIFIER = principal('Discord notifier role', notifierFn.role);

const lambda = mockClient(LambdaClient);
const secrets = mockClient(SecretsManagerClient);
const recorder = new CallRecorder();
let discord: FakeDiscord;

const world: World = {
  account: ACCOUNT,
  bucket: () => ({ region: config.primaryRegion, bucketKey: false }),
  existingTags: () => ({}),
  taskRoles: () => [],
};

async function denied(calls: AwsCall[], who: Principal): Promise<string[]> {
  const out: string[] = [];
  for (const call of calls) {
    for (const need of authorizationsFor(call, world)) {
      const verdict = await simulate(policyWorld, who, need);
      if (!verdict.allowed) out.push(`${call.command} as ${who.name}: ${call.service}:${call.operation} needs ${need.action} on ${need.resource}: ${verdict.result}`);
    }
  }
  return out;
}

const allowed = async (who: Principal, need: Need) => (await simulate(policyWorld, who, need)).allowed;

beforeAll(async () => {
  discord = await startFakeDiscord();
  secrets.on(GetSecretValueCommand).resolves({ SecretString: discord.webhookUrl });
  lambda.on(InvokeCommand).callsFake((i: { InvocationType?: string }) =>
    i.InvocationType === 'Event' ? { StatusCode: 202 } : { StatusCode: 200, Payload: Buffer.from(JSON.stringify({ ok: true, action: 'backup', started: true, taskArn: 'arn:aws:ecs:eu-west-1:123456789012:task/c/0123456789abcdef' })) },
  );
});
afterAll(() => discord?.close());

describe('IAM, simulated: the Discord functions', () => {
  test('GIVEN /backup through the function URL and an alarm to the notifier WHEN they run with their environment THEN every AWS call is allowed to its role', async () => {
    jest.spyOn(console, 'log').mockImplementation(() => undefined);
    const ctx: InteractionsContext = interactionsContext({ ...interactionsFn.environment, [ENV.discordApiUrl]: discord.apiUrl, AWS_REGION: config.primaryRegion });
    const interaction = slashCommand({ name: 'backup', roles: [OPERATORS], guildId: GUILD, applicationId: discord.applicationId });
    discord.issueToken(interaction.token);
    const body = JSON.stringify(interaction);
    const reply = await respond({ headers: PUBLIC.sign(body), body, isBase64Encoded: false, requestContext: { http: { method: 'POST' } } }, ctx, SELF_ARN);
    expect(reply).toMatchObject({ statusCode: 200 });
    const [followUp] = lambda.commandCalls(InvokeCommand).map((c) => JSON.parse(Buffer.from(c.args[0].input.Payload as Uint8Array).toString()) as unknown);
    await respond(followUp, ctx, SELF_ARN);
    recorder.as('/backup (Discord interactions function)');
    recorder.addMocked('lambda', config.primaryRegion, lambda.calls().map((c) => c.args[0] as never));
    const interactionCalls = recorder.calls.splice(0);
    expect(interactionCalls.map((c) => [c.operation, c.input.FunctionName, c.input.InvocationType])).toEqual([
      ['Invoke', SELF_ARN, 'Event'],
      ['Invoke', interactionsFn.environment[ENV.opsFunctionName], 'RequestResponse'],
    ]);

    const notifier = notifierContext({ ...notifierFn.environment, [ENV.discordApiUrl]: discord.apiUrl, AWS_REGION: config.primaryRegion });
    await notify({ Records: [{ Sns: { Message: 'meatbackup task failed: family:meatlizard-backup-backup task arn:aws:ecs:eu-west-1:123456789012:task/c/0123456789abcdef stopped (EssentialContainerExited, exit code 1): x. Logs: g.' } }] }, notifier);
    recorder.as('alarm (Discord notifier)');
    recorder.addMocked('secretsmanager', config.primaryRegion, secrets.calls().map((c) => c.args[0] as never));
    const notifierCalls = recorder.calls.splice(0);
    expect(notifierCalls.map((c) => [c.operation, c.input.SecretId])).toEqual([['GetSecretValue', SECRET]]);

    expect([...(await denied(interactionCalls, INTERACTIONS)), ...(await denied(notifierCalls, NOTIFIER))]).toEqual([]);
    expect(discord.problems).toEqual([]);
    jest.restoreAllMocks();
  });

  test('GIVEN the role of the function Discord reaches from the internet THEN it may not read backups, start a task, read the webhook or invoke another function', async () => {
    const bucket = opsFn.environment[ENV.bucket];
    const elsewhere = `arn:aws:lambda:${config.primaryRegion}:${ACCOUNT}:function:${config.name}-promote`;
    const verdicts = await Promise.all([
      allowed(INTERACTIONS, { action: 's3:GetObject', resource: `arn:aws:s3:::${bucket}/backups/meatdb-2025-09-17T03:00:00.sql.gz`, context: {} }),
      allowed(INTERACTIONS, { action: 'ecs:RunTask', resource: opsFn.environment[ENV.backupTaskDefinition], context: { 'ecs:cluster': opsFn.environment[ENV.ecsCluster] } }),
      allowed(INTERACTIONS, { action: 'secretsmanager:GetSecretValue', resource: SECRET, context: {} }),
      allowed(INTERACTIONS, { action: 'lambda:InvokeFunction', resource: elsewhere, context: {} }),
      allowed(NOTIFIER, { action: 'lambda:InvokeFunction', resource: SELF_ARN, context: {} }),
      allowed(NOTIFIER, { action: 's3:GetObject', resource: `arn:aws:s3:::${bucket}/backups/meatdb-2025-09-17T03:00:00.sql.gz`, context: {} }),
    ]);
    expect(verdicts).toEqual([false, false, false, false, false, false]);
  });
});
