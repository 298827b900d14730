/**
 * A loopback server playing Discord's HTTP API for the tests (Discord cannot be reached from here). It records every
 * request and holds it to the shapes in Discord's documentation; anything else is a `problem` the tests assert away:
 *
 * - every request: `User-Agent: DiscordBot ($url, $versionNumber)` (https://discord.com/developers/docs/reference#user-agent),
 *   `Content-Type: application/json` with a body;
 * - PATCH /webhooks/{application.id}/{interaction.token}/messages/@original and POST /webhooks/{application.id}/{interaction.token}
 *   (https://discord.com/developers/docs/interactions/receiving-and-responding#edit-original-interaction-response,
 *   #create-followup-message): a token this server handed out, a body of Edit Webhook Message / Execute Webhook
 *   JSON params only (https://discord.com/developers/docs/resources/webhook#edit-webhook-message), content at most
 *   2,000 characters;
 * - POST /webhooks/{webhook.id}/{webhook.token} (https://discord.com/developers/docs/resources/webhook#execute-webhook):
 *   the webhook's token, `wait` a boolean, Execute Webhook JSON params only, at least one of content/embeds/…;
 * - the guild commands (https://discord.com/developers/docs/interactions/application-commands#get-guild-application-commands
 *   and after): `Authorization: Bot <token>`, bodies of Create / Edit Guild Application Command JSON params, names
 *   matching the CHAT_INPUT naming rule, descriptions of 1-100 characters, options of the documented types.
 */
import { generateKeyPairSync, sign } from 'node:crypto';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string | undefined>;
  body: unknown;
}

const allowedMentions = z.strictObject({ parse: z.array(z.enum(['roles', 'users', 'everyone'])).optional(), roles: z.array(z.string()).optional(), users: z.array(z.string()).optional(), replied_user: z.boolean().optional() });
const content = z.string().max(2000);
/** Edit Webhook Message JSON params (all optional). */
const editMessage = z.strictObject({ content: content.optional(), embeds: z.array(z.unknown()).max(10).optional(), flags: z.number().int().optional(), allowed_mentions: allowedMentions.optional(), components: z.array(z.unknown()).optional(), attachments: z.array(z.unknown()).optional(), poll: z.unknown().optional() });
/** Execute Webhook JSON params; `thread_id`, `avatar_url`, `username` are not for interaction follow-ups. */
const executeWebhook = editMessage.extend({ username: z.string().optional(), avatar_url: z.string().optional(), tts: z.boolean().optional(), thread_name: z.string().optional(), applied_tags: z.array(z.string()).optional() })
  .refine((b) => b.content !== undefined || b.embeds !== undefined || b.components !== undefined || b.poll !== undefined, 'one of content, embeds, components, file or poll is required');
const followUp = editMessage.extend({ tts: z.boolean().optional() }).refine((b) => b.content !== undefined || b.embeds !== undefined || b.components !== undefined, 'one of content, embeds, components, file or poll is required');

const NAME = /^[-_'\p{L}\p{N}\p{sc=Deva}\p{sc=Thai}]{1,32}$/u;
const option = z.strictObject({
  type: z.number().int().min(1).max(11),
  name: z.string().regex(NAME).refine((n) => n === n.toLowerCase(), 'option names are lowercase'),
  description: z.string().min(1).max(100),
  required: z.boolean().optional(),
  choices: z.array(z.unknown()).max(25).optional(),
  min_value: z.number().optional(),
  max_value: z.number().optional(),
  min_length: z.number().int().min(0).max(6000).optional(),
  max_length: z.number().int().min(1).max(6000).optional(),
  autocomplete: z.boolean().optional(),
});
/** Create Guild Application Command JSON params. */
const createCommand = z.strictObject({
  name: z.string().regex(NAME).refine((n) => n === n.toLowerCase(), 'CHAT_INPUT names are lowercase'),
  description: z.string().min(1).max(100),
  options: z.array(option).max(25).optional(),
  default_member_permissions: z.string().nullable().optional(),
  type: z.literal(1).optional(),
  nsfw: z.boolean().optional(),
});
const editCommand = createCommand.partial();

export interface FakeDiscord {
  /** http://127.0.0.1:PORT/api/v10: DISCORD_API_URL. */
  readonly apiUrl: string;
  /** A channel webhook's URL on this server. */
  readonly webhookUrl: string;
  readonly applicationId: string;
  readonly botToken: string;
  readonly requests: RecordedRequest[];
  /** Every way a request differed from Discord's documented shapes. */
  readonly problems: string[];
  /** Commands registered in a guild, by guild id. */
  readonly commands: Map<string, Array<Record<string, unknown>>>;
  /** Makes `token` a live interaction token (Discord hands one out with each interaction). */
  issueToken(token: string): void;
  /** Answers the next requests of this path pattern with this status. */
  failNext(pathPattern: RegExp, status: number, times?: number): void;
  /** Resolves when a request matching `predicate` has arrived (or rejects after `ms`). */
  waitFor(predicate: (r: RecordedRequest) => boolean, ms?: number): Promise<RecordedRequest>;
  close(): Promise<void>;
}

const APP = '987654321098765432';
const WEBHOOK_ID = '876543210987654321';
const WEBHOOK_TOKEN = 'wh-secret-token_abc123';
const BOT_TOKEN = 'bot.secret.token';

export async function startFakeDiscord(): Promise<FakeDiscord> {
  const requests: RecordedRequest[] = [];
  const problems: string[] = [];
  const tokens = new Set<string>();
  const commands = new Map<string, Array<Record<string, unknown>>>();
  const failures: Array<{ pattern: RegExp; status: number; times: number }> = [];
  const waiters: Array<{ predicate: (r: RecordedRequest) => boolean; resolve: (r: RecordedRequest) => void }> = [];
  let nextId = 100000000000000000n;

  const reply = (res: ServerResponse, status: number, body?: unknown) => {
    if (body === undefined) res.writeHead(status).end();
    else res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
  };
  const check = (what: string, schema: z.ZodType, body: unknown) => {
    const parsed = schema.safeParse(body);
    if (!parsed.success) problems.push(`${what}: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ')}`);
    return parsed.success;
  };
  const message = (body: Record<string, unknown>) => ({ id: String(nextId++), channel_id: '1', content: body.content ?? '', flags: body.flags ?? 0 });

  const handle = (req: IncomingMessage, res: ServerResponse, raw: string) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const headers: Record<string, string | undefined> = {};
    for (const [k, v] of Object.entries(req.headers)) headers[k] = Array.isArray(v) ? v.join(',') : v;
    let body: unknown;
    if (raw !== '') {
      try {
        body = JSON.parse(raw);
      } catch {
        problems.push(`${req.method} ${url.pathname}: body is not JSON`);
      }
    }
    const recorded: RecordedRequest = { method: req.method ?? '', path: url.pathname, query: Object.fromEntries(url.searchParams), headers, body };
    requests.push(recorded);
    const where = `${recorded.method} ${recorded.path.replace(/\/webhooks\/(\d+)\/[^/]+/, '/webhooks/$1/…')}`;
    if (!/^DiscordBot \(\S+, \S+\)/.test(headers['user-agent'] ?? '')) problems.push(`${where}: User-Agent is not "DiscordBot ($url, $versionNumber)"`);
    if (raw !== '' && !(headers['content-type'] ?? '').startsWith('application/json')) problems.push(`${where}: a JSON body without Content-Type: application/json`);
    const failure = failures.find((f) => f.pattern.test(url.pathname) && f.times > 0);
    if (failure) {
      failure.times -= 1;
      reply(res, failure.status, { message: 'fake failure', code: 0 });
    } else {
      route(recorded, res, where);
    }
    for (const w of [...waiters]) {
      if (w.predicate(recorded)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(recorded);
      }
    }
  };

  const route = (r: RecordedRequest, res: ServerResponse, where: string) => {
    let m: RegExpExecArray | null;
    if ((m = /^\/api\/v10\/webhooks\/(\d+)\/([^/]+)\/messages\/@original$/.exec(r.path)) && r.method === 'PATCH') {
      if (m[1] !== APP) problems.push(`${where}: not this application's id`);
      if (!tokens.has(decodeURIComponent(m[2]))) return reply(res, 404, { message: 'Unknown Webhook', code: 10015 });
      return check(`${where} (Edit Original Interaction Response)`, editMessage, r.body) ? reply(res, 200, message(r.body as Record<string, unknown>)) : reply(res, 400, { message: 'Invalid Form Body', code: 50035 });
    }
    if ((m = /^\/api\/v10\/webhooks\/(\d+)\/([^/]+)$/.exec(r.path)) && r.method === 'POST' && m[1] === APP) {
      if (!tokens.has(decodeURIComponent(m[2]))) return reply(res, 404, { message: 'Unknown Webhook', code: 10015 });
      return check(`${where} (Create Followup Message)`, followUp, r.body) ? reply(res, 200, message(r.body as Record<string, unknown>)) : reply(res, 400, { message: 'Invalid Form Body', code: 50035 });
    }
    if ((m = /^\/api(?:\/v\d+)?\/webhooks\/(\d+)\/([^/]+)$/.exec(r.path)) && r.method === 'POST') {
      if (m[1] !== WEBHOOK_ID || m[2] !== WEBHOOK_TOKEN) return reply(res, 401, { message: 'Invalid Webhook Token', code: 50027 });
      if (r.query.wait !== undefined && !['true', 'false'].includes(r.query.wait)) problems.push(`${where}: wait is not a boolean`);
      if (!check(`${where} (Execute Webhook)`, executeWebhook, r.body)) return reply(res, 400, { message: 'Invalid Form Body', code: 50035 });
      return r.query.wait === 'true' ? reply(res, 200, message(r.body as Record<string, unknown>)) : reply(res, 204);
    }
    if ((m = /^\/api\/v10\/applications\/(\d+)\/guilds\/(\d+)\/commands(?:\/(\d+))?$/.exec(r.path))) {
      if (r.headers.authorization !== `Bot ${BOT_TOKEN}`) return reply(res, 401, { message: '401: Unauthorized', code: 0 });
      if (m[1] !== APP) problems.push(`${where}: not this application's id`);
      const guild = commands.get(m[2]) ?? [];
      commands.set(m[2], guild);
      const id = m[3];
      const stored = (b: Record<string, unknown>, commandId: string) => ({ id: commandId, application_id: APP, guild_id: m![2], version: String(nextId++), type: 1, default_member_permissions: null, nsfw: false, ...b });
      if (!id && r.method === 'GET') return reply(res, 200, guild);
      if (!id && r.method === 'POST') {
        if (!check(`${where} (Create Guild Application Command)`, createCommand, r.body)) return reply(res, 400, { message: 'Invalid Form Body', code: 50035 });
        const existing = guild.findIndex((c) => c.name === (r.body as { name: string }).name);
        const command = stored(r.body as Record<string, unknown>, existing >= 0 ? String(guild[existing].id) : String(nextId++));
        if (existing >= 0) guild[existing] = command;
        else guild.push(command);
        return reply(res, existing >= 0 ? 200 : 201, command);
      }
      const index = guild.findIndex((c) => c.id === id);
      if (index < 0) return reply(res, 404, { message: 'Unknown application command', code: 10063 });
      if (r.method === 'PATCH') {
        if (!check(`${where} (Edit Guild Application Command)`, editCommand, r.body)) return reply(res, 400, { message: 'Invalid Form Body', code: 50035 });
        guild[index] = { ...guild[index], ...(r.body as Record<string, unknown>) };
        return reply(res, 200, guild[index]);
      }
      if (r.method === 'DELETE') {
        guild.splice(index, 1);
        return reply(res, 204);
      }
    }
    problems.push(`${where}: no such Discord endpoint`);
    return reply(res, 404, { message: '404: Not Found', code: 0 });
  };

  const server: Server = createServer((req, res) => {
    let raw = '';
    req.on('data', (d: Buffer) => (raw += d.toString()));
    req.on('end', () => handle(req, res, raw));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  const base = `http://127.0.0.1:${port}`;
  return {
    apiUrl: `${base}/api/v10`,
    webhookUrl: `${base}/api/webhooks/${WEBHOOK_ID}/${WEBHOOK_TOKEN}`,
    applicationId: APP,
    botToken: BOT_TOKEN,
    requests,
    problems,
    commands,
    issueToken: (token) => void tokens.add(token),
    failNext: (pattern, status, times = 1) => void failures.push({ pattern, status, times }),
    waitFor(predicate, ms = 60_000) {
      const found = requests.find(predicate);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no matching request to the fake Discord within ${ms} ms; got: ${requests.map((r) => `${r.method} ${r.path}`).join(', ')}`)), ms);
        waiters.push({ predicate, resolve: (r) => (clearTimeout(timer), resolve(r)) });
      });
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** An application's key pair, made for the test: the public key as the Developer Portal shows it (hex). */
export interface TestApplicationKey {
  publicKeyHex: string;
  /** Headers Discord would send with `body`, signed at `timestamp` (Unix seconds). */
  sign(body: string, timestamp?: number): Record<string, string>;
}

export function testApplicationKey(): TestApplicationKey {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const x = publicKey.export({ format: 'jwk' }).x!;
  return {
    publicKeyHex: Buffer.from(x, 'base64url').toString('hex'),
    sign(body, timestamp = Math.floor(Date.now() / 1000)) {
      const ts = String(timestamp);
      const signature = sign(null, Buffer.concat([Buffer.from(ts), Buffer.from(body)]), privateKey).toString('hex');
      return { 'x-signature-ed25519': signature, 'x-signature-timestamp': ts, 'content-type': 'application/json' };
    },
  };
}

let interactionCounter = 0;

/** A slash command interaction as Discord sends it (https://discord.com/developers/docs/interactions/application-commands#slash-commands-example-interaction). */
export function slashCommand(options: { name: string; roles: string[]; guildId: string; applicationId: string; values?: Array<{ name: string; type: number; value: string | number }>; token?: string }) {
  interactionCounter += 1;
  const id = `11${String(Date.now()).slice(-10)}${String(interactionCounter).padStart(6, '0')}`;
  return {
    id,
    application_id: options.applicationId,
    type: 2,
    token: options.token ?? `interaction-token-${id}`,
    version: 1,
    guild_id: options.guildId,
    channel_id: '345678901234567890',
    app_permissions: '442368',
    locale: 'en-US',
    guild_locale: 'en-US',
    entitlements: [],
    authorizing_integration_owners: { '0': options.guildId },
    context: 0,
    data: { id: '456789012345678901', name: options.name, type: 1, ...(options.values ? { options: options.values } : {}) },
    member: {
      user: { id: '567890123456789012', username: 'operator', global_name: 'Night Operator', discriminator: '0' },
      roles: options.roles,
      permissions: '2147483647',
      joined_at: '2025-01-01T00:00:00.000000+00:00',
      deaf: false,
      mute: false,
    },
  };
}
