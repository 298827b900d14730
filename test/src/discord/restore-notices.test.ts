/**
 * A restore on the Compose deployment tells the operators' channel: when it begins, and how it ended (its result, or
 * its one error line when it was refused). Real PostgreSQL and the S3 emulator; a loopback server plays Discord's
 * webhook API and holds each post to Discord's documented shape.
 */
import { ENV } from '../../../src/contract';
import { cleanEnv, runCli } from '../../support/cli';
import { type FakeDiscord, startFakeDiscord } from '../../support/fake-discord';
import { freshBucket, useHarness } from '../backup/fixtures';

describe('GIVEN the channel webhook set where restores run', () => {
  const h = useHarness('restore-notices', async ({ pg }) => {
    await pg.query('create database meatdb');
    await pg.query("create table users (id serial primary key, name text); insert into users (name) values ('ada'), ('grace')", 'meatdb');
  });
  let discord: FakeDiscord;
  beforeAll(async () => {
    discord = await startFakeDiscord();
  });
  afterAll(() => discord?.close());
  afterEach(() => expect(discord.problems).toEqual([]));

  const posts = () => discord.requests.filter((r) => r.path.startsWith('/api/webhooks/')).map((r) => (r.body as { content: string }).content);

  test('WHEN a restore runs, and then one is refused THEN the channel hears each begin and end, the refusal with its reason, and the webhook URL is in no output', async () => {
    const bucket = await freshBucket(h.client, 'restore-notices');
    const env = cleanEnv({ ...h.s3.env, [ENV.bucket]: bucket, DATABASE_URL: h.pg.url('meatdb'), [ENV.discordApiUrl]: discord.apiUrl, [ENV.discordWebhookUrl]: discord.webhookUrl });
    const backedUp = await runCli(['backup'], { env });
    expect([backedUp.code, backedUp.stderr.split('\n').filter((l) => l.startsWith('meatbackup:'))]).toEqual([0, []]);
    const before = posts().length;

    const restored = await runCli(['restore', 'latest', '--from-database', 'meatdb', '--target-db', 'meatdb_copy', '--yes'], { env });
    expect([restored.code, restored.stderr.split('\n').filter((l) => l.startsWith('meatbackup:'))]).toEqual([0, []]);
    const refused = await runCli(['restore', 'meatdb-1999-01-01T00:00:00.sql.gz', '--from-database', 'meatdb', '--target-db', 'meatdb_copy', '--yes'], { env });
    expect(refused.code).not.toBe(0);

    expect(posts().slice(before).map((p) => p.split('\n').slice(0, 2).join(' | '))).toEqual([
      expect.stringMatching(/^:arrows_counterclockwise: \*\*Restore of `meatdb_copy` started\*\* \| `meatbackup restore latest` began on the server$/),
      expect.stringMatching(/^:white_check_mark: \*\*Restore of `meatdb_copy` finished\*\* \| restored backups\/meatdb-.*\.sql\.gz in \d+s$/),
      expect.stringMatching(/^:arrows_counterclockwise: \*\*Restore of `meatdb_copy` started\*\*/),
      expect.stringMatching(/^:rotating_light: \*\*Restore of `meatdb_copy` FAILED\*\* \| .*meatdb-1999-01-01T00:00:00\.sql\.gz/),
    ]);
    for (const out of [restored, refused]) expect(out.stdout + out.stderr).not.toContain(discord.webhookUrl);
    expect((await h.pg.query<{ n: string }>('select count(*)::text as n from users', 'meatdb_copy'))[0].n).toBe('2');
  }, 120_000);
});
