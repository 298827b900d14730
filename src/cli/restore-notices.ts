/**
 * A restore told to the operators' Discord channel (DISCORD_WEBHOOK_URL, the Compose deployment: on AWS the stacks
 * post the restore task's start and end from its ECS events). Started when the command begins, finished with its
 * result or its one error line: a restore refused before it changed anything is said too, so the channel knows one
 * was tried. A post that fails is one warning line; it never fails or holds up the restore.
 */
import { oneLine } from '../core/errors';
import type { Logger } from '../core/log';
import { webhookNotifier } from '../discord/compose';
import type { Notification } from '../discord/notifications';
import type { RestoreResult } from '../restore/restore';
import type { Settings } from '../settings';

export interface RestoreNotices {
  started(ref: string, target: string): Promise<void>;
  finished(target: string, outcome: { result: RestoreResult } | { error: unknown }): Promise<void>;
}

export function restoreNotices(settings: Settings, logger: Logger): RestoreNotices | undefined {
  const notifier = webhookNotifier(settings);
  if (!notifier) return undefined;
  const post = async (n: Notification) => {
    try {
      await notifier.post(n);
    } catch (err) {
      logger.warn(`could not post to the Discord channel webhook: ${oneLine((err as Error).message)}`);
    }
  };
  return {
    started: (ref, target) => post({ kind: 'restore-started', database: target, detail: `\`meatbackup restore ${ref}\` began on the server` }),
    finished: (target, outcome) =>
      post(
        'result' in outcome
          ? {
              kind: 'restore-finished',
              database: target,
              ok: true,
              detail: `restored ${outcome.result.key} in ${Math.round(outcome.result.seconds.total)}s${outcome.result.keptAs ? `; the replaced database is kept as ${outcome.result.keptAs}` : ''}`,
            }
          : { kind: 'restore-finished', database: target, ok: false, detail: oneLine((outcome.error as Error).message ?? String(outcome.error)) },
      ),
  };
}
