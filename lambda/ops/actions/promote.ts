/** `{"action": "promote", …}`: the adapter over src/ops/promote.ts (the event, the plan, the run, the answers). */
import { promoteWithin } from '../../../src/ops/promote';
import { s3ForRegion } from '../regions';
import type { ActionHandler } from '../types';

export const promote: ActionHandler<'promote'> = (event, ctx) => promoteWithin(event, { settings: ctx.settings, s3ForRegion: s3ForRegion(ctx) });
