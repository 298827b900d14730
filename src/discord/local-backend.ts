/**
 * The Compose deployment's backend: this process is the scheduler's (or `meatbackup discord serve`), on the server
 * beside PostgreSQL, so a backup runs here, as `meatbackup backup --json` in a child process of its own (its memory and
 * its failure stay its own; its one-line error is the answer), and the listings read the bucket directly.
 */
import { spawn } from 'node:child_process';
import type { S3Client } from '@aws-sdk/client-s3';
import { listBackups, readRequiredManifest, sizeCheck } from '../catalog/catalog';
import { resolveBackupRef } from '../catalog/resolve';
import { UserError } from '../core/errors';
import { backupHealth, describeHealth } from '../ops/backup-health';
import type { BackupList, BackupOutcome, BackupStarted, DiscordBackend, RestorePlan } from './backend';

export interface LocalBackendOptions {
  s3: S3Client;
  bucket: string;
  prefix: string;
  /** The database backed up here (the connection's). */
  database: string;
  /** How to start this same CLI: `[node, …execArgv, entry]`. */
  cli: readonly string[];
  /** The environment the backup runs with (this process's). */
  env: NodeJS.ProcessEnv;
  now: () => Date;
  /**
   * Runs the backup instead of a child process of its own: the scheduler's, which queues it behind the run in progress
   * so that it never runs beside a scheduled backup or restore test. Throws a UserError when it cannot be queued.
   */
  runBackup?: () => Promise<BackupOutcome>;
}

/** The last `meatbackup: …` line a failed command printed: its one-line reason. */
function lastErrorLine(stderr: string): string | undefined {
  const lines = stderr.split('\n').filter((l) => l.startsWith('meatbackup: '));
  return lines.at(-1)?.slice('meatbackup: '.length);
}

/** A successful `meatbackup backup --json` result as the answer reports it (what it lacks is left out). */
export function backupOutcomeOf(result: unknown): BackupOutcome {
  const r = (result ?? {}) as { key?: unknown; sizeBytes?: unknown; durationSeconds?: unknown };
  return {
    ok: true,
    ...(typeof r.key === 'string' ? { key: r.key } : {}),
    ...(typeof r.sizeBytes === 'number' ? { sizeBytes: r.sizeBytes } : {}),
    ...(typeof r.durationSeconds === 'number' ? { seconds: r.durationSeconds } : {}),
  };
}

export class LocalBackend implements DiscordBackend {
  private running?: { since: Date; by: string };

  constructor(private readonly options: LocalBackendOptions) {}

  async startBackup(requester: { name: string }): Promise<BackupStarted> {
    const { options } = this;
    if (this.running) {
      throw new UserError(`a backup started from Discord by ${this.running.by} is still running (since ${this.running.since.toISOString().slice(11, 19)} UTC): wait for its result`);
    }
    if (options.runBackup) {
      const queued = options.runBackup();
      this.running = { since: options.now(), by: requester.name };
      const finished = queued.finally(() => (this.running = undefined));
      return { where: 'here', database: options.database, bucket: options.bucket, finished };
    }
    const [node, ...args] = options.cli;
    const child = spawn(node, [...args, 'backup', '--json', '--bucket', options.bucket, '--prefix', options.prefix], { env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.running = { since: options.now(), by: requester.name };
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-16_384)));
    const finished = new Promise<BackupOutcome>((resolve) => {
      child.on('error', (err) => resolve({ ok: false, error: `could not start the backup: ${err.message}` }));
      child.on('close', (code, signal) => {
        this.running = undefined;
        if (code !== 0) {
          resolve({ ok: false, error: lastErrorLine(stderr) ?? `the backup ended with ${signal ? `signal ${signal}` : `exit code ${code}`}` });
          return;
        }
        let result: unknown;
        try {
          result = JSON.parse(stdout);
        } catch {
          result = undefined;
        }
        resolve(backupOutcomeOf(result));
      });
    });
    return { where: 'here', database: options.database, bucket: options.bucket, finished };
  }

  async listBackups(count: number): Promise<BackupList> {
    const { s3, bucket, prefix } = this.options;
    const entries = await listBackups(s3, bucket, prefix, { limit: count });
    return {
      where: `s3://${bucket}/${prefix}`,
      rows: entries.map((e) => ({
        key: e.key,
        takenAt: e.takenAt,
        sizeBytes: e.sizeBytes,
        sizeCheck: sizeCheck(e),
        ...(e.lastCheck ? { lastCheck: { kind: e.lastCheck.kind, ok: e.lastCheck.ok, at: e.lastCheck.at, ...(e.lastCheck.cannotTest ? { cannotTest: true } : {}) } } : {}),
      })),
    };
  }

  async status(): Promise<string[]> {
    const { s3, bucket, prefix, database, now } = this.options;
    const health = await backupHealth(s3, bucket, prefix, now(), database);
    const where = `s3://${bucket}/${prefix}`;
    const lines = health.databases.flatMap((db) => describeHealth(db, where));
    if (this.running) lines.push(`a backup started from Discord by ${this.running.by} is running since ${this.running.since.toISOString().slice(11, 19)} UTC`);
    return lines;
  }

  async restorePlan(ref: string): Promise<RestorePlan> {
    const { s3, bucket, prefix, database } = this.options;
    const backup = await resolveBackupRef(s3, bucket, prefix, ref, { database, databaseHint: 'name the backup by its file name' });
    const manifest = await readRequiredManifest(s3, bucket, backup.key, { list: '/backups', unchanged: 'nothing was started' });
    return {
      key: backup.key,
      takenAt: backup.takenAt,
      sizeBytes: manifest.sizeBytes,
      sha256: manifest.sha256,
      target: database,
      blockedBy: this.running ? [`a backup started from Discord is running; a restore waits for it`] : [],
      howToRun: `on the server, \`meatbackup restore ${backup.key}${backup.database !== database ? ` --from-database ${backup.database}` : ''}\`; never from Discord`,
    };
  }
}
