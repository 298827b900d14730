/** `meatbackup list`: the backups in the bucket, newest first, with what their manifests recorded and when they go. */
import { type Command, Option } from 'commander';
import { DEFAULT_PREFIX, ENV, normalizePrefix } from '../../contract';
import { type BackupEntry, listBackups } from '../../catalog/catalog';
import { type RetentionInfo, describeRetention, readLifecycleRules } from '../../catalog/expiry';
import { formatUtc } from '../../backup/retention';
import { createS3Client, resolveBucket } from '../../storage/s3';
import { createLogger } from '../../core/log';
import { formatAge, formatBytes, formatTable } from '../../core/format';

interface ListFlags {
  bucket?: string;
  prefix?: string;
  json?: boolean;
}

function expiryCell(info: RetentionInfo): string {
  if (info.expires === undefined) return 'unknown';
  return info.expires === null ? 'no rule' : info.expires.toISOString().slice(0, 10);
}

function row(entry: BackupEntry, info: RetentionInfo, now: Date): string[] {
  const m = entry.manifest;
  return [
    entry.key,
    formatBytes(entry.sizeBytes),
    formatAge(entry.takenAt, now),
    info.class ?? '-',
    expiryCell(info),
    info.lockedUntil ? formatUtc(info.lockedUntil) : '-',
    m ? `sha256 ${m.sha256.slice(0, 12)}` : 'no manifest',
    m ? `${m.serverVersion} / ${m.pgDumpVersion}` : '-',
  ];
}

export function registerList(program: Command): void {
  program
    .command('list')
    .description('list the backups in the bucket, newest first, with size, age, retention class, expiry (from the lifecycle rules), Object Lock date, and their recorded checksum and versions')
    .addOption(new Option('--bucket <name>', `bucket to list (default: $${ENV.bucket})`))
    .addOption(new Option('--prefix <prefix>', `key prefix (default: $${ENV.prefix} or ${DEFAULT_PREFIX})`))
    .addOption(new Option('--json', 'print the result as one JSON document'))
    .action(async (flags: ListFlags) => {
      const bucket = resolveBucket(flags.bucket);
      const prefix = normalizePrefix(flags.prefix ?? process.env[ENV.prefix] ?? DEFAULT_PREFIX);
      const s3 = createS3Client();
      const [entries, lifecycle] = await Promise.all([listBackups(s3, bucket, prefix), readLifecycleRules(s3, bucket)]);
      if (lifecycle.unreadable) createLogger().warn(`${lifecycle.unreadable}: expiry dates are unknown`);
      const retention = await describeRetention(s3, bucket, entries, lifecycle);
      if (flags.json) {
        const backups = entries.map((e, i) => ({
          key: e.key,
          database: e.database,
          takenAt: e.takenAt.toISOString(),
          sizeBytes: e.sizeBytes,
          ...(e.lastModified ? { lastModified: e.lastModified.toISOString() } : {}),
          ...(e.storageClass ? { storageClass: e.storageClass } : {}),
          retention: {
            class: retention[i].class ?? null,
            expires: retention[i].expires === undefined ? 'unknown' : (retention[i].expires?.toISOString() ?? null),
            ...(retention[i].expiryRule ? { expiryRule: retention[i].expiryRule } : {}),
            lockedUntil: retention[i].lockedUntil?.toISOString() ?? null,
          },
          verified: e.manifest !== undefined,
          ...(e.manifest ? { manifest: e.manifest } : {}),
        }));
        process.stdout.write(`${JSON.stringify({ bucket, prefix, backups })}\n`);
        return;
      }
      if (entries.length === 0) {
        process.stdout.write(`no backups under s3://${bucket}/${prefix}\n`);
        return;
      }
      const now = new Date();
      const header = ['KEY', 'SIZE', 'AGE', 'CLASS', 'EXPIRES', 'LOCKED UNTIL', 'VERIFIED', 'SERVER / PG_DUMP'];
      process.stdout.write(`${formatTable([header, ...entries.map((e, i) => row(e, retention[i], now))])}\n`);
    });
}
