/**
 * Discord's slash commands in the Compose deployment: `meatbackup discord serve` (what the scheduler's listener
 * runs) as an operator starts it, a real PostgreSQL database and the S3 emulator behind it, real Ed25519 keys made
 * here signing each request, and a loopback server playing Discord's API that holds every request to Discord's
 * documented shapes. A permitted /backup runs a real backup into the bucket and answers under the command; a bad
 * signature or a member without the role starts nothing.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { CreateBucketCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { ENV, parseBackupKey } from '../../../src/contract';
import { CLI, cleanEnv } from '../../support/cli';
import { type FakeDiscord, type TestApplicationKey, slashCommand, startFakeDiscord, testApplicationKey } from '../../support/fake-discord';
import { useHarness } from '../../support/harness';

const BUCKET = 'discord-compose-backups';
const GUILD = '123456789012345678';
const OPERATORS = '234567890123456789';

const h = useHarness('discord-compose', async (h) => {
  await h.client.send(new CreateBucketCommand({ Bucket: BUCKET }));
  await h.pg.query('create database meatdb');
  await h.pg.query("create table messages (id serial primary key, body text); insert into messages (body) select 'hello ' || g from generate_series(1, 1000) g", 'meatdb');
});

let discord: FakeDiscord;
let key: TestApplicationKey;
let server: ChildProcessWithoutNullStreams;
let endpoint: string;
let stderr = '';

async function backupKeys(): Promise<string[]> {
  const listed = await h.client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'backups/' }));
  return (listed.Contents ?? []).map((o) => o.Key!).filter((k) => parseBackupKey(k) !== undefined);
}

function command(name: string, roles: string[] = [OPERATORS], values?: Array<{ name: string; type: number; value: string | number }>) {
  const interaction = slashCommand({ name, roles, guildId: GUILD, applicationId: discord.applicationId, ...(values ? { values } : {}) });
  discord.issueToken(interaction.token);
  return interaction;
}

async function post(body: string, headers: Record<string, string>): Promise<{ status: number; text: string }> {
  const res = await fetch(endpoint, { method: 'POST', headers, body });
  return { status: res.status, text: await res.text() };
}

const send = (interaction: object) => {
  const body = JSON.stringify(interaction);
  return post(body, key.sign(body));
};

beforeAll(async () => {
  discord = await startFakeDiscord();
  key = testApplicationKey();
  server = spawn(process.execPath, [CLI, 'discord', 'serve'], {
    env: cleanEnv({
      ...h.s3.env,
      [ENV.bucket]: BUCKET,
      DATABASE_URL: h.pg.url('meatdb'),
      [ENV.discordPublicKey]: key.publicKeyHex,
      [ENV.discordGuildId]: GUILD,
      [ENV.discordRoleIds]: OPERATORS,
      [ENV.discordApiUrl]: discord.apiUrl,
      [ENV.discordWebhookUrl]: discord.webhookUrl,
      [ENV.discordListen]: '127.0.0.1:0',
    }),
  });
  endpoint = await new Promise<string>((resolve, reject) => {
    server.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      const m = /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(stderr);
      if (m) resolve(m[1]);
    });
    server.on('close', (code) => reject(new Error(`discord serve ended (${code}): ${stderr}`)));
  });
});

afterAll(async () => {
  if (server && server.exitCode === null) {
    const closed = new Promise((resolve) => server.on('close', resolve));
    server.kill('SIGTERM');
    await closed;
  }
  await discord?.close();
});

afterEach(() => expect(discord.problems).toEqual([]));

describe('GIVEN the Compose deployment serving Discord interactions', () => {
  test('WHEN Discord checks the endpoint THEN a PING gets a PONG and an unsigned request a 401', async () => {
    const ping = JSON.stringify({ id: '1111111111111111112', application_id: discord.applicationId, type: 1, token: 'ping', version: 1 });
    expect(await post(ping, key.sign(ping))).toEqual({ status: 200, text: '{"type":1}' });
    expect((await post(ping, { 'content-type': 'application/json' })).status).toBe(401);
  });

  test('WHEN /backup arrives with a bad signature, from a member without the role, or replayed from ten minutes ago THEN nothing is backed up', async () => {
    const interaction = command('backup');
    const body = JSON.stringify(interaction);
    const headers = key.sign(body);
    expect((await post(body, { ...headers, 'x-signature-ed25519': headers['x-signature-ed25519'].split('').reverse().join('') })).status).toBe(401);
    expect((await post(body, testApplicationKey().sign(body))).status).toBe(401);
    expect((await post(body, key.sign(body, Math.floor(Date.now() / 1000) - 600))).status).toBe(401);
    const refused = await send(command('backup', ['345678901234567891']));
    expect(JSON.parse(refused.text)).toMatchObject({ type: 4, data: { flags: 64, content: expect.stringMatching(/needs the role/) } });
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(await backupKeys()).toEqual([]);
  });

  test('WHEN an operator types /backup THEN a real backup is stored and both answers arrive under the command', async () => {
    const interaction = command('backup');
    expect(await send(interaction)).toEqual({ status: 200, text: '{"type":5}' });
    const started = await discord.waitFor((r) => r.method === 'PATCH' && r.path.includes(interaction.token));
    expect((started.body as { content: string }).content).toMatch(/^\*\*Backup started\*\* by <@567890123456789012>: `meatdb` to `s3:\/\/discord-compose-backups`/);
    const done = await discord.waitFor((r) => r.method === 'POST' && r.path.endsWith(`/${interaction.token}`), 90_000);
    const keys = await backupKeys();
    expect(keys).toHaveLength(1);
    expect((done.body as { content: string }).content).toMatch(new RegExp(`^\\*\\*Backup done\\*\\*: \`${keys[0].slice('backups/'.length)}\`, [\\d.]+ KiB in [\\d.]+s$`));
  });

  test('WHEN an operator asks for /backups and /restore-plan latest THEN they name that backup, and nothing is restored', async () => {
    const [stored] = await backupKeys();
    const list = command('backups');
    const plan = command('restore-plan', [OPERATORS], [{ name: 'backup', type: 3, value: 'latest' }]);
    await send(list);
    await send(plan);
    const listed = await discord.waitFor((r) => r.method === 'PATCH' && r.path.includes(list.token));
    expect((listed.body as { content: string }).content).toMatch(new RegExp(`\`${stored.slice('backups/'.length)}\` · [\\d.]+ KiB · \\d+s ago · never checked`));
    const planned = await discord.waitFor((r) => r.method === 'PATCH' && r.path.includes(plan.token));
    expect((planned.body as { content: string }).content).toMatch(new RegExp(`meatbackup restore ${stored}\`; never from Discord`));
    expect((await h.pg.query<{ n: string }>('select count(*)::text as n from messages', 'meatdb'))[0].n).toBe('1000');
  });

  test('THEN the webhook URL and the interaction tokens appear nowhere in the endpoint\'s log', () => {
    expect(stderr).not.toContain(discord.webhookUrl);
    expect(stderr).not.toMatch(/interaction-token-/);
    expect(stderr).toMatch(/"message":"discord interaction".*"outcome":"deferred"/);
  });
});
