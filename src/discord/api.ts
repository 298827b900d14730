/**
 * Discord's HTTP API, the few calls made here, over Node's fetch:
 *
 * - interaction follow-ups, authenticated by the interaction's token in the path (no bot token):
 *   `PATCH /webhooks/{application.id}/{interaction.token}/messages/@original` and `POST /webhooks/{application.id}/{interaction.token}`
 *   (https://discord.com/developers/docs/interactions/receiving-and-responding#followup-messages);
 * - a channel webhook, authenticated by its URL: `POST /webhooks/{webhook.id}/{webhook.token}?wait=true`
 *   (https://discord.com/developers/docs/resources/webhook#execute-webhook);
 * - the application's guild commands, with the bot token (`Authorization: Bot …`): list, create, edit, delete
 *   (https://discord.com/developers/docs/interactions/application-commands#get-guild-application-commands and the
 *   sections after it).
 *
 * Every request names this client in `User-Agent` as Discord asks (https://discord.com/developers/docs/reference#user-agent)
 * and sends JSON. A 429 is waited out once for its `retry_after` (at most 10 s).
 *
 * Secrets: a webhook URL, an interaction token and the bot token let anyone holding them post as this application.
 * No error message here contains any of them: a failure says which call failed and what Discord answered (status,
 * Discord's error code and message), never the URL.
 */
import { UserError } from '../core/errors';

export const USER_AGENT = 'DiscordBot (https://github.com/meatlizard/meatlizard-backup, 0.1.0)';

/** Message fields sent here (Execute Webhook / Edit Webhook Message JSON params). */
export interface MessageBody {
  content: string;
  /** `{ parse: [] }`: the text mentions nobody, whatever it contains. */
  allowed_mentions: { parse: string[] };
  /** 64 = EPHEMERAL (https://discord.com/developers/docs/resources/message#message-object-message-flags). */
  flags?: number;
}

export function messageBody(content: string, ephemeral = false): MessageBody {
  return { content, allowed_mentions: { parse: [] }, ...(ephemeral ? { flags: 64 } : {}) };
}

export class DiscordApiError extends UserError {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'DiscordApiError';
  }
}

export type Fetch = typeof fetch;

export interface DiscordApiOptions {
  /** DISCORD_API_URL. */
  apiUrl: string;
  /** Waits before retrying a 429. @default setTimeout */
  sleep?: (ms: number) => Promise<void>;
  fetch?: Fetch;
  /** Per request. @default 10 s */
  timeoutMs?: number;
}

/** Discord's error body: `{ code, message }` (https://discord.com/developers/docs/topics/opcodes-and-status-codes#json). */
function discordError(body: string): string {
  try {
    const parsed = JSON.parse(body) as { code?: unknown; message?: unknown };
    if (typeof parsed.message === 'string') return `${parsed.message}${typeof parsed.code === 'number' ? ` (code ${parsed.code})` : ''}`;
  } catch {
    // not JSON: say nothing of it (it could echo the request)
  }
  return 'no error message';
}

function networkProblem(err: unknown): string {
  const cause = (err as { cause?: { code?: unknown } } | undefined)?.cause;
  if (err instanceof Error && err.name === 'TimeoutError') return 'no answer in time';
  return typeof cause?.code === 'string' ? cause.code : 'network error';
}

export class DiscordApi {
  private readonly fetch: Fetch;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly timeoutMs: number;

  constructor(private readonly options: DiscordApiOptions) {
    this.fetch = options.fetch ?? fetch;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  /**
   * One request; `what` names it in errors ("the channel webhook", "editing the answer"). Answers the parsed JSON
   * body (undefined for 204).
   */
  async request(what: string, method: string, url: string, body?: unknown, headers: Record<string, string> = {}): Promise<unknown> {
    for (let attempt = 1; ; attempt += 1) {
      let response: Response;
      try {
        response = await this.fetch(url, {
          method,
          headers: { 'User-Agent': USER_AGENT, ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}), ...headers },
          ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
          signal: AbortSignal.timeout(this.timeoutMs),
        });
      } catch (err) {
        throw new DiscordApiError(`${what}: could not reach Discord (${networkProblem(err)})`);
      }
      const text = await response.text();
      if (response.status === 429 && attempt === 1) {
        const retryAfter = Number((JSON.parse(text || '{}') as { retry_after?: unknown }).retry_after ?? 1);
        await this.sleep(Math.min(10, Number.isFinite(retryAfter) ? retryAfter : 1) * 1000);
        continue;
      }
      if (!response.ok) throw new DiscordApiError(`${what}: Discord answered ${response.status}: ${discordError(text)}`, response.status);
      return text === '' ? undefined : (JSON.parse(text) as unknown);
    }
  }

  private url(path: string): string {
    return `${this.options.apiUrl}${path}`;
  }

  /** Replaces the deferred "thinking…" answer of an interaction. */
  async editOriginal(applicationId: string, token: string, body: MessageBody): Promise<void> {
    await this.request('editing the answer in Discord', 'PATCH', this.url(`/webhooks/${applicationId}/${encodeURIComponent(token)}/messages/@original`), body);
  }

  /** A further message under the interaction (within its token's 15 minutes). */
  async followUp(applicationId: string, token: string, body: MessageBody): Promise<void> {
    await this.request('a follow-up message in Discord', 'POST', this.url(`/webhooks/${applicationId}/${encodeURIComponent(token)}`), body);
  }

  /** Posts to a channel webhook; `wait=true` so that a message Discord did not store is an error. */
  async executeWebhook(webhookUrl: string, body: MessageBody): Promise<void> {
    const url = new URL(webhookUrl);
    url.searchParams.set('wait', 'true');
    await this.request('the Discord channel webhook', 'POST', url.toString(), body);
  }

  /** The bot's requests for the application's commands in one guild. */
  guildCommands(applicationId: string, guildId: string, botToken: string) {
    const base = this.url(`/applications/${applicationId}/guilds/${guildId}/commands`);
    const auth = { Authorization: `Bot ${botToken}` };
    return {
      list: () => this.request('listing the guild commands', 'GET', base, undefined, auth),
      create: (command: unknown) => this.request('creating a guild command', 'POST', base, command, auth),
      edit: (id: string, command: unknown) => this.request('editing a guild command', 'PATCH', `${base}/${id}`, command, auth),
      remove: (id: string) => this.request('deleting a guild command', 'DELETE', `${base}/${id}`, undefined, auth),
    };
  }
}
