/**
 * What the ops functions need to know about the deployment to start and watch its tasks: the ECS part of the
 * settings (src/settings.ts) the primary stack sets on the ops Lambda. A missing setting is a deployment problem and
 * is reported as one.
 */
import { ENV } from '../contract';
import type { ServiceRef } from '../restore/service-ref';
import { type Settings, requireSettings } from '../settings';

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

/** The ECS wiring of the ops function's deployment; every missing required setting is named in one error. */
export function opsConfig(settings: Settings): OpsConfig {
  const { ecs } = settings;
  const given: Array<[string, unknown]> = [
    [ENV.bucket, settings.bucket],
    [ENV.ecsCluster, ecs.cluster],
    [ENV.backupTaskDefinition, ecs.taskDefinitions.backup],
    [ENV.restoreTaskDefinition, ecs.taskDefinitions.restore],
    [ENV.taskSubnets, ecs.subnets.length > 0 ? ecs.subnets : undefined],
    [ENV.taskSecurityGroups, ecs.securityGroups.length > 0 ? ecs.securityGroups : undefined],
  ];
  requireSettings(given.filter(([, value]) => value === undefined).map(([name]) => name));
  return {
    bucket: settings.bucket!,
    prefix: settings.prefix,
    cluster: ecs.cluster!,
    taskDefinitions: {
      backup: ecs.taskDefinitions.backup!,
      restore: ecs.taskDefinitions.restore!,
      ...(ecs.taskDefinitions['restore-test'] ? { 'restore-test': ecs.taskDefinitions['restore-test'] } : {}),
    },
    containerName: ecs.containerName,
    subnets: ecs.subnets,
    securityGroups: ecs.securityGroups,
    assignPublicIp: ecs.assignPublicIp,
    ...(ecs.logGroup ? { logGroup: ecs.logGroup } : {}),
    streamPrefixes: { backup: 'backup', restore: 'restore', 'restore-test': 'restore-test' },
    ...(settings.webService ? { webService: settings.webService } : {}),
    ...(settings.database ? { database: settings.database } : {}),
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
