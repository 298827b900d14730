/** `meatbackup backup`: the runbook's step 1.1 (what the scheduled Fargate task and `/admin backup` run). */
import { type Command, Option } from 'commander';
import { type CatalogSummary, DEFAULT_PREFIX, ENV, METRICS, type Manifest, RETENTION_TAG } from '../../contract';
import { runBackup } from '../../backup/backup';
import { formatUtc, lockDaysFromEnv } from '../../backup/retention';
import { resolveConnection } from '../../postgres/connection';
import { createS3Client, resolveBucket } from '../../storage/s3';
import { usageError } from '../../core/errors';
import { createLogger } from '../../core/log';
import { formatBytes, formatDuration, plural } from '../../core/format';
import { shutdownSignal } from '../../core/signals';

interface BackupFlags {
  bucket?: string;
  prefix?: string;
  databaseUrl?: string;
  json?: boolean;
  compressionLevel?: string;
}

function compressionLevel(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const level = Number(raw);
  if (!Number.isInteger(level) || level < 1 || level > 9) throw usageError(`--compression-level ${raw}: give a whole number from 1 (fastest) to 9 (smallest)`);
  return level;
}

function retentionLine(retention: NonNullable<Manifest['retention']>): string {
  const lock = retention.lockedUntil ? `locked (governance) until ${formatUtc(new Date(retention.lockedUntil))}` : 'not locked (no Object Lock on the bucket, or BACKUP_LOCK_DAYS=0)';
  return `${retention.class} (tag ${RETENTION_TAG}=${retention.class}), ${lock}`;
}

function catalogLine(catalog: CatalogSummary): string {
  const c = catalog.counts;
  const counts = [
    plural(c.tables, 'table'),
    plural(c.indexes, 'index', 'indexes'),
    plural(c.sequences, 'sequence'),
    plural(c.views, 'view'),
    plural(c.materializedViews, 'materialized view'),
    plural(c.functions, 'function'),
  ];
  return `${counts.join(', ')}; ${formatBytes(catalog.totalBytes)} on the server`;
}

export function registerBackup(program: Command): void {
  program
    .command('backup')
    .description(`dump the database with pg_dump and upload it, gzip-compressed, to s3://BUCKET/backups/<database>-<UTC time>.sql.gz, with its roles (pg_dumpall --globals-only) beside it; tagged retention=monthly|weekly|daily, and locked (governance) for $${ENV.lockDays} days (default 35) when the bucket has Object Lock`)
    .addOption(new Option('--bucket <name>', `bucket to upload to (default: $${ENV.bucket})`))
    .addOption(new Option('--prefix <prefix>', `key prefix (default: $${ENV.prefix} or ${DEFAULT_PREFIX})`))
    .addOption(new Option('--database-url <url>', `postgresql://USER@HOST:PORT/DATABASE (default: $${ENV.databaseUrl}, else libpq's PGHOST/PGPORT/PGUSER/PGPASSWORD/PGDATABASE)`))
    .addOption(new Option('--compression-level <n>', 'gzip level, 1 (fastest, the default) to 9 (smallest)'))
    .addOption(new Option('--json', 'print the result as one JSON document'))
    .action(async (flags: BackupFlags) => {
      const logger = createLogger();
      const started = Date.now();
      let database = 'unknown';
      let bytes = 0;
      let success = 0;
      try {
        const level = compressionLevel(flags.compressionLevel);
        const lockDays = lockDaysFromEnv();
        const bucket = resolveBucket(flags.bucket);
        const connection = resolveConnection(flags.databaseUrl);
        database = connection.database;
        const result = await runBackup({
          s3: createS3Client(),
          bucket,
          prefix: flags.prefix ?? process.env[ENV.prefix] ?? DEFAULT_PREFIX,
          connection,
          ...(level !== undefined ? { compressionLevel: level } : {}),
          lockDays,
          signal: shutdownSignal(),
          logger,
        });
        const m = result.manifest;
        bytes = m.sizeBytes;
        success = 1;
        if (flags.json) {
          process.stdout.write(`${JSON.stringify({ bucket: result.bucket, ...m, manifestKey: result.manifestKey, pgDumpPath: result.pgDump.path, pgDumpallPath: result.pgDumpall.path, parts: result.parts })}\n`);
        } else {
          const ratio = m.sqlBytes > 0 ? ` (${((100 * m.sizeBytes) / m.sqlBytes).toFixed(0)}% of ${formatBytes(m.sqlBytes)} SQL)` : '';
          process.stdout.write(
            [
              `backup   s3://${result.bucket}/${m.key}`,
              `size     ${formatBytes(m.sizeBytes)}${ratio}`,
              `sha256   ${m.sha256}`,
              `took     ${formatDuration(m.durationSeconds)}`,
              `versions server ${m.serverVersion}, pg_dump ${m.pgDumpVersion} (${result.pgDump.path})`,
              `keep     ${m.retention ? retentionLine(m.retention) : '-'}`,
              `globals  s3://${result.bucket}/${result.globalsKey}${m.globals ? ` (${formatBytes(m.globals.sizeBytes)}, pg_dumpall --globals-only --no-role-passwords)` : ''}`,
              `catalog  ${m.catalog ? catalogLine(m.catalog) : '-'}`,
              '',
            ].join('\n'),
          );
        }
      } finally {
        logger.metric('backup', { [METRICS.dimensionDatabase]: database }, {
          [METRICS.backupSuccess]: { value: success, unit: 'Count' },
          [METRICS.backupBytes]: { value: bytes, unit: 'Bytes' },
          [METRICS.backupSeconds]: { value: (Date.now() - started) / 1000, unit: 'Seconds' },
        });
      }
    });
}
