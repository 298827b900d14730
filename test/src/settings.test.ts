/**
 * The runtime's settings (src/settings.ts): every variable the runtime reads, read once where a process enters,
 * checked, and refused with one line naming the variable and what to give.
 */
import { DEFAULT_LOCK_DAYS, ENV } from '../../src/contract';
import { UserError } from '../../src/core/errors';
import { opsConfig } from '../../src/ops/config';
import { pgPrograms, prefixFrom, readSettings, required } from '../../src/settings';
import { handler } from '../../lambda/ops/handler';
import { cleanEnv, runCli } from '../support/cli';

function refusal(env: Record<string, string>): UserError {
  try {
    readSettings(env);
  } catch (err) {
    if (err instanceof UserError) return err;
    throw err;
  }
  throw new Error(`${JSON.stringify(env)} was accepted`);
}

describe('runtime settings', () => {
  test('GIVEN an empty environment WHEN read THEN every default applies and nothing is required yet', () => {
    const s = readSettings({});
    expect(s.bucket).toBeUndefined();
    expect(s.prefix).toBe('backups/');
    expect(s.backup).toEqual({ lockDays: DEFAULT_LOCK_DAYS });
    expect(DEFAULT_LOCK_DAYS).toBe(35);
    expect(s.stallSeconds).toBeUndefined();
    expect(s.restoreTest).toEqual({ mode: 'scratch', assertions: [] });
    expect(s.postgres).toEqual({ libDir: '/usr/lib/postgresql' });
    expect(s.ecs).toEqual({ taskDefinitions: {}, containerName: 'meatbackup', subnets: [], securityGroups: [], assignPublicIp: false });
    expect(s.chat).toEqual({ restoreEnabled: false, commandPrefix: '' });
  });

  test('GIVEN a task\'s environment WHEN read THEN each variable lands typed where the commands look for it', () => {
    const s = readSettings({
      [ENV.bucket]: 'meat-backups',
      [ENV.prefix]: '/db',
      [ENV.lockDays]: '0',
      [ENV.retentionDays]: 'daily:14, weekly:56,monthly:365',
      [ENV.compressor]: 'zlib',
      [ENV.stallSeconds]: '30',
      [ENV.restoreTestMode]: 'cluster',
      [ENV.restoreTestAssertions]: '[" select count(*) > 0 from users "]',
      [ENV.webService]: 'meatlizard/web',
      [ENV.taskSubnets]: 'subnet-a, subnet-b,',
      [ENV.taskAssignPublicIp]: 'ENABLED',
      [ENV.pgDumpPath]: '/opt/pg/bin/pg_dump',
      [ENV.pgLibDir]: '/opt/pg',
      [ENV.chatRestoreEnabled]: 'true',
      PATH: '/usr/bin',
      PGDATABASE: 'meatdb',
    });
    expect(s).toMatchObject({
      bucket: 'meat-backups',
      prefix: 'db/',
      backup: { lockDays: 0, retentionDays: { daily: 14, weekly: 56, monthly: 365 }, compressor: 'zlib' },
      stallSeconds: 30,
      restoreTest: { mode: 'cluster', assertions: ['select count(*) > 0 from users'] },
      webService: { cluster: 'meatlizard', service: 'web' },
      ecs: { subnets: ['subnet-a', 'subnet-b'], assignPublicIp: true },
      postgres: { pgDatabase: 'meatdb' },
      chat: { restoreEnabled: true },
    });
    expect(pgPrograms(s)).toEqual({ pgDumpPath: '/opt/pg/bin/pg_dump', libDir: '/opt/pg', path: '/usr/bin' });
  });

  test('GIVEN a variable set to the empty string WHEN read THEN it counts as unset (an unfilled template is no statement of intent)', () => {
    const s = readSettings({ [ENV.bucket]: '', [ENV.prefix]: '', [ENV.lockDays]: ' ', [ENV.restoreTestMode]: '', [ENV.webService]: '' });
    expect(s.bucket).toBeUndefined();
    expect(s.prefix).toBe('backups/');
    expect(s.backup.lockDays).toBe(35);
    expect(s.restoreTest.mode).toBe('scratch');
    expect(s.webService).toBeUndefined();
  });

  test.each<[Record<string, string>, string]>([
    [{ [ENV.lockDays]: '3.5' }, 'BACKUP_LOCK_DAYS=3.5: give a whole number of days (0 writes backups without Object Lock)'],
    [{ [ENV.lockDays]: '-1' }, 'BACKUP_LOCK_DAYS=-1: give a whole number of days (0 writes backups without Object Lock)'],
    [{ [ENV.lockDays]: '36501' }, 'BACKUP_LOCK_DAYS=36501: give a whole number of days (0 writes backups without Object Lock)'],
    [{ [ENV.compressor]: 'gzip' }, "BACKUP_COMPRESSOR=gzip: give isal (ISA-L's igzip, the fastest) or zlib (built in)"],
    [{ [ENV.retentionDays]: '14' }, "BACKUP_RETENTION_DAYS=14: give each class's days as daily:14,weekly:56,monthly:365 (whole days, at most 36500)"],
    [{ [ENV.retentionDays]: 'daily:14,daily:7' }, "BACKUP_RETENTION_DAYS=daily:14,daily:7: give each class's days as daily:14,weekly:56,monthly:365 (whole days, at most 36500)"],
    [{ [ENV.retentionDays]: 'hourly:1' }, "BACKUP_RETENTION_DAYS=hourly:1: give each class's days as daily:14,weekly:56,monthly:365 (whole days, at most 36500)"],
    [{ [ENV.retentionDays]: 'monthly:0' }, "BACKUP_RETENTION_DAYS=monthly:0: give each class's days as daily:14,weekly:56,monthly:365 (whole days, at most 36500)"],
    [{ [ENV.retentionDays]: 'weekly:8.5' }, "BACKUP_RETENTION_DAYS=weekly:8.5: give each class's days as daily:14,weekly:56,monthly:365 (whole days, at most 36500)"],
    [{ [ENV.stallSeconds]: 'soon' }, 'STALL_TIMEOUT_SECONDS=soon: give the seconds without progress after which to give up (0 never gives up)'],
    [{ [ENV.restoreTestMode]: 'docker' }, 'RESTORE_TEST_MODE=docker: use scratch or cluster'],
    [{ [ENV.restoreTestAssertions]: 'select 1' }, 'RESTORE_TEST_ASSERTIONS=select 1: give a JSON array of SQL strings, each returning one true, e.g. ["select count(*) > 0 from users"]'],
    [{ [ENV.restoreTestAssertions]: '["select 1", " "]' }, 'RESTORE_TEST_ASSERTIONS=["select 1", " "]: give a JSON array of SQL strings, each returning one true, e.g. ["select count(*) > 0 from users"]'],
    [{ [ENV.webService]: 'web' }, 'WEB_SERVICE=web: give CLUSTER/SERVICE (names, or a cluster ARN/SERVICE, or a service ARN)'],
    [{ [ENV.taskAssignPublicIp]: 'maybe' }, 'TASK_ASSIGN_PUBLIC_IP=maybe: use true or false'],
  ])('GIVEN %j WHEN read THEN one usage error names the variable, its value and what to give', (env, message) => {
    const err = refusal(env);
    expect(err.message).toBe(message);
    expect(err.exitCode).toBe(2);
  });

  test('GIVEN a --prefix flag WHEN the prefix is taken THEN the flag wins, normalised, and an explicit empty one is the bucket root', () => {
    const s = readSettings({ [ENV.prefix]: 'db' });
    expect(prefixFrom(undefined, s)).toBe('db/');
    expect(prefixFrom('archive', s)).toBe('archive/');
    expect(prefixFrom('', s)).toBe('');
  });

  test('GIVEN an ops function without its ECS wiring WHEN an action needs it THEN one error names every missing variable', () => {
    expect(() => opsConfig(readSettings({ [ENV.bucket]: 'meat' }))).toThrow(
      `this deployment of the ops function has no ${ENV.ecsCluster}, ${ENV.backupTaskDefinition}, ${ENV.restoreTaskDefinition}, ${ENV.taskSubnets}, ${ENV.taskSecurityGroups} in its environment: redeploy the stacks; nothing was started`,
    );
    expect(() => required(undefined, ENV.replicaBucket)).toThrow(`has no ${ENV.replicaBucket} in its environment`);
    expect(required('meat-replica', ENV.replicaBucket)).toBe('meat-replica');
  });
});

describe('each entry reads the settings once, before anything starts', () => {
  const saved = { ...process.env };
  afterEach(() => {
    process.env = { ...saved };
  });

  test('GIVEN BACKUP_LOCK_DAYS=soon WHEN the CLI (the tasks\' command) runs list THEN one line names the variable and what to give, exit 2, and nothing is asked of S3', async () => {
    // GIVEN an endpoint nothing listens on: a command that started would fail differently
    const env = cleanEnv({ [ENV.bucket]: 'meat-backups', [ENV.lockDays]: 'soon', AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9', AWS_REGION: 'eu-west-1' });
    // WHEN
    const res = await runCli(['list'], { env });
    // THEN
    expect(res.code).toBe(2);
    expect(res.stdout).toBe('');
    expect(res.stderr).toBe('meatbackup: BACKUP_LOCK_DAYS=soon: give a whole number of days (0 writes backups without Object Lock)\n');
  });

  test('GIVEN TASK_ASSIGN_PUBLIC_IP=maybe WHEN the ops Lambda is invoked THEN it answers one line naming the variable and starts nothing', async () => {
    // GIVEN
    Object.assign(process.env, { [ENV.bucket]: 'meat-backups', [ENV.taskAssignPublicIp]: 'maybe', AWS_REGION: 'eu-west-1' });
    const logged = jest.spyOn(console, 'error').mockImplementation(() => undefined);
    // WHEN
    const result = await handler({ action: 'list' });
    // THEN
    expect(result).toEqual({ ok: false, error: "this deployment's settings cannot be used: TASK_ASSIGN_PUBLIC_IP=maybe: use true or false; redeploy the stacks; nothing was started" });
    logged.mockRestore();
  });
});
