/** `meatbackup list`: the backups in the bucket, newest first, with what their manifests recorded. */
import { type Command, Option } from 'commander';
import { DEFAULT_PREFIX, ENV, normalizePrefix } from '../../contract';
import { type BackupEntry, listBackups } from '../../catalog/catalog';
import { createS3Client, resolveBucket } from '../../storage/s3';
import { formatAge, formatBytes } from '../log';

interface ListFlags {
  bucket?: string;
  prefix?: string;
  json?: boolean;
}

function row(entry: BackupEntry, now: Date): string[] {
  const m = entry.manifest;
  return [
    entry.key,
    formatBytes(entry.sizeBytes),
    formatAge(entry.takenAt, now),
    m ? `sha256 ${m.sha256.slice(0, 12)}` : 'no manifest',
    m ? `${m.serverVersion} / ${m.pgDumpVersion}` : '-',
  ];
}

export function formatTable(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]))).join('  ')).join('\n');
}

export function registerList(program: Command): void {
  program
    .command('list')
    .description('list the backups in the bucket, newest first, with size, age and their recorded checksum and versions')
    .addOption(new Option('--bucket <name>', `bucket to list (default: $${ENV.bucket})`))
    .addOption(new Option('--prefix <prefix>', `key prefix (default: $${ENV.prefix} or ${DEFAULT_PREFIX})`))
    .addOption(new Option('--json', 'print the result as one JSON document'))
    .action(async (flags: ListFlags) => {
      const bucket = resolveBucket(flags.bucket);
      const prefix = normalizePrefix(flags.prefix ?? process.env[ENV.prefix] ?? DEFAULT_PREFIX);
      const entries = await listBackups(createS3Client(), bucket, prefix);
      if (flags.json) {
        const backups = entries.map((e) => ({
          key: e.key,
          database: e.database,
          takenAt: e.takenAt.toISOString(),
          sizeBytes: e.sizeBytes,
          ...(e.lastModified ? { lastModified: e.lastModified.toISOString() } : {}),
          ...(e.storageClass ? { storageClass: e.storageClass } : {}),
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
      process.stdout.write(`${formatTable([['KEY', 'SIZE', 'AGE', 'VERIFIED', 'SERVER / PG_DUMP'], ...entries.map((e) => row(e, now))])}\n`);
    });
}
