/**
 * `meatbackup verify <key|latest>`: re-reads a stored backup (the version its manifest pinned) and checks it against its
 * manifest, and records the result beside it for `list`. Exit 0: verified; 1: it failed or could not be read;
 * {@link EXIT_OVERWRITTEN}: the backup verified, but someone wrote a newer version over its key.
 */
import { type Command, Option } from 'commander';
import { DEFAULT_PREFIX, ENV } from '../../contract';
import { VerificationFailed, type VerifyResult, recordVerifyResult, verifyBackup } from '../../backup/verify';
import { resolveBackupRef } from '../../catalog/resolve';
import { createS3Client, resolveBucket } from '../../storage/s3';
import { createLogger } from '../../core/log';
import { formatBytes, formatDuration, formatExtensions } from '../../core/format';
import { shutdownSignal } from '../../core/signals';
import { stallSeconds } from '../../core/watchdog';
import { stallTimeoutOption } from '../stall-timeout';
import { DATABASE_HINT, configuredDatabase, databaseOption } from '../database';
import { type Settings, prefixFrom } from '../../settings';
import { readingDecompressor } from '../decompressor';

/** Exit code when the pinned backup verified but its key was written over since: a backup was tampered with. */
export const EXIT_OVERWRITTEN = 4;

function overwriteWarning(r: VerifyResult, bucket: string): string {
  return `WARNING: s3://${bucket}/${r.key} was written over after the backup (current version ${r.overwrittenBy}); the version the backup recorded, ${r.versionId}, verified and is what a restore uses. Find out who wrote the new version.`;
}

/** Where the version that was read came from: said from what was read, never assumed. */
function versionSource(r: VerifyResult, asked: string | undefined): string {
  if (asked) return '(as asked)';
  const recorded = r.manifest.versionId;
  if (recorded && recorded !== 'null' && recorded === r.versionId) return '(the one the manifest recorded)';
  if (recorded && recorded !== 'null') return `(the current one: the manifest recorded ${recorded}, which this bucket does not have)`;
  return '(the current one: the manifest records no version)';
}

interface VerifyFlags {
  database?: string;
  bucket?: string;
  prefix?: string;
  versionId?: string;
  json?: boolean;
  stallTimeout?: string;
}

export function registerVerify(program: Command, settings: Settings): void {
  program
    .command('verify')
    .description(`re-read a backup (the version its manifest recorded) and check its sha256 and size against its manifest, every gzip member, pg_dump's completion line, and its globals object's sha256; the result is recorded beside it for list. Exit 0 verified, 1 failed, ${EXIT_OVERWRITTEN} verified but its key was written over since`)
    .argument('<key>', '"latest" (the newest backup of --database), a file name (meatdb-2025-09-17T10:30:00.sql.gz) or a full key (backups/…)')
    .addOption(new Option('--bucket <name>', `bucket holding the backup (default: $${ENV.bucket})`))
    .addOption(databaseOption('whose newest backup "latest" is'))
    .addOption(new Option('--prefix <prefix>', `key prefix (default: $${ENV.prefix} or ${DEFAULT_PREFIX})`))
    .addOption(new Option('--version-id <id>', 'check this version of the backup object instead of the one its manifest records (not recorded as the backup\'s verify result)'))
    .addOption(stallTimeoutOption('the manifest and every byte of the download from S3'))
    .addOption(new Option('--json', 'print the result as one JSON document'))
    .action(async (ref: string, flags: VerifyFlags, command: Command) => {
      const stall = stallSeconds(flags.stallTimeout, settings.stallSeconds);
      const bucket = resolveBucket(flags.bucket, settings.bucket);
      const prefix = prefixFrom(flags.prefix, settings);
      const s3 = createS3Client({ ...settings.aws, stallSeconds: stall });
      const database = configuredDatabase(flags.database, settings);
      const backup = await resolveBackupRef(s3, bucket, prefix, ref, { ...(database !== undefined ? { database } : {}), databaseHint: DATABASE_HINT });
      const logger = createLogger();
      if (backup.skipped) logger.warn(backup.skipped);
      const started = new Date();
      let result: VerifyResult;
      try {
        result = await verifyBackup({
          s3, bucket, key: backup.key, ...(flags.versionId ? { versionId: flags.versionId } : {}), signal: shutdownSignal(), stallSeconds: stall, logger, decompressor: readingDecompressor(settings, command),
        });
      } catch (err) {
        if (err instanceof VerificationFailed && !flags.versionId) {
          const record = { format: 'meatbackup/verify@1' as const, key: backup.key, ok: false, verifiedAt: started.toISOString(), seconds: (Date.now() - started.getTime()) / 1000, error: err.problems };
          await recordVerifyResult(s3, bucket, record, err.manifest, logger);
        }
        throw err;
      }
      // A check of another version than the pinned one says nothing about the backup: it is not recorded.
      if (!flags.versionId) {
        const record = {
          format: 'meatbackup/verify@1' as const, key: result.key, ok: true, verifiedAt: started.toISOString(), seconds: result.seconds, ...(result.versionId ? { versionId: result.versionId } : {}),
        };
        await recordVerifyResult(s3, bucket, record, result.manifest, logger);
      }
      if (result.overwrittenBy) {
        logger.warn(overwriteWarning(result, bucket));
        process.exitCode = EXIT_OVERWRITTEN;
      }
      if (flags.json) {
        process.stdout.write(`${JSON.stringify({ ok: true, bucket, key: result.key, sizeBytes: result.sizeBytes, sha256: result.sha256, sqlBytes: result.sqlBytes, versionId: result.versionId, ...(result.overwrittenBy ? { overwrittenBy: result.overwrittenBy } : {}), notes: result.notes, globals: result.globals, extensions: result.manifest.catalog?.extensions ?? null, seconds: result.seconds })}\n`);
        return;
      }
      process.stdout.write(
        [
          ...(result.overwrittenBy ? [overwriteWarning(result, bucket)] : []),
          `verified s3://${bucket}/${result.key}`,
          ...(result.versionId ? [`version  ${result.versionId} ${versionSource(result, flags.versionId)}`] : []),
          `size     ${formatBytes(result.sizeBytes)} (${formatBytes(result.sqlBytes)} SQL), as recorded`,
          `sha256   ${result.sha256}, as recorded`,
          `dump     complete (ends with pg_dump's completion line)`,
          `globals  ${result.globals ? `${result.globals.key}, ${formatBytes(result.globals.sizeBytes)}, sha256 as recorded` : 'none recorded (a backup from before globals were stored)'}`,
          `needs    ${formatExtensions(result.manifest.catalog?.extensions)}`,
          ...result.notes.map((note) => `note     ${note}`),
          `took     ${formatDuration(result.seconds)}`,
          '',
        ].join('\n'),
      );
    });
}
