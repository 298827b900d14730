/**
 * The interactions endpoint, once for both deployments: the Lambda function URL (lambda/discord/interactions.ts) and
 * the Compose deployment's HTTP listener (./listener.ts) hand each request here and send back the reply.
 *
 * Discord's rules (https://discord.com/developers/docs/interactions/overview#setting-up-an-endpoint and
 * https://discord.com/developers/docs/interactions/receiving-and-responding):
 * - every request's signature is checked first; a request that fails gets 401 and nothing else happens (./signature.ts);
 * - a PING (type 1) is answered with a PONG (`{"type": 1}`);
 * - every interaction is answered within 3 seconds, or its token is invalidated. No command's work is done before
 *   answering: a permitted command is answered at once with DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE (type 5, "thinking…")
 *   and its result replaces that answer through the token, valid for 15 minutes ({@link runFollowUp}). A cold Lambda
 *   or a slow S3 listing therefore never costs the answer.
 *
 * Who may: members of the configured server holding one of the configured roles (the interaction's `member.roles`,
 * which Discord fills in and signs). Everyone else gets an EPHEMERAL (flag 64) refusal only they see, and nothing runs.
 */
import type { KeyObject } from 'node:crypto';
import * as z from 'zod/mini';
import { UserError, oneLine } from '../core/errors';
import { DiscordApi, messageBody } from './api';
import { backupListLines, backupOutcomeLines, backupStartedLines, code, message, restorePlanLines } from './answers';
import type { BackupOutcome, DiscordBackend, Requester } from './backend';
import type { Notification } from './notifications';
import { type CommandRequest, commandRequest, commandRequestSchema } from './commands';
import { type ReplayGuard, checkSignature } from './signature';

/** Interaction types and callback types used here. */
export const INTERACTION = { ping: 1, applicationCommand: 2 } as const;
export const CALLBACK = { pong: 1, channelMessage: 4, deferredChannelMessage: 5 } as const;
export const EPHEMERAL = 64;

/** An interaction token is valid for 15 minutes; a follow-up is not attempted in its last half minute. */
export const TOKEN_LIFETIME_MS = 15 * 60 * 1000 - 30_000;

const userSchema = z.looseObject({ id: z.string(), username: z.optional(z.string()), global_name: z.optional(z.nullable(z.string())) });

/** The fields of an interaction read here (https://discord.com/developers/docs/interactions/receiving-and-responding#interaction-object). */
const interactionSchema = z.looseObject({
  id: z.string(),
  application_id: z.string(),
  type: z.int(),
  token: z.optional(z.string()),
  guild_id: z.optional(z.string()),
  data: z.optional(
    z.looseObject({
      name: z.optional(z.string()),
      options: z.optional(z.array(z.looseObject({ name: z.string(), type: z.int(), value: z.optional(z.union([z.string(), z.number(), z.boolean()])) }))),
    }),
  ),
  member: z.optional(z.looseObject({ roles: z.array(z.string()), user: z.optional(userSchema) })),
  user: z.optional(userSchema),
});

export interface InteractionSettings {
  key: KeyObject;
  /** The server the commands belong to; an interaction from anywhere else is refused. */
  guildId?: string;
  /** Members holding any of these may run the commands; none configured: nobody may. */
  roleIds: readonly string[];
}

export interface HttpRequest {
  /** Header names in lower case. */
  headers: Readonly<Record<string, string | undefined>>;
  /** The body exactly as received: the signature covers these bytes. */
  body: Buffer | string;
}

export interface HttpReply {
  status: number;
  contentType: 'application/json' | 'text/plain';
  body: string;
}

/** The work a deferred answer promised: run by the adapter after the reply is sent. */
export interface FollowUpJob {
  applicationId: string;
  token: string;
  requester: Requester;
  command: CommandRequest;
  /** When the interaction arrived (ms since the epoch): its token expires 15 minutes later. */
  receivedAt: number;
}

/** The follow-up job as it travels between processes (the Lambda's asynchronous invocation of itself). */
export const followUpJobSchema = z.object({
  applicationId: z.string(),
  token: z.string(),
  requester: z.object({ userId: z.string(), name: z.string(), interactionId: z.string() }),
  command: commandRequestSchema,
  receivedAt: z.number(),
});

export interface Handled {
  reply: HttpReply;
  followUp?: FollowUpJob;
  /** What the adapter logs about this request (no token, no body). */
  log: Record<string, unknown>;
}

const json = (status: number, body: unknown): HttpReply => ({ status, contentType: 'application/json', body: JSON.stringify(body) });
const text = (status: number, body: string): HttpReply => ({ status, contentType: 'text/plain', body });

/** An answer only the member sees; nothing runs. */
function ephemeral(content: string): HttpReply {
  return json(200, { type: CALLBACK.channelMessage, data: { ...messageBody(content), flags: EPHEMERAL } });
}

/** Answers one request to the interactions endpoint. Never throws: bad input is a 4xx. */
export function handleInteraction(request: HttpRequest, settings: InteractionSettings, replay: ReplayGuard, nowMs: number): Handled {
  const check = checkSignature(settings.key, request.headers['x-signature-ed25519'], request.headers['x-signature-timestamp'], request.body, nowMs);
  if (!check.ok) return { reply: text(401, check.reason), log: { outcome: 'refused', status: 401, reason: check.reason } };
  let raw: unknown;
  try {
    raw = JSON.parse(request.body.toString());
  } catch {
    return { reply: text(400, 'the body is not JSON'), log: { outcome: 'refused', status: 400, reason: 'not JSON' } };
  }
  const parsed = interactionSchema.safeParse(raw);
  if (!parsed.success) return { reply: text(400, 'not an interaction'), log: { outcome: 'refused', status: 400, reason: 'not an interaction' } };
  const interaction = parsed.data;
  if (!replay.firstTime(interaction.id, nowMs)) {
    return { reply: text(401, 'this interaction was already answered (a replay?)'), log: { outcome: 'refused', status: 401, reason: 'replayed interaction id', interactionId: interaction.id } };
  }
  if (interaction.type === INTERACTION.ping) return { reply: json(200, { type: CALLBACK.pong }), log: { outcome: 'pong' } };
  if (interaction.type !== INTERACTION.applicationCommand || !interaction.token || !interaction.data?.name) {
    return { reply: text(400, `interaction type ${interaction.type} is not handled here`), log: { outcome: 'refused', status: 400, reason: `type ${interaction.type}` } };
  }
  const user = interaction.member?.user ?? interaction.user;
  const requester: Requester = { userId: user?.id ?? 'unknown', name: user?.global_name ?? user?.username ?? user?.id ?? 'unknown', interactionId: interaction.id };
  const command = interaction.data.name;
  const base = { interactionId: interaction.id, command, user: requester.userId, userName: requester.name, guild: interaction.guild_id ?? null };
  const refuse = (reason: string, content: string): Handled => ({ reply: ephemeral(content), log: { ...base, outcome: 'refused', reason } });

  if (!interaction.member || !interaction.guild_id) return refuse('not in a server', 'These commands work only in the operators\' server, not in direct messages. Nothing was started.');
  if (settings.guildId && interaction.guild_id !== settings.guildId) return refuse('another server', 'These commands work only in the operators\' server. Nothing was started.');
  if (settings.roleIds.length === 0) return refuse('no role configured', 'No role may run these commands yet: the deployment sets none (DISCORD_ROLE_IDS). Nothing was started.');
  const roles = new Set(interaction.member.roles);
  if (!settings.roleIds.some((role) => roles.has(role))) {
    const needed = settings.roleIds.map((role) => `<@&${role}>`).join(' or ');
    return refuse('missing role', `/${command} needs the role ${needed}; you do not have it. Nothing was started.`);
  }
  const request_ = commandRequest(command, interaction.data.options);
  if ('problem' in request_) return refuse('bad options', `${request_.problem}. Nothing was started.`);
  return {
    reply: json(200, { type: CALLBACK.deferredChannelMessage }),
    followUp: { applicationId: interaction.application_id, token: interaction.token, requester, command: request_, receivedAt: nowMs },
    log: { ...base, outcome: 'deferred' },
  };
}

export interface FollowUpDeps {
  backend: DiscordBackend;
  api: DiscordApi;
  now: () => Date;
  /** One JSON-able record per event; never given a token. */
  log: (record: Record<string, unknown>) => void;
  /**
   * The channel webhook (Compose, DISCORD_WEBHOOK_URL): a backup started here that fails is posted there too, and a
   * result that can no longer go under the command (its token expired) goes there instead.
   */
  notifier?: { post(n: Notification): Promise<void> };
}

function describe(err: unknown): string {
  if (err instanceof UserError) return oneLine(err.message);
  return `unexpected error: ${oneLine(err instanceof Error ? err.message : String(err))} (details in the log)`;
}

/** Runs the deferred command and puts its answer where "thinking…" was; a failure becomes the answer. */
export async function runFollowUp(job: FollowUpJob, deps: FollowUpDeps): Promise<void> {
  const { backend, api, now } = deps;
  const who = `<@${job.requester.userId}>`;
  const answer = (lines: string[]) => api.editOriginal(job.applicationId, job.token, messageBody(message(lines)));
  const context = { interactionId: job.requester.interactionId, command: job.command.name, user: job.requester.userId };
  let lines: string[];
  let finished: Promise<BackupOutcome> | undefined;
  let database = '';
  try {
    switch (job.command.name) {
      case 'backup': {
        const started = await backend.startBackup(job.requester);
        if (started.where === 'here') {
          finished = started.finished;
          database = started.database;
        }
        lines = backupStartedLines(started, who);
        break;
      }
      case 'backups':
        lines = backupListLines(await backend.listBackups(job.command.count), now());
        break;
      case 'status':
        lines = [`**Status** (asked by ${who})`, ...(await backend.status())];
        break;
      case 'restore-plan':
        lines = restorePlanLines(await backend.restorePlan(job.command.backup), now());
        break;
    }
    deps.log({ message: 'discord command done', ...context });
  } catch (err) {
    if (!(err instanceof UserError)) deps.log({ message: 'discord command failed', ...context, error: err instanceof Error ? err.stack : String(err) });
    else deps.log({ message: 'discord command refused', ...context, error: oneLine(err.message) });
    lines = [`**/${job.command.name} failed**: ${code(describe(err))}`, 'nothing was changed'];
  }
  await answer(lines);
  if (!finished) return;
  // A backup running here: its end goes under the same interaction while the token lives.
  const outcome = await finished;
  deps.log({ message: 'discord backup ended', ...context, ok: outcome.ok, key: outcome.key ?? null });
  const tokenAlive = now().getTime() - job.receivedAt < TOKEN_LIFETIME_MS;
  if (tokenAlive) await api.followUp(job.applicationId, job.token, messageBody(message(backupOutcomeLines(outcome))));
  if (!deps.notifier || (outcome.ok && tokenAlive)) return;
  const by = `started from Discord by ${job.requester.name}`;
  await deps.notifier.post(
    outcome.ok
      ? { kind: 'backup-succeeded', database, key: outcome.key ?? '?', detail: by }
      : { kind: 'backup-failed', database, detail: `${outcome.error ?? 'see the log'} (${by})` },
  );
}
