/** `meatbackup backup`: the runbook's step 1.1 (what the scheduled Fargate task and `/admin backup` run). */
import { type Command, Option } from 'commander';
import { type CatalogSummary, DEFAULT_PREFIX, ENV, type Manifest, RETENTION_TAG } from '../../contract';
import { runBackup } from '../../backup/backup';
import { compressionLevel as checkLevel, parseCompressorName } from '../../backup/compression';
import { chooseCompressor, findIgzip } from '../../gzip/choice';
import { formatUtc } from '../../backup/retention';
import { resolveConnection } from '../../postgres/connection';
import { createS3Client, resolveBucket } from '../../storage/s3';
import { usageError } from '../../core/errors';
import { createLogger } from '../../core/log';
import { formatBytes, formatDuration, plural } from '../../core/format';
import { shutdownSignal } from '../../core/signals';
import { stallSeconds } from '../../core/watchdog';
import { type Settings, pgPrograms, prefixFrom } from '../../settings';
import { stallTimeoutOption } from '../stall-timeout';

interface BackupFlags {
  bucket?: string;
  prefix?: string;
  databaseUrl?: string;
  json?: boolean;
  compressionLevel?: string;
  compressor?: string;
  stallTimeout?: string;
  firstPartSize?: string;
}

/** MiB of the first multipart parts: at least S3's 5. */
function firstPartBytes(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const mib = Number(raw);
  if (!Number.isInteger(mib) || mib < 5 || mib > 5120) throw usageError(`--first-part-size ${raw}: give whole MiB from 5 (S3's smallest part) to 5120`);
  return mib * 1024 * 1024;
}

/** A whole number; whether it is a level of the chosen compressor is the backup's to say. */
function compressionLevel(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const level = Number(raw);
  if (!Number.isInteger(level)) throw usageError(`--compression-level ${raw}: give a whole number (igzip 0-3, zlib 1-9)`);
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

export function registerBackup(program: Command, settings: Settings): void {
  program
    .command('backup')
    .description(`dump the database with pg_dump and upload it, gzip-compressed, to s3://BUCKET/backups/<database>-<UTC time>.sql.gz, with its roles (pg_dumpall --globals-only) beside it; tagged retention=monthly|weekly|daily, and locked (governance) for $${ENV.lockDays} days (default 35) when the bucket has Object Lock`)
    .addOption(new Option('--bucket <name>', `bucket to upload to (default: $${ENV.bucket})`))
    .addOption(new Option('--prefix <prefix>', `key prefix (default: $${ENV.prefix} or ${DEFAULT_PREFIX})`))
    .addOption(new Option('--database-url <url>', `postgresql://USER@HOST:PORT/DATABASE (default: $${ENV.databaseUrl}, else libpq's PGHOST/PGPORT/PGUSER/PGPASSWORD/PGDATABASE)`))
    .addOption(new Option('--compression-level <n>', 'compression level: igzip 0 (fastest) to 3, zlib 1 to 9 (default 1 for both)'))
    .addOption(new Option('--compressor <name>', `isal (ISA-L's igzip, the default where installed) or zlib (built in, the fallback) (default: $${ENV.compressor})`))
    .addOption(stallTimeoutOption('pg_dump, igzip or S3'))
    .addOption(new Option('--first-part-size <MiB>', 'size of the first upload parts; later parts double every 1,000 (default 8)'))
    .addOption(new Option('--json', 'print the result as one JSON document'))
    .action(async (flags: BackupFlags) => {
      const logger = createLogger();
      const level = compressionLevel(flags.compressionLevel);
      const partBytes = firstPartBytes(flags.firstPartSize);
      const requested = parseCompressorName(flags.compressor, '--compressor') ?? settings.backup.compressor;
      const compressor = chooseCompressor(requested, findIgzip(settings.path));
      // Checked before anything starts: each compressor has its own levels.
      checkLevel(compressor.compressor.name, level);
      const stall = stallSeconds(flags.stallTimeout, settings.stallSeconds);
      const bucket = resolveBucket(flags.bucket, settings.bucket);
      const connection = resolveConnection(flags.databaseUrl, settings.env);
      const result = await runBackup({
        s3: createS3Client({ ...settings.aws, stallSeconds: stall }),
        bucket,
        prefix: prefixFrom(flags.prefix, settings),
        connection,
        compressor,
        ...(level !== undefined ? { compressionLevel: level } : {}),
        stallSeconds: stall,
        ...(partBytes !== undefined ? { partBytes } : {}),
        lockDays: settings.backup.lockDays,
        ...(settings.backup.retentionDays ? { retentionDays: settings.backup.retentionDays } : {}),
        programs: pgPrograms(settings),
        signal: shutdownSignal(),
        logger,
      });
      const m = result.manifest;
      if (flags.json) {
        process.stdout.write(`${JSON.stringify({ bucket: result.bucket, ...m, manifestKey: result.manifestKey, pgDumpPath: result.pgDump.path, pgDumpallPath: result.pgDumpall.path, parts: result.parts })}\n`);
        return;
      }
      const ratio = m.sqlBytes > 0 ? ` (${((100 * m.sizeBytes) / m.sqlBytes).toFixed(0)}% of ${formatBytes(m.sqlBytes)} SQL, ${compressionLine(m.compression)})` : '';
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
    });
}

function compressionLine(c: Manifest['compression']): string {
  return `${c.compressor === 'isal' ? 'igzip' : 'zlib'} level ${c.level}`;
}
