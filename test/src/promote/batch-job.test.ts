/**
 * The Batch Operations engine. moto has no S3 Control jobs API, so CreateJob and DescribeJob are asserted with
 * aws-sdk-client-mock; the S3 side (target creation, the in-process multipart copy of objects too large for
 * PutObjectCopy) runs on moto.
 */
import { CreateJobCommand, DescribeJobCommand, S3ControlClient } from '@aws-sdk/client-s3-control';
import type { S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { type LocalS3, startLocalS3 } from '../../../src/local/s3-emulator';
import { buildCreateJobInput, defaultRequestToken, describeBatchJob, resolveAccountId, summarizeJob } from '../../../src/promote/batch-job';
import { listCurrentObjects } from '../../../src/promote/listing';
import { runPromotion } from '../../../src/promote/promote';
import { main } from '../../../src/cli/program';
import { BIG_KEY, MiB, makeReplica } from './fixtures';

const ACCOUNT = '123456789012';
const ROLE = `arn:aws:iam::${ACCOUNT}:role/meatbackup-batch-operations`;
const control = mockClient(S3ControlClient);

afterEach(() => control.reset());

describe('promote --engine batch: an S3 Batch Operations copy job', () => {
  let s3: LocalS3;
  let client: S3Client;
  let carried: string[];
  beforeAll(async () => {
    s3 = await startLocalS3();
    client = s3.client();
    carried = await makeReplica(client, 'meat-replica', { small: 20 });
  });
  afterAll(async () => {
    await s3?.stop();
  });

  test('GIVEN a replica WHEN promoted with the batch engine THEN CreateJob gets exactly this input and only the object too large for PutObjectCopy is copied here', async () => {
    control.on(CreateJobCommand).resolves({ JobId: 'job-0001' });
    const createdBefore = new Date('2025-09-17T10:45:00Z');
    const result = await runPromotion({
      from: 'meat-replica',
      to: 'meat-restored',
      engine: 'batch',
      region: 'us-east-1',
      clients: { source: client, target: client },
      tlsOnlyPolicy: false,
      // 5 GiB in production; lowered so the 12 MiB fixture counts as "too large for the job".
      tuning: { multipartThreshold: 8 * MiB, partSize: 5 * MiB },
      batch: { roleArn: ROLE, control: new S3ControlClient({ region: 'us-east-1' }), createdBefore },
    });

    expect(control.commandCalls(CreateJobCommand)).toHaveLength(1);
    expect(control.commandCalls(CreateJobCommand)[0].args[0].input).toEqual({
      AccountId: ACCOUNT,
      ConfirmationRequired: false,
      Description: 'meatbackup promote meat-replica -> meat-restored',
      Priority: 10,
      RoleArn: ROLE,
      ClientRequestToken: defaultRequestToken('meat-replica', 'meat-restored', createdBefore),
      Operation: { S3PutObjectCopy: { TargetResource: 'arn:aws:s3:::meat-restored', MetadataDirective: 'COPY' } },
      ManifestGenerator: {
        S3JobManifestGenerator: {
          SourceBucket: 'arn:aws:s3:::meat-replica',
          ExpectedBucketOwner: ACCOUNT,
          EnableManifestOutput: false,
          Filter: { CreatedBefore: createdBefore, ObjectSizeLessThanBytes: 8 * MiB + 1 },
        },
      },
      Report: {
        Enabled: true,
        Bucket: 'arn:aws:s3:::meat-restored',
        Prefix: 'meatbackup-promote/reports',
        Format: 'Report_CSV_20180820',
        ReportScope: 'FailedTasksOnly',
      },
      Tags: [{ Key: 'meatbackup', Value: 'promote' }],
    });
    expect(result).toMatchObject({ ok: true, created: true, batchJob: { jobId: 'job-0001', accountId: ACCOUNT }, copied: { objects: 1, multipart: 1 } });
    expect(result.plan).toMatchObject({ engine: 'batch', source: { objects: carried.length }, toCopy: { objects: carried.length }, multipart: { objects: 1 } });
    expect(result.verification).toBeUndefined();
    expect((await listCurrentObjects(client, 'meat-restored')).map((o) => o.key)).toEqual([BIG_KEY]);
  });

  test('GIVEN the same buckets and cut-off WHEN submitted twice THEN the client request token is the same, so S3 starts one job', () => {
    const at = new Date('2025-09-17T10:45:12Z');
    const a = buildCreateJobInput({ accountId: ACCOUNT, roleArn: ROLE, from: 'r', to: 't', createdBefore: at });
    const b = buildCreateJobInput({ accountId: ACCOUNT, roleArn: ROLE, from: 'r', to: 't', createdBefore: new Date('2025-09-17T10:45:40Z') });
    expect(a.ClientRequestToken).toBe(b.ClientRequestToken);
    expect(a.ClientRequestToken).toMatch(/^meatbackup-promote-[0-9a-f]{32}$/);
    expect(buildCreateJobInput({ accountId: ACCOUNT, roleArn: ROLE, from: 'r', to: 'other', createdBefore: at }).ClientRequestToken).not.toBe(a.ClientRequestToken);
  });

  test('GIVEN no account id WHEN resolving THEN the role ARN supplies it, and nothing at all is a usage error', () => {
    const saved = process.env.AWS_ACCOUNT_ID;
    delete process.env.AWS_ACCOUNT_ID;
    try {
      expect(resolveAccountId(undefined, ROLE)).toBe(ACCOUNT);
      expect(() => resolveAccountId(undefined)).toThrow('no AWS account id: pass --account-id or set AWS_ACCOUNT_ID');
    } finally {
      if (saved !== undefined) process.env.AWS_ACCOUNT_ID = saved;
    }
  });

  test('GIVEN a non-empty target WHEN promoted with the batch engine THEN it is refused and no job is created', async () => {
    const error = await runPromotion({
      from: 'meat-replica',
      to: 'meat-restored',
      engine: 'batch',
      clients: { source: client, target: client },
      tlsOnlyPolicy: false,
      batch: { roleArn: ROLE, control: new S3ControlClient({ region: 'us-east-1' }) },
    }).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/bucket meat-restored is not empty \("big\/blob.bin"\): the batch engine needs a new or empty bucket; resume a partial promotion with --engine copy/);
    expect(control.commandCalls(CreateJobCommand)).toHaveLength(0);
  });
});

describe('promote-status: following a Batch Operations job', () => {
  const job = (over: Record<string, unknown>) => ({
    JobId: 'job-0001',
    Description: 'meatbackup promote meat-replica -> meat-restored',
    Report: { Enabled: true, Bucket: 'arn:aws:s3:::meat-restored', Prefix: 'meatbackup-promote/reports' },
    ...over,
  });

  test('GIVEN an active job WHEN described THEN status, progress and the report location are reported, not failed', async () => {
    control.on(DescribeJobCommand).resolves({
      Job: job({ Status: 'Active', ProgressSummary: { TotalNumberOfTasks: 1000, NumberOfTasksSucceeded: 400, NumberOfTasksFailed: 0, Timers: { ElapsedTimeInActiveSeconds: 90 } } }),
    });
    const report = await describeBatchJob(new S3ControlClient({ region: 'us-east-1' }), ACCOUNT, 'job-0001');
    expect(report).toEqual({
      jobId: 'job-0001',
      status: 'Active',
      finished: false,
      failed: false,
      totalTasks: 1000,
      succeeded: 400,
      failedTasks: 0,
      percent: 40,
      elapsedSeconds: 90,
      failures: [],
      report: 's3://meat-restored/meatbackup-promote/reports',
      description: 'meatbackup promote meat-replica -> meat-restored',
    });
    expect(control.commandCalls(DescribeJobCommand)[0].args[0].input).toEqual({ AccountId: ACCOUNT, JobId: 'job-0001' });
  });

  test('GIVEN finished jobs WHEN summarized THEN Failed, Cancelled and Complete-with-failed-tasks count as failed', () => {
    expect(summarizeJob(job({ Status: 'Complete', ProgressSummary: { TotalNumberOfTasks: 5, NumberOfTasksSucceeded: 5, NumberOfTasksFailed: 0 } }))).toMatchObject({ finished: true, failed: false });
    expect(summarizeJob(job({ Status: 'Complete', ProgressSummary: { TotalNumberOfTasks: 5, NumberOfTasksSucceeded: 4, NumberOfTasksFailed: 1 } }))).toMatchObject({ finished: true, failed: true });
    expect(summarizeJob(job({ Status: 'Failed', FailureReasons: [{ FailureCode: 'AccessDenied', FailureReason: 'role cannot read the replica' }] }))).toMatchObject({
      failed: true,
      failures: [{ code: 'AccessDenied', reason: 'role cannot read the replica' }],
    });
    expect(summarizeJob(job({ Status: 'Cancelled' }))).toMatchObject({ failed: true });
  });

  describe('the command', () => {
    let out: string;
    let err: string;
    beforeEach(() => {
      out = '';
      err = '';
      jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => ((out += String(chunk)), true));
      jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => ((err += String(chunk)), true));
      process.exitCode = undefined;
    });
    afterEach(() => {
      jest.restoreAllMocks();
      process.exitCode = undefined;
    });

    test('GIVEN a failed job WHEN meatbackup promote-status runs THEN it prints the failure and exits non-zero with one line', async () => {
      control.on(DescribeJobCommand).resolves({ Job: job({ Status: 'Failed', StatusUpdateReason: 'Job failed', FailureReasons: [{ FailureCode: 'AccessDenied', FailureReason: 'no s3:GetObject' }] }) });
      const code = await main(['promote-status', 'job-0001', '--account-id', ACCOUNT, '--region', 'us-east-1']);
      expect(code).toBe(1);
      expect(out).toContain('job job-0001: Failed (Job failed)');
      expect(out).toContain('failure: AccessDenied: no s3:GetObject');
      expect(err.trim().split('\n')).toEqual(['meatbackup: job job-0001 failed: see s3://meat-restored/meatbackup-promote/reports; rerun meatbackup promote --engine copy to copy what is missing']);
    });

    test('GIVEN a complete job WHEN meatbackup promote-status --json runs THEN it prints the report and exits 0', async () => {
      control.on(DescribeJobCommand).resolves({ Job: job({ Status: 'Complete', ProgressSummary: { TotalNumberOfTasks: 3, NumberOfTasksSucceeded: 3, NumberOfTasksFailed: 0 } }) });
      const code = await main(['promote-status', 'job-0001', '--account-id', ACCOUNT, '--region', 'us-east-1', '--json']);
      expect(code).toBe(0);
      expect(JSON.parse(out)).toMatchObject({ jobId: 'job-0001', status: 'Complete', finished: true, failed: false, percent: 100 });
    });
  });
});
