/**
 * The Discord pieces of the Compose deployment, made from the settings (src/settings.ts) where the process starts:
 * the interactions listener with its local backend, and the channel webhook notifier. The scheduler (`meatbackup
 * schedule`) and `meatbackup discord serve` both build them here.
 */
import { ENV } from '../contract';
import { usageError } from '../core/errors';
import { createLogger } from '../core/log';
import { resolveConnection } from '../postgres/connection';
import type { Settings } from '../settings';
import { createS3Client, resolveBucket } from '../storage/s3';
import { DiscordApi } from './api';
import { type InteractionSettings } from './interactions';
import { type HandlerOptions, type InteractionsHandler, type InteractionsListener, interactionsHandler, startInteractionsListener } from './listener';
import { LocalBackend, type LocalBackendOptions } from './local-backend';
import { WebhookNotifier } from './notifications';
import { discordPublicKey } from './signature';

/** The checks of every request: the public key, the server, the roles. Missing settings are named in one line. */
export function interactionSettings(settings: Settings): InteractionSettings {
  const d = settings.discord;
  const missing = [
    ...(d.publicKey ? [] : [ENV.discordPublicKey]),
    ...(d.guildId ? [] : [ENV.discordGuildId]),
    ...(d.roleIds.length > 0 ? [] : [ENV.discordRoleIds]),
  ];
  if (missing.length > 0) throw usageError(`the Discord interactions endpoint needs ${missing.join(', ')}: see docs/discord.md`);
  return { key: discordPublicKey(d.publicKey!), guildId: d.guildId!, roleIds: d.roleIds };
}

/** One JSON line per event on stderr (the container's log), through the project's logger; never a token or the webhook URL. */
export function jsonLog(record: Record<string, unknown>): void {
  const { message, ...fields } = record;
  createLogger({ tty: false }).info(String(message ?? ''), fields);
}

/** The channel webhook notifier, when DISCORD_WEBHOOK_URL is set. */
export function webhookNotifier(settings: Settings): WebhookNotifier | undefined {
  const url = settings.discord.webhookUrl;
  return url ? new WebhookNotifier(new DiscordApi({ apiUrl: settings.discord.apiUrl }), url) : undefined;
}

export interface ComposeInteractionsOptions {
  /** How to start this CLI again for a backup: `[process.execPath, …execArgv, entry]`. */
  cli: readonly string[];
  /** Overrides DISCORD_LISTEN. */
  listen?: { host: string; port: number };
  log?: (record: Record<string, unknown>) => void;
  /** Runs a /backup (the scheduler's queue) instead of a child process of its own. */
  runBackup?: LocalBackendOptions['runBackup'];
}

/** Starts the interactions listener of the Compose deployment (`meatbackup discord serve`). */
export async function startComposeInteractions(settings: Settings, options: ComposeInteractionsOptions): Promise<InteractionsListener> {
  const listen = options.listen ?? settings.discord.listen;
  if (!listen) throw usageError(`give ${ENV.discordListen}=HOST:PORT (or --listen) for the interactions listener`);
  return startInteractionsListener({ host: listen.host, port: listen.port, ...handlerOptions(settings, options) });
}

/** The interactions endpoint as a request handler, for the scheduler's own listener. */
export function interactionsHandlerFor(settings: Settings, options: ComposeInteractionsOptions): InteractionsHandler {
  return interactionsHandler(handlerOptions(settings, options));
}

function handlerOptions(settings: Settings, options: ComposeInteractionsOptions): HandlerOptions {
  const checks = interactionSettings(settings);
  const bucket = resolveBucket(undefined, settings.bucket);
  const connection = resolveConnection(undefined, settings.env);
  const backend = new LocalBackend({
    s3: createS3Client(settings.aws),
    bucket,
    prefix: settings.prefix,
    database: connection.database,
    cli: options.cli,
    env: settings.env as NodeJS.ProcessEnv,
    now: () => new Date(),
    ...(options.runBackup ? { runBackup: options.runBackup } : {}),
  });
  const notifier = webhookNotifier(settings);
  return {
    settings: checks,
    deps: { backend, api: new DiscordApi({ apiUrl: settings.discord.apiUrl }), now: () => new Date(), log: options.log ?? jsonLog, ...(notifier ? { notifier } : {}) },
  };
}

/** How this CLI was started, to start it again for a backup. */
export function thisCli(): string[] {
  return [process.execPath, ...process.execArgv, process.argv[1]];
}
