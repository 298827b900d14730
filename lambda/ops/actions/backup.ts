/** `{"action": "backup"}`: the runbook's `/admin backup`: runs the backup task now, unless a backup or restore runs. */
import { startBackup } from '../../../src/ops/actions';
import type { ActionHandler } from '../types';
import { statusEvent } from './status';

export const backup: ActionHandler<'backup'> = async (_event, ctx) => {
  const { task } = await startBackup(ctx);
  const next = statusEvent(task);
  return {
    ok: true,
    action: 'backup',
    started: true,
    taskArn: task.taskArn,
    ...(task.logUrl ? { logUrl: task.logUrl } : {}),
    message: `backup task started; send ${JSON.stringify(next)} for its progress and exit code`,
    next,
    task,
  };
};
