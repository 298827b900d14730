/**
 * The ops Lambda's `replication-check` action: is the newest backup (of BACKUP_DATABASE) in the replica bucket with the same size and
 * sha256, and what does S3 report as the primary object's replication status (src/promote/replication-check.ts)?
 * `ok` says the check ran; `replicated` and `verdict` say what it found (`pending` while the backup is younger than
 * the 15 minutes replication may take).
 *
 * Both functions answer it: the primary region's ops function (it reads the replica in the replica's region) and the
 * replica region's promotion function (it reads the primary in the primary's region, PRIMARY_REGION). Each bucket is
 * read with a client of its own region; a function deployed before PRIMARY_REGION existed reads the primary with its
 * own region's client, which follows S3's redirect to the bucket's region.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { ENV } from '../contract';
import { type ReplicationReport, checkReplication } from '../promote/replication-check';
import { type Settings, required } from '../settings';

export interface ReplicationCheckDeps {
  readonly settings: Settings;
  /** The function's own region. */
  readonly home: string;
  /** The S3 client of a region (one per region). */
  readonly s3ForRegion: (region: string) => S3Client;
  readonly now: () => Date;
}

export type ReplicationCheckAnswer = { ok: true; action: 'replication-check'; replicated: boolean } & Omit<ReplicationReport, 'ok'>;

export async function replicationCheckAction(deps: ReplicationCheckDeps): Promise<ReplicationCheckAnswer> {
  const { settings, home } = deps;
  // The newest backup of the deployment's database (BACKUP_DATABASE), not of any database under the prefix.
  const database = settings.database;
  const report = await checkReplication({
    ...(database ? { database } : {}),
    databaseHint: `this deployment has no ${ENV.database} in its environment: redeploy the stacks`,
    primary: required(settings.bucket, ENV.bucket),
    replica: required(settings.replica.bucket, ENV.replicaBucket),
    prefix: settings.prefix,
    primaryClient: deps.s3ForRegion(settings.primaryRegion ?? home),
    replicaClient: deps.s3ForRegion(settings.replica.region ?? home),
    now: deps.now(),
  });
  const { ok: replicated, ...details } = report;
  return { ok: true, action: 'replication-check', replicated, ...details };
}
