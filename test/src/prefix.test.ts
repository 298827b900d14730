/** BACKUP_PREFIX means the same in the CLI, the tasks and the Lambda. */
import { resolvePrefix } from '../../src/contract';
import { opsConfig } from '../../src/ops/config';
import { readSettings } from '../../src/settings';

const DEPLOYMENT = {
  BACKUP_BUCKET: 'meat',
  ECS_CLUSTER_ARN: 'arn:aws:ecs:eu-west-1:111122223333:cluster/meat',
  BACKUP_TASK_DEFINITION_ARN: 'arn:aws:ecs:eu-west-1:111122223333:task-definition/meat-backup:1',
  RESTORE_TASK_DEFINITION_ARN: 'arn:aws:ecs:eu-west-1:111122223333:task-definition/meat-restore:1',
  TASK_SUBNET_IDS: 'subnet-0123456789abcdef0',
  TASK_SECURITY_GROUP_IDS: 'sg-0123456789abcdef0',
};

describe('the backup prefix', () => {
  test('GIVEN BACKUP_PREFIX set to the empty string WHEN the CLI and the ops function resolve it THEN both mean backups/, not the bucket root', () => {
    expect(resolvePrefix(undefined, '')).toBe('backups/');
    expect(opsConfig(readSettings({ ...DEPLOYMENT, BACKUP_PREFIX: '' })).prefix).toBe('backups/');
  });

  test('GIVEN no flag WHEN BACKUP_PREFIX is unset or names a prefix THEN that prefix, normalised to one trailing slash', () => {
    expect(resolvePrefix(undefined, undefined)).toBe('backups/');
    expect(resolvePrefix(undefined, '/db-backups')).toBe('db-backups/');
    expect(opsConfig(readSettings({ ...DEPLOYMENT, BACKUP_PREFIX: 'db-backups' })).prefix).toBe('db-backups/');
  });

  test('GIVEN --prefix WHEN resolved THEN the flag wins, and an explicit empty --prefix still means the bucket root', () => {
    expect(resolvePrefix('archive', 'db-backups')).toBe('archive/');
    expect(resolvePrefix('', 'db-backups')).toBe('');
  });
});
