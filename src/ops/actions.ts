/**
 * What the ops Lambda's backup, restore and status actions do, once its adapter has validated the event:
 *
 * - `planRestore`: resolve the key (`latest`: the configured database's newest backup) and read its manifest, and say what a restore would do (key, size, age, target,
 *   web service to stop, the exact task command, any task that would block it). Changes nothing.
 * - `startRestore`: the same plan, then (unless a backup or restore task is running) RunTask of the restore task
 *   definition with the container command `restore <key> … --yes --json`.
 * - `startBackup`: RunTask of the backup task definition (the runbook's `/admin backup`), refused while a task runs.
 * - `opsTaskStatus`: one task's status with exit code and log link, or the project's recent tasks.
 * - `opsBackupHealth`: the newest backup, its age and its latest restore-test result (./backup-health).
 */
import { readRequiredManifest } from '../catalog/catalog';
import { type ResolvedBackup, resolveBackupRef } from '../catalog/resolve';
import { formatAge } from '../core/format';
import { type SourceDatabaseWords, otherDatabaseRefusal } from '../catalog/source-database';
import { describeServiceRef } from '../restore/web-service';
import { type BackupHealth, backupHealth } from './backup-health';
import { type OpsConfig, STARTABLE_TASK_KINDS, opsConfig } from './config';
import type { OpsContext } from './context';
import { type TaskStatus, ensureNoProjectTaskRunning, listProjectTasks, runProjectTask, taskStatus } from './tasks';

/** The ops event's words for a backup of another database (src/catalog/source-database.ts). */
const OPS_SOURCE_WORDS: SourceDatabaseWords = {
  option: '"fromDatabase"',
  withValue: (database) => `"fromDatabase": "${database}"`,
  unchanged: 'nothing was started',
  targetNote: ' (the database this deployment restores)',
};

export interface RestoreTaskPlan {
  bucket: string;
  key: string;
  /** The database the backup was taken from, and the one the task restores into (the configured database). */
  database: string;
  target: string;
  takenAt: string;
  age: string;
  ageSeconds: number;
  sizeBytes: number;
  sha256: string;
  versionId?: string;
  /** What happens to the database the restore replaces. */
  replaced: string;
  /** Stopped during the swap and started again; null when none is configured. */
  webService: string | null;
  /** The restore task's container command. */
  command: string[];
  /** Tasks that must stop before a restore may start; a confirmation while any runs is refused. */
  blockedBy: TaskStatus[];
  /** `latest` only: the newer backups it passed over (stamped in the future, incomplete). */
  passedOver?: string;
}

/** The restore task's container command for a resolved key (a backup of `source`, restored into `target`). */
export function restoreCommand(config: OpsConfig, key: string, target: string, source: string = target): string[] {
  return [
    'restore', key,
    '--bucket', config.bucket,
    '--prefix', config.prefix,
    '--target-db', target,
    ...(source !== target ? ['--from-database', source] : []),
    ...(config.webService ? ['--stop-ecs-service', describeServiceRef(config.webService)] : []),
    '--yes', '--json',
  ];
}

export const BACKUP_COMMAND = ['backup', '--json'];

/**
 * The backup `ref` names for a restore into the configured database: `latest` is the newest backup of that database
 * (or of `fromDatabase`), and a backup of another database needs `fromDatabase` to name it. A deployment without
 * BACKUP_DATABASE (from before it was set) restores a backup into the database it was taken from.
 */
async function resolveForRestore(deps: OpsContext, config: OpsConfig, ref: string, fromDatabase: string | undefined): Promise<{ backup: ResolvedBackup; target: string }> {
  const source = fromDatabase ?? config.database;
  const restoreInto = config.database !== undefined && fromDatabase === undefined ? { restoreInto: { target: config.database, words: OPS_SOURCE_WORDS } } : {};
  const backup = await resolveBackupRef(deps.s3, config.bucket, config.prefix, ref, {
    ...(source !== undefined ? { database: source } : {}),
    databaseHint: 'name the backup by its key, or add "fromDatabase": NAME',
    ...restoreInto,
    now: deps.now(),
  });
  const target = config.database ?? backup.database;
  const refused = otherDatabaseRefusal(backup.key, backup.database, target, fromDatabase, OPS_SOURCE_WORDS);
  if (refused) throw refused;
  return { backup, target };
}

async function plan(deps: OpsContext, config: OpsConfig, ref: string, fromDatabase?: string): Promise<RestoreTaskPlan> {
  const { backup, target } = await resolveForRestore(deps, config, ref, fromDatabase);
  // The restore task would refuse it: the same line as the CLI's (a deleted manifest said to be deleted, with how to bring it back).
  const manifest = await readRequiredManifest(deps.s3, config.bucket, backup.key, { list: '{"action":"list"}', unchanged: 'nothing was started' });
  const now = deps.now();
  return {
    bucket: config.bucket,
    key: backup.key,
    database: backup.database,
    target,
    takenAt: backup.takenAt.toISOString(),
    age: formatAge(backup.takenAt, now),
    ageSeconds: Math.max(0, Math.round((now.getTime() - backup.takenAt.getTime()) / 1000)),
    sizeBytes: manifest.sizeBytes,
    sha256: manifest.sha256,
    ...(manifest.versionId ? { versionId: manifest.versionId } : {}),
    replaced: `${target} is restored into a fresh database first; if ${target} exists it is then renamed to ${target}_pre_restore_<UTC time> and kept, never dropped`,
    webService: config.webService ? describeServiceRef(config.webService) : null,
    command: restoreCommand(config, backup.key, target, backup.database),
    blockedBy: await listProjectTasks(deps.ecs, config, 'RUNNING', STARTABLE_TASK_KINDS),
    ...(backup.skipped ? { passedOver: backup.skipped } : {}),
  };
}

/** What `{"action":"restore","key":…}` would do. Reads S3 and lists tasks; starts and changes nothing. */
export async function planRestore(deps: OpsContext, ref: string, fromDatabase?: string): Promise<RestoreTaskPlan> {
  return plan(deps, opsConfig(deps.settings), ref, fromDatabase);
}

/** Confirmed restore: re-plans with the key as it resolves now, refuses while a task runs, starts the restore task. */
export async function startRestore(deps: OpsContext, ref: string, fromDatabase?: string): Promise<{ plan: RestoreTaskPlan; task: TaskStatus }> {
  const config = opsConfig(deps.settings);
  const p = await plan(deps, config, ref, fromDatabase);
  if (p.blockedBy.length > 0) await ensureNoProjectTaskRunning(deps.ecs, config, 'restore');
  const task = await runProjectTask(deps.ecs, config, 'restore', p.command);
  return { plan: p, task };
}

/** `{"action":"backup"}`: starts the backup task now, unless a backup or restore task is running. */
export async function startBackup(deps: OpsContext): Promise<{ task: TaskStatus }> {
  const config = opsConfig(deps.settings);
  await ensureNoProjectTaskRunning(deps.ecs, config, 'backup');
  return { task: await runProjectTask(deps.ecs, config, 'backup', BACKUP_COMMAND) };
}

/**
 * `{"action":"status"}`: the newest backup and its restore-test result, per database, from one listing of the prefix;
 * the configured database first.
 */
export async function opsBackupHealth(deps: OpsContext): Promise<BackupHealth> {
  const config = opsConfig(deps.settings);
  return backupHealth(deps.s3, config.bucket, config.prefix, deps.now(), config.database);
}

/** `{"action":"status","taskArn"?:…}`: one task, or the project's running and recently stopped tasks. */
export async function opsTaskStatus(deps: OpsContext, taskArn?: string): Promise<{ tasks: TaskStatus[] }> {
  return taskStatus(deps.ecs, opsConfig(deps.settings), taskArn);
}
