/**
 * `{"action": "restore", "key": "latest" | "<backup name or key>", "fromDatabase"?: "<db>", "confirm"?: true}`: the
 * runbook's step 2.1. `latest` is the newest backup of the configured database (BACKUP_DATABASE); a backup of another
 * database is restored into it only when `fromDatabase` names that database.
 * Without `"confirm": true` it answers the plan (key, size, age, target, web service to stop, the task's command) and
 * starts nothing. Confirmed, it runs the restore task with the key as it resolves now, unless a task is running.
 */
import { planRestore, startRestore } from '../../../src/ops/actions';
import type { ActionHandler } from '../types';
import { statusEvent } from './status';

export const restore: ActionHandler<'restore'> = async (event, ctx) => {
  if (event.confirm !== true) {
    const plan = await planRestore(ctx, event.key, event.fromDatabase);
    // The exact key: `latest` may name a newer backup by the time the confirmation arrives.
    const confirmWith = { action: 'restore', key: plan.key, ...(event.fromDatabase ? { fromDatabase: event.fromDatabase } : {}), confirm: true };
    const blocker = plan.blockedBy[0];
    return {
      ok: true,
      action: 'restore',
      confirmed: false,
      message: blocker
        ? `nothing was started; a ${blocker.kind} task is running (${blocker.taskArn}): once it has stopped, add "confirm": true to run it`
        : 'nothing was started; add "confirm": true to run it',
      confirmWith,
      plan,
    };
  }
  const { plan, task } = await startRestore(ctx, event.key, event.fromDatabase);
  const next = statusEvent(task);
  return {
    ok: true,
    action: 'restore',
    confirmed: true,
    started: true,
    taskArn: task.taskArn,
    ...(task.logUrl ? { logUrl: task.logUrl } : {}),
    message:
      `restore task started for ${plan.key}${plan.database === plan.target ? '' : ` (a backup of database ${plan.database})`} into ${plan.target}` +
      `${plan.webService ? ` (web service ${plan.webService} is stopped for the swap and started again)` : ''}; ` +
      `send ${JSON.stringify(next)} for its progress and exit code`,
    next,
    plan,
    task,
  };
};
