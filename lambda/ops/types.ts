/** Shapes shared by the ops Lambda's handler and its per-action modules. */
import type { OpsAction, OpsEvent } from '../../src/contract';
import type { OpsContext } from '../../src/ops/context';

export type { OpsContext } from '../../src/ops/context';

/** What the function answers: always a JSON object with `ok`; failures say what went wrong in `error`. */
export type OpsResult =
  | ({ ok: true; action: OpsAction } & Record<string, unknown>)
  | { ok: false; action?: OpsAction; error: string };

export type EventOf<A extends OpsAction> = Extract<OpsEvent, { action: A }>;

/** One action: gets its validated event, answers; throwing a UserError answers `{ ok: false, error: message }`. */
export type ActionHandler<A extends OpsAction> = (event: EventOf<A>, ctx: OpsContext) => Promise<OpsResult>;

/** Every action of the contract has exactly one handler. */
export type ActionTable = { readonly [A in OpsAction]: ActionHandler<A> };
