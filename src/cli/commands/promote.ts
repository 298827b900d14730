/**
 * `meatbackup promote --from REPLICA --to BUCKET`: when the primary bucket is lost, copy the replica into a bucket
 * (a new one, or the original name once S3 has freed it). It creates a bucket and writes into it: on a TTY it shows
 * the plan and asks; otherwise it needs --yes. Resumable: run it again after an interruption.
 */
import { type Command, InvalidArgumentError, Option } from 'commander';
import { ENV } from '../../contract';
import { EXIT, UserError, usageError } from '../../core/errors';
import { askYes, requireYesOrTerminal } from '../prompt';
import { createLogger } from '../../core/log';
import { formatBytes, formatDuration, parseSize as parseByteSize } from '../../core/format';
import { shutdownSignal } from '../../core/signals';
import { stallSeconds } from '../../core/watchdog';
import { stallTimeoutOption } from '../stall-timeout';
import type { Engine, PromotionPlan, PromotionResult } from '../../promote/promote';
import { describeProofs } from '../../promote/verify-listing';
import { regionalClients } from '../../promote/regional-clients';
import { type Settings } from '../../settings';

interface PromoteFlags {
  from?: string;
  to?: string;
  region?: string;
  fromRegion?: string;
  engine: Engine;
  concurrency: number;
  multipartThreshold?: number;
  partSize?: number;
  roleArn?: string;
  accountId?: string;
  yes?: boolean;
  json?: boolean;
  stallTimeout?: string;
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive whole number');
  return n;
}

/** Bytes with an optional unit: 5GiB, 64MiB, 8MB, 1048576. */
export function parseSize(value: string): number {
  const bytes = parseByteSize(value);
  if (bytes === undefined) throw new InvalidArgumentError('must be a size such as 5GiB, 64MiB or 1048576');
  return bytes;
}

const n = (x: number) => x.toLocaleString('en-US');

export function describePlan(plan: PromotionPlan): string {
  const lines = [
    `promote s3://${plan.from} -> s3://${plan.to} (engine ${plan.engine})`,
    `  target:        ${plan.targetExists ? 'exists, will be reused' : 'will be created (versioned, public access blocked, encrypted, TLS only)'}`,
    `  replica:       ${n(plan.source.objects)} objects, ${formatBytes(plan.source.bytes)}`,
    `  already there: ${n(plan.alreadyCopied.objects)} objects, ${formatBytes(plan.alreadyCopied.bytes)} (identical, skipped)`,
    `  to copy:       ${n(plan.toCopy.objects)} objects, ${formatBytes(plan.toCopy.bytes)}${plan.multipart.objects ? ` (${n(plan.multipart.objects)} in parts, ${formatBytes(plan.multipart.bytes)})` : ''}`,
  ];
  if (plan.recopy.objects) lines.push(`  copied again:  ${n(plan.recopy.objects)} objects already there whose content nothing proves, or copied from an older version (included above)`);
  if (plan.engine === 'batch') lines.push('  an S3 Batch Operations job copies the rest inside AWS; follow it with meatbackup promote-status JOB');
  return lines.join('\n');
}

export function describeResult(r: PromotionResult): string {
  const lines = [
    `promoted s3://${r.plan.from} -> s3://${r.plan.to}${r.created ? ' (created the bucket)' : ''}`,
    `  copied:   ${n(r.copied.objects)} objects, ${formatBytes(r.copied.bytes)} (${n(r.copied.single)} in one copy, ${n(r.copied.multipart)} in parts; each with its source-ETag record)`,
    `  skipped:  ${n(r.skipped.objects)} objects, ${formatBytes(r.skipped.bytes)} (already identical)`,
  ];
  if (r.vanished.length) lines.push(`  vanished: ${n(r.vanished.length)} objects deleted from the replica during the run (first ${JSON.stringify(r.vanished[0])})`);
  if (r.verification) {
    const v = r.verification;
    lines.push(
      v.ok
        ? `  verified: ${n(v.objects)} objects, ${formatBytes(v.bytes)}: every replica object is in the target, proven by content (${describeProofs(v.proofs)})`
        : `  VERIFICATION FAILED: ${n(v.missing.length)} missing, ${n(v.different.length)} different, ${n(v.extra.length)} extra`,
    );
  }
  if (r.batchJob) lines.push(`  batch job: ${r.batchJob.jobId} (follow it with: meatbackup promote-status ${r.batchJob.jobId}${r.batchJob.region ? ` --region ${r.batchJob.region}` : ''})`);
  // A rate over no copy, or over a few milliseconds, means nothing: say what happened instead.
  if (r.copied.objects === 0) lines.push(`  time:     ${formatDuration(r.totalSeconds)} in all (nothing needed copying)`);
  else if (r.copySeconds < 0.1) lines.push(`  time:     copying took under 0.1s (${formatDuration(r.totalSeconds)} in all)`);
  else {
    lines.push(
      `  throughput: ${r.objectsPerSecond.toFixed(0)} objects/s, ${formatBytes(r.bytesPerSecond)}/s over ${formatDuration(r.copySeconds)} of copying (${formatDuration(r.totalSeconds)} in all)`,
    );
  }
  return lines.join('\n');
}

export function registerPromote(program: Command, settings: Settings): void {
  program
    .command('promote')
    .description('copy every current object of the replica bucket into a new (or empty) bucket, verified; resumable')
    .addOption(new Option('--from <bucket>', `replica bucket to copy from (default: $${ENV.replicaBucket})`))
    .addOption(new Option('--to <bucket>', 'bucket to create, or an empty one to reuse, or the one a stopped run was filling'))
    .addOption(new Option('--region <region>', 'region of the target bucket (default: the SDK region, $AWS_REGION)'))
    .addOption(new Option('--from-region <region>', `region of the replica (default: $${ENV.replicaRegion}, else --region)`))
    .addOption(new Option('--engine <engine>', 'copy: this process copies; batch: an S3 Batch Operations job copies').choices(['copy', 'batch']).default('copy'))
    .addOption(new Option('--concurrency <n>', 'objects copied at once (copy engine)').argParser(positiveInt).default(32))
    .addOption(new Option('--multipart-threshold <size>', 'copy objects larger than this in parts (default 5GiB, S3 CopyObject limit)').argParser(parseSize).hideHelp())
    .addOption(new Option('--part-size <size>', 'part size of multipart copies (default 512MiB)').argParser(parseSize).hideHelp())
    .addOption(new Option('--role-arn <arn>', `role the Batch Operations job runs as (default: $${ENV.batchOperationsRole})`))
    .addOption(new Option('--account-id <id>', `account running the Batch job (default: $${ENV.accountId}, else the role's account)`))
    .addOption(stallTimeoutOption('the copies (S3 copies no object or part); a stalled run is resumed by running it again'))
    .addOption(new Option('--yes', 'do it without asking (required without a TTY)'))
    .addOption(new Option('--json', 'print the result as one JSON document'))
    .action(async (flags: PromoteFlags) => {
      const from = flags.from ?? settings.replica.bucket;
      if (!from) throw usageError(`no replica bucket given: pass --from BUCKET or set ${ENV.replicaBucket}`);
      if (!flags.to) throw usageError('no target bucket given: pass --to BUCKET (a new name, or the original one once S3 has freed it)');
      requireYesOrTerminal(flags.yes, `promote creates bucket ${flags.to} and writes into it: pass --yes to confirm (there is no TTY to ask on); nothing was changed`);
      const logger = createLogger({ quiet: flags.json === true });
      const stall = stallSeconds(flags.stallTimeout, settings.stallSeconds);
      const fromRegion = flags.fromRegion ?? settings.replica.region ?? flags.region;
      const options = {
        from,
        to: flags.to,
        engine: flags.engine,
        concurrency: flags.concurrency,
        logger,
        signal: shutdownSignal(),
        stallSeconds: stall,
        ...(flags.region ? { region: flags.region } : {}),
        ...(fromRegion ? { fromRegion } : {}),
        clientForRegion: regionalClients({ ...settings.aws, stallSeconds: stall }),
        tuning: {
          ...(flags.multipartThreshold ? { multipartThreshold: flags.multipartThreshold } : {}),
          ...(flags.partSize ? { partSize: flags.partSize } : {}),
        },
        batch: {
          ...((flags.roleArn ?? settings.promotion.batchOperationsRole) ? { roleArn: flags.roleArn ?? settings.promotion.batchOperationsRole } : {}),
          ...((flags.accountId ?? settings.promotion.accountId) ? { accountId: flags.accountId ?? settings.promotion.accountId } : {}),
        },
      };
      // Loaded here, not at start: promotion brings the S3 Control client, which no other command needs.
      const { conflictMessage, planPromotion, runPromotion } = await import('../../promote/promote.js');
      const prepared = await planPromotion(options);
      const { plan } = prepared;
      const conflict = conflictMessage(plan);
      if (conflict) throw new UserError(conflict, EXIT.failed);
      if (!flags.yes) {
        process.stderr.write(`${describePlan(plan)}\n`);
        if (!(await askYes(`go ahead? type yes to promote into ${plan.to}: `))) throw new UserError('not confirmed: nothing was changed', EXIT.failed);
      }
      const result = await runPromotion(options, prepared);
      process.stdout.write(flags.json ? `${JSON.stringify(result)}\n` : `${describeResult(result)}\n`);
      const v = result.verification;
      if (v && !v.ok) {
        const first = v.missing[0] ?? v.different[0] ?? v.extra[0];
        throw new UserError(
          `verification failed: ${v.missing.length} missing, ${v.different.length} different, ${v.extra.length} extra (first ${JSON.stringify(first)}): run the same command again to copy what is missing`,
          EXIT.failed,
        );
      }
    });
}
