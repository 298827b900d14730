/**
 * Discord in `meatbackup schedule`, as the Compose service runs it: its HTTP listener serves the interactions endpoint
 * (`/discord/interactions`) beside `/health`, a /backup runs through the scheduler's queue into the S3 emulator, and
 * the channel webhook hears about a failed and a stale backup once each, not once per run. A loopback server plays
 * Discord's API and holds every request to Discord's documented shapes; real Ed25519 keys made here sign each request.
 */
import { ENV } from '../../../src/contract';
import { freePort } from '../../../src/local/processes';
import { INTERACTIONS_PATH } from '../../../src/schedule/discord';
import { cleanEnv } from '../../support/cli';
import { type FakeDiscord, type TestApplicationKey, slashCommand, startFakeDiscord, testApplicationKey } from '../../support/fake-discord';
import { bucketContents, freshBucket, useHarness } from '../backup/fixtures';
import { startScheduler } from './scheduler-process';

const GUILD = '123456789012345678';
const OPERATORS = '234567890123456789';

describe('meatbackup schedule with Discord: the interactions endpoint on its listener, alarms to the channel', () => {
  const h = useHarness('schedule-discord', async ({ pg }) => {
    await pg.query('create database meatdb');
    await pg.query("create table users (id serial primary key, name text); insert into users (name) values ('ada')", 'meatdb');
  });
  let discord: FakeDiscord;
  let key: TestApplicationKey;
  beforeAll(async () => {
    discord = await startFakeDiscord();
    key = testApplicationKey();
  });
  afterAll(() => discord?.close());
  afterEach(() => expect(discord.problems).toEqual([]));

  const env = (bucket: string, database: string, extra: Record<string, string>) =>
    cleanEnv({
      ...h.s3.env,
      BACKUP_BUCKET: bucket,
      DATABASE_URL: h.pg.url(database),
      // Only what a test starts runs: no time of these comes during a test.
      SCHEDULE_BACKUP: '0 0 1 1 *',
      SCHEDULE_RESTORE_TEST: 'off',
      SCHEDULE_STATUS: '0 0 1 1 *',
      [ENV.discordApiUrl]: discord.apiUrl,
      [ENV.discordWebhookUrl]: discord.webhookUrl,
      ...extra,
    });

  test('GIVEN the scheduler with the Discord public key WHEN an operator types /backup THEN it answers within the request, the backup runs as a scheduler run and its result arrives under the command; a forged request starts nothing', async () => {
    const bucket = await freshBucket(h.client, 'sched-discord');
    const port = await freePort();
    const s = startScheduler([], env(bucket, 'meatdb', { HTTP_LISTEN: `127.0.0.1:${port}`, [ENV.discordPublicKey]: key.publicKeyHex, [ENV.discordGuildId]: GUILD, [ENV.discordRoleIds]: OPERATORS }));
    try {
      const started = await s.line((r) => typeof r.message === 'string' && r.message.startsWith('meatbackup schedule started'));
      const endpoint = `http://127.0.0.1:${port}${INTERACTIONS_PATH}`;
      expect(started.discordInteractions).toBe(endpoint);

      // A forged request (another key) and an unsigned PING: 401, nothing runs.
      const interaction = slashCommand({ name: 'backup', roles: [OPERATORS], guildId: GUILD, applicationId: discord.applicationId });
      discord.issueToken(interaction.token);
      const body = JSON.stringify(interaction);
      expect((await fetch(endpoint, { method: 'POST', headers: testApplicationKey().sign(body), body })).status).toBe(401);
      const ping = JSON.stringify({ id: '1111111111111111112', application_id: discord.applicationId, type: 1, token: 'ping', version: 1 });
      expect((await fetch(endpoint, { method: 'POST', headers: { 'content-type': 'application/json' }, body: ping })).status).toBe(401);
      const pong = await fetch(endpoint, { method: 'POST', headers: key.sign(ping), body: ping });
      expect([pong.status, await pong.text()]).toEqual([200, '{"type":1}']);
      expect((await bucketContents(h.client, bucket)).versions).toEqual([]);

      // The operator's /backup: deferred at once, then run through the scheduler's queue.
      const reply = await fetch(endpoint, { method: 'POST', headers: key.sign(body), body });
      expect([reply.status, await reply.text()]).toEqual([200, '{"type":5}']);
      const run = await s.line((r) => r.job === 'backup' && 'exitCode' in r, 90_000);
      expect(run).toMatchObject({ ok: true, exitCode: 0 });
      const stored = (run.result as { key: string }).key;
      const done = await discord.waitFor((r) => r.method === 'POST' && r.path.endsWith(`/${interaction.token}`), 30_000);
      expect((done.body as { content: string }).content).toMatch(new RegExp(`^\\*\\*Backup done\\*\\*: \`${stored.slice('backups/'.length)}\``));
      expect((await bucketContents(h.client, bucket)).versions).toEqual([stored, `${stored}.globals.sql.gz`, `${stored}.manifest.json`]);
    } finally {
      s.child.kill('SIGTERM');
      expect((await s.exited).code).toBe(0);
    }
    expect(s.stderr()).not.toContain(discord.webhookUrl);
  }, 180_000);

  test('GIVEN a backup that fails WHEN the scheduler runs it and then the status check THEN the channel hears once that it failed and once that no recent backup exists (not again after the second run), never the webhook URL in the log', async () => {
    const bucket = await freshBucket(h.client, 'sched-discord-fail');
    const before = discord.requests.filter((r) => r.path.startsWith('/api/webhooks/')).length;
    // No such database: every backup fails, and no backup of it exists.
    const s = startScheduler(['--now', 'backup', 'status'], env(bucket, 'nosuchdb', { HTTP_LISTEN: 'off', BACKUP_MAX_AGE: '1h' }));
    try {
      await s.line((r) => r.job === 'status' && 'exitCode' in r, 90_000);
      const posts = await waitForPosts(before + 2);
      expect(posts.map((p) => (p.body as { content: string }).content.split('\n')[0])).toEqual([
        expect.stringMatching(/^:rotating_light: \*\*Backup of `nosuchdb` FAILED\*\*$/),
        expect.stringMatching(/^:rotating_light: \*\*No recent backup of `nosuchdb`\*\*$/),
      ]);
      expect((posts[0].body as { content: string }).content).toMatch(/nosuchdb.*\(exit 1\)/s);
    } finally {
      s.child.kill('SIGTERM');
      expect((await s.exited).code).toBe(0);
    }
    // Nothing more for the same failure: posted once per change, not once per run.
    expect(discord.requests.filter((r) => r.path.startsWith('/api/webhooks/')).length).toBe(before + 2);
    expect(s.stderr()).not.toContain(discord.webhookUrl);
    expect(s.stderr()).not.toContain(discord.webhookUrl.split('/').at(-1)!);

    async function waitForPosts(count: number) {
      const deadline = Date.now() + 30_000;
      for (;;) {
        const posts = discord.requests.filter((r) => r.path.startsWith('/api/webhooks/')).slice(before);
        if (before + posts.length >= count || Date.now() > deadline) return posts;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }, 180_000);
});
