/** `meatbackup verify <key|latest>`: re-reads a stored backup and checks it against its manifest. */
import { type Command, Option } from 'commander';
import { DEFAULT_PREFIX, ENV, normalizePrefix } from '../../contract';
import { verifyBackup } from '../../backup/verify';
import { resolveBackupRef } from '../../catalog/resolve';
import { createS3Client, resolveBucket } from '../../storage/s3';
import { createLogger } from '../../core/log';
import { formatBytes, formatDuration } from '../../core/format';
import { shutdownSignal } from '../../core/signals';
import { DATABASE_HINT, configuredDatabase, databaseOption } from '../database';

interface VerifyFlags {
  database?: string;
  bucket?: string;
  prefix?: string;
  versionId?: string;
  json?: boolean;
}

export function registerVerify(program: Command): void {
  program
    .command('verify')
    .description("re-read a backup and check its sha256 and size against its manifest, every gzip member, pg_dump's completion line, and its globals object's sha256")
    .argument('<key>', '"latest" (the newest backup of --database), a file name (meatdb-2025-09-17T10:30:00.sql.gz) or a full key (backups/…)')
    .addOption(new Option('--bucket <name>', `bucket holding the backup (default: $${ENV.bucket})`))
    .addOption(databaseOption('whose newest backup "latest" is'))
    .addOption(new Option('--prefix <prefix>', `key prefix (default: $${ENV.prefix} or ${DEFAULT_PREFIX})`))
    .addOption(new Option('--version-id <id>', 'check this version of the backup object instead of the current one (e.g. the version its manifest records)'))
    .addOption(new Option('--json', 'print the result as one JSON document'))
    .action(async (ref: string, flags: VerifyFlags) => {
      const bucket = resolveBucket(flags.bucket);
      const prefix = normalizePrefix(flags.prefix ?? process.env[ENV.prefix] ?? DEFAULT_PREFIX);
      const s3 = createS3Client();
      const database = configuredDatabase(flags.database);
      const backup = await resolveBackupRef(s3, bucket, prefix, ref, { ...(database !== undefined ? { database } : {}), databaseHint: DATABASE_HINT });
      const result = await verifyBackup({
        s3, bucket, key: backup.key, ...(flags.versionId ? { versionId: flags.versionId } : {}), signal: shutdownSignal(), logger: createLogger(),
      });
      if (flags.json) {
        process.stdout.write(`${JSON.stringify({ ok: true, bucket, key: result.key, sizeBytes: result.sizeBytes, sha256: result.sha256, sqlBytes: result.sqlBytes, versionId: result.versionId, globals: result.globals, seconds: result.seconds })}\n`);
        return;
      }
      process.stdout.write(
        [
          `verified s3://${bucket}/${result.key}`,
          `size     ${formatBytes(result.sizeBytes)} (${formatBytes(result.sqlBytes)} SQL), as recorded`,
          `sha256   ${result.sha256}, as recorded`,
          `dump     complete (ends with pg_dump's completion line)`,
          `globals  ${result.globals ? `${result.globals.key}, ${formatBytes(result.globals.sizeBytes)}, sha256 as recorded` : 'none recorded (a backup from before globals were stored)'}`,
          `took     ${formatDuration(result.seconds)}`,
          '',
        ].join('\n'),
      );
    });
}
