/** The function's settings, from the environment the primary stack sets (names from ENV in src/contract.ts). */
import { UserError } from '../../src/core/errors';
import type { OpsContext } from './types';

/** A required variable; its absence is a deployment problem, and the answer says so. */
export function requireEnv(ctx: OpsContext, name: string): string {
  const value = ctx.env[name];
  if (value === undefined || value === '') {
    throw new UserError(`this deployment of the ops function has no ${name} in its environment: redeploy the primary stack`);
  }
  return value;
}
