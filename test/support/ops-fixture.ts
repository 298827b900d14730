/**
 * The ops function's deployment as the primary stack wires it, for the suites of its actions (test/lambda/ops-*,
 * test/src/ops/*): the ECS names and ARNs, the environment the stack sets, the context the handler builds, and the
 * ECS answers (aws-sdk-client-mock: moto cannot run Fargate tasks) for "nothing runs", "this task runs" and RunTask.
 */
import { DescribeTasksCommand, ECSClient, type ECSClientResolvedConfig, ListTasksCommand, RunTaskCommand, type ServiceInputTypes, type ServiceOutputTypes } from '@aws-sdk/client-ecs';
import type { S3Client } from '@aws-sdk/client-s3';
import type { AwsStub } from 'aws-sdk-client-mock';
import { ENV, TASK_CONTAINER_NAME } from '../../src/contract';
import type { OpsContext } from '../../src/ops/context';
import { readSettings } from '../../src/settings';

/** The suite's `mockClient(ECSClient)`. */
export type EcsMock = AwsStub<ServiceInputTypes, ServiceOutputTypes, ECSClientResolvedConfig>;

export const REGION = 'eu-west-1';
export const ACCOUNT = '111122223333';
export const CLUSTER = `arn:aws:ecs:${REGION}:${ACCOUNT}:cluster/meatlizard-backup-TasksCluster`;
export const FAMILY = { backup: 'meatlizard-backup-backup', restore: 'meatlizard-backup-restore', 'restore-test': 'meatlizard-backup-restore-test' } as const;
export const TASK_DEFINITION = {
  backup: `arn:aws:ecs:${REGION}:${ACCOUNT}:task-definition/${FAMILY.backup}:3`,
  restore: `arn:aws:ecs:${REGION}:${ACCOUNT}:task-definition/${FAMILY.restore}:1`,
  'restore-test': `arn:aws:ecs:${REGION}:${ACCOUNT}:task-definition/${FAMILY['restore-test']}:2`,
} as const;
export const LOG_GROUP = 'meatlizard-backup-primary-TasksLogs';
export const SUBNETS = ['subnet-0123456789abcdef0', 'subnet-0123456789abcdef1'];
export const SECURITY_GROUP = 'sg-0123456789abcdef0';
/** The network every task is started in, as RunTask gets it. */
export const NETWORK = { awsvpcConfiguration: { subnets: SUBNETS, securityGroups: [SECURITY_GROUP], assignPublicIp: 'DISABLED' } };
export const WEB_SERVICE = 'meatlizard/web';

/** A task of the project's cluster, by its id. */
export function taskArn(id: string): string {
  return `arn:aws:ecs:${REGION}:${ACCOUNT}:task/meatlizard-backup-TasksCluster/${id}`;
}

/** The task the RunTask answers of {@link answerRunTask} start. */
export const STARTED_TASK_ID = '5d1c2b3a49586776a5b4c3d2e1f00f1e';
export const STARTED_TASK = taskArn(STARTED_TASK_ID);

/** The environment the primary stack sets on the ops function for `bucket` (with the restore-test task definition). */
export function deployment(bucket: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    [ENV.bucket]: bucket,
    [ENV.prefix]: 'backups/',
    [ENV.ecsCluster]: CLUSTER,
    [ENV.backupTaskDefinition]: TASK_DEFINITION.backup,
    [ENV.restoreTaskDefinition]: TASK_DEFINITION.restore,
    [ENV.restoreTestTaskDefinition]: TASK_DEFINITION['restore-test'],
    [ENV.taskContainerName]: TASK_CONTAINER_NAME,
    [ENV.taskSubnets]: SUBNETS.join(','),
    [ENV.taskSecurityGroups]: SECURITY_GROUP,
    [ENV.taskAssignPublicIp]: 'false',
    [ENV.taskLogGroup]: LOG_GROUP,
    [ENV.webService]: WEB_SERVICE,
    [ENV.database]: 'meatdb',
    ...extra,
  };
}

/** The context the handler builds from `env`, with the test's S3 client and a fixed clock. */
export function opsContext(s3: S3Client, env: Record<string, string | undefined>, now: Date): OpsContext {
  return { s3, ecs: new ECSClient({ region: REGION }), settings: readSettings(env), now: () => now };
}

/** ListTasks/DescribeTasks answers: each task ARN runs under its kind's family, nothing else runs. */
export function answerRunning(ecs: EcsMock, running: Partial<Record<keyof typeof FAMILY, string[]>> = {}): void {
  const kindOf = (arn: string) => (Object.keys(running) as Array<keyof typeof FAMILY>).find((kind) => running[kind]?.includes(arn));
  ecs.on(ListTasksCommand).callsFake((input: { family?: string; desiredStatus?: string }) => {
    const kind = (Object.keys(FAMILY) as Array<keyof typeof FAMILY>).find((k) => FAMILY[k] === input.family);
    return { taskArns: input.desiredStatus === 'RUNNING' && kind ? running[kind] ?? [] : [] };
  });
  ecs.on(DescribeTasksCommand).callsFake((input: { tasks: string[] }) => ({
    tasks: input.tasks.map((arn) => ({
      taskArn: arn,
      taskDefinitionArn: TASK_DEFINITION[kindOf(arn) ?? 'restore'],
      lastStatus: 'RUNNING',
      startedBy: 'meatbackup-ops',
      startedAt: new Date('2025-09-17T09:10:00Z'),
      containers: [{ name: TASK_CONTAINER_NAME, lastStatus: 'RUNNING' }],
    })),
  }));
}

/** RunTask answers: {@link STARTED_TASK} is provisioning under the task definition asked for. */
export function answerRunTask(ecs: EcsMock): void {
  ecs.on(RunTaskCommand).callsFake((input: { taskDefinition: string }) => ({
    tasks: [{ taskArn: STARTED_TASK, taskDefinitionArn: input.taskDefinition, lastStatus: 'PROVISIONING', containers: [{ name: TASK_CONTAINER_NAME }] }],
    failures: [],
  }));
}

/** The inputs of every RunTask call, in order. */
export function runTaskInputs(ecs: EcsMock): Array<{ taskDefinition?: string } & Record<string, unknown>> {
  return ecs.commandCalls(RunTaskCommand).map((c) => c.args[0].input as { taskDefinition?: string } & Record<string, unknown>);
}
