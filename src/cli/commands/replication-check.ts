/**
 * `meatbackup replication-check`: is the newest backup in the replica, byte for byte? Exit 0 yes; 3 pending (younger
 * than the 15 minutes replication may take: look again later); 1 missing, different, FAILED or unverifiable.
 */
import { type Command, Option } from 'commander';
import { DEFAULT_PREFIX, ENV } from '../../contract';
import { UserError } from '../../core/errors';
import { formatBytes } from '../../core/format';
import { createS3Client, resolveBucket } from '../../storage/s3';
import { stallSeconds } from '../../core/watchdog';
import { type ReplicationReport, checkReplication } from '../../promote/replication-check';
import { DATABASE_HINT, configuredDatabase, databaseOption } from '../database';
import { type Settings, prefixFrom } from '../../settings';

/** Exit code for "not replicated yet, but still within the replication window". */
export const EXIT_PENDING = 3;

interface CheckFlags {
  database?: string;
  bucket?: string;
  replica?: string;
  replicaRegion?: string;
  prefix?: string;
  json?: boolean;
}

export function describeReport(r: ReplicationReport): string {
  return [
    `${r.verdict.toUpperCase()}: ${r.key}: ${r.message}`,
    `  primary s3://${r.primary.bucket}: ${formatBytes(r.primary.sizeBytes)}, sha256 ${r.primary.sha256 ?? '(no manifest)'}, replication status ${r.primary.replicationStatus ?? '(none reported)'}`,
    `  replica s3://${r.replica.bucket}: ${r.replica.exists ? `${formatBytes(r.replica.sizeBytes ?? 0)}, sha256 ${r.replica.sha256}` : 'absent'}, manifest ${r.replica.manifest ? 'present' : 'absent'}`,
  ].join('\n');
}

export function registerReplicationCheck(program: Command, settings: Settings): void {
  program
    .command('replication-check')
    .description('check that the newest backup (of --database) is in the replica bucket with the same size and sha256; exit 3 while pending')
    .addOption(new Option('--bucket <name>', `primary bucket (default: $${ENV.bucket})`))
    .addOption(new Option('--replica <name>', `replica bucket (default: $${ENV.replicaBucket})`))
    .addOption(new Option('--replica-region <region>', `replica region (default: $${ENV.replicaRegion}, else the SDK region)`))
    .addOption(new Option('--prefix <prefix>', `key prefix (default: $${ENV.prefix} or ${DEFAULT_PREFIX})`))
    .addOption(databaseOption('whose newest backup is checked'))
    .addOption(new Option('--json', 'print the result as one JSON document'))
    .action(async (flags: CheckFlags) => {
      const primary = resolveBucket(flags.bucket, settings.bucket);
      const replica = flags.replica ?? settings.replica.bucket;
      if (!replica) throw new UserError(`no replica bucket given: pass --replica NAME or set ${ENV.replicaBucket}`, 2);
      const replicaRegion = flags.replicaRegion ?? settings.replica.region;
      const database = configuredDatabase(flags.database, settings);
      const stall = stallSeconds(undefined, settings.stallSeconds);
      const report = await checkReplication({
        ...(database !== undefined ? { database } : {}),
        databaseHint: DATABASE_HINT,
        primary,
        replica,
        prefix: prefixFrom(flags.prefix, settings),
        primaryClient: createS3Client({ ...settings.aws, stallSeconds: stall }),
        replicaClient: createS3Client({ ...settings.aws, stallSeconds: stall, ...(replicaRegion ? { region: replicaRegion } : {}) }),
      });
      process.stdout.write(flags.json ? `${JSON.stringify(report)}\n` : `${describeReport(report)}\n`);
      if (report.verdict === 'pending') process.exitCode = EXIT_PENDING;
      else if (!report.ok) throw new UserError(`replication check failed: ${report.verdict}: ${report.message}`, 1);
    });
}
