/**
 * `meatbackup discord register` as an operator runs it, against a loopback server playing Discord's API (which holds
 * every call to the documented shapes of the guild command endpoints): the first run creates the four commands, a
 * second changes nothing, a command changed or left over in the guild is edited or deleted, and the bot token
 * appears in no output.
 */
import { ENV } from '../../../src/contract';
import { COMMANDS } from '../../../src/discord/commands';
import { cleanEnv, runCli } from '../../support/cli';
import { type FakeDiscord, startFakeDiscord } from '../../support/fake-discord';

const GUILD = '123456789012345678';
let discord: FakeDiscord;

beforeAll(async () => {
  discord = await startFakeDiscord();
});
afterAll(() => discord?.close());
afterEach(() => expect(discord.problems).toEqual([]));

const env = (extra: Record<string, string> = {}) =>
  cleanEnv({ [ENV.discordApiUrl]: discord.apiUrl, [ENV.discordApplicationId]: discord.applicationId, [ENV.discordGuildId]: GUILD, [ENV.discordBotToken]: discord.botToken, ...extra });

describe('GIVEN a Discord application with no commands in the server', () => {
  test('WHEN the operator registers THEN the four commands are created and the output says so', async () => {
    const res = await runCli(['discord', 'register'], { env: env() });
    expect(res.stderr).toBe('');
    expect(res.stdout).toBe(`created   /backup /backups /status /restore-plan\n4 changes in server ${GUILD}; the commands show at once\n`);
    expect(discord.commands.get(GUILD)?.map((c) => c.name)).toEqual(COMMANDS.map((c) => c.name));
  });

  test('WHEN the operator registers again THEN nothing changes and nothing is created', async () => {
    const before = discord.requests.length;
    const res = await runCli(['discord', 'register', '--json'], { env: env() });
    expect(JSON.parse(res.stdout)).toEqual({ applicationId: discord.applicationId, guildId: GUILD, created: [], updated: [], deleted: [], unchanged: ['backup', 'backups', 'status', 'restore-plan'] });
    expect(discord.requests.slice(before).map((r) => r.method)).toEqual(['GET']);
  });

  test('WHEN a command was changed by hand and an old one is left over THEN register edits the one and deletes the other', async () => {
    const guild = discord.commands.get(GUILD)!;
    guild.find((c) => c.name === 'status')!.description = 'something else';
    guild.push({ id: '199999999999999999', application_id: discord.applicationId, guild_id: GUILD, name: 'old-backup', type: 1, description: 'gone', version: '1' });
    const res = await runCli(['discord', 'register'], { env: env() });
    expect(res.stdout).toBe(`updated   /status\ndeleted   /old-backup\nunchanged /backup /backups /restore-plan\n2 changes in server ${GUILD}; the commands show at once\n`);
    expect(discord.commands.get(GUILD)?.map((c) => c.name)).toEqual(COMMANDS.map((c) => c.name));
  });

  test('WHEN the bot token is wrong or missing THEN one line says what to do, and the token is never printed', async () => {
    const wrong = await runCli(['discord', 'register'], { env: env({ [ENV.discordBotToken]: 'not-the-token' }) });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toBe('meatbackup: listing the guild commands: Discord answered 401: 401: Unauthorized (code 0)\n');
    const missing = await runCli(['discord', 'register'], { env: env({ [ENV.discordBotToken]: '' }) });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^meatbackup: give the bot token in DISCORD_BOT_TOKEN or --bot-token-secret ARN/);
    for (const out of [wrong.stdout, wrong.stderr, missing.stderr]) expect(out).not.toContain('not-the-token');
  });
});
