/**
 * IAM, simulated: the emulator evaluates no IAM, so this suite holds every call the commands make to the policies the
 * stacks deploy. It runs the runbooks' commands here, in this process, against real PostgreSQL and moto (buckets
 * carry the stacks' names), exactly as each runs in AWS: the Fargate tasks' `meatbackup …` with their task
 * definition's command and environment, both Lambda functions' events through the ops handler with their
 * environment, and an operator's CLI. Every AWS call is recorded (test/support/iam/recorder.ts), mapped to the IAM
 * action(s) and ARN(s) AWS authorizes (authorizations.ts, including what S3 asks of KMS with the caller's
 * credentials), and simulated with @cloud-copilot/iam-simulate against the role's identity policies, the bucket
 * policy and the key policy of the synthesized templates. A denied call fails naming the call, the role and the
 * missing permission.
 *
 * Running the commands here rather than collecting calls from the other integration suites keeps one process, one
 * recorder and a known role per call (jest runs suites in separate workers, and most of them spawn the CLI as a child
 * process, out of reach of an in-process middleware); the commands are the ones the runbooks name.
 *
 * Object Lock and KMS are not emulated in moto's IAM-free world, so what must be denied is checked by simulation too:
 * no project role may bypass governance retention (so none deletes a locked backup), and the restore-test role
 * cannot write or retag a backup.
 */
import { type BucketLocationConstraint, CopyObjectCommand, CreateBucketCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateJobCommand, DescribeJobCommand, S3ControlClient } from '@aws-sdk/client-s3-control';
import { DescribeServicesCommand, DescribeTasksCommand, ECSClient, ListTasksCommand, RunTaskCommand, type RunTaskCommandInput, UpdateServiceCommand } from '@aws-sdk/client-ecs';
import { mockClient } from 'aws-sdk-client-mock';
import { writeFileSync } from 'node:fs';
import { ENV } from '../../src/contract';
import { parseConfig } from '../../lib/config';
import { useHarness } from '../src/backup/fixtures';
import { writeBackupFixture } from '../support/backup-fixture';
import { type Need, type World, authorizationsFor } from '../support/iam/authorizations';
import { type AwsCall, CallRecorder } from '../support/iam/recorder';
import { type RunOutput, runCommand, runEvent } from '../support/iam/run';
import { ADMINISTRATOR_ACCESS, type PolicyWorld, type Principal, simulate } from '../support/iam/simulate';
import { type StackModel, bucketsOf, functionOf, keysOf, roleModel, resourcesOfType, stackModel, taskDefinitions, taskRoleOf } from '../support/iam/templates';
import { OPERATOR_ROLE_ARN, TEST_CONFIG, synthesize } from './fixture';

const config = parseConfig(TEST_CONFIG, 'test');
const ACCOUNT = config.account!;
const templates = synthesize(TEST_CONFIG);
const primary: StackModel = stackModel('primary', templates.primary.toJSON() as never, config.primaryRegion, ACCOUNT);
const replica: StackModel = stackModel('replica', templates.replica.toJSON() as never, config.replicaRegion, ACCOUNT);
const buckets = [...bucketsOf(primary), ...bucketsOf(replica)];
const policyWorld: PolicyWorld = { account: ACCOUNT, buckets, keys: [...keysOf(primary), ...keysOf(replica)] };

const tasks = taskDefinitions(primary);
const taskOf = (family: string) => {
  const t = tasks.find((d) => d.arn.includes(`:task-definition/${family}:`));
  if (!t) throw new Error(`no task definition ${family}`);
  return t;
};
const opsFunction = functionOf(primary, 'ops function', (p) => JSON.stringify(p.Environment ?? {}).includes(ENV.backupTaskDefinition));
const promoteFunction = functionOf(replica, 'promotion function', (p) => p.FunctionName === `${config.name}-promote`);
const batchRoleArn = promoteFunction.environment[ENV.batchOperationsRole];
const batchRoleId = resourcesOfType(replica, 'AWS::IAM::Role').find((id) => replica.getAtt(id, 'Arn') === batchRoleArn)!;

const PRIMARY_BUCKET = opsFunction.environment[ENV.bucket];
const REPLICA_BUCKET = opsFunction.environment[ENV.replicaBucket];

/**
 * The operator of the README's manual steps: the test configuration's operator role (operatorRoleArns, which both
 * key policies name), an administrator in the account (AdministratorAccess).
 */
const OPERATOR_ARN = OPERATOR_ROLE_ARN;

const role = (name: string, model: { arn: string; policies: Principal['policies'] }): Principal => ({ name, arn: model.arn, policies: model.policies });
const ROLES = {
  backupTask: role('backup task role', taskRoleOf(primary, `${config.name}-backup`)),
  restoreTask: role('restore task role', taskRoleOf(primary, `${config.name}-restore`)),
  restoreTestTask: role('restore-test task role', taskRoleOf(primary, `${config.name}-restore-test`)),
  ops: role('ops Lambda role', opsFunction.role),
  promote: role('promotion Lambda role', promoteFunction.role),
  batch: role('Batch Operations role', roleModel(replica, batchRoleId)),
  operator: { name: 'operator role (administrator)', arn: OPERATOR_ARN, policies: [{ name: 'AdministratorAccess', policy: ADMINISTRATOR_ACCESS }] } satisfies Principal,
};
type RoleName = keyof typeof ROLES;

/** Where each run's calls come from: the command as the runbook names it, and the role that runs it in AWS. */
interface Run {
  command: string;
  role: RoleName;
  calls: AwsCall[];
}

const recorder = new CallRecorder();
const ecsMock = mockClient(ECSClient);
const controlMock = mockClient(S3ControlClient);
const runs: Run[] = [];

const h = useHarness('iam', async ({ pg }) => {
  await pg.query('create database meatdb');
  await pg.query(
    `create table users (id bigserial primary key, name text not null);
     create table messages (id bigserial primary key, user_id bigint references users, body text);
     insert into users (name) select 'user ' || g from generate_series(1, 500) g;
     insert into messages (user_id, body) select 1 + g % 500, 'hello ' || g from generate_series(1, 5000) g;
     analyze;`,
    'meatdb',
  );
});

function emulatorClient(region: string): S3Client {
  return new S3Client({ endpoint: h.s3.endpoint, region, forcePathStyle: true, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
}

/** The environment of a Fargate task of the stack, pointed at the local database and emulator. */
function taskEnv(environment: Record<string, string>, region: string): Record<string, string> {
  const pg = h.pg.env('meatdb') as Record<string, string>;
  return {
    ...environment,
    ...h.s3.env,
    AWS_REGION: region,
    AWS_DEFAULT_REGION: region,
    ...Object.fromEntries(Object.entries(pg).filter(([k]) => k.startsWith('PG'))),
    PGSSLMODE: 'disable',
    ...(environment.PGDATABASE ? { PGDATABASE: environment.PGDATABASE } : {}),
    TMPDIR: h.work,
  };
}

/** An operator's machine: AWS credentials, the region, the database. */
function operatorEnv(region: string = config.primaryRegion): Record<string, string> {
  return taskEnv({ BACKUP_BUCKET: PRIMARY_BUCKET }, region);
}

let ecsSeen = 0;
let controlSeen = 0;

/** Runs `fn` with its calls recorded as `command`, made in AWS by `roleName`. */
async function recorded<T>(command: string, roleName: RoleName, region: string, fn: () => Promise<T>): Promise<T> {
  const from = recorder.calls.length;
  recorder.as(command);
  try {
    return await fn();
  } finally {
    recorder.addMocked('ecs', region, ecsMock.calls().slice(ecsSeen).map((c) => c.args[0] as never));
    recorder.addMocked('s3-control', region, controlMock.calls().slice(controlSeen).map((c) => c.args[0] as never));
    ecsSeen = ecsMock.calls().length;
    controlSeen = controlMock.calls().length;
    recorder.as(undefined);
    runs.push({ command, role: roleName, calls: recorder.calls.slice(from) });
  }
}

function expectSuccess(out: RunOutput, what: string): void {
  if (out.code !== 0) throw new Error(`${what} exited ${out.code}:\n${out.stderr}\n${out.stdout}`);
}

/** The container command of the task the last RunTask started. */
function lastRunTaskCommand(): string[] {
  const input = ecsMock.commandCalls(RunTaskCommand).at(-1)?.args[0].input as RunTaskCommandInput | undefined;
  const command = input?.overrides?.containerOverrides?.[0]?.command;
  if (!command) throw new Error('no RunTask with a container command was made');
  return command;
}

beforeAll(() => {
  recorder.install();
  ecsMock.on(ListTasksCommand).resolves({ taskArns: [] });
  ecsMock.on(DescribeTasksCommand).resolves({ tasks: [] });
  ecsMock.on(RunTaskCommand).callsFake((input: RunTaskCommandInput) => ({
    tasks: [{ taskArn: `${opsFunction.environment[ENV.ecsCluster].replace(':cluster/', ':task/')}/0123456789abcdef`, taskDefinitionArn: input.taskDefinition, lastStatus: 'PROVISIONING', overrides: input.overrides, startedBy: input.startedBy }],
    failures: [],
  }));
  // The web service scales as it is told (a restore waits until its tasks are gone).
  let webCount = 2;
  ecsMock.on(DescribeServicesCommand).callsFake(() => ({ services: [{ serviceName: 'web', status: 'ACTIVE', desiredCount: webCount, runningCount: webCount, pendingCount: 0 }] }));
  ecsMock.on(UpdateServiceCommand).callsFake((input: { desiredCount?: number }) => {
    webCount = input.desiredCount ?? webCount;
    return { service: { serviceName: 'web', desiredCount: webCount } };
  });
  controlMock.on(CreateJobCommand).resolves({ JobId: 'job-0001' });
  controlMock.on(DescribeJobCommand).resolves({ Job: { JobId: 'job-0001', Status: 'Complete', ProgressSummary: { TotalNumberOfTasks: 1, NumberOfTasksSucceeded: 1, NumberOfTasksFailed: 0 } } });
});
afterAll(() => recorder.uninstall());

describe('IAM, simulated: every call of the runbooks under the role that makes it in AWS', () => {
  beforeAll(async () => {
    // GIVEN the stacks' buckets, by their names and in their regions, with Object Lock as deployed
    await emulatorClient(config.primaryRegion).send(new CreateBucketCommand({ Bucket: PRIMARY_BUCKET, ObjectLockEnabledForBucket: true, CreateBucketConfiguration: { LocationConstraint: config.primaryRegion as BucketLocationConstraint } }));
    await emulatorClient(config.replicaRegion).send(new CreateBucketCommand({ Bucket: REPLICA_BUCKET, ObjectLockEnabledForBucket: true, CreateBucketConfiguration: { LocationConstraint: config.replicaRegion as BucketLocationConstraint } }));
    const seedClient = emulatorClient(config.primaryRegion);
    for (let i = 0; i < 3; i++) {
      await seedClient.send(new PutObjectCommand({ Bucket: PRIMARY_BUCKET, Key: `transcripts/room-${i}.json`, Body: `{"room":${i}}`, ContentType: 'application/json' }));
    }
  }, 60_000);

  test('GIVEN the runbooks WHEN each command runs as in AWS THEN every call it makes is allowed to its role', async () => {
    const primaryEnvOf = (family: string) => taskEnv(taskOf(family).environment, config.primaryRegion);
    const opsEnv = taskEnv(opsFunction.environment, config.primaryRegion);
    const promoteEnv = taskEnv(promoteFunction.environment, config.replicaRegion);

    // Runbook 1.1: the ops function starts the backup task, which runs the command it was given.
    const started = await recorded('backup (ops function)', 'ops', config.primaryRegion, () => runEvent({ action: 'backup' }, opsEnv));
    expect(started).toMatchObject({ ok: true });
    const backupOut = await recorded('backup', 'backupTask', config.primaryRegion, () => runCommand(lastRunTaskCommand(), primaryEnvOf(`${config.name}-backup`)));
    expectSuccess(backupOut, 'backup task');

    // List and verify: the ops function's list, an operator's list and verify.
    expect(await recorded('list (ops function)', 'ops', config.primaryRegion, () => runEvent({ action: 'list' }, opsEnv))).toMatchObject({ ok: true });
    expectSuccess(await recorded('list', 'operator', config.primaryRegion, () => runCommand(['list'], operatorEnv())), 'operator list');
    expectSuccess(await recorded('verify', 'operator', config.primaryRegion, () => runCommand(['verify', 'latest'], operatorEnv())), 'operator verify');

    // Proving every backup restores: the weekly task with its own command and environment.
    const restoreTest = taskOf(`${config.name}-restore-test`);
    expectSuccess(await recorded('restore-test', 'restoreTestTask', config.primaryRegion, () => runCommand(restoreTest.command, primaryEnvOf(`${config.name}-restore-test`))), 'restore-test task');

    // The hourly status.
    expect(await recorded('status (ops function)', 'ops', config.primaryRegion, () => runEvent({ action: 'status' }, opsEnv))).toMatchObject({ ok: true });

    // Runbook 2.1: the ops function starts the restore task with the command it plans; the task runs it.
    expect(await recorded('restore (ops function)', 'ops', config.primaryRegion, () => runEvent({ action: 'restore', key: 'latest', confirm: true }, opsEnv))).toMatchObject({ ok: true });
    expectSuccess(await recorded('restore', 'restoreTask', config.primaryRegion, () => runCommand(lastRunTaskCommand(), primaryEnvOf(`${config.name}-restore`))), 'restore task');
    expectSuccess(
      await recorded('restore', 'operator', config.primaryRegion, () => runCommand(['restore', 'latest', '--from-database', 'meatdb', '--target-db', 'meatdb_check', '--yes', '--json'], operatorEnv())),
      'operator restore',
    );

    // An operator backup from a workstation, and deleting a backup that is not locked.
    await new Promise((r) => setTimeout(r, 1100));
    expectSuccess(await recorded('backup', 'operator', config.primaryRegion, () => runCommand(['backup', '--json'], operatorEnv())), 'operator backup');
    const unlocked = await writeBackupFixture(emulatorClient(config.primaryRegion), PRIMARY_BUCKET, { sql: 'select 1;\n-- PostgreSQL database dump complete\n', database: 'meatdb', takenAt: new Date('2025-01-02T03:04:05Z') });
    expectSuccess(await recorded('delete', 'operator', config.primaryRegion, () => runCommand(['delete', unlocked.key, '--yes', '--json'], operatorEnv())), 'operator delete');

    // Replication (the emulator does not replicate: copy as S3 Replication would), then every replication check.
    await replicate(PRIMARY_BUCKET, REPLICA_BUCKET);
    expect(await recorded('replication-check (ops function)', 'ops', config.primaryRegion, () => runEvent({ action: 'replication-check' }, opsEnv))).toMatchObject({ ok: true });
    expect(await recorded('replication-check (promotion function)', 'promote', config.replicaRegion, () => runEvent({ action: 'replication-check' }, promoteEnv))).toMatchObject({ ok: true });
    expectSuccess(
      await recorded('replication-check', 'operator', config.primaryRegion, () =>
        runCommand(['replication-check', '--bucket', PRIMARY_BUCKET, '--replica', REPLICA_BUCKET, '--replica-region', config.replicaRegion, '--json'], operatorEnv()),
      ),
      'operator replication-check',
    );

    // Runbook 2.2: the promotion function promotes the replica into a new bucket; an operator does too, with the copy
    // engine and with a Batch Operations job (which runs as the Batch role) followed by promote-status and a copy run.
    const lambdaTarget = `${config.name}-promoted-${ACCOUNT}`;
    expect(await recorded('promote (promotion function)', 'promote', config.replicaRegion, () => runEvent({ action: 'promote', to: lambdaTarget, confirm: true }, promoteEnv))).toMatchObject({ ok: true });
    // The same with an S3 Batch Operations job, which the function creates with its tag (s3:PutJobTagging).
    const lambdaBatchTarget = `${config.name}-promoted-lambda-batch-${ACCOUNT}`;
    expect(
      await recorded('promote --engine batch (promotion function)', 'promote', config.replicaRegion, () => runEvent({ action: 'promote', to: lambdaBatchTarget, engine: 'batch', confirm: true }, promoteEnv)),
    ).toMatchObject({ ok: true });
    expect(runs.at(-1)!.calls.map((c) => c.operation)).toContain('CreateJob');
    const operatorTarget = `${config.name}-operator-${ACCOUNT}`;
    const fromReplica = ['--from', REPLICA_BUCKET, '--from-region', config.replicaRegion, '--region', config.replicaRegion, '--yes', '--json'];
    expectSuccess(await recorded('promote', 'operator', config.replicaRegion, () => runCommand(['promote', ...fromReplica, '--to', operatorTarget], operatorEnv(config.replicaRegion))), 'operator promote');
    const batchTarget = `${config.name}-promoted-batch-${ACCOUNT}`;
    expectSuccess(
      await recorded('promote --engine batch', 'operator', config.replicaRegion, () =>
        runCommand(['promote', ...fromReplica, '--to', batchTarget, '--engine', 'batch', '--role-arn', batchRoleArn, '--account-id', ACCOUNT], operatorEnv(config.replicaRegion)),
      ),
      'operator promote --engine batch',
    );
    runs.push({ command: 'Batch Operations copy job', role: 'batch', calls: await batchJobCalls(controlMock.commandCalls(CreateJobCommand).at(-1)!.args[0].input as unknown as Record<string, unknown>) });
    expectSuccess(
      await recorded('promote-status', 'operator', config.replicaRegion, () => runCommand(['promote-status', 'job-0001', '--region', config.replicaRegion, '--account-id', ACCOUNT, '--json'], operatorEnv(config.replicaRegion))),
      'operator promote-status',
    );
    expectSuccess(
      await recorded('promote --engine copy (after the job)', 'operator', config.replicaRegion, () => runCommand(['promote', ...fromReplica, '--to', batchTarget], operatorEnv(config.replicaRegion))),
      'operator promote after the job',
    );

    // THEN every call is allowed to the role that makes it
    if (process.env.MEATBACKUP_IAM_CALLS) writeCalls(process.env.MEATBACKUP_IAM_CALLS);
    const denials = await deniedCalls(runs.filter((r) => r.role !== 'operator'));
    expect(denials).toEqual([]);
  }, 600_000);

  test('GIVEN the runs above THEN they made the calls of every command the runbooks name', () => {
    const commands = new Set(runs.map((r) => r.command.split(' ')[0]));
    expect([...commands].sort()).toEqual(['Batch', 'backup', 'delete', 'list', 'promote', 'promote-status', 'replication-check', 'restore', 'restore-test', 'status', 'verify']);
    for (const run of runs) expect({ run: `${run.command} as ${ROLES[run.role].name}`, calls: run.calls.length > 0 }).toEqual({ run: `${run.command} as ${ROLES[run.role].name}`, calls: true });
  });

  test('GIVEN the operator role (an administrator named in operatorRoleArns) WHEN the README\'s manual steps run THEN each call is allowed', async () => {
    const denials = await deniedCalls(runs.filter((r) => r.role === 'operator'));
    expect(denials).toEqual([]);
  });

  test('GIVEN the live primary bucket WHEN the promotion role would harden it THEN the primary\'s own bucket policy denies every settings write, naming its statement', async () => {
    for (const action of ['s3:PutBucketPolicy', 's3:DeleteBucketPolicy', 's3:PutBucketVersioning', 's3:PutEncryptionConfiguration', 's3:PutBucketPublicAccessBlock', 's3:PutBucketOwnershipControls']) {
      const verdict = await simulate(policyWorld, ROLES.promote, { action, resource: `arn:aws:s3:::${PRIMARY_BUCKET}`, context: {} });
      expect({ action, allowed: verdict.allowed, reasons: verdict.reasons }).toEqual({ action, allowed: false, reasons: expect.stringContaining('statement PromotionNeverReconfiguresLivePrimary') });
    }
    // ... while every other bucket under the project's name pattern stays the promotion's to harden.
    const other = await simulate(policyWorld, ROLES.promote, { action: 's3:PutBucketPolicy', resource: `arn:aws:s3:::${config.name}-promoted-${ACCOUNT}`, context: {} });
    expect(other.allowed).toBe(true);
  });

  test('GIVEN the primary bucket is gone WHEN the promotion function copies back under the original name THEN every call of that run is allowed', async () => {
    // The run into a new bucket above, replayed into the original name, in a world where the primary bucket (and
    // with it its policy) no longer exists, as S3 has it once the bucket is deleted and its name freed.
    const lambdaTarget = `${config.name}-promoted-${ACCOUNT}`;
    const run = runs.find((r) => r.command === 'promote (promotion function)');
    expect(run).toBeDefined();
    // The emulator is plain http, where the run skips the TLS-only policy (it would lock the test out); in AWS it
    // reads and writes it, as target-bucket.ts hardenBucket does.
    const policyCalls: AwsCall[] = ['GetBucketPolicy', 'PutBucketPolicy'].map((operation) => ({ ...run!.calls[0], service: 's3', operation, input: { Bucket: lambdaTarget }, headers: {} }));
    const calls = [...run!.calls, ...policyCalls].map((c) => (c.input.Bucket === lambdaTarget ? { ...c, input: { ...c.input, Bucket: PRIMARY_BUCKET } } : c));
    expect(calls.filter((c) => c.input.Bucket === PRIMARY_BUCKET).map((c) => c.operation)).toEqual(expect.arrayContaining(['CreateBucket', 'PutBucketVersioning', 'PutBucketPolicy', 'CopyObject']));
    const primaryGone: PolicyWorld = { ...policyWorld, buckets: policyWorld.buckets.filter((b) => b.name !== PRIMARY_BUCKET) };

    expect(await deniedCalls([{ ...run!, command: 'promote into the original name', calls }], primaryGone)).toEqual([]);
    // The same calls while the primary still lives: its policy is not the promotion's to replace.
    const whileLive = await deniedCalls([{ ...run!, command: 'promote into the original name', calls }]);
    expect(whileLive).toEqual(expect.arrayContaining([expect.stringMatching(/needs s3:PutBucketPolicy on arn:aws:s3:::\S+: ExplicitlyDenied, .*PromotionNeverReconfiguresLivePrimary/)]));
  });

  test('GIVEN the restore-test task\'s calls WHEN they are made as the restore task role THEN the denial names the call, the role and the missing permission', async () => {
    const restoreTest = runs.filter((r) => r.command === 'restore-test').map((r) => ({ ...r, role: 'restoreTask' as const }));
    const denials = await deniedCalls(restoreTest);
    expect(denials).toEqual([
      expect.stringMatching(/^restore-test as restore task role: s3:PutObject .*\.restore-test\.json needs s3:PutObject on arn:aws:s3:::.*\.restore-test\.json: ImplicitlyDenied, no identity policy allows it/),
      expect.stringMatching(/needs s3:PutObjectTagging on .* \(the write sets tags \(x-amz-tagging\)\): ImplicitlyDenied/),
      expect.stringMatching(/needs kms:GenerateDataKey on arn:aws:kms:.*\(S3 asks for a data key with the caller's credentials \(SSE-KMS\)\): ImplicitlyDenied/),
    ]);
  });
});

describe('IAM, simulated: what must be denied', () => {
  const projectRoles: RoleName[] = ['backupTask', 'restoreTask', 'restoreTestTask', 'ops', 'promote', 'batch'];
  const backupKey = 'backups/meatdb-2025-09-17T10:30:00.sql.gz';
  const families = [backupKey, `${backupKey}.manifest.json`, `${backupKey}.globals.sql.gz`];

  test.each(projectRoles.flatMap((r) => [PRIMARY_BUCKET, REPLICA_BUCKET].map((b) => [r, b] as const)))(
    'GIVEN a locked backup in %s\'s reach (%s) THEN the role may not bypass governance retention, so it cannot delete or shorten the lock',
    async (roleName, bucket) => {
      for (const key of families) {
        const verdict = await simulate(policyWorld, ROLES[roleName], { action: 's3:BypassGovernanceRetention', resource: `arn:aws:s3:::${bucket}/${key}`, context: {} });
        expect({ role: ROLES[roleName].name, key, allowed: verdict.allowed }).toEqual({ role: ROLES[roleName].name, key, allowed: false });
      }
    },
  );

  test('GIVEN the backup the backup task finished (locked until its class expires) WHEN that task deletes any of its versions THEN it is denied: the delete needs the governance bypass', async () => {
    const run = runs.find((r) => r.command === 'backup' && r.role === 'backupTask');
    expect(run).toBeDefined();
    const locked = lockedVersions([run!]);
    expect(locked.map((l) => l.key.replace(/^backups\/meatdb-[^.]+/, 'backups/meatdb-T')).sort()).toEqual(['backups/meatdb-T.sql.gz', 'backups/meatdb-T.sql.gz.globals.sql.gz', 'backups/meatdb-T.sql.gz.manifest.json']);
    // The first backup of the bucket is monthly: locked for the monthly class's whole life, not BACKUP_LOCK_DAYS.
    const put = run!.calls.find((c) => c.operation === 'PutObject' || c.operation === 'CreateMultipartUpload');
    expect(new URLSearchParams(put!.headers['x-amz-tagging'] ?? '').get('retention')).toBe('monthly');
    for (const l of locked) {
      const days = (l.until.getTime() - l.at.getTime()) / 86_400_000;
      expect({ key: l.key, lockedForAtLeast: days >= config.retention.monthlyDays - 1 }).toEqual({ key: l.key, lockedForAtLeast: true });
    }
    const at = new Date(Math.max(...locked.map((l) => l.at.getTime())) + 60_000);
    const deletes: AwsCall[] = locked.map((l) => ({ ...run!.calls[0], operation: 'DeleteObject', input: { Bucket: l.bucket, Key: l.key, VersionId: l.versionId }, headers: {}, at, command: 'delete a finished backup' }));
    const denials = await deniedCalls([{ command: 'delete a finished backup', role: 'backupTask', calls: deletes }]);
    expect(denials).toHaveLength(locked.length);
    for (const d of denials) expect(d).toMatch(/needs s3:BypassGovernanceRetention on .* \(the version is locked \(governance\) until .*\): ImplicitlyDenied/);
  });

  test.each(projectRoles.filter((r) => r !== 'backupTask'))('GIVEN the %s THEN it cannot delete any version of a backup', async (roleName) => {
    for (const bucket of [PRIMARY_BUCKET, REPLICA_BUCKET]) {
      for (const key of families) {
        for (const action of ['s3:DeleteObject', 's3:DeleteObjectVersion']) {
          const verdict = await simulate(policyWorld, ROLES[roleName], { action, resource: `arn:aws:s3:::${bucket}/${key}`, context: {} });
          expect({ role: ROLES[roleName].name, action, key, allowed: verdict.allowed }).toEqual({ role: ROLES[roleName].name, action, key, allowed: false });
        }
      }
    }
  });

  // A role that may write a bucket's policy, lock configuration or lifecycle could grant itself the bypass or expire
  // locked backups early. The promotion role creates and hardens its target (its policy included) under the
  // project's name pattern, which the primary bucket's name also matches: the replica is denied in its identity
  // policy, the live primary in the primary's own bucket policy (which a bucket recreated under the name lacks).
  const bucketControls = ['s3:PutBucketPolicy', 's3:DeleteBucketPolicy', 's3:PutBucketObjectLockConfiguration', 's3:PutLifecycleConfiguration', 's3:PutBucketVersioning', 's3:DeleteBucket'];
  test.each(projectRoles.flatMap((r) => [PRIMARY_BUCKET, REPLICA_BUCKET].map((b) => [r, b] as const)))(
    'GIVEN the %s THEN it cannot change the policy, Object Lock, lifecycle or versioning of %s',
    async (roleName, bucket) => {
      for (const action of bucketControls) {
        const verdict = await simulate(policyWorld, ROLES[roleName], { action, resource: `arn:aws:s3:::${bucket}`, context: {} });
        expect({ role: ROLES[roleName].name, action, allowed: verdict.allowed }).toEqual({ role: ROLES[roleName].name, action, allowed: false });
      }
    },
  );

  test('GIVEN an administrator who is not an operator role THEN in both keys they may neither use the key nor give themselves a grant on it, while an AWS service may still be granted', async () => {
    const admin: Principal = { name: 'administrator (AdministratorAccess, not an operator role)', arn: `arn:aws:iam::${ACCOUNT}:role/Admin`, policies: [{ name: 'AdministratorAccess', policy: ADMINISTRATOR_ACCESS }] };
    const backupKeys = policyWorld.keys.filter((k) => k.aliases.includes(`alias/${config.name}-backup`));
    expect(backupKeys.map((k) => k.stack.region)).toEqual([config.primaryRegion, config.replicaRegion]);
    for (const key of backupKeys) {
      const grant = await simulate(policyWorld, admin, { action: 'kms:CreateGrant', resource: key.arn, context: { 'kms:GrantIsForAWSResource': 'false', 'kms:GranteePrincipal': admin.arn, 'kms:GrantOperations': ['Decrypt'] } });
      expect({ key: key.arn, allowed: grant.allowed, reasons: grant.reasons }).toEqual({ key: key.arn, allowed: false, reasons: expect.stringContaining('statement NoGrantsExceptForAwsServices') });
      const direct = await simulate(policyWorld, admin, { action: 'kms:Decrypt', resource: key.arn, context: { 'kms:ViaService': `s3.${key.stack.region}.amazonaws.com` } });
      expect({ key: key.arn, decrypt: direct.allowed }).toEqual({ key: key.arn, decrypt: false });
      // the deny is only for grants nobody asked an AWS service for: the account's administration stays
      const forService = await simulate(policyWorld, admin, { action: 'kms:CreateGrant', resource: key.arn, context: { 'kms:GrantIsForAWSResource': 'true' } });
      expect({ key: key.arn, reasons: forService.reasons }).toEqual({ key: key.arn, reasons: expect.not.stringContaining('NoGrantsExceptForAwsServices') });
    }
  });

  test('GIVEN a write into either bucket that asks for other encryption than the bucket\'s key THEN the bucket\'s own policy refuses it, for any role; without a header, the default (the key) applies and it is allowed', async () => {
    for (const bucket of policyWorld.buckets.filter((b) => b.kmsKeyArn)) {
      const object = `arn:aws:s3:::${bucket.name}/${backupKey}`;
      const writer = bucket.name === PRIMARY_BUCKET ? ROLES.backupTask : ROLES.operator;
      const refused: Array<[string, Record<string, string>]> = [
        ['OnlyThisKeysEncryption', { 's3:x-amz-server-side-encryption': 'AES256' }],
        ['OnlyThisKeyByArn', { 's3:x-amz-server-side-encryption': 'aws:kms' }],
        ['OnlyThisKeyByArn', { 's3:x-amz-server-side-encryption': 'aws:kms', 's3:x-amz-server-side-encryption-aws-kms-key-id': `arn:aws:kms:${bucket.stack.region}:${ACCOUNT}:key/another` }],
        ['NoCustomerKeys', { 's3:x-amz-server-side-encryption-customer-algorithm': 'AES256' }],
      ];
      for (const principal of [writer, ROLES.promote]) {
        for (const [statement, context] of refused) {
          const verdict = await simulate(policyWorld, principal, { action: 's3:PutObject', resource: object, context });
          expect({ bucket: bucket.name, role: principal.name, context, allowed: verdict.allowed, reasons: verdict.reasons }).toEqual({
            bucket: bucket.name, role: principal.name, context, allowed: false, reasons: expect.stringContaining(`statement ${statement}`),
          });
        }
      }
      const byDefault = await simulate(policyWorld, writer, { action: 's3:PutObject', resource: object, context: {} });
      const named = await simulate(policyWorld, writer, { action: 's3:PutObject', resource: object, context: { 's3:x-amz-server-side-encryption': 'aws:kms', 's3:x-amz-server-side-encryption-aws-kms-key-id': bucket.kmsKeyArn! } });
      expect({ bucket: bucket.name, byDefault: byDefault.allowed, named: named.allowed }).toEqual({ bucket: bucket.name, byDefault: true, named: true });
    }
  });

  test('GIVEN the restore-test task role THEN it cannot write, retag or lock a backup or its sidecars, only its own result', async () => {
    const r = ROLES.restoreTestTask;
    for (const key of families) {
      const attempts: Array<Omit<Need, 'resource'>> = [
        { action: 's3:PutObject', context: {} },
        { action: 's3:PutObjectTagging', context: { 's3:RequestObjectTag/retention': 'daily' } },
        { action: 's3:PutObjectRetention', context: { 's3:object-lock-mode': 'GOVERNANCE', 's3:object-lock-remaining-retention-days': '1' } },
      ];
      for (const need of attempts) {
        const verdict = await simulate(policyWorld, r, { ...need, resource: `arn:aws:s3:::${PRIMARY_BUCKET}/${key}` });
        expect({ action: need.action, key, allowed: verdict.allowed }).toEqual({ action: need.action, key, allowed: false });
      }
    }
    const own = await simulate(policyWorld, r, { action: 's3:PutObject', resource: `arn:aws:s3:::${PRIMARY_BUCKET}/${backupKey}.restore-test.json`, context: {} });
    expect(own.allowed).toBe(true);
  });
});

/** Copies every current object of `from` into `to` as S3 Replication does (same key, content, metadata, tags). */
async function replicate(from: string, to: string): Promise<void> {
  const source = emulatorClient(config.primaryRegion);
  const target = emulatorClient(config.replicaRegion);
  let token: string | undefined;
  do {
    const page = await source.send(new ListObjectsV2Command({ Bucket: from, ContinuationToken: token }));
    for (const o of page.Contents ?? []) {
      await target.send(new CopyObjectCommand({ Bucket: to, Key: o.Key!, CopySource: `${from}/${encodeURIComponent(o.Key!)}` }));
    }
    token = page.NextContinuationToken;
  } while (token);
}

/**
 * The calls S3 Batch Operations makes as the job's role (nothing runs it here): its manifest generator lists the
 * source, each task copies one object version (PutObjectCopy is CopyObject with the job's role), and the report of
 * failed tasks is written into the report bucket.
 * https://docs.aws.amazon.com/AmazonS3/latest/userguide/batch-ops-iam-role-policies.html
 */
async function batchJobCalls(input: Record<string, unknown>): Promise<AwsCall[]> {
  const job = input as { ManifestGenerator: { S3JobManifestGenerator: { SourceBucket: string } }; Operation: { S3PutObjectCopy: { TargetResource: string } }; Report: { Bucket: string; Prefix: string } };
  const bucketOf = (arn: string) => arn.replace(/^arn:aws:s3:::/, '');
  const from = bucketOf(job.ManifestGenerator.S3JobManifestGenerator.SourceBucket);
  const to = bucketOf(job.Operation.S3PutObjectCopy.TargetResource);
  const report = bucketOf(job.Report.Bucket);
  const at = new Date();
  const call = (operation: string, fields: Record<string, unknown>): AwsCall => ({ service: 's3', operation, region: config.replicaRegion, input: fields, headers: {}, status: 200, at, command: 'Batch Operations copy job' });
  const calls: AwsCall[] = [call('GetBucketLocation', { Bucket: from }), call('ListObjectsV2', { Bucket: from }), call('GetBucketLocation', { Bucket: to })];
  const page = await emulatorClient(config.replicaRegion).send(new ListObjectsV2Command({ Bucket: from }));
  for (const o of page.Contents ?? []) {
    calls.push(call('CopyObject', { Bucket: to, Key: o.Key, CopySource: `${from}/${encodeURIComponent(o.Key!)}?versionId=v1`, MetadataDirective: 'COPY' }));
  }
  calls.push(call('GetBucketLocation', { Bucket: report }), call('PutObject', { Bucket: report, Key: `${job.Report.Prefix}/job-job-0001/report.csv` }));
  return calls;
}

/** MEATBACKUP_IAM_CALLS=<file>: the recorded calls as JSON lines (run, role, call), to read what each command does. */
function writeCalls(file: string): void {
  const lines = runs.flatMap((r) => r.calls.map((c) => JSON.stringify({ run: r.command, role: ROLES[r.role].name, ...c })));
  writeFileSync(file, `${lines.join('\n')}\n`);
}

function describeCall(call: AwsCall): string {
  const i = call.input;
  const where = [i.Bucket, i.Key].filter(Boolean).join('/') || String(i.taskDefinition ?? i.service ?? i.cluster ?? i.JobId ?? '');
  return `${call.service}:${call.operation} ${where}${i.VersionId ? ` (version ${String(i.VersionId)})` : ''}`;
}

/** Simulates every call of `selected` under its role; returns one line per denied permission. */
async function deniedCalls(selected: Run[], policies: PolicyWorld = policyWorld): Promise<string[]> {
  const tags = new Map<string, Record<string, string>>();
  const locks = lockedVersions(runs);
  const world: World = {
    account: ACCOUNT,
    bucket: (name) => {
      const b = policies.buckets.find((x) => x.name === name);
      if (!b) return { region: config.replicaRegion, bucketKey: false };
      return { region: b.stack.region, bucketKey: b.bucketKey, ...(b.kmsKeyArn ? { kmsKeyArn: b.kmsKeyArn } : {}) };
    },
    existingTags: (bucket, key) => tags.get(`${bucket}/${key}`) ?? {},
    lockedUntil: (bucket, key, versionId, at) => {
      const lock = locks.find((l) => l.bucket === bucket && l.key === key && l.versionId === versionId && l.at <= at);
      return lock && lock.until > at ? lock.until : undefined;
    },
    taskRoles: (arn) => {
      const t = tasks.find((d) => d.arn === arn);
      if (!t) throw new Error(`RunTask of ${arn}, which is not a task definition of the stack`);
      return [t.taskRoleArn, t.executionRoleArn];
    },
  };
  const denials: string[] = [];
  for (const run of selected) {
    const principal = ROLES[run.role];
    for (const call of run.calls) {
      const needs: Need[] = authorizationsFor(call, world);
      for (const need of needs) {
        const verdict = await simulate(policies, principal, need);
        if (!verdict.allowed) {
          denials.push(
            `${run.command} as ${principal.name}: ${describeCall(call)} needs ${need.action} on ${need.resource}` +
              `${need.why ? ` (${need.why})` : ''}: ${verdict.result}${verdict.reasons ? `, ${verdict.reasons}` : ''}`,
          );
        }
      }
      rememberTags(tags, call);
    }
  }
  return [...new Set(denials)];
}

interface LockedVersion {
  bucket: string;
  key: string;
  versionId: string;
  /** When the retention was set, and until when it holds. */
  at: Date;
  until: Date;
}

/** Every object version the runs locked (PutObjectRetention by version id), for the deletes that come after. */
function lockedVersions(from: Run[]): LockedVersion[] {
  return from.flatMap((r) =>
    r.calls
      .filter((c) => c.operation === 'PutObjectRetention' && (c.status ?? 500) < 300)
      .map((c) => ({
        bucket: String(c.input.Bucket),
        key: String(c.input.Key),
        versionId: String(c.input.VersionId),
        at: c.at,
        until: new Date((c.input.Retention as { RetainUntilDate: string | Date }).RetainUntilDate),
      })),
  );
}

/** Keeps the tags each object carries after `call`, for the s3:ExistingObjectTag keys of later calls. */
function rememberTags(tags: Map<string, Record<string, string>>, call: AwsCall): void {
  const id = `${String(call.input.Bucket)}/${String(call.input.Key)}`;
  if ((call.operation === 'PutObject' || call.operation === 'CreateMultipartUpload') && call.headers['x-amz-tagging']) {
    tags.set(id, Object.fromEntries(new URLSearchParams(call.headers['x-amz-tagging'])));
  }
  if (call.operation === 'PutObjectTagging') {
    const set = (call.input.Tagging as { TagSet?: Array<{ Key: string; Value: string }> } | undefined)?.TagSet ?? [];
    tags.set(id, Object.fromEntries(set.map((t) => [t.Key, t.Value])));
  }
}

