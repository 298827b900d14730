/**
 * Promotion: when the primary bucket is lost, make a bucket from the replica. Either the replica's data goes into a
 * new bucket (promote the replica: a new name, in the replica's region) or back under the original name once S3 has
 * freed it (copy back). Both are the same operation: copy every current object of REPLICA into TARGET, server-side,
 * keeping content, headers, user metadata and tags; then prove it by comparing both listings.
 *
 * planPromotion() only reads (what would be done); runPromotion() does it. The CLI asks between the two; the ops
 * Lambda returns the plan unless the event confirms.
 *
 * Resume: a run stopped half-way (Ctrl-C, a lost laptop, throttling) is simply run again. Objects already in the
 * target and identical to the replica's (identity.ts) are skipped; anything else in the target means it is not ours,
 * and nothing is written.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { S3ControlClient } from '@aws-sdk/client-s3-control';
import { UserError } from '../core/errors';
import type { Logger } from '../core/log';
import { createS3Client, endpointOverride } from '../storage/s3';
import { mapBounded } from '../util/pool';
import { RESERVED_PREFIX, createS3ControlClient, resolveAccountId, resolveRoleArn, submitBatchCopyJob } from './batch-job';
import { type CopyClients, type CopyOutcome, type CopyTuning, MAX_SINGLE_COPY_BYTES, copyObject } from './copy-object';
import { type ObjectSummary, forEachCurrentObject, listCurrentObjects } from './listing';
import { type RetryOptions, withRetry } from './retry';
import { type Hardening, createBucket, hardenBucket, inspectBucket } from './target-bucket';
import { type Verification, diffListings, verifyListings } from './verify-listing';

export type Engine = 'copy' | 'batch';

export interface PromotionOptions {
  /** The replica bucket: read only, never written. */
  from: string;
  /** The bucket to create (or reuse when empty, or resume into). */
  to: string;
  /** Region of the target: where it is created and where the copies (and a Batch job) are sent. @default the SDK's region */
  region?: string;
  /** Region of the replica. @default `region` */
  fromRegion?: string;
  /** @default 'copy' */
  engine?: Engine;
  /** Objects copied at once by the copy engine. @default 32 */
  concurrency?: number;
  tuning?: CopyTuning;
  retry?: RetryOptions;
  /** Stops scheduling copies; those under way finish (or, multipart, abort), then the run throws the reason. */
  signal?: AbortSignal;
  logger?: Logger;
  /** Injected clients (tests, the Lambda); built from the SDK chain otherwise. */
  clients?: CopyClients;
  /** Told after each object copied. */
  onCopied?: (object: ObjectSummary, outcome: CopyOutcome) => void;
  batch?: {
    roleArn?: string;
    accountId?: string;
    control?: S3ControlClient;
    priority?: number;
    clientRequestToken?: string;
    createdBefore?: Date;
  };
  /**
   * Add the TLS-only bucket policy. @default true, except when the S3 endpoint override is plain http (an emulator):
   * there every request has aws:SecureTransport false and the policy would deny this very process.
   */
  tlsOnlyPolicy?: boolean;
  /** The flag names used in messages (the CLI's); the Lambda passes its field names. */
  flags?: { from: string; to: string };
}

export interface Count {
  objects: number;
  bytes: number;
}

export interface PromotionPlan {
  from: string;
  to: string;
  engine: Engine;
  targetExists: boolean;
  /** Current objects of the replica (promotion's own reserved prefix excluded). */
  source: Count;
  /** Already in the target, identical: skipped. */
  alreadyCopied: Count;
  /** Still to copy (by the copy engine, or by the Batch job plus the in-process multipart copies). */
  toCopy: Count;
  /** Of those, objects over the multipart threshold (copied in parts, in this process, for both engines). */
  multipart: Count;
  /** Keys that make the target unusable: present with other content, or absent from the replica. */
  conflicts: { count: number; keys: string[] };
}

export interface PromotionResult {
  plan: PromotionPlan;
  /** Whether this run created the target. */
  created: boolean;
  hardening: Hardening;
  copied: Count & { single: number; withRecord: number; multipart: number };
  skipped: Count;
  /** Keys deleted from the replica between listing and copying. */
  vanished: string[];
  /** Copy engine: the final comparison of both listings. Absent for the Batch engine (the job runs on). */
  verification?: Verification;
  batchJob?: { jobId: string; accountId: string; region?: string };
  copySeconds: number;
  totalSeconds: number;
  /** Over the copy phase: objects and bytes actually copied. */
  objectsPerSecond: number;
  bytesPerSecond: number;
  /** Everything arrived and verified (copy engine), or the job was submitted (batch). */
  ok: boolean;
}

interface Prepared {
  clients: CopyClients;
  pending: ObjectSummary[];
  skipped: ObjectSummary[];
}
const prepared = new WeakMap<PromotionPlan, Prepared>();

const count = (objects: readonly ObjectSummary[]): Count => ({ objects: objects.length, bytes: objects.reduce((n, o) => n + o.size, 0) });
const notReserved = (o: ObjectSummary) => !o.key.startsWith(RESERVED_PREFIX);

function clientsFor(options: PromotionOptions): CopyClients {
  if (options.clients) return options.clients;
  const target = createS3Client(options.region ? { region: options.region } : {});
  const fromRegion = options.fromRegion ?? options.region;
  const source = fromRegion === options.region ? target : createS3Client(fromRegion ? { region: fromRegion } : {});
  return { source, target };
}

function flags(options: PromotionOptions) {
  return options.flags ?? { from: '--from', to: '--to' };
}

function threshold(options: PromotionOptions): number {
  return Math.min(options.tuning?.multipartThreshold ?? MAX_SINGLE_COPY_BYTES, MAX_SINGLE_COPY_BYTES);
}

/** What a promotion would do. Reads both buckets, writes nothing. */
export async function planPromotion(options: PromotionOptions): Promise<PromotionPlan> {
  const { from, to } = options;
  const flag = flags(options);
  if (from === to) throw new UserError(`${flag.from} and ${flag.to} name the same bucket ${from}: promote into another bucket`, 2);
  const engine = options.engine ?? 'copy';
  const clients = clientsFor(options);
  const log = options.logger;

  const replica = await inspectBucket(clients.source, from, 'replica', flag.from);
  if (!replica.exists) {
    throw new UserError(`the replica bucket ${from} does not exist${options.fromRegion ? ` in ${options.fromRegion}` : ''}: check ${flag.from} and the replica's region`, 1);
  }
  const target = await inspectBucket(clients.target, to, 'target', flag.to);
  const large = threshold(options);

  let pending: ObjectSummary[] = [];
  let skipped: ObjectSummary[] = [];
  let source: Count;
  let multipart: ObjectSummary[];
  let conflictKeys: string[] = [];
  let conflictCount = 0;
  if (engine === 'batch') {
    // S3 lists the replica for the job: here only count it and keep the objects too large for PutObjectCopy.
    source = { objects: 0, bytes: 0 };
    multipart = [];
    await forEachCurrentObject(clients.source, from, (o) => {
      if (!notReserved(o)) return;
      source.objects += 1;
      source.bytes += o.size;
      if (o.size > large) multipart.push(o);
    });
    if (target.exists) {
      const present = (await listCurrentObjects(clients.target, to, { limit: 1000 })).filter(notReserved);
      conflictCount = present.length;
      conflictKeys = present.slice(0, 10).map((o) => o.key);
    }
    pending = multipart;
  } else {
    log?.info(`listing ${from}`);
    const sourceObjects = (await listCurrentObjects(clients.source, from)).filter(notReserved);
    source = count(sourceObjects);
    pending = sourceObjects;
    if (target.exists) {
      log?.info(`listing ${to} (it exists: checking what is already there)`);
      const targetObjects = (await listCurrentObjects(clients.target, to)).filter(notReserved);
      if (targetObjects.length > 0) {
        const diff = await diffListings(clients.target, to, sourceObjects, targetObjects);
        const conflicts = [...diff.different, ...diff.extra];
        conflictCount = conflicts.length;
        conflictKeys = conflicts.slice(0, 10);
        pending = diff.missing;
        skipped = diff.same;
      }
    }
    multipart = pending.filter((o) => o.size > large);
  }
  const plan: PromotionPlan = {
    from,
    to,
    engine,
    targetExists: target.exists,
    source,
    alreadyCopied: count(skipped),
    toCopy: engine === 'batch' ? source : count(pending),
    multipart: count(multipart),
    conflicts: { count: conflictCount, keys: conflictKeys },
  };
  prepared.set(plan, { clients, pending, skipped });
  return plan;
}

/** The one-line refusal for a target that holds something else; undefined when the plan can go ahead. */
export function conflictMessage(plan: PromotionPlan, toFlag = '--to'): string | undefined {
  if (plan.conflicts.count === 0) return undefined;
  const shown = plan.conflicts.keys.map((k) => JSON.stringify(k)).join(', ');
  const more = plan.conflicts.count > plan.conflicts.keys.length ? ` and ${plan.conflicts.count - plan.conflicts.keys.length} more` : '';
  if (plan.engine === 'batch') {
    return `bucket ${plan.to} is not empty (${shown}${more}): the batch engine needs a new or empty bucket; resume a partial promotion with --engine copy, or pass ${toFlag} with another name`;
  }
  return `bucket ${plan.to} is not empty and holds data that is not the replica's: ${plan.conflicts.count} key(s) differ or are not in ${plan.from} (${shown}${more}); nothing was written: pass ${toFlag} with another name`;
}

/** Creates or hardens the target. Only called once the plan says the target is usable. */
async function prepareTarget(s3: S3Client, plan: PromotionPlan, options: PromotionOptions): Promise<{ created: boolean; hardening: Hardening }> {
  let created = false;
  if (!plan.targetExists) {
    created = (await createBucket(s3, plan.to, options.region ?? (await s3.config.region()), flags(options).to)) === 'created';
    options.logger?.info(`created bucket ${plan.to}`);
  }
  const tlsOnlyPolicy = options.tlsOnlyPolicy ?? !endpointOverride()?.startsWith('http://');
  const hardening = await hardenBucket(s3, plan.to, options.region ?? (await s3.config.region()), { tlsOnlyPolicy });
  // Only an emulator or a test endpoint speaks plain http; the policy would lock this very process out of it.
  if (!tlsOnlyPolicy) options.logger?.info(`${plan.to}: no TLS-only policy, since the S3 endpoint ${endpointOverride()} is plain http (an emulator)`);
  return { created, hardening };
}

function isNoSuchKey(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NoSuchKey' || e?.name === 'NotFound' || e?.$metadata?.httpStatusCode === 404;
}

function describeFailure(err: unknown): string {
  const e = err as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const status = e?.$metadata?.httpStatusCode;
  return `${e?.name ?? 'Error'}${status ? ` (HTTP ${status})` : ''}: ${e?.message ?? String(err)}`;
}

/** Carries out a promotion (after `plan`, when given: the CLI plans, asks, then runs that same plan). */
export async function runPromotion(options: PromotionOptions, plan?: PromotionPlan): Promise<PromotionResult> {
  const started = Date.now();
  const thePlan = plan && prepared.has(plan) ? plan : await planPromotion(options);
  const state = prepared.get(thePlan) as Prepared;
  const { clients } = state;
  const log = options.logger;
  const conflict = conflictMessage(thePlan, flags(options).to);
  if (conflict) throw new UserError(conflict, 1);
  options.signal?.throwIfAborted();

  const { created, hardening } = await prepareTarget(clients.target, thePlan, options);

  let batchJob: PromotionResult['batchJob'];
  if (thePlan.engine === 'batch') {
    const roleArn = resolveRoleArn(options.batch?.roleArn);
    const accountId = resolveAccountId(options.batch?.accountId, roleArn);
    const control = options.batch?.control ?? createS3ControlClient(options.region);
    const { jobId } = await submitBatchCopyJob(control, {
      accountId,
      roleArn,
      from: thePlan.from,
      to: thePlan.to,
      ...(options.region ? { region: options.region } : {}),
      ...(options.batch?.createdBefore ? { createdBefore: options.batch.createdBefore } : {}),
      ...(options.batch?.priority !== undefined ? { priority: options.batch.priority } : {}),
      ...(options.batch?.clientRequestToken ? { clientRequestToken: options.batch.clientRequestToken } : {}),
      maxSingleCopyBytes: threshold(options),
    });
    batchJob = { jobId, accountId, ...(options.region ? { region: options.region } : {}) };
    log?.info(`submitted S3 Batch Operations job ${jobId}; follow it with: meatbackup promote-status ${jobId}`);
  }

  // The copy engine copies everything pending; the batch engine only what the job cannot (over 5 GB).
  const work = state.pending;
  const total = count(work);
  const copied = { objects: 0, bytes: 0, single: 0, withRecord: 0, multipart: 0 };
  const written = new Map<string, string>();
  const vanished: string[] = [];
  const failures: { key: string; error: string }[] = [];
  const copyStarted = Date.now();
  const label = () => `copying ${copied.objects + vanished.length + failures.length}/${total.objects} objects`;
  await mapBounded(work, options.concurrency ?? 32, async (object) => {
    if (options.signal?.aborted || failures.length >= 10) return;
    try {
      const outcome = await withRetry(() => copyObject(clients, thePlan.from, thePlan.to, object, options.tuning, options.signal), {
        ...options.retry,
        ...(options.signal ? { signal: options.signal } : {}),
        onRetry: (err, attempt, delay) => log?.warn(`retrying ${object.key} (attempt ${attempt + 1}) in ${delay} ms: ${describeFailure(err)}`),
      });
      copied.objects += 1;
      copied.bytes += object.size;
      if (outcome.method === 'copy') copied.single += 1;
      else if (outcome.method === 'copy-with-record') copied.withRecord += 1;
      else copied.multipart += 1;
      written.set(object.key, outcome.etag);
      options.onCopied?.(object, outcome);
    } catch (err) {
      if (isNoSuchKey(err)) vanished.push(object.key);
      else if (!options.signal?.aborted) failures.push({ key: object.key, error: describeFailure(err) });
    }
    log?.progress(label(), copied.bytes, total.bytes);
  });
  log?.progressDone();
  const copySeconds = (Date.now() - copyStarted) / 1000;
  if (options.signal?.aborted) throw options.signal.reason ?? new Error('promotion aborted');
  if (failures.length > 0) {
    const first = failures[0];
    throw new UserError(
      `${failures.length} object(s) could not be copied${failures.length >= 10 ? ' (stopped after 10 failures)' : ''}, first ${JSON.stringify(first.key)}: ${first.error}; ${copied.objects} were copied: run the same command again to resume`,
      1,
    );
  }

  let verification: Verification | undefined;
  if (thePlan.engine === 'copy') {
    log?.info(`verifying: comparing the listings of ${thePlan.from} and ${thePlan.to}`);
    verification = await verifyListings(clients, thePlan.from, thePlan.to, { written, ignorePrefix: RESERVED_PREFIX });
  }
  const seconds = Math.max(copySeconds, 0.001);
  return {
    plan: thePlan,
    created,
    hardening,
    copied,
    skipped: count(state.skipped),
    vanished,
    ...(verification ? { verification } : {}),
    ...(batchJob ? { batchJob } : {}),
    copySeconds,
    totalSeconds: (Date.now() - started) / 1000,
    objectsPerSecond: copied.objects / seconds,
    bytesPerSecond: copied.bytes / seconds,
    ok: verification ? verification.ok : batchJob !== undefined,
  };
}
