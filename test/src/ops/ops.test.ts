/**
 * What the ops Lambda's backup / restore / status actions do, below its adapter: S3 against the emulator, ECS
 * (which moto cannot run Fargate tasks for) with aws-sdk-client-mock, asserting the exact inputs.
 */
import { CreateBucketCommand, DeleteObjectCommand, PutBucketVersioningCommand, type S3Client } from '@aws-sdk/client-s3';
import { DescribeTasksCommand, ECSClient, ListTasksCommand, RunTaskCommand } from '@aws-sdk/client-ecs';
import { mockClient } from 'aws-sdk-client-mock';
import { ENV } from '../../../src/contract';
import { type LocalS3, startLocalS3 } from '../../../src/local/s3-emulator';
import { opsTaskStatus, planRestore, startBackup, startRestore } from '../../../src/ops/actions';
import { opsConfig, taskDefinitionFamily } from '../../../src/ops/config';
import { writeBackupFixture } from '../../support/backup-fixture';
import { readSettings } from '../../../src/settings';
import type { OpsContext } from '../../../src/ops/context';

const BUCKET = 'ops-backups';
const REGION = 'eu-west-1';
const ACCOUNT = '111122223333';
const CLUSTER = `arn:aws:ecs:${REGION}:${ACCOUNT}:cluster/meatlizard`;
const BACKUP_TD = `arn:aws:ecs:${REGION}:${ACCOUNT}:task-definition/meatlizard-backup-backup:4`;
const RESTORE_TD = `arn:aws:ecs:${REGION}:${ACCOUNT}:task-definition/meatlizard-backup-restore:2`;
const TASK_ARN = `arn:aws:ecs:${REGION}:${ACCOUNT}:task/meatlizard/0f1e2d3c4b5a69788796a5b4c3d2e1f0`;

const ENVIRONMENT = {
  [ENV.bucket]: BUCKET,
  [ENV.prefix]: 'backups/',
  [ENV.ecsCluster]: CLUSTER,
  [ENV.backupTaskDefinition]: BACKUP_TD,
  [ENV.restoreTaskDefinition]: RESTORE_TD,
  [ENV.taskContainerName]: 'meatbackup',
  [ENV.taskSubnets]: 'subnet-aaa,subnet-bbb',
  [ENV.taskSecurityGroups]: 'sg-123',
  [ENV.taskAssignPublicIp]: 'false',
  [ENV.taskLogGroup]: '/meatlizard/backup-tasks',
  [ENV.webService]: 'meatlizard/web',
};
const NOW = new Date('2025-09-17T12:30:00Z');

const ecsMock = mockClient(ECSClient);
let s3: LocalS3;
let client: S3Client;

function deps(env: Record<string, string | undefined> = ENVIRONMENT): OpsContext {
  return { s3: client, ecs: new ECSClient({ region: REGION }), settings: readSettings(env), now: () => NOW };
}

/** ListTasks answers: the given tasks run under the given family, nothing else runs. */
function running(byFamily: Record<string, string[]> = {}): void {
  ecsMock.on(ListTasksCommand).callsFake((input: { family?: string; desiredStatus?: string }) => ({
    taskArns: input.desiredStatus === 'RUNNING' ? byFamily[input.family ?? ''] ?? [] : [],
  }));
  ecsMock.on(DescribeTasksCommand).callsFake((input: { tasks: string[] }) => ({
    tasks: input.tasks.map((taskArn) => ({
      taskArn,
      taskDefinitionArn: Object.keys(byFamily).find((f) => byFamily[f].includes(taskArn)) === 'meatlizard-backup-backup' ? BACKUP_TD : RESTORE_TD,
      lastStatus: 'RUNNING',
      startedAt: new Date('2025-09-17T12:25:00Z'),
    })),
  }));
}

beforeAll(async () => {
  s3 = await startLocalS3();
  client = s3.client();
  await client.send(new CreateBucketCommand({ Bucket: BUCKET }));
  await writeBackupFixture(client, BUCKET, { sql: 'select 1;\n', database: 'meatdb', takenAt: new Date('2025-09-17T10:30:00Z') });
  await writeBackupFixture(client, BUCKET, { sql: 'select 2;\n', database: 'meatdb', takenAt: new Date('2025-09-16T10:30:00Z') });
  await writeBackupFixture(client, BUCKET, { sql: 'select 3;\n', database: 'meatdb', takenAt: new Date('2025-09-15T10:30:00Z'), withoutManifest: true });
});
afterAll(async () => {
  await s3?.stop();
});
beforeEach(() => {
  ecsMock.reset();
  ecsMock.on(RunTaskCommand).resolves({ tasks: [{ taskArn: TASK_ARN, lastStatus: 'PROVISIONING', taskDefinitionArn: RESTORE_TD }], failures: [] });
});

const RESTORE_COMMAND = [
  'restore', 'backups/meatdb-2025-09-17T10:30:00.sql.gz',
  '--bucket', BUCKET,
  '--prefix', 'backups/',
  '--target-db', 'meatdb',
  '--stop-ecs-service', 'meatlizard/web',
  '--yes', '--json',
];

describe('GIVEN {"action":"restore","key":"latest"} without confirmation', () => {
  test('WHEN it is planned THEN the plan names key, size, age, target, web service and command, and no task is started', async () => {
    running();
    const plan = await planRestore(deps(), 'latest');
    expect(plan).toMatchObject({
      bucket: BUCKET,
      key: 'backups/meatdb-2025-09-17T10:30:00.sql.gz',
      database: 'meatdb',
      target: 'meatdb',
      takenAt: '2025-09-17T10:30:00.000Z',
      age: '2h00m',
      ageSeconds: 7200,
      webService: 'meatlizard/web',
      command: RESTORE_COMMAND,
      blockedBy: [],
    });
    expect(plan.sizeBytes).toBeGreaterThan(0);
    expect(plan.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(plan.replaced).toMatch(/renamed to meatdb_pre_restore_<UTC time> and kept, never dropped/);
    expect(ecsMock.commandCalls(RunTaskCommand)).toHaveLength(0);
  });

  test('WHEN the key is a file name THEN it resolves under the prefix', async () => {
    running();
    expect((await planRestore(deps(), 'meatdb-2025-09-16T10:30:00.sql.gz')).key).toBe('backups/meatdb-2025-09-16T10:30:00.sql.gz');
  });

  test('WHEN the key does not exist THEN the error lists the newest keys that do', async () => {
    running();
    await expect(planRestore(deps(), 'meatdb-2020-01-01T00:00:00.sql.gz')).rejects.toThrow(
      'backup meatdb-2020-01-01T00:00:00.sql.gz not found under s3://ops-backups/backups/; newest there: meatdb-2025-09-17T10:30:00.sql.gz, meatdb-2025-09-16T10:30:00.sql.gz, meatdb-2025-09-15T10:30:00.sql.gz',
    );
  });

  test('WHEN the backup has no manifest THEN it is refused: the task could not check it', async () => {
    running();
    await expect(planRestore(deps(), 'meatdb-2025-09-15T10:30:00.sql.gz')).rejects.toThrow(
      'backup backups/meatdb-2025-09-15T10:30:00.sql.gz has no manifest (backups/meatdb-2025-09-15T10:30:00.sql.gz.manifest.json): the run that wrote it never recorded its sha256, so it cannot be checked; pick another backup ({"action":"list"}); nothing was started',
    );
  });

  test('WHEN the manifest was deleted (a delete marker hides it) THEN the plan says when, names the marker and how to bring the previous version back, as the CLI does', async () => {
    running();
    const bucket = 'ops-deleted-manifest';
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
    await client.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }));
    const backup = await writeBackupFixture(client, bucket, { sql: 'select 4;\n', database: 'meatdb', takenAt: new Date('2025-09-17T11:00:00Z') });
    const marker = await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: backup.manifestKey }));

    const refused = (await planRestore(deps({ ...ENVIRONMENT, [ENV.bucket]: bucket }), 'latest').catch((e: unknown) => e)) as Error;

    expect(refused.message).toMatch(
      new RegExp(
        `^the manifest of backup ${backup.key} was deleted at \\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}Z \\(delete marker version ${marker.VersionId}\\); ` +
          `its previous version \\S+ is still in the bucket: bring it back by removing the delete marker ` +
          `\\(aws s3api delete-object --bucket ${bucket} --key ${backup.manifestKey} --version-id ${marker.VersionId}\\), then run this again; nothing was started$`,
      ),
    );
    expect(refused.message).not.toMatch(/has no manifest/);
    expect(ecsMock.commandCalls(RunTaskCommand)).toHaveLength(0);
  });
});

describe('GIVEN {"action":"restore","key":…,"confirm":true}', () => {
  test('WHEN nothing else runs THEN the restore task is started with exactly this RunTask input', async () => {
    running();
    const { plan, task } = await startRestore(deps(), 'latest');
    expect(ecsMock.commandCalls(RunTaskCommand).map((c) => c.args[0].input)).toEqual([
      {
        cluster: CLUSTER,
        taskDefinition: RESTORE_TD,
        launchType: 'FARGATE',
        count: 1,
        startedBy: 'meatbackup-ops',
        networkConfiguration: { awsvpcConfiguration: { subnets: ['subnet-aaa', 'subnet-bbb'], securityGroups: ['sg-123'], assignPublicIp: 'DISABLED' } },
        overrides: { containerOverrides: [{ name: 'meatbackup', command: RESTORE_COMMAND }] },
      },
    ]);
    expect(plan.key).toBe('backups/meatdb-2025-09-17T10:30:00.sql.gz');
    expect(task).toMatchObject({ taskArn: TASK_ARN, kind: 'restore', state: 'running', lastStatus: 'PROVISIONING' });
    expect(task.logUrl).toBe(
      'https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#logsV2:log-groups/log-group/$252Fmeatlizard$252Fbackup-tasks/log-events/restore$252Fmeatbackup$252F0f1e2d3c4b5a69788796a5b4c3d2e1f0',
    );
  });

  test('WHEN no web service is configured THEN the command has no --stop-ecs-service', async () => {
    running();
    await startRestore(deps({ ...ENVIRONMENT, [ENV.webService]: undefined }), 'latest');
    const command = ecsMock.commandCalls(RunTaskCommand)[0].args[0].input.overrides?.containerOverrides?.[0].command;
    expect(command).not.toContain('--stop-ecs-service');
  });

  test.each([
    ['a backup', 'meatlizard-backup-backup'],
    ['another restore', 'meatlizard-backup-restore'],
  ])('WHEN %s task is running THEN it is refused, naming that task, and nothing is started', async (_what, family) => {
    running({ [family]: [TASK_ARN] });
    await expect(startRestore(deps(), 'latest')).rejects.toThrow(
      new RegExp(`^a (backup|restore) task is running \\(${TASK_ARN}, started 2025-09-17T12:25:00.000Z\\): wait until it has stopped .*; no restore task was started$`),
    );
    expect(ecsMock.commandCalls(RunTaskCommand)).toHaveLength(0);
    expect(ecsMock.commandCalls(ListTasksCommand).map((c) => c.args[0].input)).toEqual(
      expect.arrayContaining([{ cluster: CLUSTER, family: 'meatlizard-backup-backup', desiredStatus: 'RUNNING' }, { cluster: CLUSTER, family: 'meatlizard-backup-restore', desiredStatus: 'RUNNING' }]),
    );
  });

  test('WHEN ECS cannot place the task THEN its reason is the error', async () => {
    running();
    ecsMock.on(RunTaskCommand).resolves({ tasks: [], failures: [{ reason: 'RESOURCE:ENI', detail: 'no free IP addresses in subnet-aaa' }] });
    await expect(startRestore(deps(), 'latest')).rejects.toThrow('ECS did not start the restore task: RESOURCE:ENI (no free IP addresses in subnet-aaa); nothing is running');
  });

  test('WHEN the deployment lacks settings THEN the error names them and nothing is started', async () => {
    await expect(startRestore(deps({ [ENV.bucket]: BUCKET }), 'latest')).rejects.toThrow(
      `this deployment of the ops function has no ${ENV.ecsCluster}, ${ENV.backupTaskDefinition}, ${ENV.restoreTaskDefinition}, ${ENV.taskSubnets}, ${ENV.taskSecurityGroups} in its environment`,
    );
    expect(ecsMock.commandCalls(RunTaskCommand)).toHaveLength(0);
  });
});

describe('GIVEN {"action":"backup"}', () => {
  test('WHEN nothing runs THEN the backup task is started with the command `backup --json`', async () => {
    running();
    ecsMock.on(RunTaskCommand).resolves({ tasks: [{ taskArn: TASK_ARN, lastStatus: 'PROVISIONING', taskDefinitionArn: BACKUP_TD }] });
    const { task } = await startBackup(deps({ ...ENVIRONMENT, [ENV.taskAssignPublicIp]: 'true' }));
    expect(ecsMock.commandCalls(RunTaskCommand).map((c) => c.args[0].input)).toEqual([
      {
        cluster: CLUSTER,
        taskDefinition: BACKUP_TD,
        launchType: 'FARGATE',
        count: 1,
        startedBy: 'meatbackup-ops',
        networkConfiguration: { awsvpcConfiguration: { subnets: ['subnet-aaa', 'subnet-bbb'], securityGroups: ['sg-123'], assignPublicIp: 'ENABLED' } },
        overrides: { containerOverrides: [{ name: 'meatbackup', command: ['backup', '--json'] }] },
      },
    ]);
    expect(task).toMatchObject({ kind: 'backup', logStream: 'backup/meatbackup/0f1e2d3c4b5a69788796a5b4c3d2e1f0' });
  });

  test('WHEN a restore task is running THEN it is refused and nothing is started', async () => {
    running({ 'meatlizard-backup-restore': [TASK_ARN] });
    await expect(startBackup(deps())).rejects.toThrow(/^a restore task is running .*no backup task was started$/);
    expect(ecsMock.commandCalls(RunTaskCommand)).toHaveLength(0);
  });
});

describe('GIVEN {"action":"status","taskArn":…}', () => {
  test('WHEN the restore task has stopped with exit code 1 THEN the status says so, with its stop reason and log link', async () => {
    ecsMock.on(DescribeTasksCommand).resolves({
      tasks: [
        {
          taskArn: TASK_ARN,
          taskDefinitionArn: RESTORE_TD,
          lastStatus: 'STOPPED',
          desiredStatus: 'STOPPED',
          startedBy: 'meatbackup-ops',
          startedAt: new Date('2025-09-17T12:00:00Z'),
          stoppedAt: new Date('2025-09-17T12:03:00Z'),
          stopCode: 'EssentialContainerExited',
          stoppedReason: 'Essential container in task exited',
          containers: [{ name: 'meatbackup', exitCode: 1, lastStatus: 'STOPPED' }],
          overrides: { containerOverrides: [{ name: 'meatbackup', command: RESTORE_COMMAND }] },
        },
      ],
    });
    const { tasks } = await opsTaskStatus(deps(), TASK_ARN);
    expect(ecsMock.commandCalls(DescribeTasksCommand).map((c) => c.args[0].input)).toEqual([{ cluster: CLUSTER, tasks: [TASK_ARN] }]);
    expect(tasks).toEqual([
      {
        taskArn: TASK_ARN,
        kind: 'restore',
        state: 'stopped',
        lastStatus: 'STOPPED',
        command: RESTORE_COMMAND,
        startedBy: 'meatbackup-ops',
        startedAt: '2025-09-17T12:00:00.000Z',
        stoppedAt: '2025-09-17T12:03:00.000Z',
        exitCode: 1,
        succeeded: false,
        stopCode: 'EssentialContainerExited',
        stoppedReason: 'Essential container in task exited',
        logGroup: '/meatlizard/backup-tasks',
        logStream: 'restore/meatbackup/0f1e2d3c4b5a69788796a5b4c3d2e1f0',
        logUrl: expect.stringMatching(/^https:\/\/eu-west-1\.console\.aws\.amazon\.com\/cloudwatch\/home\?region=eu-west-1#logsV2:log-groups\/log-group\/\$252Fmeatlizard\$252Fbackup-tasks\/log-events\/restore\$252Fmeatbackup\$252F0f1e/),
      },
    ]);
  });

  test('WHEN the backup task is still running THEN it is running with no exit code yet', async () => {
    ecsMock.on(DescribeTasksCommand).resolves({ tasks: [{ taskArn: TASK_ARN, taskDefinitionArn: BACKUP_TD, lastStatus: 'RUNNING', containers: [{ name: 'meatbackup' }] }] });
    const [task] = (await opsTaskStatus(deps(), TASK_ARN)).tasks;
    expect(task).toMatchObject({ kind: 'backup', state: 'running', lastStatus: 'RUNNING' });
    expect(task).not.toHaveProperty('exitCode');
    expect(task).not.toHaveProperty('succeeded');
  });

  test('WHEN the task is not one of the project\'s THEN it is refused', async () => {
    ecsMock.on(DescribeTasksCommand).resolves({ tasks: [{ taskArn: TASK_ARN, taskDefinitionArn: `arn:aws:ecs:${REGION}:${ACCOUNT}:task-definition/web:9`, lastStatus: 'RUNNING' }] });
    await expect(opsTaskStatus(deps(), TASK_ARN)).rejects.toThrow(/is not a meatbackup backup, restore or restore-test task/);
  });

  test('WHEN ECS no longer knows the task THEN the answer says where its log stays', async () => {
    ecsMock.on(DescribeTasksCommand).resolves({ tasks: [], failures: [{ arn: TASK_ARN, reason: 'MISSING' }] });
    await expect(opsTaskStatus(deps(), TASK_ARN)).rejects.toThrow(/ECS forgets stopped tasks after about an hour; its output stays in log group \/meatlizard\/backup-tasks/);
  });

  test('WHEN no task is named THEN the project\'s running and recently stopped tasks are listed', async () => {
    running({ 'meatlizard-backup-backup': [TASK_ARN] });
    const { tasks } = await opsTaskStatus(deps());
    expect(tasks).toEqual([expect.objectContaining({ taskArn: TASK_ARN, kind: 'backup', state: 'running' })]);
  });
});

describe('GIVEN task definition ARNs', () => {
  test('WHEN the family is taken THEN the revision and ARN parts are dropped', () => {
    expect(taskDefinitionFamily(BACKUP_TD)).toBe('meatlizard-backup-backup');
    expect(taskDefinitionFamily('meatlizard-backup-restore:7')).toBe('meatlizard-backup-restore');
    expect(opsConfig(readSettings(ENVIRONMENT)).webService).toEqual({ cluster: 'meatlizard', service: 'web' });
  });
});
