/** `meatbackup restore <key|latest>`: the runbook's step 2.1 (what the ops Lambda's restore task runs). */
import { type Command, Option } from 'commander';
import { describeSpace } from '../../restore/disk-space';
import { DEFAULT_PREFIX, ENV } from '../../contract';
import { resolveConnection } from '../../postgres/connection';
import type { RestorePlan, RestoreResult } from '../../restore/restore';
import { createS3Client, resolveBucket } from '../../storage/s3';
import { usageError } from '../../core/errors';
import { askYes, requireYesOrTerminal } from '../prompt';
import { createLogger } from '../../core/log';
import { formatBytes, formatDuration } from '../../core/format';
import { shutdownSignal } from '../../core/signals';
import { type Settings, pgPrograms, prefixFrom } from '../../settings';
import { findPsql } from '../../restore/psql-load';
import { restoreNotices } from '../restore-notices';
import { stoppedServicesFrom } from '../stopped-services';
import { stallSeconds } from '../../core/watchdog';
import { stallTimeoutOption } from '../stall-timeout';
import { spaceAvailableOption } from '../space-available';
import { readingDecompressor } from '../decompressor';
import { jobsOption, restoreJobs } from '../jobs';

interface RestoreFlags {
  bucket?: string;
  prefix?: string;
  targetDb?: string;
  fromDatabase?: string;
  stopEcsService?: string;
  stopComposeServices?: string;
  composeProject?: string;
  databaseUrl?: string;
  withGlobals?: boolean;
  yes?: boolean;
  json?: boolean;
  stallTimeout?: string;
  spaceAvailable?: number;
  jobs?: string;
}

/** "a backup of database meatdb", so that every plan and result line names the source next to the target. */
function backupOf(plan: RestorePlan): string {
  return `a backup of database ${plan.sourceDatabase}${plan.sourceDatabase === plan.target ? '' : `, restored into ${plan.target}`}`;
}

function describePlan(plan: RestorePlan): string {
  return [
    `backup    s3://${plan.bucket}/${plan.key} (${backupOf(plan)}; ${formatBytes(plan.sizeBytes)}, taken ${plan.takenAt})`,
    `replaces  ${plan.server}`,
    `keeps     the current ${plan.target} as ${plan.keptAs} (never dropped)`,
    `settings  database owner, grants, comment and settings from ${plan.databaseProperties}`,
    `stops     ${plan.stoppedServices ? `${plan.stoppedServices} during the swap, and starts them again` : 'nothing (--stop-compose-services or STOP_COMPOSE_SERVICES; on ECS --stop-ecs-service or WEB_SERVICE)'}`,
    `space     ${describeSpace(plan.space)}`,
    ...(plan.withGlobals ? ['roles     the backup\'s roles are created first where missing; existing roles are kept as they are'] : []),
    ...(plan.dropsLeftovers.length > 0 ? [`drops     ${plan.dropsLeftovers.join(', ')}: left behind by earlier restores of ${plan.target} that are not running`] : []),
  ].join('\n');
}

async function confirmReplace(plan: RestorePlan, yes: boolean | undefined): Promise<boolean> {
  if (yes) return true;
  requireYesOrTerminal(
    yes,
    `restoring ${plan.key} replaces database ${plan.target} (the current one would be kept as ${plan.keptAs}): pass --yes to confirm; nothing was changed`,
  );
  process.stderr.write(`${describePlan(plan)}\n`);
  return askYes(`Replace database ${plan.target} with this backup? [y/N] `);
}

function humanResult(r: RestoreResult): string {
  const lines = [
    `restored  s3://${r.bucket}/${r.key} (${backupOf(r)}; ${formatBytes(r.sizeBytes)}, ${formatBytes(r.sqlBytes)} SQL, sha256 checked)`,
    `into      ${r.server}`,
  ];
  if (r.replaces) lines.push(`kept      the database it replaced, as ${r.keptAs}: drop it once you no longer need it`);
  lines.push(`settings  database owner, grants, comment and settings from ${r.databaseProperties}`);
  if (r.stoppedServices) lines.push(`started   ${r.restarted ?? r.stoppedServices} again`);
  if (r.globals) {
    const g = r.globals;
    const created = g.createdRoles.length > 0 ? `created ${g.createdRoles.join(', ')}` : 'created none';
    lines.push(`roles     ${created}; kept ${g.keptRoles.length} existing; ${g.memberships.length} membership(s) granted`);
  }
  lines.push(`took      ${formatDuration(r.seconds.total)} (check ${formatDuration(r.seconds.check)}, load ${formatDuration(r.seconds.load)}${r.jobs > 1 ? ` over ${r.jobs} sessions` : ''}, swap ${formatDuration(r.seconds.swap)})`);
  for (const note of r.notes) lines.push(`note      ${note}`);
  return `${lines.join('\n')}\n`;
}

export function registerRestore(program: Command, settings: Settings): void {
  program
    .command('restore')
    .description('restore a backup into a fresh database and swap it in; the database it replaces is kept as <db>_pre_restore_<UTC time>')
    .argument('<key>', '"latest" (the newest backup of the target database, or of --from-database), a file name (meatdb-2025-09-17T10:30:00.sql.gz) or a full key (backups/…)')
    .addOption(new Option('--bucket <name>', `bucket holding the backup (default: $${ENV.bucket})`))
    .addOption(new Option('--prefix <prefix>', `key prefix (default: $${ENV.prefix} or ${DEFAULT_PREFIX})`))
    .addOption(new Option('--target-db <name>', 'database to restore into: created when missing, replaced when it exists (default: the connection\'s database)'))
    .addOption(
      new Option('--from-database <name>', 'the database the backup is of, when it is not the target: "latest" is then its newest backup (without it, a backup of another database than the target is refused)'),
    )
    .addOption(new Option('--stop-compose-services <names>', `Docker Compose services stopped while the databases swap names, comma-separated: web,server_bot,import_worker (default: $${ENV.stopComposeServices}); through the Docker socket or DOCKER_HOST`))
    .addOption(new Option('--compose-project <name>', `their Compose project (default: $${ENV.composeProject}, else the one project that has them)`))
    .addOption(new Option('--stop-ecs-service <cluster/service>', `on ECS: the service stopped while the databases swap names (default: $${ENV.webService})`))
    .addOption(new Option('--database-url <url>', `postgresql://USER@HOST:PORT/DATABASE (default: $${ENV.databaseUrl}, else libpq's PGHOST/PGPORT/PGUSER/PGPASSWORD/PGDATABASE)`))
    .addOption(new Option('--with-globals', "first apply the backup's roles and memberships (pg_dumpall --globals-only stored beside it): missing roles are created, existing ones kept; for a restore onto a new server"))
    .addOption(stallTimeoutOption('the listing, the manifest and every byte of the download from S3 (psql busy is not a stall); the target is left untouched'))
    .addOption(spaceAvailableOption('this restore'))
    .addOption(jobsOption())
    .addOption(new Option('--yes', 'replace an existing database without asking (required without a terminal)'))
    .addOption(new Option('--json', 'print the result as one JSON document'))
    .action(async (ref: string, flags: RestoreFlags, command: Command) => {
      const bucket = resolveBucket(flags.bucket, settings.bucket);
      const prefix = prefixFrom(flags.prefix, settings);
      const conn = resolveConnection(flags.databaseUrl, settings.env);
      if (flags.targetDb !== undefined && flags.targetDb.trim() === '') throw usageError('--target-db needs a database name');
      if (flags.fromDatabase !== undefined && flags.fromDatabase.trim() === '') throw usageError('--from-database needs a database name');
      const stall = stallSeconds(flags.stallTimeout, settings.stallSeconds);
      // Loaded here, not at start: the restore code, and the ECS or Docker client, which no other command needs.
      const stopServices = await stoppedServicesFrom(flags, settings);
      const [{ restoreBackup }, { thisProcess }] = await Promise.all([import('../../restore/restore.js'), import('../../restore/restore-lock.js')]);
      const logger = createLogger();
      const target = flags.targetDb ?? conn.database;
      const notices = restoreNotices(settings, logger);
      await notices?.started(ref, target);
      const result = await restoreBackup({
        s3: createS3Client({ ...settings.aws, stallSeconds: stall }),
        bucket,
        prefix,
        ref,
        conn,
        ...(flags.targetDb !== undefined ? { targetDb: flags.targetDb } : {}),
        ...(flags.fromDatabase !== undefined ? { fromDatabase: flags.fromDatabase } : {}),
        withGlobals: flags.withGlobals ?? false,
        psqlPath: findPsql(pgPrograms(settings)),
        ...(stopServices ? { stopServices } : {}),
        confirmReplace: (plan) => confirmReplace(plan, flags.yes),
        logger,
        decompressor: readingDecompressor(settings, command),
        lockHolder: thisProcess(settings.env),
        signal: shutdownSignal(),
        stallSeconds: stall,
        ...((flags.spaceAvailable ?? settings.restoreSpaceAvailable) !== undefined ? { spaceAvailable: flags.spaceAvailable ?? settings.restoreSpaceAvailable } : {}),
        jobs: restoreJobs(flags.jobs, settings.restoreJobs),
      }).catch(async (error: unknown) => {
        await notices?.finished(target, { error });
        throw error;
      });
      await notices?.finished(target, { result });
      process.stdout.write(flags.json ? `${JSON.stringify(result)}\n` : humanResult(result));
    });
}
