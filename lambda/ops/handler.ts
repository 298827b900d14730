/**
 * The ops Lambda: a thin adapter. It validates the event against the contract (opsEventSchema), answers bad input
 * with `{ ok: false, error }` naming the field (and starts nothing), and hands a valid event to its action's module
 * (./actions). Console test event: `{"action": "list"}`.
 */
import { ECSClient } from '@aws-sdk/client-ecs';
import type { z } from 'zod';
import { OPS_ACTIONS, type OpsAction, opsEventSchema } from '../../src/contract';
import { UserError, oneLine } from '../../src/core/errors';
import { createS3Client } from '../../src/storage/s3';
import { actions } from './actions';
import type { ActionTable, EventOf, OpsContext, OpsResult } from './types';

export type { OpsResult } from './types';

function describeValue(value: unknown): string {
  return value === undefined ? 'nothing' : JSON.stringify(value);
}

/** One line naming each problem with the event, the way an operator can fix it. */
export function describeEventProblem(event: unknown, error: z.ZodError): string {
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

function dispatch<A extends OpsAction>(table: ActionTable, event: EventOf<A>, ctx: OpsContext): Promise<OpsResult> {
  const run = table[event.action] as (event: EventOf<A>, ctx: OpsContext) => Promise<OpsResult>;
  return run(event, ctx);
}

/** Validates and dispatches one event; never throws. */
export async function handleEvent(event: unknown, ctx: OpsContext, table: ActionTable = actions): Promise<OpsResult> {
  const parsed = opsEventSchema.safeParse(event, {
    error: (issue) => (issue.code === 'invalid_type' && issue.input === undefined ? 'is required' : undefined),
  });
  if (!parsed.success) return { ok: false, error: describeEventProblem(event, parsed.error) };
  const action = parsed.data.action;
  try {
    return await dispatch(table, parsed.data, ctx);
  } catch (err) {
    if (err instanceof UserError) return { ok: false, action, error: oneLine(err.message) };
    console.error(JSON.stringify({ message: 'ops action failed', action, error: err instanceof Error ? err.stack : String(err) }));
    const message = err instanceof Error ? err.message : String(err);
    return { ok: false, action, error: `unexpected error: ${oneLine(message)} (details in the function's log)` };
  }
}

let defaultContext: OpsContext | undefined;

function context(): OpsContext {
  defaultContext ??= { s3: createS3Client(), ecs: new ECSClient({}), env: process.env, now: () => new Date() };
  return defaultContext;
}

export async function handler(event: unknown): Promise<OpsResult> {
  const result = await handleEvent(event, context());
  console.log(JSON.stringify({ message: 'ops action', action: result.action ?? null, ok: result.ok }));
  return result;
}
