/**
 * Promotion: when the primary bucket is lost, make a bucket from the replica. Either the replica's data goes into a
 * new bucket (promote the replica: a new name, in the replica's region) or back under the original name once S3 has
 * freed it (copy back). Both are the same operation: copy every current object of REPLICA into TARGET, server-side,
 * keeping content, headers, user metadata and tags; then prove it by comparing both listings.
 *
 * planPromotion() only reads (what would be done); runPromotion() does it. The CLI asks between the two; the ops
 * Lambda returns the plan unless the event confirms.
 *
 * Resume: a run stopped half-way (the Lambda's deadline, Ctrl-C, a lost laptop, throttling) or a finished S3 Batch
 * Operations job is simply followed by another copy-engine run. Objects already in the target and proven identical to
 * the replica's by content (identity.ts) are skipped; our stale copies and copies nothing proves (a Batch copy of an
 * object without an S3 checksum) are copied again; anything else in the target means it is not ours, and nothing is
 * written. The final verification proves every object the same way.
 */
import { setMaxListeners } from 'node:events';
import type { S3Client } from '@aws-sdk/client-s3';
import type { S3ControlClient } from '@aws-sdk/client-s3-control';
import { UserError } from '../core/errors';
import type { Logger } from '../core/log';
import { DEFAULT_STALL_SECONDS, StallWatchdog, Stalled } from '../core/watchdog';
import { httpStatus, isNotFound } from '../storage/aws-errors';
import { customEndpoint } from '../storage/s3';
import { refuseUnversioned } from '../storage/bucket-protection';
import { mapBounded } from '../util/pool';
import { RESERVED_PREFIX, createS3ControlClient, resolveAccountId, resolveRoleArn, submitBatchCopyJob } from './batch-job';
import { type CopyClients, type CopyOutcome, type CopyTuning, DEFAULT_PART_CONCURRENCY, MAX_SINGLE_COPY_BYTES, copyObject } from './copy-object';
import { type ObjectSummary, forEachCurrentObject, listCurrentObjects } from './listing';
import { regionalClients } from './regional-clients';
import { type Hardening, createBucket, hardenBucket, inspectBucket } from './target-bucket';
import { type Verification, type Written, diffListings, verifyListings } from './verify-listing';

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
  /** Stops scheduling copies and ends those under way (a multipart copy is aborted), then the run throws the reason. */
  signal?: AbortSignal;
  /**
   * Seconds in which no object (or part) is copied while copies are in flight before the run gives up as stalled,
   * resumable as after any stop. 0 never. @default DEFAULT_STALL_SECONDS (120)
   */
  stallSeconds?: number;
  logger?: Logger;
  /** Injected clients (tests); built per region otherwise. */
  clients?: CopyClients;
  /** The S3 client for a region (undefined: the SDK's region); one per region is kept. @default createS3Client */
  clientForRegion?: (region: string | undefined) => S3Client;
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
  /** The target's region, when given. */
  region?: string;
  targetExists: boolean;
  /** Current objects of the replica (promotion's own reserved prefix excluded). */
  source: Count;
  /** Already in the target, identical: skipped. */
  alreadyCopied: Count;
  /** Still to copy (by the copy engine, or by the Batch job plus the in-process multipart copies). */
  toCopy: Count;
  /** Of those, objects the target holds a stale or unprovable copy of (copied again). */
  recopy: Count;
  /** Of those, objects over the multipart threshold (copied in parts, in this process, for both engines). */
  multipart: Count;
  /** Keys that make the target unusable: present with other content, or absent from the replica. */
  conflicts: { count: number; keys: string[]; first?: string };
}

export interface PromotionResult {
  plan: PromotionPlan;
  /** Whether this run created the target. */
  created: boolean;
  hardening: Hardening;
  copied: Count & { single: number; multipart: number };
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

/**
 * A plan with what running it needs: the clients it was made with and the objects it found to copy. planPromotion
 * returns it and runPromotion takes it back, so the CLI and the Lambda run exactly what they showed.
 */
export interface PreparedPromotion {
  readonly plan: PromotionPlan;
  readonly clients: CopyClients;
  /** To copy: missing from the target, or there as a stale or unprovable copy. */
  readonly pending: readonly ObjectSummary[];
  /** Already in the target, proven identical. */
  readonly skipped: readonly ObjectSummary[];
}

const count = (objects: readonly ObjectSummary[]): Count => ({ objects: objects.length, bytes: objects.reduce((n, o) => n + o.size, 0) });
const notReserved = (o: ObjectSummary) => !o.key.startsWith(RESERVED_PREFIX);

/**
 * One S3 client per region: the replica's for reads, the target's for every write (CopyObject is sent to the
 * destination's region and names the source bucket; https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html).
 */
function clientsFor(options: PromotionOptions): CopyClients {
  if (options.clients) return options.clients;
  const forRegion = options.clientForRegion ?? regionalClients();
  const fromRegion = options.fromRegion ?? options.region;
  return { source: forRegion(fromRegion), target: forRegion(options.region) };
}

function flags(options: PromotionOptions) {
  return options.flags ?? { from: '--from', to: '--to' };
}

function threshold(options: PromotionOptions): number {
  return Math.min(options.tuning?.multipartThreshold ?? MAX_SINGLE_COPY_BYTES, MAX_SINGLE_COPY_BYTES);
}

interface Found {
  source: Count;
  pending: ObjectSummary[];
  skipped: ObjectSummary[];
  recopy: ObjectSummary[];
  multipart: ObjectSummary[];
  conflicts: PromotionPlan['conflicts'];
}

const noConflicts = (): PromotionPlan['conflicts'] => ({ count: 0, keys: [] });

/** Batch engine: S3 lists the replica for the job; here only count it and keep the objects too large for PutObjectCopy. */
async function surveyForBatch(clients: CopyClients, from: string, to: string, targetExists: boolean, large: number): Promise<Found> {
  const source = { objects: 0, bytes: 0 };
  const multipart: ObjectSummary[] = [];
  await forEachCurrentObject(clients.source, from, (o) => {
    if (!notReserved(o)) return;
    source.objects += 1;
    source.bytes += o.size;
    if (o.size > large) multipart.push(o);
  });
  const conflicts = noConflicts();
  if (targetExists) {
    const present = (await listCurrentObjects(clients.target, to, { limit: 1000 })).filter(notReserved);
    conflicts.count = present.length;
    conflicts.keys = present.slice(0, 10).map((o) => o.key);
  }
  return { source, pending: multipart, skipped: [], recopy: [], multipart, conflicts };
}

/** Copy engine: both listings compared with identity.ts's proofs. */
async function surveyForCopy(clients: CopyClients, from: string, to: string, targetExists: boolean, large: number, log?: Logger): Promise<Found> {
  log?.info(`listing ${from}`);
  const sourceObjects = (await listCurrentObjects(clients.source, from)).filter(notReserved);
  const found: Found = { source: count(sourceObjects), pending: sourceObjects, skipped: [], recopy: [], multipart: [], conflicts: noConflicts() };
  if (targetExists) {
    log?.info(`listing ${to} (it exists: checking what is already there)`);
    const targetObjects = (await listCurrentObjects(clients.target, to)).filter(notReserved);
    if (targetObjects.length > 0) {
      const diff = await diffListings(clients, from, to, sourceObjects, targetObjects);
      const conflicts = [...diff.different, ...diff.extra];
      found.conflicts = { count: conflicts.length, keys: conflicts.slice(0, 10), ...(diff.firstDifference ? { first: diff.firstDifference } : {}) };
      found.pending = [...diff.missing, ...diff.recopy];
      found.skipped = diff.same;
      found.recopy = diff.recopy;
      if (diff.unproven.length > 0) {
        log?.info(`${diff.unproven.length} object(s) in ${to} have the replica's size but nothing proves their content (no copy record, no comparable S3 checksum): they are copied again`);
      }
    }
  }
  found.multipart = found.pending.filter((o) => o.size > large);
  return found;
}

/** What a promotion would do. Reads both buckets, writes nothing. */
export async function planPromotion(options: PromotionOptions): Promise<PreparedPromotion> {
  const { from, to } = options;
  const flag = flags(options);
  if (from === to) throw new UserError(`${flag.from} and ${flag.to} name the same bucket ${from}: promote into another bucket`, 2);
  const engine = options.engine ?? 'copy';
  const clients = clientsFor(options);

  const replica = await inspectBucket(clients.source, from, 'replica', flag.from);
  if (!replica.exists) {
    throw new UserError(`the replica bucket ${from} does not exist${options.fromRegion ? ` in ${options.fromRegion}` : ''}: check ${flag.from} and the replica's region`, 1);
  }
  await refuseUnversioned(clients.source, from, `promote copies the replica that S3 replication keeps in another region, and replication runs only between versioned buckets; a bucket without versioning has no replica to promote: restore from it directly (meatbackup restore)`);
  const target = await inspectBucket(clients.target, to, 'target', flag.to);
  const found =
    engine === 'batch'
      ? await surveyForBatch(clients, from, to, target.exists, threshold(options))
      : await surveyForCopy(clients, from, to, target.exists, threshold(options), options.logger);
  const plan: PromotionPlan = {
    from,
    to,
    engine,
    ...(options.region ? { region: options.region } : {}),
    targetExists: target.exists,
    source: found.source,
    alreadyCopied: count(found.skipped),
    toCopy: engine === 'batch' ? found.source : count(found.pending),
    recopy: count(found.recopy),
    multipart: count(found.multipart),
    conflicts: found.conflicts,
  };
  return { plan, clients, pending: found.pending, skipped: found.skipped };
}

/** The one-line refusal for a target that holds something else; undefined when the plan can go ahead. */
export function conflictMessage(plan: PromotionPlan, toFlag = '--to'): string | undefined {
  if (plan.conflicts.count === 0) return undefined;
  const shown = plan.conflicts.keys.map((k) => JSON.stringify(k)).join(', ');
  const more = plan.conflicts.count > plan.conflicts.keys.length ? ` and ${plan.conflicts.count - plan.conflicts.keys.length} more` : '';
  if (plan.engine === 'batch') {
    return `bucket ${plan.to} is not empty (${shown}${more}): the batch engine needs a new or empty bucket; resume a partial promotion with --engine copy, or pass ${toFlag} with another name`;
  }
  const why = plan.conflicts.first ? `; ${plan.conflicts.first}` : '';
  return `bucket ${plan.to} is not empty and holds data that is not the replica's: ${plan.conflicts.count} key(s) differ or are not in ${plan.from} (${shown}${more})${why}; nothing was written: pass ${toFlag} with another name`;
}

/** Creates or hardens the target. Only called once the plan says the target is usable. */
async function prepareTarget(s3: S3Client, plan: PromotionPlan, options: PromotionOptions): Promise<{ created: boolean; hardening: Hardening }> {
  let created = false;
  if (!plan.targetExists) {
    created = (await createBucket(s3, plan.to, options.region ?? (await s3.config.region()), flags(options).to)) === 'created';
    options.logger?.info(`created bucket ${plan.to}`);
  }
  const endpoint = await customEndpoint(s3);
  const tlsOnlyPolicy = options.tlsOnlyPolicy ?? !endpoint?.startsWith('http:');
  const hardening = await hardenBucket(s3, plan.to, options.region ?? (await s3.config.region()), { tlsOnlyPolicy });
  // Only an emulator or a test endpoint speaks plain http; the policy would lock this very process out of it.
  if (!tlsOnlyPolicy) options.logger?.info(`${plan.to}: no TLS-only policy, since the S3 endpoint ${endpoint} is plain http (an emulator)`);
  return { created, hardening };
}

function describeFailure(err: unknown): string {
  const status = httpStatus(err);
  return `${(err as Error)?.name ?? 'Error'}${status ? ` (HTTP ${status})` : ''}: ${(err as Error)?.message ?? String(err)}`;
}

async function submitBatch(plan: PromotionPlan, options: PromotionOptions): Promise<NonNullable<PromotionResult['batchJob']>> {
  const roleArn = resolveRoleArn(options.batch?.roleArn);
  const accountId = resolveAccountId(options.batch?.accountId, roleArn);
  const control = options.batch?.control ?? createS3ControlClient(options.region);
  const { jobId } = await submitBatchCopyJob(control, {
    accountId,
    roleArn,
    from: plan.from,
    to: plan.to,
    ...(options.region ? { region: options.region } : {}),
    ...(options.batch?.createdBefore ? { createdBefore: options.batch.createdBefore } : {}),
    ...(options.batch?.priority !== undefined ? { priority: options.batch.priority } : {}),
    ...(options.batch?.clientRequestToken ? { clientRequestToken: options.batch.clientRequestToken } : {}),
    maxSingleCopyBytes: threshold(options),
  });
  options.logger?.info(`submitted S3 Batch Operations job ${jobId}; follow it with: meatbackup promote-status ${jobId}`);
  return { jobId, accountId, ...(options.region ? { region: options.region } : {}) };
}

interface CopyRun {
  copied: PromotionResult['copied'];
  /** What was written, by key, for the verification (proven without a HeadObject). */
  written: Map<string, Written>;
  vanished: string[];
  seconds: number;
}

/** Stops at the 10th failure: something systematic (permissions, a key policy) is wrong, and more tries only cost. */
const MAX_FAILURES = 10;

/** Copies `work`, `concurrency` objects at once; throws when aborted or when any object failed (a rerun resumes). */
async function copyAll(prepared: PreparedPromotion, work: readonly ObjectSummary[], options: PromotionOptions): Promise<CopyRun> {
  const { plan, clients } = prepared;
  const log = options.logger;
  const total = count(work);
  const run: CopyRun = { copied: { objects: 0, bytes: 0, single: 0, multipart: 0 }, written: new Map(), vanished: [], seconds: 0 };
  const failures: { key: string; error: string }[] = [];
  const started = Date.now();
  // Copies under way, oldest first: what a stalled run names.
  const inFlight = new Set<string>();
  const watchdog = new StallWatchdog({
    seconds: options.stallSeconds ?? DEFAULT_STALL_SECONDS,
    ...(options.signal ? { parent: options.signal } : {}),
    waitingFor: () => {
      const [oldest] = inFlight;
      if (oldest === undefined) return undefined;
      return `S3 copy of ${oldest} from ${plan.from} to ${plan.to}${inFlight.size > 1 ? ` (and ${inFlight.size - 1} more in flight)` : ''}`;
    },
  });
  const signal = watchdog.signal;
  // Every request in flight listens on the run's signal (the SDK's abortSignal): one per object copied at once, one
  // per part of a multipart copy, and the SDK's own, so Node's leak warning at 11 listeners is no leak here.
  const concurrency = options.concurrency ?? 32;
  setMaxListeners(concurrency * (1 + (options.tuning?.partConcurrency ?? DEFAULT_PART_CONCURRENCY)) + 16, signal);
  // Objects and bytes are counted apart: the percentage the logger adds is of bytes, next to the byte counts.
  const label = () => `copied ${(run.copied.objects + run.vanished.length + failures.length).toLocaleString('en-US')} of ${total.objects.toLocaleString('en-US')} objects`;
  await mapBounded(work, concurrency, async (object) => {
    if (signal.aborted || failures.length >= MAX_FAILURES) return;
    inFlight.add(object.key);
    try {
      // Transient failures (SlowDown, 5xx, dropped connections) were already retried by the SDK, request by request
      // (src/storage/s3.ts): what reaches here has used its retry budget, and a second run resumes.
      const outcome = await copyObject(clients, plan.from, plan.to, object, options.tuning, signal, () => watchdog.progress());
      watchdog.progress();
      run.copied.objects += 1;
      run.copied.bytes += object.size;
      run.copied[outcome.method === 'multipart' ? 'multipart' : 'single'] += 1;
      run.written.set(object.key, { etag: outcome.etag, sourceEtag: outcome.sourceEtag });
      options.onCopied?.(object, outcome);
    } catch (err) {
      if (isNotFound(err)) run.vanished.push(object.key);
      else if (!signal.aborted) failures.push({ key: object.key, error: describeFailure(err) });
    } finally {
      inFlight.delete(object.key);
    }
    log?.progress(label(), run.copied.bytes, total.bytes);
  });
  watchdog.stop();
  log?.progressDone();
  run.seconds = (Date.now() - started) / 1000;
  if (signal.reason instanceof Stalled) {
    throw new UserError(`${signal.reason.message}; ${run.copied.objects} of ${total.objects} object(s) were copied: run the same command again to resume`, 1, { cause: signal.reason });
  }
  if (signal.aborted) throw signal.reason ?? new Error('promotion aborted');
  if (failures.length > 0) {
    const first = failures[0];
    throw new UserError(
      `${failures.length} object(s) could not be copied${failures.length >= MAX_FAILURES ? ` (stopped after ${MAX_FAILURES} failures)` : ''}, first ${JSON.stringify(first.key)}: ${first.error}; ${run.copied.objects} were copied: run the same command again to resume`,
      1,
    );
  }
  return run;
}

/**
 * Carries out a promotion: the one `prepared` by planPromotion when given (the CLI and the Lambda show the plan, then
 * run that same plan), else a fresh plan. Refuses a target with other data; creates or hardens the target; submits
 * the Batch job (batch engine); copies what is pending; proves both listings equal (copy engine).
 */
export async function runPromotion(options: PromotionOptions, prepared?: PreparedPromotion): Promise<PromotionResult> {
  const started = Date.now();
  const ready = prepared ?? (await planPromotion(options));
  const { plan } = ready;
  const conflict = conflictMessage(plan, flags(options).to);
  if (conflict) throw new UserError(conflict, 1);
  options.signal?.throwIfAborted();

  const { created, hardening } = await prepareTarget(ready.clients.target, plan, options);
  const batchJob = plan.engine === 'batch' ? await submitBatch(plan, options) : undefined;
  // The copy engine copies everything pending; the batch engine only what the job cannot (over 5 GB).
  const run = await copyAll(ready, ready.pending, options);

  let verification: Verification | undefined;
  if (plan.engine === 'copy') {
    options.logger?.info(`verifying: comparing the listings of ${plan.from} and ${plan.to}, object by object`);
    verification = await verifyListings(ready.clients, plan.from, plan.to, { written: run.written, ignorePrefix: RESERVED_PREFIX });
  }
  const seconds = Math.max(run.seconds, 0.001);
  return {
    plan,
    created,
    hardening,
    copied: run.copied,
    skipped: count(ready.skipped),
    vanished: run.vanished,
    ...(verification ? { verification } : {}),
    ...(batchJob ? { batchJob } : {}),
    copySeconds: run.seconds,
    totalSeconds: (Date.now() - started) / 1000,
    objectsPerSecond: run.copied.objects / seconds,
    bytesPerSecond: run.copied.bytes / seconds,
    ok: verification ? verification.ok : batchJob !== undefined,
  };
}
