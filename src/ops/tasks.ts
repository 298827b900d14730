/**
 * The project's Fargate tasks as the ops Lambda sees them: start one (RunTask with the container's command
 * overridden), find the ones running (so a restore never starts beside a backup or another restore), and report
 * one's status with its exit code and a link to its log.
 */
import { DescribeTasksCommand, type ECSClient, RunTaskCommand, type RunTaskCommandInput, type Task, paginateListTasks } from '@aws-sdk/client-ecs';
import { UserError } from '../core/errors';
import { ecsFailed } from '../storage/aws-errors';
import {
  type OpsConfig,
  STARTABLE_TASK_KINDS,
  type StartableTaskKind,
  type TaskKind,
  arnRegion,
  configuredTaskDefinitions,
  taskDefinitionFamily,
} from './config';

/** What RunTask records as the starter, so the tasks the ops function started can be told apart. */
export const STARTED_BY = 'meatbackup-ops';

export interface TaskStatus {
  taskArn: string;
  kind: TaskKind;
  /** `running` covers PROVISIONING/PENDING/ACTIVATING/RUNNING; `stopping` DEACTIVATING/STOPPING/DEPROVISIONING. */
  state: 'running' | 'stopping' | 'stopped';
  lastStatus?: string;
  /** The CLI arguments the container runs, e.g. `["restore", "backups/…", "--yes", "--json"]`. */
  command?: string[];
  startedBy?: string;
  createdAt?: string;
  startedAt?: string;
  stoppedAt?: string;
  /** The container's exit code once it has stopped (0: success). */
  exitCode?: number;
  succeeded?: boolean;
  stopCode?: string;
  stoppedReason?: string;
  /** Why the container stopped, when ECS says (e.g. CannotPullContainerError). */
  containerReason?: string;
  logGroup?: string;
  logStream?: string;
  logUrl?: string;
}

const OPS_ROLE_DENIED = "the ops function's role lacks the ECS permission for it; redeploy the primary stack";

/** The CloudWatch console's escaping inside its URL fragment: URI-encoded twice, `%` written as `$`. */
function consoleEscape(value: string): string {
  return encodeURIComponent(encodeURIComponent(value)).replace(/%/g, '$');
}

/** Where the awslogs driver writes a task's container output, and a console link to it. */
export function taskLog(config: OpsConfig, kind: TaskKind, taskArn: string): Pick<TaskStatus, 'logGroup' | 'logStream' | 'logUrl'> {
  if (!config.logGroup) return {};
  const taskId = taskArn.slice(taskArn.lastIndexOf('/') + 1);
  const logStream = `${config.streamPrefixes[kind]}/${config.containerName}/${taskId}`;
  const region = arnRegion(taskArn) ?? arnRegion(config.cluster);
  if (!region) return { logGroup: config.logGroup, logStream };
  const logUrl =
    `https://${region}.console.aws.amazon.com/cloudwatch/home?region=${region}#logsV2:log-groups/log-group/` +
    `${consoleEscape(config.logGroup)}/log-events/${consoleEscape(logStream)}`;
  return { logGroup: config.logGroup, logStream, logUrl };
}

function kindOf(config: OpsConfig, taskDefinitionArn: string | undefined): TaskKind | undefined {
  if (!taskDefinitionArn) return undefined;
  const family = taskDefinitionFamily(taskDefinitionArn);
  return configuredTaskDefinitions(config).find(([, arn]) => taskDefinitionFamily(arn) === family)?.[0];
}

const STOPPING = new Set(['DEACTIVATING', 'STOPPING', 'DEPROVISIONING']);

export function describeTask(config: OpsConfig, task: Task, kind: TaskKind): TaskStatus {
  const taskArn = task.taskArn ?? '';
  const container = task.containers?.find((c) => c.name === config.containerName) ?? task.containers?.[0];
  const override = task.overrides?.containerOverrides?.find((o) => o.name === config.containerName);
  const state: TaskStatus['state'] = task.lastStatus === 'STOPPED' ? 'stopped' : STOPPING.has(task.lastStatus ?? '') ? 'stopping' : 'running';
  const exitCode = container?.exitCode;
  return {
    taskArn,
    kind,
    state,
    ...(task.lastStatus ? { lastStatus: task.lastStatus } : {}),
    ...(override?.command ? { command: override.command } : {}),
    ...(task.startedBy ? { startedBy: task.startedBy } : {}),
    ...(task.createdAt ? { createdAt: task.createdAt.toISOString() } : {}),
    ...(task.startedAt ? { startedAt: task.startedAt.toISOString() } : {}),
    ...(task.stoppedAt ? { stoppedAt: task.stoppedAt.toISOString() } : {}),
    ...(exitCode !== undefined && exitCode !== null ? { exitCode } : {}),
    ...(state === 'stopped' ? { succeeded: exitCode === 0 } : {}),
    ...(task.stopCode ? { stopCode: task.stopCode } : {}),
    ...(task.stoppedReason ? { stoppedReason: task.stoppedReason } : {}),
    ...(container?.reason ? { containerReason: container.reason } : {}),
    ...taskLog(config, kind, taskArn),
  };
}

async function describeTaskArns(ecs: ECSClient, config: OpsConfig, arns: string[]): Promise<Task[]> {
  const tasks: Task[] = [];
  for (let i = 0; i < arns.length; i += 100) {
    const res = await ecs.send(new DescribeTasksCommand({ cluster: config.cluster, tasks: arns.slice(i, i + 100) }));
    tasks.push(...(res.tasks ?? []));
  }
  return tasks;
}

/**
 * Tasks of the project's task definitions (`kinds`, default every configured one: backup, restore, restore test) in
 * `desiredStatus` (RUNNING includes pending ones).
 */
export async function listProjectTasks(
  ecs: ECSClient,
  config: OpsConfig,
  desiredStatus: 'RUNNING' | 'STOPPED' = 'RUNNING',
  kinds?: readonly TaskKind[],
): Promise<TaskStatus[]> {
  const found: TaskStatus[] = [];
  try {
    for (const [kind, taskDefinition] of configuredTaskDefinitions(config).filter(([k]) => !kinds || kinds.includes(k))) {
      const arns: string[] = [];
      for await (const page of paginateListTasks({ client: ecs }, { cluster: config.cluster, family: taskDefinitionFamily(taskDefinition), desiredStatus })) {
        arns.push(...(page.taskArns ?? []));
      }
      if (arns.length > 0) found.push(...(await describeTaskArns(ecs, config, arns)).map((t) => describeTask(config, t, kind)));
    }
  } catch (err) {
    throw ecsFailed(err, `list the tasks in cluster ${config.cluster}`, OPS_ROLE_DENIED);
  }
  return found;
}

/**
 * Refuses (UserError, nothing started) while a backup or restore task of the project runs. A restore test does not
 * block: it never touches the live database (cluster mode) or only its own scratch database.
 */
export async function ensureNoProjectTaskRunning(ecs: ECSClient, config: OpsConfig, starting: StartableTaskKind): Promise<void> {
  const running = await listProjectTasks(ecs, config, 'RUNNING', STARTABLE_TASK_KINDS);
  if (running.length === 0) return;
  const t = running[0];
  throw new UserError(
    `a ${t.kind} task is running (${t.taskArn}${t.startedAt ? `, started ${t.startedAt}` : ''}): ` +
      `wait until it has stopped ({"action": "status", "taskArn": "${t.taskArn}"}) and ask again; no ${starting} task was started`,
  );
}

/** The exact RunTask input for a task of `kind` running the CLI with `command`. */
export function runTaskInput(config: OpsConfig, kind: StartableTaskKind, command: string[]): RunTaskCommandInput {
  return {
    cluster: config.cluster,
    taskDefinition: config.taskDefinitions[kind],
    launchType: 'FARGATE',
    count: 1,
    startedBy: STARTED_BY,
    networkConfiguration: {
      awsvpcConfiguration: {
        subnets: config.subnets,
        securityGroups: config.securityGroups,
        assignPublicIp: config.assignPublicIp ? 'ENABLED' : 'DISABLED',
      },
    },
    overrides: { containerOverrides: [{ name: config.containerName, command }] },
  };
}

/** Starts one task and returns its status right after RunTask (state `running`, lastStatus PROVISIONING). */
export async function runProjectTask(ecs: ECSClient, config: OpsConfig, kind: StartableTaskKind, command: string[]): Promise<TaskStatus> {
  let res;
  try {
    res = await ecs.send(new RunTaskCommand(runTaskInput(config, kind, command)));
  } catch (err) {
    throw ecsFailed(err, `start the ${kind} task`, OPS_ROLE_DENIED);
  }
  const task = res.tasks?.[0];
  if (!task?.taskArn) {
    const f = res.failures?.[0];
    throw new UserError(`ECS did not start the ${kind} task: ${f ? `${f.reason ?? 'failed'}${f.detail ? ` (${f.detail})` : ''}` : 'no task and no reason returned'}; nothing is running`);
  }
  return describeTask(config, task, kind);
}

/**
 * One task's status, or (no ARN) the project's running tasks and those stopped recently (ECS keeps stopped tasks
 * for about an hour). A task that is not one of the project's is refused.
 */
export async function taskStatus(ecs: ECSClient, config: OpsConfig, taskArn?: string): Promise<{ tasks: TaskStatus[] }> {
  if (!taskArn) {
    const [running, stopped] = [await listProjectTasks(ecs, config, 'RUNNING'), await listProjectTasks(ecs, config, 'STOPPED')];
    return { tasks: [...running, ...stopped] };
  }
  let res;
  try {
    res = await ecs.send(new DescribeTasksCommand({ cluster: config.cluster, tasks: [taskArn] }));
  } catch (err) {
    throw ecsFailed(err, `describe task ${taskArn}`, OPS_ROLE_DENIED);
  }
  const task = res.tasks?.[0];
  if (!task) {
    throw new UserError(
      `no task ${taskArn} in cluster ${config.cluster}: ECS forgets stopped tasks after about an hour${config.logGroup ? `; its output stays in log group ${config.logGroup}` : ''}`,
    );
  }
  const kind = kindOf(config, task.taskDefinitionArn);
  if (!kind) throw new UserError(`task ${taskArn} is not a meatbackup backup, restore or restore-test task (its task definition is ${task.taskDefinitionArn})`);
  return { tasks: [describeTask(config, task, kind)] };
}
