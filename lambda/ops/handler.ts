/**
 * The ops Lambda: a thin adapter. It validates the event against the contract (opsEventSchema), answers bad input
 * with `{ ok: false, error }` naming the field (and starts nothing), and hands a valid event to its action's module
 * (./actions). Console test event: `{"action": "list"}`.
 *
 * Invoked through the chat alias (src/ops/chat.ts), it refuses what the channel may not do and answers in a few chat
 * lines instead of the JSON document; every invocation is logged with what the function knows of its caller.
 */
import type * as z from 'zod/mini';
import { OPS_ACTIONS, type OpsAction, opsEventSchema } from '../../src/contract';
import { UserError, oneLine } from '../../src/core/errors';
import { type Logger, functionLogger } from '../../src/core/log';
import { type ChatAnswer, type InvocationContext, type RequestVia, callerOf, chatAnswer, chatCommandNames, chatCommandOf, chatRefusal, expandChatCommand, markStartedFromChat } from '../../src/ops/chat';
import { createEcsClient } from '../../src/storage/ecs-client';
import { regionalClients } from '../../src/promote/regional-clients';
import { readSettings } from '../../src/settings';
import { createS3Client } from '../../src/storage/s3';
import { actions } from './actions';
import type { ActionTable, EventOf, OpsContext, OpsResult } from './types';

export type { OpsResult } from './types';

function describeValue(value: unknown): string {
  return value === undefined ? 'nothing' : JSON.stringify(value);
}

/** One line naming each problem with the event, the way an operator can fix it. */
export function describeEventProblem(event: unknown, error: z.core.$ZodError): string {
  const example = 'send a JSON object such as {"action": "list"}';
  if (event === null || typeof event !== 'object' || Array.isArray(event)) return `the event must be a JSON object: ${example}`;
  const action = (event as Record<string, unknown>).action;
  if (typeof action !== 'string' || !(OPS_ACTIONS as readonly string[]).includes(action)) {
    return `action must be one of ${OPS_ACTIONS.join(', ')} (got ${describeValue(action)}): ${example}`;
  }
  const problems = error.issues.flatMap((issue) => {
    if (issue.code === 'unrecognized_keys') return issue.keys.map((key) => `${key}: not a field of the ${action} action`);
    const field = issue.path.map(String).join('.') || 'event';
    return [`${field}: ${issue.message}`];
  });
  return `invalid ${action} event: ${problems.join('; ')}`;
}

/** The function's log: the project's logger for Lambda functions (src/core/log.ts). */
export function opsLog(): Logger {
  return functionLogger();
}

function dispatch<A extends OpsAction>(table: ActionTable, event: EventOf<A>, ctx: OpsContext): Promise<OpsResult> {
  const run = table[event.action] as (event: EventOf<A>, ctx: OpsContext) => Promise<OpsResult>;
  return run(event, ctx);
}

/** Validates and dispatches one event; never throws. `via`: where it came from (src/ops/chat.ts). */
export async function handleEvent(received: unknown, ctx: OpsContext, table: ActionTable = actions, via: RequestVia = 'direct'): Promise<OpsResult> {
  // The channel's commands send a short form (contract: chatCommandPayload); only the chat alias takes it.
  const expanded = via === 'chat' ? expandChatCommand(received) : { event: received };
  if ('error' in expanded) return { ok: false, error: expanded.error };
  const event = expanded.event;
  const parsed = opsEventSchema.safeParse(event, {
    error: (issue) => (issue.code === 'invalid_type' && issue.input === undefined ? 'is required' : undefined),
  });
  if (!parsed.success) return { ok: false, error: describeEventProblem(event, parsed.error) };
  const action = parsed.data.action;
  if (via === 'chat') {
    const refusal = chatRefusal(parsed.data, ctx.settings.chat);
    if (refusal) return { ok: false, action, error: refusal };
  }
  try {
    const result = await dispatch(table, parsed.data, ctx);
    return via === 'chat' ? markStartedFromChat(result) : result;
  } catch (err) {
    if (err instanceof UserError) return { ok: false, action, error: oneLine(err.message) };
    opsLog().warn('ops action failed', { action, error: err instanceof Error ? err.stack : String(err) });
    const message = err instanceof Error ? err.message : String(err);
    return { ok: false, action, error: `unexpected error: ${oneLine(message)} (details in the function's log)` };
  }
}

let defaultContext: OpsContext | undefined;

/**
 * The function's context, made on the first invocation: its settings read once from the environment the stack gave
 * it, its clients shared by every invocation of this instance. Settings that cannot be used throw (a UserError naming
 * the variable), and nothing is kept, so each invocation answers the same until the stack is fixed.
 */
export function contextFrom(env: Readonly<Record<string, string | undefined>>): OpsContext {
  const settings = readSettings(env);
  const others = regionalClients(settings.aws);
  return {
    s3: createS3Client(settings.aws),
    ecs: createEcsClient({ ...(settings.aws.region ? { region: settings.aws.region } : {}) }),
    settings,
    now: () => new Date(),
    s3ForRegion: (region) => others(region),
  };
}

/**
 * The Lambda entry point. Logs who asked before anything else (so a request that crashes is still on record), then
 * answers: the JSON result for the console and the API, a few chat lines through the chat alias.
 */
export async function respond(event: unknown, invocation: InvocationContext | undefined, ctx: OpsContext): Promise<OpsResult | ChatAnswer> {
  const caller = callerOf(invocation);
  const command = caller.via === 'chat' ? chatCommandOf(event) : undefined;
  const expanded = command ? expandChatCommand(event) : { event };
  const stated = 'event' in expanded ? expanded.event : undefined;
  const requested = stated !== null && typeof stated === 'object' ? (stated as Record<string, unknown>).action : undefined;
  const log = opsLog();
  log.info('ops request', { action: typeof requested === 'string' ? requested : null, ...(command ? { command } : {}), caller });
  const result = await handleEvent(event, ctx, actions, caller.via);
  log.info('ops action', { action: result.action ?? null, ok: result.ok, via: caller.via, requestId: caller.requestId });
  if (caller.via !== 'chat') return result;
  return chatAnswer(result, {
    now: ctx.now(),
    restoreAllowed: ctx.settings.chat.restoreEnabled,
    commands: chatCommandNames(ctx.settings.chat),
  });
}

export async function handler(event: unknown, invocation?: InvocationContext): Promise<OpsResult | ChatAnswer> {
  try {
    defaultContext ??= contextFrom(process.env);
  } catch (err) {
    if (!(err instanceof UserError)) throw err;
    const error = `this deployment's settings cannot be used: ${oneLine(err.message)}; redeploy the stacks; nothing was started`;
    opsLog().warn('ops settings', { error });
    return { ok: false, error };
  }
  return respond(event, invocation, defaultContext);
}
