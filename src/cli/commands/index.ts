/** Every command of the CLI; each module adds itself to the program. */
import type { Command } from 'commander';
import { registerPromote } from './promote';
import { registerPromoteStatus } from './promote-status';
import { registerReplicationCheck } from './replication-check';

export type RegisterCommand = (program: Command) => void;

export const commands: RegisterCommand[] = [
  registerPromote,
  registerPromoteStatus,
  registerReplicationCheck,
];
