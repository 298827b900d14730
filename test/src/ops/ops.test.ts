/**
 * What the ops Lambda's backup / restore / status actions do below its adapter, where the adapter's suites
 * (test/lambda/ops-restore.test.ts, ops-status.test.ts) do not reach: S3 against the emulator, ECS (which moto cannot
 * run Fargate tasks for) with aws-sdk-client-mock, asserting the exact inputs. The deployment is the shared one
 * (test/support/ops-fixture.ts).
 */
import { CreateBucketCommand, DeleteObjectCommand, PutBucketVersioningCommand, type S3Client } from '@aws-sdk/client-s3';
import { DescribeTasksCommand, ECSClient, RunTaskCommand } from '@aws-sdk/client-ecs';
import { mockClient } from 'aws-sdk-client-mock';
import { ENV } from '../../../src/contract';
import { type LocalS3, startLocalS3 } from '../../../src/local/s3-emulator';
import { opsTaskStatus, planRestore, startBackup, startRestore } from '../../../src/ops/actions';
import { opsConfig, taskDefinitionFamily } from '../../../src/ops/config';
import { readSettings } from '../../../src/settings';
import { writeBackupFixture } from '../../support/backup-fixture';
import { CLUSTER, LOG_GROUP, NETWORK, STARTED_TASK, TASK_DEFINITION, answerRunTask, answerRunning, deployment, opsContext, runTaskInputs } from '../../support/ops-fixture';

const BUCKET = 'ops-backups';
const ENVIRONMENT = deployment(BUCKET);
const BACKUP_TD = TASK_DEFINITION.backup;
const TASK_ARN = STARTED_TASK;
const NOW = new Date('2025-09-17T12:30:00Z');

const ecsMock = mockClient(ECSClient);
let s3: LocalS3;
let client: S3Client;

function deps(env: Record<string, string | undefined> = ENVIRONMENT) {
  return opsContext(client, env, NOW);
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
  answerRunning(ecsMock);
  answerRunTask(ecsMock);
});

describe('GIVEN {"action":"restore","key":…} without confirmation', () => {
  test('WHEN the key is a file name THEN it resolves under the prefix', async () => {
    expect((await planRestore(deps(), 'meatdb-2025-09-16T10:30:00.sql.gz')).key).toBe('backups/meatdb-2025-09-16T10:30:00.sql.gz');
  });
  test('WHEN the backup has no manifest THEN it is refused: the task could not check it', async () => {
    await expect(planRestore(deps(), 'meatdb-2025-09-15T10:30:00.sql.gz')).rejects.toThrow(
      'backup backups/meatdb-2025-09-15T10:30:00.sql.gz has no manifest (backups/meatdb-2025-09-15T10:30:00.sql.gz.manifest.json): the run that wrote it never recorded its sha256, so it cannot be checked; pick another backup ({"action":"list"}); nothing was started',
    );
  });
  test('WHEN the manifest was deleted (a delete marker hides it) THEN the plan says when, names the marker and how to bring the previous version back, as the CLI does', async () => {
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
  test('WHEN ECS cannot place the task THEN its reason is the error', async () => {
    ecsMock.on(RunTaskCommand).resolves({ tasks: [], failures: [{ reason: 'RESOURCE:ENI', detail: 'no free IP addresses in subnet-aaa' }] });
    await expect(startRestore(deps(), 'latest')).rejects.toThrow('ECS did not start the restore task: RESOURCE:ENI (no free IP addresses in subnet-aaa); nothing is running');
  });
});

describe('GIVEN {"action":"backup"}', () => {
  test('WHEN the deployment assigns public IPs THEN the backup task is started with one, and the command `backup --json`', async () => {
    const { task } = await startBackup(deps({ ...ENVIRONMENT, [ENV.taskAssignPublicIp]: 'true' }));
    expect(runTaskInputs(ecsMock)).toEqual([
      {
        cluster: CLUSTER,
        taskDefinition: BACKUP_TD,
        launchType: 'FARGATE',
        count: 1,
        startedBy: 'meatbackup-ops',
        networkConfiguration: { awsvpcConfiguration: { ...NETWORK.awsvpcConfiguration, assignPublicIp: 'ENABLED' } },
        overrides: { containerOverrides: [{ name: 'meatbackup', command: ['backup', '--json'] }] },
      },
    ]);
    expect(task).toMatchObject({ kind: 'backup', logStream: `backup/meatbackup/${TASK_ARN.slice(TASK_ARN.lastIndexOf('/') + 1)}` });
  });
});

describe('GIVEN {"action":"status","taskArn":…}', () => {
  test('WHEN the backup task is still running THEN it is running with no exit code yet', async () => {
    ecsMock.on(DescribeTasksCommand).resolves({ tasks: [{ taskArn: TASK_ARN, taskDefinitionArn: BACKUP_TD, lastStatus: 'RUNNING', containers: [{ name: 'meatbackup' }] }] });
    const [task] = (await opsTaskStatus(deps(), TASK_ARN)).tasks;
    expect(task).toMatchObject({ kind: 'backup', state: 'running', lastStatus: 'RUNNING' });
    expect(task).not.toHaveProperty('exitCode');
    expect(task).not.toHaveProperty('succeeded');
  });
  test('WHEN ECS no longer knows the task THEN the answer says where its log stays', async () => {
    ecsMock.on(DescribeTasksCommand).resolves({ tasks: [], failures: [{ arn: TASK_ARN, reason: 'MISSING' }] });
    await expect(opsTaskStatus(deps(), TASK_ARN)).rejects.toThrow(`ECS forgets stopped tasks after about an hour; its output stays in log group ${LOG_GROUP}`);
  });
});

describe('GIVEN task definition ARNs', () => {
  test('WHEN the family is taken THEN the revision and ARN parts are dropped', () => {
    expect(taskDefinitionFamily(BACKUP_TD)).toBe('meatlizard-backup-backup');
    expect(taskDefinitionFamily('meatlizard-backup-restore:7')).toBe('meatlizard-backup-restore');
    expect(opsConfig(readSettings(ENVIRONMENT)).webService).toEqual({ cluster: 'meatlizard', service: 'web' });
  });
});
