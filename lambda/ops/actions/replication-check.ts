/**
 * `{"action": "replication-check"}`: is the newest backup in the replica bucket with the same size and sha256, and
 * what does S3 report as the primary object's replication status? Answers src/promote/replication-check.ts's report.
 * `ok` says the check ran; `replicated` and `verdict` say what it found (`pending` while the backup is younger than
 * the 15 minutes replication may take).
 *
 * Both functions answer it: the primary region's ops function (it reads the replica across regions) and the replica
 * region's promotion function (it reads the primary across regions, following S3's redirect to the bucket's region,
 * since it is not told the primary region).
 */
import { S3Client } from '@aws-sdk/client-s3';
import { DEFAULT_PREFIX, ENV, normalizePrefix } from '../../../src/contract';
import { checkReplication } from '../../../src/promote/replication-check';
import { createS3Client } from '../../../src/storage/s3';
import { requireEnv } from '../environment';
import type { ActionHandler } from '../types';

export const replicationCheck: ActionHandler<'replication-check'> = async (_event, ctx) => {
  const primary = requireEnv(ctx, ENV.bucket);
  const replica = requireEnv(ctx, ENV.replicaBucket);
  const replicaRegion = ctx.env[ENV.replicaRegion] || undefined;
  const prefix = normalizePrefix(ctx.env[ENV.prefix] || DEFAULT_PREFIX);
  const home = await ctx.s3.config.region();
  const inReplicaRegion = replicaRegion === undefined || replicaRegion === home;
  const report = await checkReplication({
    primary,
    replica,
    prefix,
    primaryClient: inReplicaRegion ? new S3Client({ region: home, followRegionRedirects: true, maxAttempts: 3 }) : ctx.s3,
    replicaClient: inReplicaRegion ? ctx.s3 : createS3Client({ region: replicaRegion }),
    now: ctx.now(),
  });
  const { ok: replicated, ...details } = report;
  return { ok: true, action: 'replication-check', replicated, ...details };
};
