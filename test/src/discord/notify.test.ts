/**
 * Alarms and results in the operators' Discord channel: the AWS notifier (lambda/discord/notify.ts) turns each alarm
 * and task event into one short webhook post; the webhook URL (a secret) appears in no output, log or error line,
 * whether the post works or Discord refuses it; and the CLI's check of the webhook behaves the same.
 */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { ENV } from '../../../src/contract';
import { contextFrom, handler, notify } from '../../../lambda/discord/notify';
import { cleanEnv, runCli } from '../../support/cli';
import { type FakeDiscord, startFakeDiscord } from '../../support/fake-discord';

const SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:meatlizard/discord-webhook-AbC123';
const secrets = mockClient(SecretsManagerClient);
let discord: FakeDiscord;
let output: string[];

/** An SNS delivery of the alarm topic's message to the function (https://docs.aws.amazon.com/lambda/latest/dg/with-sns.html). */
function snsEvent(message: string) {
  return { Records: [{ EventSource: 'aws:sns', EventVersion: '1.0', Sns: { Type: 'Notification', TopicArn: 'arn:aws:sns:eu-west-1:123456789012:alarms', Subject: 'ALARM', Message: message, Timestamp: '2025-09-17T05:00:00.000Z' } }] };
}

const ALARM = JSON.stringify({
  AlarmName: 'meatlizard-backup-no-successful-backup',
  AlarmDescription: 'No successful backup of meatdb in 26 hours.',
  AWSAccountId: '123456789012',
  NewStateValue: 'ALARM',
  NewStateReason: 'Threshold Crossed: no datapoints were received for 26 periods and 26 missing datapoints were treated as [Breaching].',
  StateChangeTime: '2025-09-17T05:00:00.000+0000',
  Region: 'EU (Ireland)',
  AlarmArn: 'arn:aws:cloudwatch:eu-west-1:123456789012:alarm:meatlizard-backup-no-successful-backup',
  OldStateValue: 'OK',
});

beforeAll(async () => {
  discord = await startFakeDiscord();
});
afterAll(() => discord?.close());

beforeEach(() => {
  secrets.reset();
  secrets.on(GetSecretValueCommand, { SecretId: SECRET }).resolves({ SecretString: discord.webhookUrl });
  output = [];
  // The function logs through the project's logger, JSON lines on stdout (src/core/log.ts functionLogger).
  jest.spyOn(process.stdout, 'write').mockImplementation((line: string | Uint8Array) => {
    output.push(line.toString());
    return true;
  });
});
afterEach(() => {
  jest.restoreAllMocks();
  expect(discord.problems).toEqual([]);
});

const env = { [ENV.discordWebhookSecretArn]: SECRET, [ENV.database]: 'meatdb', AWS_REGION: 'eu-west-1' };

describe('GIVEN the AWS notifier subscribed to the alarm topic', () => {
  test('WHEN the no-successful-backup alarm fires THEN one short post says what happened, what to do, and links the alarm', async () => {
    const before = discord.requests.length;
    await expect(notify(snsEvent(ALARM), contextFrom({ ...env, [ENV.discordApiUrl]: discord.apiUrl }))).resolves.toEqual({ posted: 1 });
    const posts = discord.requests.slice(before);
    expect(posts).toHaveLength(1);
    expect(posts[0]).toMatchObject({ method: 'POST', query: { wait: 'true' } });
    expect(posts[0].body).toEqual({
      content: [
        ':rotating_light: **No recent backup of `meatdb`**',
        'meatlizard-backup-no-successful-backup: Threshold Crossed: no datapoints were received for 26 periods and 26 missing datapoints were treated as [Breaching]. (since 2025-09-17T05:00:00Z)',
        'Do: `/status` (did the last backup run? its exit code?), fix what it names, then `/backup`.',
        '<https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#alarmsV2:alarm/meatlizard-backup-no-successful-backup>',
      ].join('\n'),
      allowed_mentions: { parse: [] },
    });
  });

  test('WHEN a restore task fails, and another one starts and ends cleanly THEN each is one post', async () => {
    const ctx = contextFrom({ ...env, [ENV.discordApiUrl]: discord.apiUrl });
    const task = 'arn:aws:ecs:eu-west-1:123456789012:task/meatlizard-backup-TasksCluster/5d1c2b3a49586776a5b4c3d2e1f00f1e';
    const before = discord.requests.length;
    await notify(snsEvent(`meatbackup task failed: family:meatlizard-backup-restore task ${task} stopped (EssentialContainerExited, exit code 1): Essential container in task exited. Logs: CloudWatch log group g.`), ctx);
    for (const lastStatus of ['RUNNING', 'STOPPED']) {
      await notify({ source: 'aws.ecs', 'detail-type': 'ECS Task State Change', detail: { taskArn: task, lastStatus, containers: [{ exitCode: lastStatus === 'STOPPED' ? 0 : undefined }] } }, ctx);
    }
    const contents = discord.requests.slice(before).map((r) => (r.body as { content: string }).content.split('\n')[0]);
    expect(contents).toEqual([':rotating_light: **Restore of `meatdb` FAILED**', ':arrows_counterclockwise: **Restore of `meatdb` started**', ':white_check_mark: **Restore of `meatdb` finished**']);
  });

  test('WHEN Discord refuses the post THEN the function fails (Lambda retries) with a line that holds no part of the webhook URL', async () => {
    discord.failNext(/\/api\/webhooks\//, 500);
    process.env[ENV.discordWebhookSecretArn] = SECRET;
    process.env[ENV.discordApiUrl] = discord.apiUrl;
    try {
      await expect(handler(snsEvent(ALARM))).rejects.toThrow('the Discord channel webhook: Discord answered 500: fake failure (code 0)');
    } finally {
      delete process.env[ENV.discordWebhookSecretArn];
      delete process.env[ENV.discordApiUrl];
    }
    const token = discord.webhookUrl.split('/').pop()!;
    expect(output.join('\n')).toMatch(/discord notification failed/);
    expect(output.join('\n')).not.toContain(token);
  });
});

describe('GIVEN the Compose side checking its webhook from the CLI', () => {
  test('WHEN the webhook works THEN one test post arrives; WHEN it does not THEN one line without the URL', async () => {
    const ok = await runCli(['discord', 'test-webhook'], { env: cleanEnv({ [ENV.discordWebhookUrl]: discord.webhookUrl }) });
    expect(ok).toMatchObject({ code: 0, stdout: 'posted a test message to the channel webhook\n' });
    const wrongToken = discord.webhookUrl.replace(/[^/]+$/, 'revoked-token');
    const refused = await runCli(['discord', 'test-webhook'], { env: cleanEnv({ [ENV.discordWebhookUrl]: wrongToken }) });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe('meatbackup: the Discord channel webhook: Discord answered 401: Invalid Webhook Token (code 50027)\n');
    const malformed = await runCli(['discord', 'test-webhook'], { env: cleanEnv({ [ENV.discordWebhookUrl]: 'https://discord.com/api/webhooks/oops/secret-part' }) });
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toMatch(/^meatbackup: DISCORD_WEBHOOK_URL=\(value hidden\): give the channel webhook's URL/);
    for (const out of [ok.stdout, ok.stderr, refused.stdout, refused.stderr, malformed.stderr]) {
      expect(out).not.toContain('revoked-token');
      expect(out).not.toContain('secret-part');
      expect(out).not.toContain(discord.webhookUrl.split('/').pop()!);
    }
  });
});
