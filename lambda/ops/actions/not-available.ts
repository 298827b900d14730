/** The answer of an action whose implementation has not been deployed yet: clear, and nothing is started. */
import type { OpsAction } from '../../../src/contract';
import type { ActionHandler } from '../types';

const CLI_EQUIVALENT: Partial<Record<OpsAction, string>> = {
  backup: 'meatbackup backup',
  restore: 'meatbackup restore <key|latest>',
  promote: 'meatbackup promote --from BUCKET --to BUCKET',
};

export function notAvailable<A extends OpsAction>(action: A): ActionHandler<A> {
  return async () => {
    const cli = CLI_EQUIVALENT[action];
    return {
      ok: false,
      action,
      error:
        `the "${action}" action is not available in this deployment yet; nothing was started` +
        (cli ? ` (the operator CLI has it: ${cli})` : ''),
    };
  };
}
