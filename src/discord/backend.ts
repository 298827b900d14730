/**
 * What the Discord commands ask of a deployment: one small interface, one module per deployment, chosen where the
 * process starts. AWS (./ops-function-backend.ts) asks the ops function, which starts the backup task; Compose
 * (./local-backend.ts) runs the backup here and reads the bucket itself.
 */
import type { SizeCheck } from '../catalog/catalog';

/** Who asked, as Discord identified them: logged, and handed on to the work. */
export interface Requester {
  userId: string;
  name: string;
  interactionId: string;
}

/** How a backup started from Discord ended (Compose: it runs here, so its end is known). */
export interface BackupOutcome {
  ok: boolean;
  key?: string;
  sizeBytes?: number;
  seconds?: number;
  /** The backup's own one-line error when it failed. */
  error?: string;
}

export type BackupStarted =
  | { where: 'task'; taskId: string; logUrl?: string }
  | { where: 'here'; database: string; bucket: string; finished: Promise<BackupOutcome> };

export interface BackupRow {
  key: string;
  takenAt: Date;
  sizeBytes: number;
  sizeCheck: SizeCheck;
  lastCheck?: { kind: 'verify' | 'restore-test'; ok: boolean; at: string; cannotTest?: boolean };
}

export interface BackupList {
  /** s3://bucket/prefix */
  where: string;
  rows: BackupRow[];
}

export interface RestorePlan {
  key: string;
  takenAt: Date;
  sizeBytes: number;
  sha256: string;
  /** The database a restore would replace. */
  target: string;
  /** What is stopped for the swap, if anything. */
  stops?: string;
  /** Tasks or runs that would block a restore now. */
  blockedBy: string[];
  /** Where a restore is carried out (never from Discord). */
  howToRun: string;
}

export interface DiscordBackend {
  /** Starts a backup now; refuses (UserError) while a backup or restore runs. */
  startBackup(requester: Requester): Promise<BackupStarted>;
  listBackups(count: number): Promise<BackupList>;
  /** The status summary, a few lines. */
  status(): Promise<string[]>;
  /** What a restore of `ref` would do; changes nothing. */
  restorePlan(ref: string): Promise<RestorePlan>;
}
