/**
 * `meatbackup retention`: deletes the backups the stacks' lifecycle rules would have expired, where no rule does
 * (src/backup/expire.ts). The Compose scheduler runs it daily (SCHEDULE_RETENTION) as `retention --yes --json`.
 */
import { type Command, Option } from 'commander';
import { DEFAULT_PREFIX, DEFAULT_RETENTION_DAYS, ENV, formatRetentionDays } from '../../contract';
import { UserError } from '../../core/errors';
import { type RetentionResult, applyRetention } from '../../backup/expire';
import { createS3Client, resolveBucket } from '../../storage/s3';
import { stallSeconds } from '../../core/watchdog';
import { askYes, requireYesOrTerminal } from '../prompt';
import { type Settings, prefixFrom } from '../../settings';

interface RetentionFlags {
  bucket?: string;
  prefix?: string;
  dryRun?: boolean;
  yes?: boolean;
  json?: boolean;
}

function human(r: RetentionResult): string {
  const lines = [r.summary];
  for (const e of r.expired) lines.push(`${e.outcome.padEnd(8)}  ${e.key} (${e.class ?? 'untagged'}, expired ${e.expired.slice(0, 10)})${e.why ? `: ${e.why}` : ''}`);
  return `${lines.join('\n')}\n`;
}

export function registerRetention(program: Command, settings: Settings): void {
  program
    .command('retention')
    .description(
      `delete the backups past their class's days ($${ENV.retentionDays}, default ${formatRetentionDays(DEFAULT_RETENTION_DAYS)}, as the stacks set it), as the stacks' lifecycle rules expire them, for a bucket without such rules; never the newest backup of a database, never one under Object Lock; nothing when the bucket's own lifecycle rules expire backups`,
    )
    .addOption(new Option('--bucket <name>', `bucket (default: $${ENV.bucket})`))
    .addOption(new Option('--prefix <prefix>', `key prefix (default: $${ENV.prefix} or ${DEFAULT_PREFIX})`))
    .addOption(new Option('--dry-run', 'list what would be deleted, delete nothing'))
    .addOption(new Option('--yes', 'delete without asking (required without a terminal, unless --dry-run)'))
    .addOption(new Option('--json', 'print the result as one JSON document'))
    .action(async (flags: RetentionFlags) => {
      // The classes BACKUP_RETENTION_DAYS leaves out keep the stacks' defaults.
      const days = { ...DEFAULT_RETENTION_DAYS, ...settings.backup.retentionDays };
      if (days.weekly < days.daily || days.monthly < days.weekly) {
        throw new UserError(`${ENV.retentionDays}=${formatRetentionDays(days)}: a weekly backup is kept at least as long as a daily one, a monthly one at least as long as a weekly one; nothing was deleted`, 2);
      }
      const ask = !flags.dryRun && !flags.yes;
      if (ask) requireYesOrTerminal(flags.yes, 'retention deletes expired backups for good: pass --yes to confirm, or --dry-run to see them; nothing was deleted');
      const bucket = resolveBucket(flags.bucket, settings.bucket);
      const prefix = prefixFrom(flags.prefix, settings);
      const s3 = createS3Client({ ...settings.aws, stallSeconds: stallSeconds(undefined, settings.stallSeconds) });
      if (ask) {
        const plan = await applyRetention({ s3, bucket, prefix, days, dryRun: true });
        process.stdout.write(human(plan));
        const n = plan.expired.length;
        if (n === 0) return;
        if (!(await askYes(`Delete ${n} expired backup${n === 1 ? '' : 's'} and their sidecars from s3://${bucket} for good? [y/N] `))) throw new UserError('retention cancelled: nothing was deleted');
      }
      const result = await applyRetention({ s3, bucket, prefix, days, dryRun: flags.dryRun ?? false });
      process.stdout.write(flags.json ? `${JSON.stringify(result)}\n` : human(result));
      if (!result.ok) throw new UserError(result.summary);
    });
}
