/** `meatbackup delete <key>`: removes one backup and its sidecars for good, unless Object Lock still protects it. */
import { type Command, Option } from 'commander';
import { DEFAULT_PREFIX, ENV } from '../../contract';
import { type DeletePlan, deleteBackup } from '../../backup/delete';
import { backupKeyFromRef } from '../../catalog/resolve';
import { createS3Client, resolveBucket } from '../../storage/s3';
import { stallSeconds } from '../../core/watchdog';
import { usageError } from '../../core/errors';
import { askYes, requireYesOrTerminal } from '../prompt';
import { type Settings, prefixFrom } from '../../settings';

interface DeleteFlags {
  bucket?: string;
  prefix?: string;
  yes?: boolean;
  json?: boolean;
}

function describe(plan: DeletePlan): string {
  const keys = [...new Set(plan.versions.map((v) => v.key))];
  return `${plan.versions.length} object version${plan.versions.length === 1 ? '' : 's'} of ${keys.join(', ')}`;
}

/** --yes, or a y/yes typed on the terminal; without a terminal and without --yes nothing is deleted. */
async function confirmDelete(plan: DeletePlan, yes: boolean | undefined): Promise<boolean> {
  if (yes) return true;
  requireYesOrTerminal(yes, `deleting backup ${plan.key} removes ${describe(plan)} for good: pass --yes to confirm; nothing was deleted`);
  return askYes(`Delete ${describe(plan)} from s3://${plan.bucket} for good? [y/N] `);
}

export function registerDelete(program: Command, settings: Settings): void {
  program
    .command('delete')
    .description('delete a backup and its manifest, globals and restore-test result (every version); refused while Object Lock protects it')
    .argument('<key>', 'a file name (meatdb-2025-09-17T10:30:00.sql.gz) or a full key (backups/…); never "latest"')
    .addOption(new Option('--bucket <name>', `bucket holding the backup (default: $${ENV.bucket})`))
    .addOption(new Option('--prefix <prefix>', `key prefix (default: $${ENV.prefix} or ${DEFAULT_PREFIX})`))
    .addOption(new Option('--yes', 'delete without asking (required without a terminal)'))
    .addOption(new Option('--json', 'print the result as one JSON document'))
    .action(async (ref: string, flags: DeleteFlags) => {
      if (ref.trim() === 'latest') throw usageError('delete needs the backup\'s name, not "latest": see `meatbackup list`; nothing was deleted');
      const bucket = resolveBucket(flags.bucket, settings.bucket);
      const prefix = prefixFrom(flags.prefix, settings);
      const { key } = backupKeyFromRef(ref, prefix);
      const result = await deleteBackup({ s3: createS3Client({ ...settings.aws, stallSeconds: stallSeconds(undefined, settings.stallSeconds) }), bucket, key, confirm: (plan) => confirmDelete(plan, flags.yes) });
      if (flags.json) {
        process.stdout.write(`${JSON.stringify({ ok: true, bucket, key, deleted: result.deleted })}\n`);
        return;
      }
      process.stdout.write(`deleted  s3://${bucket}/${key}: ${describe({ bucket, key, versions: result.deleted })}\n`);
    });
}
