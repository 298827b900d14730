/** `meatbackup list`: the backups in the bucket, newest first, with what their manifests recorded and when they go. */
import { type Command, Option } from 'commander';
import { DEFAULT_PREFIX, ENV } from '../../contract';
import { type BackupCheck, type BackupEntry, listBackups, sizeCheck } from '../../catalog/catalog';
import { type RetentionInfo, describeRetention, readLifecycleRules } from '../../catalog/expiry';
import { formatUtc } from '../../backup/retention';
import { createS3Client, resolveBucket } from '../../storage/s3';
import { stallSeconds } from '../../core/watchdog';
import { stallTimeoutOption } from '../stall-timeout';
import { createLogger } from '../../core/log';
import { formatBytes, formatListedAge, formatTable } from '../../core/format';
import { zlibFallbackNote } from '../decompressor';
import { sayLackedProtections, seenInManifest } from '../../storage/bucket-protection';
import { type Settings, prefixFrom } from '../../settings';

interface ListFlags {
  bucket?: string;
  prefix?: string;
  json?: boolean;
  stallTimeout?: string;
}

function expiryCell(info: RetentionInfo): string {
  if (info.expires === undefined) return 'unknown';
  return info.expires === null ? 'no rule' : info.expires.toISOString().slice(0, 10);
}

/** The listed size against the manifest's: no byte is read, so it is labelled as exactly that. */
function sizeCell(entry: BackupEntry): string {
  switch (sizeCheck(entry)) {
    case 'matches-manifest':
      return 'size as recorded';
    case 'differs-from-manifest':
      return `SIZE DIFFERS (manifest ${formatBytes(entry.manifest!.sizeBytes)}): do not restore, run verify`;
    case 'manifest-unreadable':
      return `MANIFEST UNREADABLE: ${entry.manifestProblem}`;
    default:
      return 'no manifest';
  }
}

function checkCell(check: BackupCheck | undefined): string {
  if (!check) return 'never';
  const what = check.kind === 'verify' ? 'verify' : 'restore test';
  return `${what} ${check.ok ? 'passed' : check.cannotTest ? 'CANNOT RUN' : 'FAILED'}${check.at ? ` ${check.at.slice(0, 10)}` : ''}`;
}

function row(entry: BackupEntry, info: RetentionInfo, now: Date): string[] {
  const m = entry.manifest;
  return [
    entry.key,
    formatBytes(entry.sizeBytes),
    formatListedAge(entry.takenAt, now),
    info.class ?? '-',
    expiryCell(info),
    info.lockedUntil ? formatUtc(info.lockedUntil) : '-',
    sizeCell(entry),
    checkCell(entry.lastCheck),
    m ? `${m.serverVersion} / ${m.pgDumpVersion}` : '-',
  ];
}

export function registerList(program: Command, settings: Settings): void {
  program
    .command('list')
    .description('list the backups in the bucket, newest first, with size, age, retention class, expiry (from the lifecycle rules), Object Lock date, the listed size against the manifest\'s, the latest verify or restore test, and the versions that made them')
    .addOption(new Option('--bucket <name>', `bucket to list (default: $${ENV.bucket})`))
    .addOption(new Option('--prefix <prefix>', `key prefix (default: $${ENV.prefix} or ${DEFAULT_PREFIX})`))
    .addOption(stallTimeoutOption('every S3 request of the listing and the manifests'))
    .addOption(new Option('--json', 'print the result as one JSON document'))
    .action(async (flags: ListFlags) => {
      const bucket = resolveBucket(flags.bucket, settings.bucket);
      const prefix = prefixFrom(flags.prefix, settings);
      const s3 = createS3Client({ ...settings.aws, stallSeconds: stallSeconds(flags.stallTimeout, settings.stallSeconds) });
      const [entries, lifecycle] = await Promise.all([listBackups(s3, bucket, prefix), readLifecycleRules(s3, bucket)]);
      if (lifecycle.unreadable) createLogger().warn(`${lifecycle.unreadable}: expiry dates are unknown`);
      const retention = await describeRetention(s3, bucket, entries, lifecycle);
      const newest = entries.find((e) => e.manifest)?.manifest;
      if (newest) sayLackedProtections(createLogger(), bucket, seenInManifest(newest));
      if (flags.json) {
        const backups = entries.map((e, i) => ({
          key: e.key,
          database: e.database,
          takenAt: e.takenAt.toISOString(),
          // Stamped later than now (a wrong clock, a name made by hand): `latest` passes it over.
          ...(e.takenAt.getTime() > Date.now() ? { inFuture: true } : {}),
          sizeBytes: e.sizeBytes,
          ...(e.lastModified ? { lastModified: e.lastModified.toISOString() } : {}),
          ...(e.storageClass ? { storageClass: e.storageClass } : {}),
          retention: {
            class: retention[i].class ?? null,
            expires: retention[i].expires === undefined ? 'unknown' : (retention[i].expires?.toISOString() ?? null),
            ...(retention[i].expiryRule ? { expiryRule: retention[i].expiryRule } : {}),
            lockedUntil: retention[i].lockedUntil?.toISOString() ?? null,
          },
          sizeCheck: sizeCheck(e),
          ...(e.manifestProblem ? { manifestProblem: e.manifestProblem } : {}),
          lastCheck: e.lastCheck ?? null,
          // What the backup's CREATE EXTENSIONs need where it is loaded; null: not recorded (an older backup).
          extensions: e.manifest?.catalog?.extensions ?? null,
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
      const fallback = zlibFallbackNote(settings);
      const header = ['KEY', 'SIZE', 'AGE', 'CLASS', 'EXPIRES', 'LOCKED UNTIL', 'SIZE CHECK', 'LAST CHECK', 'SERVER / PG_DUMP'];
      process.stdout.write(`${formatTable([header, ...entries.map((e, i) => row(e, retention[i], now))])}\n${fallback ? `\n${fallback}\n` : ''}`);
    });
}
