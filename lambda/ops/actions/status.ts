/**
 * `{"action": "status", "taskArn"?: "arn:aws:ecs:…:task/…"}`: one backup or restore task (running or stopped, its exit
 * code, a link to its log), or without an ARN the project's running tasks and those stopped in the last hour or so.
 */
import { opsTaskStatus } from '../../../src/ops/actions';
import type { TaskStatus } from '../../../src/ops/tasks';
import type { ActionHandler } from '../types';

/** The console test event that reports on `task`: what the backup and restore answers tell the operator to send next. */
export function statusEvent(task: TaskStatus): { action: 'status'; taskArn: string } {
  return { action: 'status', taskArn: task.taskArn };
}

/** One line an operator reads first: what the task is doing, or how it ended. */
export function summarize(task: TaskStatus): string {
  const log = task.logUrl ? `; log: ${task.logUrl}` : task.logGroup ? `; log group ${task.logGroup}, stream ${task.logStream}` : '';
  if (task.state === 'running') return `${task.kind} task is running (${task.lastStatus ?? 'RUNNING'})${log}`;
  if (task.state === 'stopping') return `${task.kind} task is stopping (${task.lastStatus ?? 'STOPPING'})${log}`;
  if (task.succeeded) return `${task.kind} task finished successfully (exit code 0)${log}`;
  const why = [task.stopCode, task.containerReason ?? task.stoppedReason].filter(Boolean).join(': ');
  const exit = task.exitCode !== undefined ? `with exit code ${task.exitCode}` : 'without an exit code';
  return `${task.kind} task failed: stopped ${exit}${why ? ` (${why})` : ''}${log}`;
}

export const status: ActionHandler<'status'> = async (event, ctx) => {
  const { tasks } = await opsTaskStatus(ctx, event.taskArn);
  if (event.taskArn) {
    const [task] = tasks;
    return { ok: true, action: 'status', summary: summarize(task), task };
  }
  return {
    ok: true,
    action: 'status',
    summary: tasks.length === 0 ? 'no backup or restore task is running or stopped recently' : tasks.map(summarize).join('\n'),
    count: tasks.length,
    tasks,
  };
};
