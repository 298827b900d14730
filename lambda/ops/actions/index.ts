/**
 * The dispatch table: one module per action. A later issue replaces a `notAvailable(…)` entry with its module
 * (e.g. `backup` from './backup'), and the type makes sure every action of the contract has a handler.
 */
import type { ActionTable } from '../types';
import { list } from './list';
import { notAvailable } from './not-available';

export const actions: ActionTable = {
  backup: notAvailable('backup'),
  list,
  restore: notAvailable('restore'),
  status: notAvailable('status'),
  promote: notAvailable('promote'),
  'replication-check': notAvailable('replication-check'),
};
