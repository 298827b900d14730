/**
 * The distributed engine: an S3 Batch Operations job that copies the replica into the target inside AWS. It survives
 * the operator's laptop and scales to billions of objects; S3 lists the replica itself (a manifest generator), so
 * nothing here holds the listing. PutObjectCopy is CopyObject underneath and shares its 5 GB limit: larger objects
 * are filtered out of the job (ObjectSizeLessThanBytes) and copied in parts by this process (see promote.ts).
 *
 * The job is created in the target's region (Batch Operations copy jobs must run in the destination region), runs as
 * the role the stack creates for it (BATCH_OPERATIONS_ROLE_ARN), and writes a report of failed tasks into the target
 * under the reserved prefix `meatbackup-promote/` (never into the replica: during a recovery it is the only good copy,
 * and this process keeps it read-only).
 */
import { createHash } from 'node:crypto';
import {
  CreateJobCommand,
  type CreateJobCommandInput,
  DescribeJobCommand,
  type JobDescriptor,
  type S3ControlClient,
} from '@aws-sdk/client-s3-control';
import { BATCH_JOB_TAG, ENV } from '../contract';
import { UserError } from '../core/errors';
import { errorCode } from '../storage/aws-errors';
import { describeS3Error } from '../storage/s3';
import { createS3ControlClient as createControlClient } from '../storage/s3-control-client';
import { MAX_SINGLE_COPY_BYTES } from './copy-object';
import { partitionOf } from './target-bucket';

/** Prefix in the target for what promotion itself writes (Batch reports); excluded from every comparison. */
export const RESERVED_PREFIX = 'meatbackup-promote/';
export const REPORT_PREFIX = `${RESERVED_PREFIX}reports`;

export function createS3ControlClient(region?: string): S3ControlClient {
  return createControlClient(region ? { region } : {});
}

/** The role ARN from the flag, else the setting (BATCH_OPERATIONS_ROLE_ARN). */
export function resolveRoleArn(flag: string | undefined, configured?: string): string {
  const role = flag ?? configured;
  if (!role) throw new UserError(`no role for the Batch Operations job: pass --role-arn ARN or set ${ENV.batchOperationsRole}`, 2);
  if (!/^arn:aws[a-z-]*:iam::\d{12}:role\/.+$/.test(role)) throw new UserError(`${role} is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)`, 2);
  return role;
}

/**
 * The account id S3 Control needs: the flag, the setting (AWS_ACCOUNT_ID), or the account in the role ARN (the role the stack
 * creates lives in the account that runs the job, so no STS call is needed).
 */
export function resolveAccountId(flag: string | undefined, roleArn?: string, configured?: string): string {
  const id = flag ?? configured ?? roleArn?.split(':')[4];
  if (!id || !/^\d{12}$/.test(id)) throw new UserError(`no AWS account id: pass --account-id or set ${ENV.accountId}`, 2);
  return id;
}

export interface BatchCopyJobSpec {
  accountId: string;
  roleArn: string;
  from: string;
  to: string;
  /** Target region; decides the ARN partition. */
  region?: string;
  /** Objects created after this are left out (they arrived after the operator decided). @default now */
  createdBefore?: Date;
  /** Higher runs first among the account's jobs. @default 10 */
  priority?: number;
  /** Idempotency: the same token returns the same job instead of starting a second one. @default derived from from/to/createdBefore */
  clientRequestToken?: string;
  /** Objects over this size are left out of the job (PutObjectCopy's limit); the caller copies them in parts. @default 5 GiB */
  maxSingleCopyBytes?: number;
}

/** Same buckets, same cut-off minute → same token: a retried submission never starts a second job. */
export function defaultRequestToken(from: string, to: string, createdBefore: Date): string {
  const minute = createdBefore.toISOString().slice(0, 16);
  return `meatbackup-promote-${createHash('sha256').update(`${from}\n${to}\n${minute}`).digest('hex').slice(0, 32)}`;
}

export function buildCreateJobInput(spec: BatchCopyJobSpec): CreateJobCommandInput {
  const partition = partitionOf(spec.region);
  const arn = (bucket: string) => `arn:${partition}:s3:::${bucket}`;
  const createdBefore = spec.createdBefore ?? new Date();
  return {
    AccountId: spec.accountId,
    ConfirmationRequired: false,
    Description: `meatbackup promote ${spec.from} -> ${spec.to}`,
    Priority: spec.priority ?? 10,
    RoleArn: spec.roleArn,
    ClientRequestToken: spec.clientRequestToken ?? defaultRequestToken(spec.from, spec.to, createdBefore),
    Operation: {
      S3PutObjectCopy: {
        TargetResource: arn(spec.to),
        // Content-Type, Cache-Control, Content-* headers, Expires and user metadata come along; with no
        // NewObjectTagging the tags are copied too (CopyObject's default TaggingDirective is COPY).
        MetadataDirective: 'COPY',
      },
    },
    ManifestGenerator: {
      S3JobManifestGenerator: {
        SourceBucket: arn(spec.from),
        ExpectedBucketOwner: spec.accountId,
        EnableManifestOutput: false,
        Filter: {
          CreatedBefore: createdBefore,
          // PutObjectCopy stops at 5 GB; larger objects are copied in parts by the caller.
          ObjectSizeLessThanBytes: (spec.maxSingleCopyBytes ?? MAX_SINGLE_COPY_BYTES) + 1,
        },
      },
    },
    Report: {
      Enabled: true,
      Bucket: arn(spec.to),
      Prefix: REPORT_PREFIX,
      Format: 'Report_CSV_20180820',
      ReportScope: 'FailedTasksOnly',
    },
    Tags: [{ Key: BATCH_JOB_TAG.key, Value: BATCH_JOB_TAG.value }],
  };
}

export async function submitBatchCopyJob(control: S3ControlClient, spec: BatchCopyJobSpec): Promise<{ jobId: string; input: CreateJobCommandInput }> {
  const input = buildCreateJobInput(spec);
  try {
    const res = await control.send(new CreateJobCommand(input));
    if (!res.JobId) throw new Error('S3 Control returned no job id');
    return { jobId: res.JobId, input };
  } catch (err) {
    throw describeS3Error(err, `create the Batch Operations copy job ${spec.from} -> ${spec.to} (the caller needs s3:CreateJob and iam:PassRole on ${spec.roleArn})`, spec.to);
  }
}

/** Statuses after which a job does not change any more. */
const TERMINAL = new Set(['Complete', 'Failed', 'Cancelled']);

export interface JobReport {
  jobId: string;
  status: string;
  /** Job finished (Complete, Failed or Cancelled). */
  finished: boolean;
  /** Finished badly, or some tasks failed: promote-status exits non-zero. */
  failed: boolean;
  totalTasks?: number;
  succeeded: number;
  failedTasks: number;
  percent?: number;
  elapsedSeconds?: number;
  reason?: string;
  failures: { code?: string; reason?: string }[];
  /** s3://bucket/prefix where S3 writes the completion report. */
  report?: string;
  description?: string;
}

export function summarizeJob(job: JobDescriptor): JobReport {
  const status = job.Status ?? 'Unknown';
  const progress = job.ProgressSummary ?? {};
  const succeeded = progress.NumberOfTasksSucceeded ?? 0;
  const failedTasks = progress.NumberOfTasksFailed ?? 0;
  const total = progress.TotalNumberOfTasks;
  const finished = TERMINAL.has(status);
  const reportBucket = job.Report?.Enabled ? job.Report.Bucket?.replace(/^arn:[^:]+:s3:::/, '') : undefined;
  return {
    jobId: job.JobId ?? '',
    status,
    finished,
    failed: status === 'Failed' || status === 'Cancelled' || (finished && failedTasks > 0),
    ...(total !== undefined ? { totalTasks: total } : {}),
    succeeded,
    failedTasks,
    ...(total ? { percent: Math.floor((100 * (succeeded + failedTasks)) / total) } : {}),
    ...(progress.Timers?.ElapsedTimeInActiveSeconds !== undefined ? { elapsedSeconds: progress.Timers.ElapsedTimeInActiveSeconds } : {}),
    ...(job.StatusUpdateReason ? { reason: job.StatusUpdateReason } : {}),
    failures: (job.FailureReasons ?? []).map((f) => ({ code: f.FailureCode, reason: f.FailureReason })),
    ...(reportBucket ? { report: `s3://${reportBucket}/${job.Report?.Prefix ?? ''}` } : {}),
    ...(job.Description ? { description: job.Description } : {}),
  };
}

export async function describeBatchJob(control: S3ControlClient, accountId: string, jobId: string): Promise<JobReport> {
  try {
    const res = await control.send(new DescribeJobCommand({ AccountId: accountId, JobId: jobId }));
    if (!res.Job) throw new Error(`S3 Control returned no job for ${jobId}`);
    return summarizeJob(res.Job);
  } catch (err) {
    const code = errorCode(err);
    if (code === 'NotFoundException' || code === 'NoSuchJob') {
      throw new UserError(`no Batch Operations job ${jobId} in account ${accountId} in this region: check the job id and --region (jobs live in the target bucket's region)`, 1, { cause: err });
    }
    throw describeS3Error(err, `describe Batch Operations job ${jobId}`);
  }
}
