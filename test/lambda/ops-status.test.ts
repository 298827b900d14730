/**
 * The ops Lambda's `status` on the backups themselves, through its handler: the newest backup (key, age, size) and its
 * latest restore-test result, the EMF metrics the hourly schedule relies on, and the restore-test task among the
 * project's tasks. S3 against the emulator (moto), ECS with aws-sdk-client-mock.
 */
import { CreateBucketCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { DescribeTasksCommand, ECSClient, ListTasksCommand, RunTaskCommand } from '@aws-sdk/client-ecs';
import { mockClient } from 'aws-sdk-client-mock';
import { ENV, METRICS, type RestoreTestResult, sidecarKey } from '../../src/contract';
import { type LocalS3, startLocalS3 } from '../../src/local/s3-emulator';
import { handleEvent } from '../../lambda/ops/handler';
import type { OpsContext } from '../../lambda/ops/types';
import { type FixtureBackup, writeBackupFixture } from '../support/backup-fixture';
import { LOG_GROUP, REGION, TASK_DEFINITION, deployment, opsContext, taskArn } from '../support/ops-fixture';

const BUCKET = 'ops-status-backups';
const EMPTY_BUCKET = 'ops-status-empty';
const BACKUP_TD = TASK_DEFINITION.backup;
const RESTORE_TEST_TD = TASK_DEFINITION['restore-test'];
const TASK_ID = '7e6d5c4b3a2918070f1e2d3c4b5a6978';
const TASK_ARN = taskArn(TASK_ID);
/** A deployment from before BACKUP_DATABASE and without a web service (an empty value is unset). */
const ENVIRONMENT = deployment(BUCKET, { [ENV.database]: '', [ENV.webService]: '' });
const NOW = new Date('2025-09-21T09:00:00Z');
const NEWEST = 'backups/meatdb-2025-09-21T03:00:00.sql.gz';
const OLDER = 'backups/meatdb-2025-09-20T03:00:00.sql.gz';

const ecsMock = mockClient(ECSClient);
let s3: LocalS3;
let client: S3Client;
let newest: FixtureBackup;

function context(env: Record<string, string | undefined> = ENVIRONMENT): OpsContext {
  return opsContext(client, env, NOW);
}

function passed(key: string): RestoreTestResult {
  return {
    format: 'meatbackup/restore-test@1',
    key,
    ok: true,
    testedAt: '2025-09-21T05:00:00.000Z',
    seconds: 312.5,
    mode: 'cluster',
    differences: [],
    assertions: [{ sql: 'select count(*) > 0 from users', ok: true }],
  };
}

/** ECS answers: `arn` is a task of `taskDefinition` in `desiredStatus`, nothing else exists. */
function ecsTasks(task?: { arn: string; taskDefinition: string; desiredStatus: 'RUNNING' | 'STOPPED'; exitCode?: number }): void {
  const family = (td: string) => td.slice(td.lastIndexOf('/') + 1).replace(/:\d+$/, '');
  ecsMock.on(ListTasksCommand).callsFake((input: { family?: string; desiredStatus?: string }) => ({
    taskArns: task && input.family === family(task.taskDefinition) && input.desiredStatus === task.desiredStatus ? [task.arn] : [],
  }));
  ecsMock.on(DescribeTasksCommand).callsFake((input: { tasks: string[] }) => ({
    tasks: input.tasks.map((taskArn) => ({
      taskArn,
      taskDefinitionArn: task?.taskDefinition,
      lastStatus: task?.desiredStatus,
      startedAt: new Date('2025-09-21T05:00:00Z'),
      ...(task?.desiredStatus === 'STOPPED' ? { stoppedAt: new Date('2025-09-21T05:05:13Z'), stopCode: 'EssentialContainerExited' } : {}),
      containers: [{ name: 'meatbackup', ...(task?.exitCode !== undefined ? { exitCode: task.exitCode } : {}) }],
    })),
  }));
}

/** Runs `fn` with stdout captured; returns what it wrote (the EMF lines). */
async function capturingStdout<T>(fn: () => Promise<T>): Promise<{ value: T; lines: Array<Record<string, unknown>> }> {
  let out = '';
  const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += chunk.toString();
    return true;
  });
  try {
    const value = await fn();
    return { value, lines: out.split('\n').filter(Boolean).map((l) => JSON.parse(l)) };
  } finally {
    spy.mockRestore();
  }
}

beforeAll(async () => {
  s3 = await startLocalS3();
  client = s3.client();
  await client.send(new CreateBucketCommand({ Bucket: BUCKET }));
  await client.send(new CreateBucketCommand({ Bucket: EMPTY_BUCKET }));
  await writeBackupFixture(client, BUCKET, { sql: 'select 1;\n', database: 'meatdb', takenAt: new Date('2025-09-20T03:00:00Z') });
  newest = await writeBackupFixture(client, BUCKET, { sql: 'create table users (id int);\n', database: 'meatdb', takenAt: new Date('2025-09-21T03:00:00Z') });
  await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: sidecarKey(NEWEST, 'restoreTest'), Body: JSON.stringify(passed(NEWEST)) }));
});
afterAll(async () => {
  await s3?.stop();
});
beforeEach(() => {
  ecsMock.reset();
  ecsTasks();
});

describe('GIVEN {"action": "status"} and a restore-test task that stopped after passing', () => {
  test('WHEN handled THEN it answers the newest backup, its restore-test result and the restore-test task, and writes the ages as metrics', async () => {
    // GIVEN
    ecsTasks({ arn: TASK_ARN, taskDefinition: RESTORE_TEST_TD, desiredStatus: 'STOPPED', exitCode: 0 });
    // WHEN
    const { value: result, lines } = await capturingStdout(() => handleEvent({ action: 'status' }, context()));
    // THEN
    const logUrl =
      `https://${REGION}.console.aws.amazon.com/cloudwatch/home?region=${REGION}#logsV2:log-groups/log-group/` +
      `${LOG_GROUP}/log-events/restore-test$252Fmeatbackup$252F${TASK_ID}`;
    expect(result).toEqual({
      ok: true,
      action: 'status',
      summary: [`newest backup ${NEWEST} (6h00m old)`, 'its restore test passed 4h00m ago', `restore-test task finished successfully (exit code 0); log: ${logUrl}`].join('\n'),
      newestBackup: {
        key: NEWEST,
        database: 'meatdb',
        takenAt: '2025-09-21T03:00:00.000Z',
        age: '6h00m',
        ageSeconds: 21_600,
        sizeBytes: newest.bytes.length,
        unverifiedNewer: 0,
      },
      restoreTest: {
        key: NEWEST,
        ofNewestBackup: true,
        resultKey: `${NEWEST}.restore-test.json`,
        ok: true,
        testedAt: '2025-09-21T05:00:00.000Z',
        age: '4h00m',
        ageSeconds: 14_400,
        mode: 'cluster',
        differences: [],
        failedAssertions: [],
      },
      count: 1,
      tasks: [
        expect.objectContaining({
          taskArn: TASK_ARN,
          kind: 'restore-test',
          state: 'stopped',
          exitCode: 0,
          succeeded: true,
          logStream: `restore-test/meatbackup/${TASK_ID}`,
          logUrl,
        }),
      ],
    });
    // the restore test's family is listed with the others
    expect(ecsMock.commandCalls(ListTasksCommand).map((c) => [c.args[0].input.family, c.args[0].input.desiredStatus])).toEqual([
      ['meatlizard-backup-backup', 'RUNNING'],
      ['meatlizard-backup-restore', 'RUNNING'],
      ['meatlizard-backup-restore-test', 'RUNNING'],
      ['meatlizard-backup-backup', 'STOPPED'],
      ['meatlizard-backup-restore', 'STOPPED'],
      ['meatlizard-backup-restore-test', 'STOPPED'],
    ]);
    // and one EMF record carries both ages, for CloudWatch to extract from the function's log
    expect(lines).toEqual([
      {
        _aws: {
          Timestamp: NOW.getTime(),
          CloudWatchMetrics: [
            {
              Namespace: 'MeatLizard/Backup',
              Dimensions: [['Database']],
              Metrics: [
                { Name: METRICS.newestBackupAgeSeconds, Unit: 'Seconds' },
                { Name: METRICS.restoreTestAgeSeconds, Unit: 'Seconds' },
              ],
            },
          ],
        },
        event: 'backup-health',
        Database: 'meatdb',
        NewestBackupAgeSeconds: 21_600,
        RestoreTestAgeSeconds: 14_400,
      },
    ]);
  });

  test('WHEN the restore-test task is named THEN only that task is reported, and no metric is written', async () => {
    // GIVEN
    ecsTasks({ arn: TASK_ARN, taskDefinition: RESTORE_TEST_TD, desiredStatus: 'STOPPED', exitCode: 1 });
    // WHEN
    const { value: result, lines } = await capturingStdout(() => handleEvent({ action: 'status', taskArn: TASK_ARN }, context()));
    // THEN
    expect(result).toMatchObject({
      ok: true,
      summary: expect.stringMatching(/^restore-test task failed: stopped with exit code 1 \(EssentialContainerExited\); log: https:/),
      task: { kind: 'restore-test', exitCode: 1, succeeded: false },
    });
    expect(result).not.toHaveProperty('newestBackup');
    expect(lines).toEqual([]);
  });
});

describe('GIVEN the newest backup has no restore-test result yet', () => {
  test('WHEN status is asked THEN the older backup\'s result is given, saying so', async () => {
    // GIVEN a bucket where only the older backup was tested
    const bucket = 'ops-status-older';
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
    await writeBackupFixture(client, bucket, { sql: 'select 1;\n', database: 'meatdb', takenAt: new Date('2025-09-20T03:00:00Z') });
    await writeBackupFixture(client, bucket, { sql: 'select 2;\n', database: 'meatdb', takenAt: new Date('2025-09-21T03:00:00Z') });
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: sidecarKey(OLDER, 'restoreTest'), Body: JSON.stringify({ ...passed(OLDER), testedAt: '2025-09-20T05:00:00.000Z' }) }));
    // WHEN
    const { value: result } = await capturingStdout(() => handleEvent({ action: 'status' }, context({ ...ENVIRONMENT, [ENV.bucket]: bucket })));
    // THEN
    expect(result).toMatchObject({
      ok: true,
      newestBackup: { key: NEWEST },
      restoreTest: { key: OLDER, ofNewestBackup: false, ok: true, ageSeconds: 28 * 3600 },
    });
    expect(String(result.ok && result.summary).split('\n')[1]).toBe(`not restore-tested yet; the newest tested backup is ${OLDER}, whose restore test passed 28h00m ago`);
  });
});

describe('GIVEN an empty bucket', () => {
  test('WHEN status is asked THEN it says there are no backups, answers nulls and writes no metric', async () => {
    // WHEN
    const { value: result, lines } = await capturingStdout(() => handleEvent({ action: 'status' }, context({ ...ENVIRONMENT, [ENV.bucket]: EMPTY_BUCKET })));
    // THEN
    expect(result).toEqual({
      ok: true,
      action: 'status',
      summary: `no backups under s3://${EMPTY_BUCKET}/backups/\nno backup, restore or restore-test task is running or stopped recently`,
      newestBackup: null,
      restoreTest: null,
      count: 0,
      tasks: [],
    });
    expect(lines).toEqual([]);
  });
});

describe('GIVEN ECS cannot be asked', () => {
  test('WHEN status is asked THEN the answer is the ECS error, and the backup ages were written all the same', async () => {
    // GIVEN
    ecsMock.on(ListTasksCommand).rejects(Object.assign(new Error('User is not authorized to perform: ecs:ListTasks'), { name: 'AccessDeniedException' }));
    // WHEN
    const { value: result, lines } = await capturingStdout(() => handleEvent({ action: 'status' }, context()));
    // THEN
    expect(result).toEqual({ ok: false, action: 'status', error: expect.stringMatching(/^could not list the tasks in cluster .*: access denied/) });
    expect(lines).toEqual([expect.objectContaining({ event: 'backup-health', NewestBackupAgeSeconds: 21_600 })]);
  });
});

describe('GIVEN a restore test is running', () => {
  test('WHEN a backup is asked for THEN it starts: a restore test never touches the live database', async () => {
    // GIVEN
    ecsTasks({ arn: TASK_ARN, taskDefinition: RESTORE_TEST_TD, desiredStatus: 'RUNNING' });
    ecsMock.on(RunTaskCommand).resolves({ tasks: [{ taskArn: `${TASK_ARN}0`, taskDefinitionArn: BACKUP_TD, lastStatus: 'PROVISIONING' }], failures: [] });
    // WHEN
    const result = await handleEvent({ action: 'backup' }, context());
    // THEN
    expect(result).toMatchObject({ ok: true, action: 'backup' });
    expect(ecsMock.commandCalls(RunTaskCommand)).toHaveLength(1);
    // only the backup and restore families were checked for a running task
    expect(ecsMock.commandCalls(ListTasksCommand).map((c) => c.args[0].input.family)).toEqual(['meatlizard-backup-backup', 'meatlizard-backup-restore']);
  });

  test('WHEN a restore is planned THEN the restore test does not block it', async () => {
    // GIVEN
    ecsTasks({ arn: TASK_ARN, taskDefinition: RESTORE_TEST_TD, desiredStatus: 'RUNNING' });
    // WHEN
    const result = await handleEvent({ action: 'restore', key: 'latest' }, context());
    // THEN
    expect(result).toMatchObject({ ok: true, confirmed: false, plan: { key: NEWEST, blockedBy: [] } });
  });
});
