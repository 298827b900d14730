/** Every command of the CLI; each module adds itself to the program. */
import type { Command } from 'commander';
import type { Settings } from '../../settings';
import { registerBackup } from './backup';
import { registerCleanup } from './cleanup';
import { registerDelete } from './delete';
import { registerDemo } from './demo';
import { registerDiscord } from './discord';
import { registerList } from './list';
import { registerPromote } from './promote';
import { registerPromoteStatus } from './promote-status';
import { registerReplicationCheck } from './replication-check';
import { registerRestore } from './restore';
import { registerRestoreTest } from './restore-test';
import { registerRetention } from './retention';
import { registerSchedule } from './schedule';
import { registerVerify } from './verify';

/** Adds a command to the program; its action works with the settings `main` read from the environment. */
export type RegisterCommand = (program: Command, settings: Settings) => void;

export const commands: RegisterCommand[] = [
  registerBackup,
  registerList,
  registerVerify,
  registerDelete,
  registerRetention,
  registerRestore,
  registerRestoreTest,
  registerCleanup,
  registerPromote,
  registerPromoteStatus,
  registerReplicationCheck,
  registerSchedule,
  registerDemo,
  registerDiscord,
];
