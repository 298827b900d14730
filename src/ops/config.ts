/**
 * What the ops functions need to know about the deployment, from the environment the primary stack sets on the ops
 * Lambda (names from ENV in src/contract.ts). A missing setting is a deployment problem and is reported as one.
 */
import { ENV, TASK_CONTAINER_NAME, resolvePrefix } from '../contract';
import { UserError } from '../core/errors';
import { type ServiceRef, parseServiceRef } from '../restore/web-service';

/** The tasks the ops function starts; a backup or restore never starts while one of them runs. */
export type StartableTaskKind = 'backup' | 'restore';
/** Every kind `status` reports on: the restore test runs on its own schedule, the function only watches it. */
export type TaskKind = StartableTaskKind | 'restore-test';
export const STARTABLE_TASK_KINDS: readonly StartableTaskKind[] = ['backup', 'restore'];

export interface OpsConfig {
  bucket: string;
  prefix: string;
  /** ECS cluster ARN (or name) the tasks run in. */
  cluster: string;
  /** The restore test's only when the deployment has one (RESTORE_TEST_TASK_DEFINITION_ARN). */
  taskDefinitions: Record<StartableTaskKind, string> & { 'restore-test'?: string };
  containerName: string;
  subnets: string[];
  securityGroups: string[];
  assignPublicIp: boolean;
  /** CloudWatch Logs group of the tasks' awslogs driver, for log links. */
  logGroup?: string;
  /** The awslogs stream prefix of each task definition. @default the kind: `backup`, `restore`, `restore-test` */
  streamPrefixes: Record<TaskKind, string>;
  /** Web service the restore stops during the swap. */
  webService?: ServiceRef;
  /** The database this deployment restores (BACKUP_DATABASE): what `latest` is the newest backup of. */
  database?: string;
}

/** The environment the ops functions read. */
export type OpsEnv = Readonly<Record<string, string | undefined>>;

function list(value: string | undefined): string[] {
  return (value ?? '').split(',').map((s) => s.trim()).filter(Boolean);
}

/** Reads the configuration; every missing required variable is named in one error. */
export function opsConfig(env: OpsEnv): OpsConfig {
  const required = [ENV.bucket, ENV.ecsCluster, ENV.backupTaskDefinition, ENV.restoreTaskDefinition, ENV.taskSubnets, ENV.taskSecurityGroups];
  const missing = required.filter((name) => !env[name]);
  if (missing.length > 0) {
    throw new UserError(`this deployment of the ops function has no ${missing.join(', ')} in its environment: redeploy the primary stack; nothing was started`);
  }
  const publicIp = (env[ENV.taskAssignPublicIp] ?? 'false').toLowerCase();
  if (!['true', 'false', 'enabled', 'disabled'].includes(publicIp)) {
    throw new UserError(`${ENV.taskAssignPublicIp} is ${JSON.stringify(env[ENV.taskAssignPublicIp])}: use true or false`);
  }
  return {
    bucket: env[ENV.bucket]!,
    prefix: resolvePrefix(undefined, env[ENV.prefix]),
    cluster: env[ENV.ecsCluster]!,
    taskDefinitions: {
      backup: env[ENV.backupTaskDefinition]!,
      restore: env[ENV.restoreTaskDefinition]!,
      ...(env[ENV.restoreTestTaskDefinition] ? { 'restore-test': env[ENV.restoreTestTaskDefinition] } : {}),
    },
    containerName: env[ENV.taskContainerName] || TASK_CONTAINER_NAME,
    subnets: list(env[ENV.taskSubnets]),
    securityGroups: list(env[ENV.taskSecurityGroups]),
    assignPublicIp: publicIp === 'true' || publicIp === 'enabled',
    ...(env[ENV.taskLogGroup] ? { logGroup: env[ENV.taskLogGroup] } : {}),
    streamPrefixes: { backup: 'backup', restore: 'restore', 'restore-test': 'restore-test' },
    ...(env[ENV.webService] ? { webService: parseServiceRef(env[ENV.webService]!) } : {}),
    ...(env[ENV.database] ? { database: env[ENV.database] } : {}),
  };
}

/** The kinds this deployment has a task definition for, with it. */
export function configuredTaskDefinitions(config: OpsConfig): Array<[TaskKind, string]> {
  return (Object.entries(config.taskDefinitions) as Array<[TaskKind, string | undefined]>).filter((e): e is [TaskKind, string] => Boolean(e[1]));
}

/** `arn:aws:ecs:region:account:task-definition/FAMILY:REV` (or `FAMILY:REV`, or `FAMILY`) → FAMILY. */
export function taskDefinitionFamily(taskDefinition: string): string {
  const name = taskDefinition.includes('/') ? taskDefinition.slice(taskDefinition.lastIndexOf('/') + 1) : taskDefinition.replace(/^arn:.*:/, '');
  return name.replace(/:\d+$/, '');
}

/** The region in an ARN, if it is one. */
export function arnRegion(arn: string): string | undefined {
  const parts = arn.split(':');
  return arn.startsWith('arn:') && parts[3] ? parts[3] : undefined;
}
