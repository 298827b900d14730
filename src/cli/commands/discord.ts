/**
 * `meatbackup discord …`: the Discord application's commands (docs/discord.md).
 *
 * - `register`: puts /backup, /backups, /status and /restore-plan on the application as guild commands, idempotent,
 *   and says what changed. The bot token comes from DISCORD_BOT_TOKEN or a Secrets Manager secret, never a flag (a
 *   flag would stay in the shell's history and in `ps`).
 * - `serve`: the interactions endpoint of the Compose deployment on its own, for a server without `meatbackup
 *   schedule` (which serves the same endpoint when DISCORD_LISTEN is set).
 * - `test-webhook`: posts one message through DISCORD_WEBHOOK_URL, to check it before an alarm needs it.
 */
import { type Command, Option } from 'commander';
import { ENV } from '../../contract';
import { usageError } from '../../core/errors';
import { type Settings, SNOWFLAKE, parseListen } from '../../settings';

function requireId(value: string | undefined, flag: string, variable: string, what: string): string {
  if (!value) throw usageError(`give ${flag} or ${variable}: ${what}`);
  if (!SNOWFLAKE.test(value)) throw usageError(`${flag} ${value}: not a Discord id (a number of 17 to 20 digits): ${what}`);
  return value;
}

function listenFlag(raw: string): { host: string; port: number } {
  const listen = parseListen(raw);
  if (!listen) throw usageError(`--listen ${raw}: give HOST:PORT, e.g. 127.0.0.1:8787`);
  return listen;
}

export function registerDiscord(program: Command, settings: Settings): void {
  const discord = program.command('discord').description('Discord slash commands and channel messages (docs/discord.md)');

  discord
    .command('register')
    .description(`put /backup, /backups, /status and /restore-plan on the Discord application as commands of one server; changes only what differs, and says what it changed. Bot token: $${ENV.discordBotToken} or --bot-token-secret`)
    .addOption(new Option('--application-id <id>', `the application's id (default: $${ENV.discordApplicationId})`))
    .addOption(new Option('--guild-id <id>', `the server's id (default: $${ENV.discordGuildId})`))
    .addOption(new Option('--bot-token-secret <arn>', 'read the bot token from this Secrets Manager secret (plain text, or JSON with a "token" field)'))
    .addOption(new Option('--json', 'print the result as one JSON document'))
    .action(async (flags: { applicationId?: string; guildId?: string; botTokenSecret?: string; json?: boolean }) => {
      const applicationId = requireId(flags.applicationId ?? settings.discord.applicationId, '--application-id', ENV.discordApplicationId, 'General Information in the Developer Portal');
      const guildId = requireId(flags.guildId ?? settings.discord.guildId, '--guild-id', ENV.discordGuildId, 'right-click the server, Copy Server ID (Developer Mode on)');
      let botToken = settings.discord.botToken;
      if (flags.botTokenSecret) {
        const { createSecretsClient, readSecretString } = await import('../../storage/secrets.js');
        botToken = await readSecretString(createSecretsClient(settings.aws), flags.botTokenSecret, 'token');
      }
      if (!botToken) throw usageError(`give the bot token in ${ENV.discordBotToken} or --bot-token-secret ARN (Bot, Reset Token in the Developer Portal)`);
      const { DiscordApi } = await import('../../discord/api.js');
      const { registerCommands } = await import('../../discord/register.js');
      const result = await registerCommands(new DiscordApi({ apiUrl: settings.discord.apiUrl }), { applicationId, guildId, botToken });
      if (flags.json) {
        process.stdout.write(`${JSON.stringify({ applicationId, guildId, ...result })}\n`);
        return;
      }
      const changed = result.created.length + result.updated.length + result.deleted.length;
      const line = (label: string, names: string[]) => (names.length > 0 ? [`${label.padEnd(10)}${names.map((n) => `/${n}`).join(' ')}`] : []);
      process.stdout.write(
        [
          ...line('created', result.created),
          ...line('updated', result.updated),
          ...line('deleted', result.deleted),
          ...line('unchanged', result.unchanged),
          changed === 0 ? `nothing to change in server ${guildId}` : `${changed} change${changed === 1 ? '' : 's'} in server ${guildId}; the commands show at once`,
          '',
        ].join('\n'),
      );
    });

  discord
    .command('serve')
    .description(`serve the interactions endpoint (Compose deployment) on $${ENV.discordListen} until stopped; backups it starts run here`)
    .addOption(new Option('--listen <host:port>', `where to listen (default: $${ENV.discordListen})`))
    .action(async (flags: { listen?: string }) => {
      const { startComposeInteractions, thisCli, jsonLog } = await import('../../discord/compose.js');
      const { shutdownSignal } = await import('../../core/signals.js');
      const listener = await startComposeInteractions(settings, { cli: thisCli(), ...(flags.listen ? { listen: listenFlag(flags.listen) } : {}) });
      jsonLog({ message: 'discord interactions endpoint listening', url: listener.url });
      const signal = shutdownSignal();
      await new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));
      await listener.close();
      jsonLog({ message: 'discord interactions endpoint stopped' });
    });

  discord
    .command('test-webhook')
    .description(`post one test message through $${ENV.discordWebhookUrl}, the channel that gets alarms and results`)
    .action(async () => {
      const { webhookNotifier } = await import('../../discord/compose.js');
      const notifier = webhookNotifier(settings);
      if (!notifier) throw usageError(`set ${ENV.discordWebhookUrl} to the channel webhook's URL (channel settings, Integrations, Webhooks, Copy Webhook URL)`);
      await notifier.post({ kind: 'other', title: 'meatbackup test message', detail: 'Alarms and backup results will arrive in this channel.' });
      process.stdout.write('posted a test message to the channel webhook\n');
    });
}
