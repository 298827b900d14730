/**
 * A backup started from Discord in the Compose deployment runs in the endpoint's process, so its end is known there:
 * it is answered under the command while the interaction's token lives, and a failure also reaches the channel
 * webhook as an alarm (one post); a success whose token has expired goes to the channel instead.
 */
import { DiscordApi } from '../../../src/discord/api';
import type { BackupOutcome, DiscordBackend } from '../../../src/discord/backend';
import { type FollowUpJob, TOKEN_LIFETIME_MS, runFollowUp } from '../../../src/discord/interactions';
import { WebhookNotifier } from '../../../src/discord/notifications';
import { type FakeDiscord, startFakeDiscord } from '../../support/fake-discord';

let discord: FakeDiscord;
beforeAll(async () => {
  discord = await startFakeDiscord();
});
afterAll(() => discord?.close());
afterEach(() => expect(discord.problems).toEqual([]));

/** A backend whose backup ends as told; nothing else is asked of it here. */
function backendEnding(outcome: BackupOutcome): DiscordBackend {
  const unused = () => Promise.reject(new Error('not asked in this test'));
  return { startBackup: async () => ({ where: 'here', database: 'meatdb', bucket: 'b', finished: Promise.resolve(outcome) }), listBackups: unused, status: unused, restorePlan: unused };
}

function job(token: string, receivedAt: number): FollowUpJob {
  discord.issueToken(token);
  return { applicationId: discord.applicationId, token, requester: { userId: '567890123456789012', name: 'Night Operator', interactionId: '1' }, command: { name: 'backup' }, receivedAt };
}

async function run(outcome: BackupOutcome, token: string, receivedAt: number, now = new Date()) {
  const api = new DiscordApi({ apiUrl: discord.apiUrl });
  const before = discord.requests.length;
  await runFollowUp(job(token, receivedAt), { backend: backendEnding(outcome), api, now: () => now, log: () => undefined, notifier: new WebhookNotifier(api, discord.webhookUrl) });
  return discord.requests.slice(before).map((r) => ({ where: r.path.includes(token) ? (r.method === 'PATCH' ? 'answer' : 'under the command') : 'channel', first: (r.body as { content: string }).content.split('\n')[0] }));
}

describe('GIVEN a backup started from Discord in the Compose deployment', () => {
  test('WHEN it fails THEN the failure is answered under the command and posted once to the channel', async () => {
    expect(await run({ ok: false, error: 'cannot reach database meatdb at db:5432' }, 'token-fail', Date.now())).toEqual([
      { where: 'answer', first: expect.stringMatching(/^\*\*Backup started\*\*/) },
      { where: 'under the command', first: '**Backup FAILED**: cannot reach database meatdb at db:5432' },
      { where: 'channel', first: ':rotating_light: **Backup of `meatdb` FAILED**' },
    ]);
  });

  test('WHEN it succeeds while the token lives THEN only the command gets the result', async () => {
    expect((await run({ ok: true, key: 'backups/meatdb-2025-09-17T03:00:00.sql.gz', sizeBytes: 2048, seconds: 3 }, 'token-ok', Date.now())).map((p) => p.where)).toEqual(['answer', 'under the command']);
  });

  test('WHEN it succeeds after the token expired THEN the result goes to the channel instead', async () => {
    const started = Date.now();
    const later = new Date(started + TOKEN_LIFETIME_MS + 1000);
    expect(await run({ ok: true, key: 'backups/meatdb-2025-09-17T03:00:00.sql.gz' }, 'token-late', started, later)).toEqual([
      { where: 'answer', first: expect.stringMatching(/^\*\*Backup started\*\*/) },
      { where: 'channel', first: ':white_check_mark: Backup of `meatdb` stored: `meatdb-2025-09-17T03:00:00.sql.gz`' },
    ]);
  });
});
