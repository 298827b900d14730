/** Shapes shared by the ops Lambda's handler and its per-action modules. */
import type { ECSClient } from '@aws-sdk/client-ecs';
import type { S3Client } from '@aws-sdk/client-s3';
import type { OpsAction, OpsEvent } from '../../src/contract';

/** What the function answers: always a JSON object with `ok`; failures say what went wrong in `error`. */
export type OpsResult =
  | ({ ok: true; action: OpsAction } & Record<string, unknown>)
  | { ok: false; action?: OpsAction; error: string };

/** The clients and settings an action works with; tests pass their own. */
export interface OpsContext {
  readonly s3: S3Client;
  readonly ecs: ECSClient;
  /** The function's environment (names from ENV in src/contract.ts). */
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly now: () => Date;
  /** The S3 client of another region (a promotion's target, the replica); one per region. @default from the storage layer */
  readonly s3ForRegion?: (region: string) => S3Client;
}

export type EventOf<A extends OpsAction> = Extract<OpsEvent, { action: A }>;

/** One action: gets its validated event, answers; throwing a UserError answers `{ ok: false, error: message }`. */
export type ActionHandler<A extends OpsAction> = (event: EventOf<A>, ctx: OpsContext) => Promise<OpsResult>;

/** Every action of the contract has exactly one handler. */
export type ActionTable = { readonly [A in OpsAction]: ActionHandler<A> };
