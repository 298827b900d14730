/** The dispatch table: one module per action; its type makes sure every action of the contract has exactly one handler. */
import type { ActionTable } from '../types';
import { backup } from './backup';
import { list } from './list';
import { promote } from './promote';
import { replicationCheck } from './replication-check';
import { restore } from './restore';
import { status } from './status';

export const actions: ActionTable = {
  backup,
  list,
  restore,
  status,
  promote,
  'replication-check': replicationCheck,
};
