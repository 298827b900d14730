/**
 * The ops Lambda's backup, restore and status actions through its handler, as an operator sends them from the
 * console: S3 against the emulator (moto), ECS with aws-sdk-client-mock (moto cannot run Fargate tasks), asserting
 * the exact RunTask input and that a plan, a refusal or a bad event starts nothing.
 */
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { DescribeTasksCommand, ECSClient, ListTasksCommand, RunTaskCommand } from '@aws-sdk/client-ecs';
import { mockClient } from 'aws-sdk-client-mock';
import { ENV } from '../../src/contract';
import { type LocalS3, startLocalS3 } from '../../src/local/s3-emulator';
import { handleEvent } from '../../lambda/ops/handler';
import type { OpsContext } from '../../lambda/ops/types';
import { type FixtureBackup, writeBackupFixture } from '../support/backup-fixture';
import { CLUSTER, LOG_GROUP, NETWORK, REGION, STARTED_TASK, STARTED_TASK_ID, TASK_DEFINITION, answerRunTask, answerRunning, deployment, opsContext, taskArn } from '../support/ops-fixture';

const BUCKET = 'ops-restore-backups';
const BACKUP_TD = TASK_DEFINITION.backup;
const RESTORE_TD = TASK_DEFINITION.restore;
const TASK_ID = STARTED_TASK_ID;
const TASK_ARN = STARTED_TASK;
const OTHER_TASK_ARN = taskArn('0a0b0c0d0e0f00112233445566778899');
const LATEST = 'backups/meatdb-2025-09-17T03:00:00.sql.gz';
const OTHER_DATABASE = 'backups/postgres-2025-09-17T08:00:00.sql.gz';
const ENVIRONMENT = deployment(BUCKET);
const NOW = new Date('2025-09-17T09:15:00Z');
const RESTORE_COMMAND = [
  'restore', LATEST,
  '--bucket', BUCKET,
  '--prefix', 'backups/',
  '--target-db', 'meatdb',
  '--stop-ecs-service', 'meatlizard/web',
  '--yes', '--json',
];
const LOG_URL =
  `https://${REGION}.console.aws.amazon.com/cloudwatch/home?region=${REGION}#logsV2:log-groups/log-group/` +
  `${LOG_GROUP}/log-events/restore$252Fmeatbackup$252F${TASK_ID}`;

const ecsMock = mockClient(ECSClient);
let s3: LocalS3;
let client: S3Client;
let latest: FixtureBackup;

function context(env: Record<string, string | undefined> = ENVIRONMENT): OpsContext {
  return opsContext(client, env, NOW);
}

/** ECS answers: `arn` runs as a task of `kind`, nothing else runs. */
function runningTask(kind?: 'backup' | 'restore', arn: string = OTHER_TASK_ARN): void {
  answerRunning(ecsMock, kind ? { [kind]: [arn] } : {});
}

/** Every S3 call the actions make goes through this client: counted, still answered by the emulator. */
let s3Send: jest.SpiedFunction<S3Client['send']>;

beforeAll(async () => {
  s3 = await startLocalS3();
  client = s3.client();
  await client.send(new CreateBucketCommand({ Bucket: BUCKET }));
  latest = await writeBackupFixture(client, BUCKET, { sql: 'create table t (id int);\n', database: 'meatdb', takenAt: new Date('2025-09-17T03:00:00Z') });
  await writeBackupFixture(client, BUCKET, { sql: 'select 1;\n', database: 'meatdb', takenAt: new Date('2025-09-16T03:00:00Z') });
  await writeBackupFixture(client, BUCKET, { sql: 'select 2;\n', database: 'postgres', takenAt: new Date('2025-09-17T08:00:00Z') });
});
afterAll(async () => {
  await s3?.stop();
});
beforeEach(() => {
  ecsMock.reset();
  runningTask();
  answerRunTask(ecsMock);
  s3Send = jest.spyOn(client, 'send');
});
afterEach(() => {
  s3Send.mockRestore();
});

function runTaskInputs(): unknown[] {
  return ecsMock.commandCalls(RunTaskCommand).map((c) => c.args[0].input);
}

describe('GIVEN {"action": "restore", "key": "latest"} without "confirm"', () => {
  test('WHEN handled THEN it answers the plan and how to confirm it, and makes no RunTask call', async () => {
    // WHEN
    const result = await handleEvent({ action: 'restore', key: 'latest' }, context());
    // THEN
    expect(result).toEqual({
      ok: true,
      action: 'restore',
      confirmed: false,
      message: 'nothing was started; add "confirm": true to run it',
      confirmWith: { action: 'restore', key: LATEST, confirm: true },
      plan: {
        bucket: BUCKET,
        key: LATEST,
        database: 'meatdb',
        target: 'meatdb',
        takenAt: '2025-09-17T03:00:00.000Z',
        age: '6h15m',
        ageSeconds: 22_500,
        sizeBytes: latest.bytes.length,
        sha256: latest.manifest.sha256,
        ...(latest.versionId ? { versionId: latest.versionId } : {}),
        replaced: expect.stringContaining('renamed to meatdb_pre_restore_<UTC time> and kept, never dropped'),
        webService: 'meatlizard/web',
        command: RESTORE_COMMAND,
        blockedBy: [],
      },
    });
    expect(runTaskInputs()).toEqual([]);
    // only reads: the backup's HEAD/manifest in S3 (the manifest twice: "latest" is the newest backup whose manifest
    // is complete, then the plan reads what it records), which tasks run in ECS
    expect(s3Send.mock.calls.map(([command]) => command.constructor.name).sort()).toEqual(['GetObjectCommand', 'GetObjectCommand', 'HeadObjectCommand', 'ListObjectsV2Command']);
    expect(ecsMock.calls().map((c) => c.args[0].constructor.name)).toEqual(['ListTasksCommand', 'ListTasksCommand']);
  });

  test('WHEN a backup task is running THEN the plan says a confirmation must wait for it, and nothing is started', async () => {
    // GIVEN
    runningTask('backup');
    // WHEN
    const result = await handleEvent({ action: 'restore', key: 'meatdb-2025-09-16T03:00:00.sql.gz' }, context());
    // THEN
    expect(result).toMatchObject({
      ok: true,
      confirmed: false,
      message: `nothing was started; a backup task is running (${OTHER_TASK_ARN}): once it has stopped, add "confirm": true to run it`,
      confirmWith: { action: 'restore', key: 'backups/meatdb-2025-09-16T03:00:00.sql.gz', confirm: true },
      plan: { key: 'backups/meatdb-2025-09-16T03:00:00.sql.gz', blockedBy: [{ taskArn: OTHER_TASK_ARN, kind: 'backup', state: 'running' }] },
    });
    expect(runTaskInputs()).toEqual([]);
  });
});

describe('GIVEN a newer backup of another database than the configured one', () => {
  test('WHEN "latest" is planned THEN it is the configured database\'s newest backup, not the newer one of the other database', async () => {
    const result = await handleEvent({ action: 'restore', key: 'latest', confirm: true }, context());
    expect(result).toMatchObject({ ok: true, confirmed: true, plan: { key: LATEST, database: 'meatdb', target: 'meatdb', command: RESTORE_COMMAND } });
  });

  test('WHEN the other database\'s backup is named THEN it is refused, saying how to mean it, and nothing is started', async () => {
    const result = await handleEvent({ action: 'restore', key: OTHER_DATABASE, confirm: true }, context());
    expect(result).toEqual({
      ok: false,
      action: 'restore',
      error: `${OTHER_DATABASE} is a backup of database postgres, not of meatdb (the database this deployment restores): to restore it into meatdb anyway, add "fromDatabase": "postgres"; nothing was started`,
    });
    expect(runTaskInputs()).toEqual([]);
  });

  test('WHEN "fromDatabase" names it THEN the plan and the task name both databases and the confirmation carries it', async () => {
    const planned = await handleEvent({ action: 'restore', key: 'latest', fromDatabase: 'postgres' }, context());
    expect(planned).toMatchObject({
      ok: true,
      confirmWith: { action: 'restore', key: OTHER_DATABASE, fromDatabase: 'postgres', confirm: true },
      plan: { key: OTHER_DATABASE, database: 'postgres', target: 'meatdb' },
    });
    const started = await handleEvent({ action: 'restore', key: OTHER_DATABASE, fromDatabase: 'postgres', confirm: true }, context());
    expect(started).toMatchObject({ ok: true, message: expect.stringMatching(new RegExp(`^restore task started for ${OTHER_DATABASE} \\(a backup of database postgres\\) into meatdb`)) });
    expect(runTaskInputs()).toEqual([
      expect.objectContaining({
        overrides: { containerOverrides: [{ name: 'meatbackup', command: ['restore', OTHER_DATABASE, '--bucket', BUCKET, '--prefix', 'backups/', '--target-db', 'meatdb', '--from-database', 'postgres', '--stop-ecs-service', 'meatlizard/web', '--yes', '--json'] }] },
      }),
    ]);
  });

  test('WHEN the deployment does not say its database THEN "latest" is refused as ambiguous and nothing is started', async () => {
    const result = await handleEvent({ action: 'restore', key: 'latest', confirm: true }, context({ ...ENVIRONMENT, [ENV.database]: undefined }));
    expect(result).toEqual({ ok: false, action: 'restore', error: expect.stringMatching(/^"latest" is ambiguous: .* holds backups of 2 databases \(postgres, meatdb\): name the backup by its key, or add "fromDatabase": NAME$/) });
    expect(runTaskInputs()).toEqual([]);
  });
});

describe('GIVEN {"action": "restore", "key": …, "confirm": true}', () => {
  test('WHEN nothing else runs THEN the restore task is started with exactly this RunTask input, and the answer has its ARN and log link', async () => {
    // WHEN
    const result = await handleEvent({ action: 'restore', key: 'latest', confirm: true }, context());
    // THEN
    expect(runTaskInputs()).toEqual([
      {
        cluster: CLUSTER,
        taskDefinition: RESTORE_TD,
        launchType: 'FARGATE',
        count: 1,
        startedBy: 'meatbackup-ops',
        networkConfiguration: NETWORK,
        overrides: { containerOverrides: [{ name: 'meatbackup', command: RESTORE_COMMAND }] },
      },
    ]);
    expect(result).toMatchObject({
      ok: true,
      action: 'restore',
      confirmed: true,
      started: true,
      taskArn: TASK_ARN,
      logUrl: LOG_URL,
      message:
        `restore task started for ${LATEST} into meatdb (web service meatlizard/web is stopped for the swap and started again); ` +
        `send {"action":"status","taskArn":"${TASK_ARN}"} for its progress and exit code`,
      next: { action: 'status', taskArn: TASK_ARN },
      plan: { key: LATEST, command: RESTORE_COMMAND },
      task: { taskArn: TASK_ARN, kind: 'restore', state: 'running', lastStatus: 'PROVISIONING', logStream: `restore/meatbackup/${TASK_ID}` },
    });
  });

  test('WHEN no web service is configured THEN the task command stops none', async () => {
    // WHEN
    const result = await handleEvent({ action: 'restore', key: LATEST, confirm: true }, context({ ...ENVIRONMENT, [ENV.webService]: undefined }));
    // THEN
    expect(result).toMatchObject({ ok: true, confirmed: true, plan: { webService: null } });
    expect(runTaskInputs()).toEqual([
      expect.objectContaining({ overrides: { containerOverrides: [{ name: 'meatbackup', command: RESTORE_COMMAND.filter((a) => a !== '--stop-ecs-service' && a !== 'meatlizard/web') }] } }),
    ]);
  });

  test.each(['backup', 'restore'] as const)('WHEN a %s task is running THEN it is refused with {ok: false, error} naming that task, and nothing is started', async (kind) => {
    // GIVEN
    runningTask(kind);
    // WHEN
    const result = await handleEvent({ action: 'restore', key: 'latest', confirm: true }, context());
    // THEN
    expect(result).toEqual({
      ok: false,
      action: 'restore',
      error:
        `a ${kind} task is running (${OTHER_TASK_ARN}, started 2025-09-17T09:10:00.000Z): wait until it has stopped ` +
        `({"action": "status", "taskArn": "${OTHER_TASK_ARN}"}) and ask again; no restore task was started`,
    });
    expect(runTaskInputs()).toEqual([]);
  });

  test('WHEN the key names no backup THEN the error lists the ones that exist, and nothing is started', async () => {
    // WHEN
    const result = await handleEvent({ action: 'restore', key: 'meatdb-2024-01-01T00:00:00.sql.gz', confirm: true }, context());
    // THEN
    expect(result).toEqual({
      ok: false,
      action: 'restore',
      error: `backup meatdb-2024-01-01T00:00:00.sql.gz not found under s3://${BUCKET}/backups/; newest there: postgres-2025-09-17T08:00:00.sql.gz, meatdb-2025-09-17T03:00:00.sql.gz, meatdb-2025-09-16T03:00:00.sql.gz`,
    });
    expect(ecsMock.calls()).toHaveLength(0);
  });

  test('WHEN the deployment lacks its ECS settings THEN the error names them, and nothing is called', async () => {
    // WHEN
    const result = await handleEvent({ action: 'restore', key: 'latest', confirm: true }, context({ [ENV.bucket]: BUCKET }));
    // THEN
    expect(result).toEqual({
      ok: false,
      action: 'restore',
      error: expect.stringContaining(
        `has no ${ENV.ecsCluster}, ${ENV.backupTaskDefinition}, ${ENV.restoreTaskDefinition}, ${ENV.taskSubnets}, ${ENV.taskSecurityGroups} in its environment`,
      ),
    });
    expect(ecsMock.calls()).toHaveLength(0);
    expect(s3Send).not.toHaveBeenCalled();
  });
});

describe('GIVEN a bad event', () => {
  test.each([
    [{ action: 'restroe', key: 'latest' }, 'action must be one of backup, list, restore, status, promote, replication-check (got "restroe")'],
    [{ action: 'restore' }, 'invalid restore event: key: is required'],
    [{ action: 'restore', confirm: true }, 'invalid restore event: key: is required'],
    [{ action: 'restore', key: '' }, 'invalid restore event: key: key must not be empty'],
    [{ action: 'restore', key: 'meatdb.sql.gz', confirm: true }, 'invalid restore event: key: key must be "latest" or a backup name like backups/meatdb-2025-09-17T10:30:00.sql.gz'],
    [{ action: 'restore', key: 'backups/meatdb-2025-02-30T03:00:00.sql.gz', confirm: true }, 'invalid restore event: key: key must be "latest"'],
    [{ action: 'restore', key: 42 }, 'invalid restore event: key:'],
    [{ action: 'restore', key: 'latest', confirm: 'yes' }, 'invalid restore event: confirm: confirm must be exactly true to carry out the plan'],
    [{ action: 'restore', key: 'latest', confirm: false }, 'invalid restore event: confirm: confirm must be exactly true to carry out the plan'],
    [{ action: 'restore', key: 'latest', confirm: true, targetDb: 'other' }, 'invalid restore event: targetDb: not a field of the restore action'],
    [{ action: 'restore', key: 'latest', fromDatabase: 'a/b' }, 'invalid restore event: fromDatabase: not a database name a backup can have'],
    [{ action: 'backup', confirm: true }, 'invalid backup event: confirm: not a field of the backup action'],
    [{ action: 'status', taskArn: TASK_ID }, 'invalid status event: taskArn:'],
    [{ action: 'status', task: TASK_ARN }, 'invalid status event: task: not a field of the status action'],
  ])('WHEN %j is handled THEN the answer is {ok: false, error} naming the field, and nothing is called', async (event, message) => {
    // WHEN
    const result = await handleEvent(event, context());
    // THEN
    expect(result).toEqual({ ok: false, error: expect.stringContaining(message) });
    expect(ecsMock.calls()).toHaveLength(0);
    expect(s3Send).not.toHaveBeenCalled();
  });
});

describe('GIVEN {"action": "backup"}', () => {
  test('WHEN nothing runs THEN the backup task is started with exactly this RunTask input', async () => {
    // WHEN
    const result = await handleEvent({ action: 'backup' }, context());
    // THEN
    expect(runTaskInputs()).toEqual([
      {
        cluster: CLUSTER,
        taskDefinition: BACKUP_TD,
        launchType: 'FARGATE',
        count: 1,
        startedBy: 'meatbackup-ops',
        networkConfiguration: NETWORK,
        overrides: { containerOverrides: [{ name: 'meatbackup', command: ['backup', '--json'] }] },
      },
    ]);
    expect(result).toMatchObject({
      ok: true,
      action: 'backup',
      started: true,
      taskArn: TASK_ARN,
      logUrl: LOG_URL.replace('restore$252F', 'backup$252F'),
      message: `backup task started; send {"action":"status","taskArn":"${TASK_ARN}"} for its progress and exit code`,
      next: { action: 'status', taskArn: TASK_ARN },
      task: { kind: 'backup', state: 'running', logStream: `backup/meatbackup/${TASK_ID}` },
    });
    expect(s3Send).not.toHaveBeenCalled();
  });

  test('WHEN a restore task is running THEN it is refused and nothing is started', async () => {
    // GIVEN
    runningTask('restore');
    // WHEN
    const result = await handleEvent({ action: 'backup' }, context());
    // THEN
    expect(result).toEqual({ ok: false, action: 'backup', error: expect.stringMatching(/^a restore task is running \(.*\): wait until it has stopped .*; no backup task was started$/) });
    expect(runTaskInputs()).toEqual([]);
  });

  test('WHEN ECS denies RunTask THEN the answer says which permission is missing', async () => {
    // GIVEN
    ecsMock.on(RunTaskCommand).rejects(Object.assign(new Error('User is not authorized to perform: ecs:RunTask'), { name: 'AccessDeniedException' }));
    // WHEN
    const result = await handleEvent({ action: 'backup' }, context());
    // THEN
    expect(result).toEqual({
      ok: false,
      action: 'backup',
      error: "could not start the backup task: access denied: the ops function's role lacks the ECS permission for it; redeploy the primary stack",
    });
  });
});

describe('GIVEN {"action": "status"}', () => {
  test('WHEN the restore task has stopped with exit code 1 THEN the answer says it failed, with the exit code, reason and log link', async () => {
    // GIVEN
    ecsMock.on(DescribeTasksCommand).resolves({
      tasks: [
        {
          taskArn: TASK_ARN,
          taskDefinitionArn: RESTORE_TD,
          lastStatus: 'STOPPED',
          desiredStatus: 'STOPPED',
          startedBy: 'meatbackup-ops',
          createdAt: new Date('2025-09-17T09:00:00Z'),
          startedAt: new Date('2025-09-17T09:01:00Z'),
          stoppedAt: new Date('2025-09-17T09:04:30Z'),
          stopCode: 'EssentialContainerExited',
          stoppedReason: 'Essential container in task exited',
          containers: [{ name: 'meatbackup', exitCode: 1, lastStatus: 'STOPPED' }],
          overrides: { containerOverrides: [{ name: 'meatbackup', command: RESTORE_COMMAND }] },
        },
      ],
    });
    // WHEN
    const result = await handleEvent({ action: 'status', taskArn: TASK_ARN }, context());
    // THEN
    expect(ecsMock.commandCalls(DescribeTasksCommand).map((c) => c.args[0].input)).toEqual([{ cluster: CLUSTER, tasks: [TASK_ARN] }]);
    expect(result).toEqual({
      ok: true,
      action: 'status',
      summary: `restore task failed: stopped with exit code 1 (EssentialContainerExited: Essential container in task exited); log: ${LOG_URL}`,
      task: {
        taskArn: TASK_ARN,
        kind: 'restore',
        state: 'stopped',
        lastStatus: 'STOPPED',
        command: RESTORE_COMMAND,
        startedBy: 'meatbackup-ops',
        createdAt: '2025-09-17T09:00:00.000Z',
        startedAt: '2025-09-17T09:01:00.000Z',
        stoppedAt: '2025-09-17T09:04:30.000Z',
        exitCode: 1,
        succeeded: false,
        stopCode: 'EssentialContainerExited',
        stoppedReason: 'Essential container in task exited',
        logGroup: LOG_GROUP,
        logStream: `restore/meatbackup/${TASK_ID}`,
        logUrl: LOG_URL,
      },
    });
    expect(runTaskInputs()).toEqual([]);
  });

  test('WHEN the backup task finished with exit code 0 THEN it succeeded', async () => {
    // GIVEN
    ecsMock.on(DescribeTasksCommand).resolves({
      tasks: [{ taskArn: TASK_ARN, taskDefinitionArn: BACKUP_TD, lastStatus: 'STOPPED', containers: [{ name: 'meatbackup', exitCode: 0 }] }],
    });
    // WHEN
    const result = await handleEvent({ action: 'status', taskArn: TASK_ARN }, context());
    // THEN
    expect(result).toMatchObject({ ok: true, summary: expect.stringMatching(/^backup task finished successfully \(exit code 0\); log: https:/), task: { exitCode: 0, succeeded: true } });
  });

  test('WHEN no task is named THEN the newest backup and the project\'s running and recently stopped tasks are listed', async () => {
    // GIVEN
    runningTask('backup', TASK_ARN);
    const stdout = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
    // WHEN
    const result = await handleEvent({ action: 'status' }, context());
    stdout.mockRestore();
    // THEN (the backups' side: test/lambda/ops-status.test.ts)
    expect(result).toEqual({
      ok: true,
      action: 'status',
      summary: [
        `newest backup ${LATEST} (6h15m old)`,
        'no restore test of any meatdb backup yet',
        `backup task is running (RUNNING); log: ${LOG_URL.replace('restore$252F', 'backup$252F')}`,
      ].join('\n'),
      newestBackup: expect.objectContaining({ key: LATEST, ageSeconds: 22_500, sizeBytes: latest.bytes.length }),
      restoreTest: null,
      // The configured database comes first even though another database's backup is newer.
      otherDatabases: [{ database: 'postgres', newestBackup: expect.objectContaining({ key: OTHER_DATABASE }), restoreTest: null }],
      count: 1,
      tasks: [expect.objectContaining({ taskArn: TASK_ARN, kind: 'backup', state: 'running' })],
    });
    expect(ecsMock.commandCalls(ListTasksCommand).map((c) => c.args[0].input)).toEqual([
      { cluster: CLUSTER, family: 'meatlizard-backup-backup', desiredStatus: 'RUNNING' },
      { cluster: CLUSTER, family: 'meatlizard-backup-restore', desiredStatus: 'RUNNING' },
      { cluster: CLUSTER, family: 'meatlizard-backup-restore-test', desiredStatus: 'RUNNING' },
      { cluster: CLUSTER, family: 'meatlizard-backup-backup', desiredStatus: 'STOPPED' },
      { cluster: CLUSTER, family: 'meatlizard-backup-restore', desiredStatus: 'STOPPED' },
      { cluster: CLUSTER, family: 'meatlizard-backup-restore-test', desiredStatus: 'STOPPED' },
    ]);
  });

  test('WHEN the task is not a meatbackup task THEN the answer refuses it', async () => {
    // GIVEN
    ecsMock.on(DescribeTasksCommand).resolves({ tasks: [{ taskArn: TASK_ARN, taskDefinitionArn: `arn:aws:ecs:${REGION}:111122223333:task-definition/web:12`, lastStatus: 'RUNNING' }] });
    // WHEN
    const result = await handleEvent({ action: 'status', taskArn: TASK_ARN }, context());
    // THEN
    expect(result).toEqual({ ok: false, action: 'status', error: expect.stringContaining('is not a meatbackup backup, restore or restore-test task') });
  });
});
