/** `{"action": "replication-check"}`: the adapter over src/ops/replication-check.ts. */
import { replicationCheckAction } from '../../../src/ops/replication-check';
import type { ActionHandler } from '../types';
import { s3ForRegion } from '../regions';

export const replicationCheck: ActionHandler<'replication-check'> = async (_event, ctx) =>
  replicationCheckAction({ settings: ctx.settings, home: await ctx.s3.config.region(), s3ForRegion: s3ForRegion(ctx), now: ctx.now });
