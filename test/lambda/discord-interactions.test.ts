/**
 * Discord's slash commands in the AWS deployment, as Discord sends them to the function URL: real Ed25519 keys made
 * here sign each request; the interactions function (lambda/discord/interactions.ts) answers, hands the deferred
 * work to itself (an asynchronous invocation, recorded and replayed by the test), and asks the real ops handler (S3
 * on the emulator, ECS through aws-sdk-client-mock); its answers go to a loopback server playing Discord's API,
 * which holds every request to Discord's documented shapes.
 */
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { ECSClient } from '@aws-sdk/client-ecs';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { ENV } from '../../src/contract';
import { type LocalS3, startLocalS3 } from '../../src/local/s3-emulator';
import { respond as opsRespond } from '../../lambda/ops/handler';
import { type InteractionsContext, contextFrom, respond } from '../../lambda/discord/interactions';
import { writeBackupFixture } from '../support/backup-fixture';
import { type FakeDiscord, type TestApplicationKey, slashCommand, startFakeDiscord, testApplicationKey } from '../support/fake-discord';
import { ACCOUNT, REGION, STARTED_TASK_ID, TASK_DEFINITION, answerRunTask, answerRunning, deployment, opsContext, runTaskInputs } from '../support/ops-fixture';

const BUCKET = 'discord-aws-backups';
const GUILD = '123456789012345678';
const OPERATORS = '234567890123456789';
const SOMEONE_ELSE = '345678901234567891';
const OPS = 'meatlizard-backup-ops';
const OPS_ARN = `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${OPS}`;
const SELF_ARN = `arn:aws:lambda:${REGION}:${ACCOUNT}:function:meatlizard-backup-discord`;

const ecs = mockClient(ECSClient);
const lambda = mockClient(LambdaClient);
let s3: LocalS3;
let client: S3Client;
let discord: FakeDiscord;
let key: TestApplicationKey;
let ctx: InteractionsContext;
/** The follow-ups the function queued for itself (InvocationType Event). */
let queued: unknown[];
/** What the function logged. */
let logged: string[];

/** A function URL request (payload format 2.0) carrying `body` with these headers. */
function urlEvent(body: string, headers: Record<string, string>) {
  return { version: '2.0', rawPath: '/', headers, body, isBase64Encoded: false, requestContext: { http: { method: 'POST', path: '/' } } };
}

function signed(interaction: object, timestamp?: number) {
  const body = JSON.stringify(interaction);
  return urlEvent(body, key.sign(body, timestamp));
}

function command(name: string, roles: string[] = [OPERATORS], values?: Array<{ name: string; type: number; value: string | number }>) {
  const interaction = slashCommand({ name, roles, guildId: GUILD, applicationId: discord.applicationId, ...(values ? { values } : {}) });
  discord.issueToken(interaction.token);
  return interaction;
}

/** Runs what the function queued for itself, as Lambda would once the reply had gone. */
async function runQueued(): Promise<void> {
  while (queued.length > 0) await respond(queued.shift(), ctx, SELF_ARN);
}

beforeAll(async () => {
  [s3, discord] = await Promise.all([startLocalS3(), startFakeDiscord()]);
  client = s3.client();
  await client.send(new CreateBucketCommand({ Bucket: BUCKET }));
  key = testApplicationKey();
});

afterAll(async () => {
  await Promise.all([s3?.stop(), discord?.close()]);
});

beforeEach(() => {
  ecs.reset();
  lambda.reset();
  answerRunning(ecs);
  answerRunTask(ecs);
  queued = [];
  logged = [];
  jest.spyOn(console, 'log').mockImplementation((line: string) => void logged.push(line));
  jest.spyOn(console, 'error').mockImplementation((line: string) => void logged.push(line));
  // The ops function logs through the project's logger, straight to stdout (lambda/ops/handler.ts opsLog).
  jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    logged.push(String(chunk));
    return true;
  });
  // The ops function, invoked synchronously, is the real handler over the emulator and the ECS mock.
  const ops = opsContext(client, deployment(BUCKET), new Date());
  lambda.on(InvokeCommand).callsFake(async (input: { FunctionName: string; InvocationType?: string; Payload: Uint8Array; ClientContext?: string }) => {
    const payload = JSON.parse(Buffer.from(input.Payload).toString()) as unknown;
    if (input.InvocationType === 'Event') {
      expect(input.FunctionName).toBe(SELF_ARN);
      queued.push(payload);
      return { StatusCode: 202 };
    }
    expect(input.FunctionName).toBe(OPS);
    const clientContext = input.ClientContext ? (JSON.parse(Buffer.from(input.ClientContext, 'base64').toString()) as unknown) : undefined;
    const answer = await opsRespond(payload, { invokedFunctionArn: OPS_ARN, awsRequestId: 'ops-1', ...(clientContext ? { clientContext } : {}) }, ops);
    return { StatusCode: 200, Payload: Buffer.from(JSON.stringify(answer)) };
  });
  ctx = contextFrom({
    [ENV.discordPublicKey]: key.publicKeyHex,
    [ENV.discordGuildId]: GUILD,
    [ENV.discordRoleIds]: OPERATORS,
    [ENV.opsFunctionName]: OPS,
    [ENV.discordApiUrl]: discord.apiUrl,
    AWS_REGION: REGION,
  });
});

afterEach(() => {
  jest.restoreAllMocks();
  expect(discord.problems).toEqual([]);
});

describe('GIVEN the Discord function of a deployment', () => {
  test('WHEN Discord checks the endpoint with a PING THEN it answers PONG', async () => {
    const ping = { id: '1111111111111111111', application_id: discord.applicationId, type: 1, token: 'ping-token', version: 1 };
    expect(await respond(signed(ping), ctx, SELF_ARN)).toEqual({ statusCode: 200, headers: { 'content-type': 'application/json' }, body: '{"type":1}' });
  });

  test('WHEN a request has a bad signature, no signature, or another key\'s signature THEN it gets 401 and starts nothing', async () => {
    const body = JSON.stringify(command('backup'));
    const headers = key.sign(body);
    const flipped = headers['x-signature-ed25519'].replace(/^./, (c) => (c === '0' ? '1' : '0'));
    const other = testApplicationKey().sign(body);
    for (const event of [
      urlEvent(body, { ...headers, 'x-signature-ed25519': flipped }),
      urlEvent(body, { 'content-type': 'application/json' }),
      urlEvent(body, other),
      urlEvent(body.replace('"backup"', '"status"'), headers),
    ]) {
      expect(await respond(event, ctx, SELF_ARN)).toMatchObject({ statusCode: 401 });
    }
    expect(lambda.commandCalls(InvokeCommand)).toHaveLength(0);
    expect(runTaskInputs(ecs)).toHaveLength(0);
    expect(discord.requests.filter((r) => r.path.includes('/webhooks/'))).toHaveLength(0);
  });

  test('WHEN a signed request is replayed with its old timestamp, or sent twice THEN it is refused with 401 and starts nothing', async () => {
    const interaction = command('backup');
    const old = await respond(signed(interaction, Math.floor(Date.now() / 1000) - 600), ctx, SELF_ARN);
    expect(old).toMatchObject({ statusCode: 401, body: expect.stringMatching(/60\d s old/) });
    const fresh = signed(command('status'));
    expect(await respond(fresh, ctx, SELF_ARN)).toMatchObject({ statusCode: 200 });
    expect(await respond(fresh, ctx, SELF_ARN)).toMatchObject({ statusCode: 401, body: expect.stringMatching(/already answered/) });
    expect(queued).toHaveLength(1);
    expect(runTaskInputs(ecs)).toHaveLength(0);
  });

  test('WHEN a member without the operators\' role types /backup THEN only they see a refusal and nothing starts', async () => {
    const reply = (await respond(signed(command('backup', [SOMEONE_ELSE])), ctx, SELF_ARN)) as { statusCode: number; body: string };
    expect(reply.statusCode).toBe(200);
    const answer = JSON.parse(reply.body) as { type: number; data: { flags: number; content: string; allowed_mentions: unknown } };
    expect(answer).toEqual({ type: 4, data: { content: expect.stringMatching(/^\/backup needs the role <@&234567890123456789>; you do not have it\. Nothing was started\.$/), flags: 64, allowed_mentions: { parse: [] } } });
    expect(lambda.commandCalls(InvokeCommand)).toHaveLength(0);
    expect(runTaskInputs(ecs)).toHaveLength(0);
  });

  test('WHEN an operator types /backup THEN the answer is deferred at once, the backup task starts, and the answer names it', async () => {
    const interaction = command('backup');
    const reply = await respond(signed(interaction), ctx, SELF_ARN);
    expect(reply).toEqual({ statusCode: 200, headers: { 'content-type': 'application/json' }, body: '{"type":5}' });
    expect(runTaskInputs(ecs)).toHaveLength(0);
    await runQueued();
    expect(runTaskInputs(ecs)).toEqual([expect.objectContaining({ taskDefinition: TASK_DEFINITION.backup, startedBy: 'meatbackup-ops' })]);
    const edit = await discord.waitFor((r) => r.method === 'PATCH' && r.path.includes(interaction.token));
    expect(edit.body).toEqual({ content: expect.stringMatching(new RegExp(`^\\*\\*Backup started\\*\\* by <@567890123456789012>: task \`${STARTED_TASK_ID}\``)), allowed_mentions: { parse: [] } });
    // The ops function's log names the Discord member (its client context).
    expect(logged.join('\n')).toMatch(/"discordUser":"567890123456789012"/);
  });

  test('WHEN an operator asks for /backups, /status and /restore-plan THEN the answers come from the bucket, and a plan starts nothing', async () => {
    const backup = await writeBackupFixture(client, BUCKET, { sql: 'select 1;\n-- PostgreSQL database dump complete\n', database: 'meatdb', takenAt: new Date(Date.now() - 3_600_000) });
    const list = command('backups', [OPERATORS], [{ name: 'count', type: 4, value: 3 }]);
    const status = command('status');
    const plan = command('restore-plan', [OPERATORS], [{ name: 'backup', type: 3, value: 'latest' }]);
    for (const i of [list, status, plan]) expect(await respond(signed(i), ctx, SELF_ARN)).toMatchObject({ statusCode: 200, body: '{"type":5}' });
    await runQueued();
    const answer = async (token: string) => ((await discord.waitFor((r) => r.method === 'PATCH' && r.path.includes(token))).body as { content: string }).content;
    const file = backup.key.slice('backups/'.length);
    expect(await answer(list.token)).toMatch(new RegExp(`^\\*\\*1 newest backup\\*\\* in \`s3://${BUCKET}/backups/\`\n\`${file}\` · \\d+ B · 1h00?m?\\d*s? ago · never checked$`));
    expect(await answer(status.token)).toMatch(new RegExp(`newest backup ${backup.key}`));
    const planText = await answer(plan.token);
    expect(planText).toMatch(new RegExp(`^\\*\\*Restore plan\\*\\* \\(nothing started\\): \`${file}\``));
    expect(planText).toMatch(/never from Discord/);
    expect(runTaskInputs(ecs)).toHaveLength(0);
  });

  test('WHEN the options are wrong THEN only the member sees what was wrong', async () => {
    const reply = (await respond(signed(command('restore-plan', [OPERATORS], [{ name: 'backup', type: 3, value: 'yesterday' }])), ctx, SELF_ARN)) as { body: string };
    expect(JSON.parse(reply.body)).toMatchObject({ type: 4, data: { flags: 64, content: expect.stringMatching(/^\/restore-plan: key must be "latest" or a backup name/) } });
    expect(queued).toHaveLength(0);
  });
});
