/**
 * `{"action": "status", "taskArn"?: "arn:aws:ecs:…:task/…"}`: one backup, restore or restore-test task (running or
 * stopped, its exit code, a link to its log), or without an ARN the state of the backups: the newest backup (key, age,
 * size), its latest restore-test result (or the newest older backup's that has one, saying which), and the project's
 * running tasks and those stopped in the last hour or so.
 *
 * Without an ARN it also writes the ages as CloudWatch metrics (Embedded Metric Format on stdout, which Lambda passes
 * to its log unchanged): an hourly schedule sends this event for the dashboard and the restore-test staleness alarm.
 */
import { createLogger } from '../../../src/core/log';
import { opsBackupHealth, opsTaskStatus } from '../../../src/ops/actions';
import { describeHealth, emitHealthMetrics } from '../../../src/ops/backup-health';
import type { TaskStatus } from '../../../src/ops/tasks';
import type { ActionHandler, OpsContext } from '../types';

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

/** Where the metrics go: stdout, one JSON line each, so the runtime does not prefix them and CloudWatch extracts them. */
export function metricsLogger(ctx: OpsContext, out: NodeJS.WritableStream = process.stdout) {
  return createLogger({ tty: false, quiet: true, stderr: out, now: () => ctx.now().getTime() });
}

export const status: ActionHandler<'status'> = async (event, ctx) => {
  if (event.taskArn) {
    const [task] = (await opsTaskStatus(ctx, event.taskArn)).tasks;
    return { ok: true, action: 'status', summary: summarize(task), task };
  }
  // The backups first: their metrics are written even when ECS cannot answer.
  const health = await opsBackupHealth(ctx);
  emitHealthMetrics(health, metricsLogger(ctx));
  const { tasks } = await opsTaskStatus(ctx);
  // The database of the newest backup; any other database with backups under the prefix is listed after it.
  const [main, ...others] = health.databases;
  const where = `s3://${health.bucket}/${health.prefix}`;
  const backups = main ? describeHealth(main, where) : [`no backups under ${where}`];
  return {
    ok: true,
    action: 'status',
    summary: [
      ...backups,
      ...(tasks.length === 0 ? ['no backup, restore or restore-test task is running or stopped recently'] : tasks.map(summarize)),
    ].join('\n'),
    newestBackup: main?.newestBackup ?? null,
    restoreTest: main?.restoreTest ?? null,
    ...(others.length > 0 ? { otherDatabases: others.map(({ database, newestBackup, restoreTest }) => ({ database, newestBackup, restoreTest })) } : {}),
    count: tasks.length,
    tasks,
  };
};
