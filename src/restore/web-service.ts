/**
 * On ECS, the web service is stopped while the databases swap names, as the runbook's "stop web … start web", and it is
 * started again whatever happens: scale to 0, wait until its tasks have stopped (so none holds a connection),
 * remember the desired count, and set it back in `finally`.
 */
import { setTimeout as delay } from 'node:timers/promises';
import {
  DescribeServicesCommand,
  DescribeTasksCommand,
  type ECSClient,
  UpdateServiceCommand,
  paginateListTasks,
} from '@aws-sdk/client-ecs';
import { UserError } from '../core/errors';
import { type ServiceRef, describeServiceRef } from './service-ref';
import { formatDuration } from '../core/format';
import { ecsFailed } from '../storage/aws-errors';
import type { StoppedServices } from './stopped-services';

export { type ServiceRef, describeServiceRef, parseServiceRef } from './service-ref';

export interface WebServiceOptions {
  /** @default 5000 */
  pollMs?: number;
  /** How long the tasks may take to stop. @default 600000 (10 minutes) */
  timeoutMs?: number;
  signal?: AbortSignal;
  log?: (message: string, fields?: Record<string, unknown>) => void;
}

function serviceFailed(err: unknown, doing: string, ref: ServiceRef): UserError {
  const service = describeServiceRef(ref);
  return ecsFailed(err, `${doing} web service ${service}`, `the role needs ecs:DescribeServices, ecs:UpdateService, ecs:ListTasks and ecs:DescribeTasks on ${service}`);
}

interface ServiceState {
  desiredCount: number;
  runningCount: number;
  pendingCount: number;
}

async function describeService(ecs: ECSClient, ref: ServiceRef): Promise<ServiceState> {
  const res = await ecs.send(new DescribeServicesCommand({ cluster: ref.cluster, services: [ref.service] }));
  const svc = res.services?.[0];
  if (!svc || svc.status === 'INACTIVE') {
    const reason = res.failures?.[0]?.reason ?? (svc ? 'INACTIVE' : 'not found');
    throw new UserError(`web service ${describeServiceRef(ref)} ${reason === 'MISSING' ? 'does not exist' : `is ${reason}`}: check --stop-ecs-service or WEB_SERVICE`);
  }
  return { desiredCount: svc.desiredCount ?? 0, runningCount: svc.runningCount ?? 0, pendingCount: svc.pendingCount ?? 0 };
}

async function runningTaskArns(ecs: ECSClient, ref: ServiceRef): Promise<string[]> {
  const arns: string[] = [];
  for await (const page of paginateListTasks({ client: ecs }, { cluster: ref.cluster, serviceName: ref.service, desiredStatus: 'RUNNING' })) {
    arns.push(...(page.taskArns ?? []));
  }
  return arns;
}

/** Of `arns`, the tasks that have not reached STOPPED (a task told to stop can still hold connections). */
async function notYetStopped(ecs: ECSClient, ref: ServiceRef, arns: string[]): Promise<string[]> {
  const left: string[] = [];
  for (let i = 0; i < arns.length; i += 100) {
    const res = await ecs.send(new DescribeTasksCommand({ cluster: ref.cluster, tasks: arns.slice(i, i + 100) }));
    for (const t of res.tasks ?? []) if (t.lastStatus !== 'STOPPED' && t.taskArn) left.push(t.taskArn);
  }
  return left;
}

/** Waits, ending early with the signal's own reason (as every other aborted step does) when it is aborted. */
async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  await delay(ms, undefined, signal ? { signal } : {}).catch((err: unknown) => {
    throw signal?.aborted ? signal.reason : err;
  });
}

/** Scales the service to 0 and waits until none of its tasks runs. Returns the desired count it had. */
export async function stopWebService(ecs: ECSClient, ref: ServiceRef, options: WebServiceOptions = {}): Promise<number> {
  const pollMs = options.pollMs ?? 5000;
  const timeoutMs = options.timeoutMs ?? 600_000;
  let before: ServiceState;
  let tasks: string[];
  try {
    before = await describeService(ecs, ref);
    tasks = await runningTaskArns(ecs, ref);
    if (before.desiredCount > 0) {
      await ecs.send(new UpdateServiceCommand({ cluster: ref.cluster, service: ref.service, desiredCount: 0 }));
    }
  } catch (err) {
    throw serviceFailed(err, 'stop', ref);
  }
  options.log?.(`web service ${describeServiceRef(ref)} scaled from ${before.desiredCount} to 0; waiting for ${tasks.length} task(s) to stop`, {
    service: describeServiceRef(ref),
    previousDesiredCount: before.desiredCount,
    tasks: tasks.length,
  });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let left: string[];
    let state: ServiceState;
    try {
      state = await describeService(ecs, ref);
      left = await notYetStopped(ecs, ref, [...new Set([...tasks, ...(await runningTaskArns(ecs, ref))])]);
    } catch (err) {
      throw serviceFailed(err, 'watch', ref);
    }
    if (left.length === 0 && state.runningCount === 0 && state.pendingCount === 0) return before.desiredCount;
    if (Date.now() >= deadline) {
      throw new UserError(
        `web service ${describeServiceRef(ref)} still has ${Math.max(left.length, state.runningCount)} task(s) running after ${formatDuration(timeoutMs / 1000)}: check why they do not stop (or an autoscaling policy that scales it up) and run the restore again`,
      );
    }
    await sleep(pollMs, options.signal);
  }
}

/** Sets the desired count back. */
export async function startWebService(ecs: ECSClient, ref: ServiceRef, desiredCount: number): Promise<void> {
  try {
    await ecs.send(new UpdateServiceCommand({ cluster: ref.cluster, service: ref.service, desiredCount }));
  } catch (err) {
    throw serviceFailed(err, 'start', ref);
  }
}

export interface StoppedServiceResult<T> {
  result: T;
  /** The desired count it had before, and has again. */
  desiredCount: number;
}

/**
 * Runs `fn` with the web service stopped, and starts it again with its former desired count whatever happens —
 * even when stopping it timed out or `fn` failed. If it cannot be started again, the error says how to do it by hand.
 */
export async function withWebServiceStopped<T>(
  ecs: ECSClient,
  ref: ServiceRef,
  fn: () => Promise<T>,
  options: WebServiceOptions = {},
): Promise<StoppedServiceResult<T>> {
  let desired: number;
  try {
    desired = (await describeService(ecs, ref)).desiredCount;
  } catch (err) {
    throw serviceFailed(err, 'read', ref); // nothing was changed yet
  }
  let failure: unknown;
  let result: T | undefined;
  try {
    desired = await stopWebService(ecs, ref, options);
    result = await fn();
  } catch (err) {
    failure = err;
  } finally {
    if (desired > 0) {
      try {
        await startWebService(ecs, ref, desired);
        options.log?.(`web service ${describeServiceRef(ref)} started again with desired count ${desired}`, { service: describeServiceRef(ref), desiredCount: desired });
      } catch (err) {
        const manual = `aws ecs update-service --cluster ${ref.cluster} --service ${ref.service} --desired-count ${desired}`;
        const message = `${(err as Error).message}; start it by hand: ${manual}`;
        if (failure) {
          failure = new UserError(`${(failure as Error).message}; and ${message}`, 1, { cause: failure });
        } else {
          failure = new UserError(`the restore finished but ${message}`, 1, { cause: err });
        }
      }
    }
  }
  if (failure) throw failure;
  return { result: result as T, desiredCount: desired };
}

/**
 * The ECS implementation of the services stopped while the databases swap (./stopped-services.ts): one service,
 * scaled to 0 and back to the desired count it had. Its check reads the service (it exists, is ACTIVE, and this role
 * may describe it); the permission to update it is the task role's, which the stacks grant with the describe.
 */
export function ecsService(ecs: () => ECSClient, ref: ServiceRef, options: Pick<WebServiceOptions, 'pollMs' | 'timeoutMs'> = {}): StoppedServices {
  const service = describeServiceRef(ref);
  let client: ECSClient | undefined;
  const get = (): ECSClient => (client ??= ecs());
  return {
    description: `ECS service ${service}`,
    async check() {
      try {
        await describeService(get(), ref);
      } catch (err) {
        throw serviceFailed(err, 'read', ref);
      }
    },
    async whileStopped(fn, stop = {}) {
      const { result, desiredCount } = await withWebServiceStopped(get(), ref, fn, {
        ...options,
        ...(stop.signal ? { signal: stop.signal } : {}),
        ...(stop.log ? { log: stop.log } : {}),
      });
      return { result, restarted: `${service} (desired count ${desiredCount})` };
    },
  };
}
