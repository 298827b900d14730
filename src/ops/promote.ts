/**
 * The ops Lambda's `promote` action, once its adapter has validated the event:
 * `{"action": "promote", "from"?: BUCKET, "to"?: BUCKET, "region"?: REGION, "engine"?: "copy" | "batch", "confirm"?: true}`,
 * the runbook's step 2.2, answered by the promotion function in the replica region (it keeps working while the primary
 * region is down). `from` is the replica (REPLICA_BUCKET); `to` defaults to the original primary name (BACKUP_BUCKET:
 * copy back under the original name once S3 has freed it), or names a new bucket under the project's prefix.
 * `region` is where the target lives (is created): by default the primary region (PRIMARY_REGION) for the original
 * name, this function's region (the replica's) for any other name. The replica is read with a client in its region and
 * the target written with one in the target's region.
 *
 * Without `"confirm": true` it answers the plan (counts, bytes, whether the target exists, conflicts) and changes
 * nothing. Confirmed: the copy engine copies and verifies in this run; the batch engine submits an S3 Batch Operations
 * job and answers its id and how to follow it.
 *
 * One run has the Lambda's 15 minutes. A plan whose copying would take longer than {@link RUN_LIMITS} allows says so
 * (use `"engine": "batch"` or the CLI) and is refused when confirmed; a confirmed copy stops scheduling copies after
 * 12 minutes so it can still answer, and the same event sent again resumes (objects proven identical are skipped).
 *
 * The primary region's ops function runs the same handler without the Batch role in its environment: there `promote`
 * answers where promotion runs instead.
 */
import { ENV, type OpsEvent, isPromotionTarget } from '../contract';
import { UserError } from '../core/errors';
import { formatBytes, formatDuration } from '../core/format';
import { createLogger } from '../core/log';
import { createS3ControlClient, describeBatchJob } from '../promote/batch-job';
import { type PromotionOptions, type PromotionPlan, type PromotionResult, conflictMessage, planPromotion, runPromotion } from '../promote/promote';
import { regionalClients } from '../promote/regional-clients';
import { describeProofs } from '../promote/verify-listing';
import { type Settings, required } from '../settings';
import type { OpsContext } from './context';

export type PromoteEvent = Extract<OpsEvent, { action: 'promote' }>;

/** What the action answers; the Lambda returns it as it is. */
export type PromoteAnswer = ({ ok: true; action: 'promote' } & Record<string, unknown>) | { ok: false; action: 'promote'; error: string };

/** The function's settings, and the S3 client of a region (@default one client per region from the storage layer). */
export type PromoteDeps = Pick<OpsContext, 'settings' | 's3ForRegion'>;

export interface RunLimits {
  /** When a confirmed copy stops scheduling copies: the 15 minutes less time to finish those under way, verify, answer. */
  copyDeadlineSeconds: number;
  /** The longest estimated copy a run accepts. */
  budgetSeconds: number;
  /** Assumed copy rates of one run (32 server-side copies at once, same region): deliberately conservative. */
  objectsPerSecond: number;
  bytesPerSecond: number;
}

export const RUN_LIMITS: RunLimits = {
  copyDeadlineSeconds: 12 * 60,
  budgetSeconds: 10 * 60,
  objectsPerSecond: 200,
  bytesPerSecond: 200 * 1024 ** 2,
};

/** Seconds of copying this run would do: everything for the copy engine, the objects over 5 GiB for the batch engine. */
export function estimateCopySeconds(plan: PromotionPlan, limits: RunLimits = RUN_LIMITS): number {
  const work = plan.engine === 'batch' ? plan.multipart : plan.toCopy;
  return Math.round(work.objects / limits.objectsPerSecond + work.bytes / limits.bytesPerSecond);
}

const n = (x: number) => x.toLocaleString('en-US');
/** How src/promote's messages name the target: by the event's field. */
const TO = '"to"';

/** Why the plan does not fit one run of this function, and what to use instead; undefined when it fits. */
function tooLargeForOneRun(plan: PromotionPlan, region: string, limits: RunLimits): string | undefined {
  const seconds = estimateCopySeconds(plan, limits);
  if (seconds <= limits.budgetSeconds) return undefined;
  const cli = `meatbackup promote --from ${plan.from} --to ${plan.to} --region ${region}`;
  const budget = formatDuration(limits.budgetSeconds);
  if (plan.engine === 'batch') {
    return (
      `too large for one run of this function: ${n(plan.multipart.objects)} object(s) over 5 GiB (${formatBytes(plan.multipart.bytes)}) ` +
      `are copied in parts by the caller, about ${formatDuration(seconds)} (one run allows ${budget}); run the CLI, which has no time limit: ${cli} --engine batch`
    );
  }
  return (
    `too large for one run of this function: ${n(plan.toCopy.objects)} objects (${formatBytes(plan.toCopy.bytes)}) to copy, about ` +
    `${formatDuration(seconds)} (one run allows ${budget}); send "engine": "batch" (an S3 Batch Operations job copies inside AWS), ` +
    `or run the CLI, which has no time limit: ${cli} [--engine batch]`
  );
}

/** The primary region's ops function has no Batch role: promotion is the replica region's function's job. */
function promotionRunsElsewhere(settings: Settings): PromoteAnswer {
  const name = settings.promotion.functionName;
  const region = settings.replica.region;
  return {
    ok: false,
    action: 'promote',
    error:
      `promote runs from the promotion function in the replica region${region ? ` (${region})` : ''}, which keeps working ` +
      `while this region is down: invoke ${name ? `function ${name}` : "the replica stack's PromoteFunctionName output"}` +
      `${region ? ` in ${region}` : ''} with this same event; nothing was started`,
  };
}

function targetText(plan: PromotionPlan, region: string): string {
  return plan.targetExists
    ? 'exists: reused (versioning, public access block, default encryption and the TLS-only policy are added where missing)'
    : `will be created in ${region}: versioned, public access blocked, encrypted (SSE-S3), TLS-only policy`;
}

function planAnswer(plan: PromotionPlan, region: string, limits: RunLimits): PromoteAnswer {
  const problem = conflictMessage(plan, TO) ?? tooLargeForOneRun(plan, region, limits);
  const confirmWith = { action: 'promote', from: plan.from, to: plan.to, region, engine: plan.engine, confirm: true };
  return {
    ok: true,
    action: 'promote',
    confirmed: false,
    message: problem
      ? `nothing was changed; this promotion cannot run here as asked: ${problem}`
      : `nothing was changed; add "confirm": true to promote ${plan.from} into ${plan.to} (${plan.engine} engine)`,
    ...(problem ? {} : { confirmWith }),
    fitsOneRun: tooLargeForOneRun(plan, region, limits) === undefined,
    estimatedCopySeconds: estimateCopySeconds(plan, limits),
    region,
    target: targetText(plan, region),
    plan,
  };
}

function copyAnswer(result: PromotionResult, region: string): PromoteAnswer {
  const v = result.verification;
  if (!v) throw new Error('the copy engine returned no verification');
  if (!v.ok) {
    const first = v.missing[0] ?? v.different[0] ?? v.extra[0];
    throw new UserError(
      `verification failed after copying: ${v.missing.length} missing, ${v.different.length} different, ${v.extra.length} extra ` +
        `(first ${JSON.stringify(first)}): send the same event again to copy what is missing`,
    );
  }
  const { plan } = result;
  return {
    ok: true,
    action: 'promote',
    confirmed: true,
    message:
      `promoted s3://${plan.from} into s3://${plan.to}${result.created ? ` (created in ${region})` : ''}: ${n(v.objects)} objects, ` +
      `${formatBytes(v.bytes)} verified by content (${describeProofs(v.proofs)}); ${n(result.copied.objects)} copied, ` +
      `${n(result.skipped.objects)} already identical`,
    engine: 'copy',
    from: plan.from,
    to: plan.to,
    region,
    created: result.created,
    hardening: result.hardening,
    copied: result.copied,
    skipped: result.skipped,
    vanished: result.vanished,
    verification: v,
    seconds: Math.round(result.totalSeconds * 10) / 10,
    objectsPerSecond: Math.round(result.objectsPerSecond),
    bytesPerSecond: Math.round(result.bytesPerSecond),
  };
}

async function batchAnswer(result: PromotionResult, region: string): Promise<PromoteAnswer> {
  const job = result.batchJob;
  if (!job) throw new Error('the batch engine returned no job');
  const { plan } = result;
  // One look at the job: it exists and what S3 says of it now (New, Preparing, …). Following it is promote-status's.
  const status = await describeBatchJob(createS3ControlClient(region), job.accountId, job.jobId).then(
    (report) => report.status,
    () => undefined,
  );
  const follow = `meatbackup promote-status ${job.jobId} --region ${region} --wait`;
  return {
    ok: true,
    action: 'promote',
    confirmed: true,
    message:
      `S3 Batch Operations job ${job.jobId} submitted${status ? ` (${status})` : ''}: it copies s3://${plan.from} into s3://${plan.to} inside AWS` +
      `${result.copied.multipart ? `; this run copied the ${n(result.copied.multipart)} object(s) over 5 GiB in parts` : ''}. ` +
      `Follow it with: ${follow} (or the S3 console, Batch Operations, ${region}); failed tasks are reported under ` +
      `s3://${plan.to}/meatbackup-promote/. Once it is Complete, verify both listings: send this event again with "engine": "copy" ` +
      `(if the plan fits one run) or run meatbackup promote --from ${plan.from} --to ${plan.to} --region ${region} --yes`,
    engine: 'batch',
    from: plan.from,
    to: plan.to,
    region,
    created: result.created,
    hardening: result.hardening,
    batchJob: { ...job, ...(status ? { status } : {}) },
    follow,
    copiedInParts: { objects: result.copied.multipart, bytes: result.copied.bytes },
  };
}

/** Where the target lives: the event's region, else the primary region for the original name, else this region. */
export function targetRegion(event: PromoteEvent, settings: Pick<Settings, 'bucket' | 'primaryRegion'>, to: string, home: string): string {
  if (event.region) return event.region;
  if (to !== settings.bucket) return home;
  const primary = settings.primaryRegion;
  if (!primary) {
    throw new UserError(`"to" is the original bucket name ${to}, but this deployment does not know the primary region (no ${ENV.primaryRegion}): send "region" with it; nothing was started`);
  }
  return primary;
}

/** The action with its limits given (tests shorten them); the Lambda uses {@link RUN_LIMITS}. */
export async function promoteWithin(event: PromoteEvent, deps: PromoteDeps, limits: RunLimits = RUN_LIMITS): Promise<PromoteAnswer> {
  const started = Date.now();
  const { settings } = deps;
  const roleArn = settings.promotion.batchOperationsRole;
  if (!roleArn) return promotionRunsElsewhere(settings);
  const replica = required(settings.replica.bucket, ENV.replicaBucket);
  const home = required(settings.replica.region, ENV.replicaRegion);
  const from = event.from ?? replica;
  const to = event.to ?? required(settings.bucket, ENV.bucket);
  if (from !== replica) {
    return {
      ok: false,
      action: 'promote',
      error: `"from" must be the replica bucket ${replica}, the only bucket this function may read; nothing was started (copy from another bucket with the CLI: meatbackup promote --from BUCKET --to BUCKET)`,
    };
  }
  const targets = settings.promotion.targets;
  if (targets && !isPromotionTarget(to, targets)) {
    return {
      ok: false,
      action: 'promote',
      error:
        `"to" must be ${targets.join(' or ')}: the only buckets this function and its Batch role may create and write; ` +
        `nothing was started (name a new bucket ${targets.find((t) => t.endsWith('*')) ?? targets[0]}, or promote elsewhere with the CLI as an operator)`,
    };
  }
  const region = targetRegion(event, settings, to, home);
  const accountId = settings.promotion.accountId;
  const clients = regionalClients(settings.aws);
  const s3ForRegion = deps.s3ForRegion ?? ((r: string) => clients(r));
  const options: PromotionOptions = {
    from,
    to,
    engine: event.engine ?? 'copy',
    region,
    fromRegion: home,
    clients: { source: s3ForRegion(home), target: s3ForRegion(region) },
    logger: createLogger({ tty: false }),
    batch: { roleArn, ...(accountId ? { accountId } : {}) },
    flags: { from: '"from"', to: TO },
  };

  const prepared = await planPromotion(options);
  const { plan } = prepared;
  if (event.confirm !== true) return planAnswer(plan, region, limits);

  const conflict = conflictMessage(plan, TO);
  if (conflict) throw new UserError(conflict);
  const tooLarge = tooLargeForOneRun(plan, region, limits);
  if (tooLarge) throw new UserError(`${tooLarge}; nothing was started`);

  const signal = AbortSignal.timeout(Math.max(1, started + limits.copyDeadlineSeconds * 1000 - Date.now()));
  let copied = 0;
  let result: PromotionResult;
  try {
    result = await runPromotion({ ...options, signal, onCopied: () => (copied += 1) }, prepared);
  } catch (err) {
    if (!signal.aborted) throw err;
    throw new UserError(
      `stopped after ${formatDuration((Date.now() - started) / 1000)} to answer within the function's time limit: ${n(copied)} of ` +
        `${n(plan.toCopy.objects)} objects copied into ${to}; send the same event again to resume (objects proven identical are skipped), ` +
        'or use "engine": "batch" or the CLI',
    );
  }
  return plan.engine === 'batch' ? batchAnswer(result, region) : copyAnswer(result, region);
}
