/**
 * The Discord interactions function (AWS): a thin adapter behind a Lambda function URL (auth NONE: Discord cannot sign
 * AWS requests; every request's Ed25519 signature is checked instead, src/discord/interactions.ts).
 *
 * Two kinds of invocation:
 * - a function URL request (payload format 2.0: https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html):
 *   answered at once; a permitted command is deferred, and its work handed to this same function as an asynchronous
 *   invocation (`InvocationType: Event`), because Lambda freezes a function once it has answered;
 * - that follow-up (`{"discordFollowUp": …}`), which only a principal allowed to invoke the function can send (the
 *   URL wraps every request in its own event shape): it asks the ops function and edits the deferred answer.
 *
 * No bot token: answering and editing an interaction's answer are authenticated by the interaction's token.
 */
import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import * as z from 'zod/mini';
import { UserError, oneLine } from '../../src/core/errors';
import { functionLogger, recordLog } from '../../src/core/log';
import { DiscordApi } from '../../src/discord/api';
import { type FollowUpDeps, type HttpReply, type InteractionSettings, followUpJobSchema, handleInteraction, runFollowUp } from '../../src/discord/interactions';
import { OpsFunctionBackend } from '../../src/discord/ops-function-backend';
import { ReplayGuard, discordPublicKey } from '../../src/discord/signature';
import { ENV } from '../../src/contract';
import { readSettings } from '../../src/settings';
import { createLambdaClient } from '../../src/storage/lambda-client';

/** The function URL's request, as far as it is read here. */
const urlEventSchema = z.looseObject({
  headers: z.optional(z.record(z.string(), z.string())),
  body: z.optional(z.string()),
  isBase64Encoded: z.optional(z.boolean()),
  requestContext: z.looseObject({ http: z.looseObject({ method: z.string() }) }),
});

const followUpEventSchema = z.object({ discordFollowUp: followUpJobSchema });

export interface UrlResponse {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

export interface InteractionsContext {
  settings: InteractionSettings;
  deps: FollowUpDeps;
  lambda: LambdaClient;
  replay: ReplayGuard;
  now: () => number;
}

/** One line of the function's log, through the project's logger (src/core/log.ts). */
const log = recordLog(functionLogger());

export function contextFrom(env: Readonly<Record<string, string | undefined>>): InteractionsContext {
  const settings = readSettings(env);
  const d = settings.discord;
  const missing = [!d.publicKey && ENV.discordPublicKey, !d.guildId && ENV.discordGuildId, d.roleIds.length === 0 && ENV.discordRoleIds, !d.opsFunctionName && ENV.opsFunctionName].filter(Boolean);
  if (missing.length > 0) throw new UserError(`this deployment of the Discord function has no ${missing.join(', ')} in its environment: redeploy the stacks`);
  const lambda = createLambdaClient({ ...(settings.aws.region ? { region: settings.aws.region } : {}) });
  return {
    settings: { key: discordPublicKey(d.publicKey!), guildId: d.guildId!, roleIds: d.roleIds },
    deps: { backend: new OpsFunctionBackend(lambda, d.opsFunctionName!), api: new DiscordApi({ apiUrl: d.apiUrl }), now: () => new Date(), log },
    lambda,
    replay: new ReplayGuard(),
    now: Date.now,
  };
}

const toUrlResponse = (reply: HttpReply): UrlResponse => ({ statusCode: reply.status, headers: { 'content-type': reply.contentType }, body: reply.body });

/** One invocation: a URL request, or this function's own follow-up. */
export async function respond(event: unknown, ctx: InteractionsContext, selfArn: string): Promise<UrlResponse | { ok: boolean }> {
  const followUp = followUpEventSchema.safeParse(event);
  if (followUp.success) {
    await runFollowUp(followUp.data.discordFollowUp, ctx.deps);
    return { ok: true };
  }
  const request = urlEventSchema.safeParse(event);
  if (!request.success) {
    log({ message: 'discord function: not a function URL request nor a follow-up; ignored' });
    return { ok: false };
  }
  const r = request.data;
  if (r.requestContext.http.method !== 'POST') return { statusCode: 405, headers: { 'content-type': 'text/plain', allow: 'POST' }, body: 'POST interactions here' };
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(r.headers ?? {})) headers[k.toLowerCase()] = v;
  const body = r.isBase64Encoded ? Buffer.from(r.body ?? '', 'base64') : Buffer.from(r.body ?? '', 'utf8');
  const handled = handleInteraction({ headers, body }, ctx.settings, ctx.replay, ctx.now());
  log({ message: 'discord interaction', ...handled.log });
  if (!handled.followUp) return toUrlResponse(handled.reply);
  try {
    // Queued, not awaited: Lambda starts it once the reply has gone.
    await ctx.lambda.send(new InvokeCommand({ FunctionName: selfArn, InvocationType: 'Event', Payload: Buffer.from(JSON.stringify({ discordFollowUp: handled.followUp })) }));
  } catch (err) {
    const why = oneLine(err instanceof Error ? err.message : String(err));
    log({ message: 'discord follow-up could not be queued', interactionId: handled.followUp.requester.interactionId, error: why });
    return toUrlResponse({
      status: 200,
      contentType: 'application/json',
      body: JSON.stringify({ type: 4, data: { content: `Could not start /${handled.followUp.command.name} (the function could not hand itself the work); nothing was started. Try again; if it persists, see the function's log.`, flags: 64, allowed_mentions: { parse: [] } } }),
    });
  }
  return toUrlResponse(handled.reply);
}

let defaultContext: InteractionsContext | undefined;

export async function handler(event: unknown, context: { invokedFunctionArn: string }): Promise<UrlResponse | { ok: boolean }> {
  try {
    defaultContext ??= contextFrom(process.env);
  } catch (err) {
    if (!(err instanceof UserError)) throw err;
    log({ message: 'discord function settings', error: oneLine(err.message) });
    // Discord sees a server error; the URL check in the Developer Portal fails until the stack is fixed.
    return { statusCode: 500, headers: { 'content-type': 'text/plain' }, body: 'this endpoint is misconfigured; see its log' };
  }
  return respond(event, defaultContext, context.invokedFunctionArn);
}
