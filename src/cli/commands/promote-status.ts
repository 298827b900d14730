/** `meatbackup promote-status JOB`: where an S3 Batch Operations promotion job is; non-zero once it failed. */
import { type Command, Option } from 'commander';
import { ENV } from '../../contract';
import { EXIT, UserError } from '../../core/errors';
import { formatDuration } from '../../core/format';
import type { JobReport } from '../../promote/batch-job';
import { type Settings } from '../../settings';

interface StatusFlags {
  region?: string;
  accountId?: string;
  wait?: boolean;
  interval: number;
  json?: boolean;
}

export function describeJob(r: JobReport): string {
  const lines = [`job ${r.jobId}: ${r.status}${r.reason ? ` (${r.reason})` : ''}`];
  if (r.totalTasks !== undefined) {
    lines.push(`  tasks: ${r.succeeded} succeeded, ${r.failedTasks} failed of ${r.totalTasks}${r.percent !== undefined ? ` (${r.percent}%)` : ''}`);
  }
  if (r.elapsedSeconds !== undefined) lines.push(`  running for ${formatDuration(r.elapsedSeconds)}`);
  for (const f of r.failures) lines.push(`  failure: ${f.code ?? '?'}: ${f.reason ?? ''}`);
  if (r.report) lines.push(`  report: ${r.report}`);
  if (r.finished && !r.failed) lines.push('  done: run `meatbackup promote` with the same --from/--to and --engine copy to verify both listings');
  return lines.join('\n');
}

export function registerPromoteStatus(program: Command, settings: Settings): void {
  program
    .command('promote-status')
    .description('show an S3 Batch Operations promotion job: status, progress, failures and report; non-zero if it failed')
    .argument('<job>', 'job id printed by `meatbackup promote --engine batch`')
    .addOption(new Option('--region <region>', 'region the job runs in (the target bucket region; default: $AWS_REGION)'))
    .addOption(new Option('--account-id <id>', `account the job belongs to (default: $${ENV.accountId}, else the role in $${ENV.batchOperationsRole})`))
    .addOption(new Option('--wait', 'poll until the job finishes'))
    .addOption(new Option('--interval <seconds>', 'seconds between polls with --wait').argParser(Number).default(15))
    .addOption(new Option('--json', 'print the result as one JSON document'))
    .action(async (job: string, flags: StatusFlags) => {
      // Loaded here, not at start: the S3 Control client is this command's alone.
      const { createS3ControlClient, describeBatchJob, resolveAccountId } = await import('../../promote/batch-job.js');
      const accountId = resolveAccountId(flags.accountId, settings.promotion.batchOperationsRole, settings.promotion.accountId);
      const control = createS3ControlClient(flags.region ?? settings.aws.region);
      let report = await describeBatchJob(control, accountId, job);
      while (flags.wait && !report.finished) {
        if (!flags.json) process.stderr.write(`${report.status} ${report.percent ?? 0}%\n`);
        await new Promise((r) => setTimeout(r, Math.max(1, flags.interval) * 1000));
        report = await describeBatchJob(control, accountId, job);
      }
      process.stdout.write(flags.json ? `${JSON.stringify(report)}\n` : `${describeJob(report)}\n`);
      if (report.failed) {
        throw new UserError(`job ${job} ${report.status === 'Complete' ? `finished with ${report.failedTasks} failed task(s)` : report.status.toLowerCase()}: see ${report.report ?? 'the job report'}; rerun meatbackup promote --engine copy to copy what is missing`, EXIT.failed);
      }
    });
}
