/**
 * Disk space for a restore (docs/architecture.md, "Runbook 2.1: restore (`src/restore`, `src/catalog`)"). A restore keeps two copies of the database
 * on the server until the operator drops the kept one: the fresh copy it loads and the one it replaces. A load that
 * fills the disk takes the whole server down, not just the restore: WAL cannot be written, the checkpointer fails,
 * the server stops and cannot even finish crash recovery. So before anything is created:
 *
 * - `spaceNeeded`: the fresh copy (the database size the backup recorded, `pg_database_size` in its catalog summary;
 *   without one, the SQL size), headroom beside it for the load's temporary files and the live database to keep
 *   writing, and on the filesystem holding pg_wal the WAL the load may write before a checkpoint recycles it
 *   (`max_wal_size` + `wal_keep_size`);
 * - `measureSpace`: the free space where that lands, when this process can see the server's directories (a local or
 *   Compose server whose data directory is mounted here, proven to be that server's by its postmaster.pid); else the
 *   limit the operator set (`--space-available`); else unknown, which the plan says;
 * - `refuseUnlessFits`: one line naming what is needed, what is free and where, before anything is changed;
 * - `DiskWatch`: while the load runs on a server whose disk is seen, stops it while `FLOOR_BYTES` are still free, so
 *   that dropping the fresh database (WAL, a checkpoint) still has room and the server stays as it was.
 */
import { type Stats, statSync, statfsSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from 'pg';
import { UserError } from '../core/errors';
import { formatBytes } from '../core/format';

const MiB = 1024 * 1024;

/**
 * Free space a load never takes: what dropping the fresh database and the checkpoint it forces may need, plus what a
 * fast load writes between two looks (`WATCH_MS`; 32 MiB in 100 ms is 320 MB/s).
 */
export const FLOOR_BYTES = 32 * MiB;
const WATCH_MS = 100;

/** Headroom beside the copy: a tenth of it (index builds spill temporary files there), at least this much. */
const MIN_HEADROOM_BYTES = 32 * MiB;

/** Where the restore writes, as the server names its directories. */
export interface ServerPaths {
  /** `data_directory`; undefined when the role may not read it (not superuser, not pg_read_all_settings). */
  dataDirectory?: string;
  /** The fresh database's tablespace directory (`pg_tablespace_location`), undefined for pg_default. */
  tablespaceLocation?: string;
  /** `max_wal_size` + `wal_keep_size`, in bytes. */
  walBytes: number;
  /** The server's own view of postmaster.pid (pg_stat_file), to prove a local path is this server's. */
  postmasterPid?: { size: number; modified: Date };
}

/** Reads what `spaceNeeded` and `measureSpace` need of the server; a setting the role may not read is left out. */
export async function readServerPaths(client: Client, tablespace: string): Promise<ServerPaths> {
  const { rows } = await client.query<{ wal: string; location: string | null }>(
    `select (pg_size_bytes(current_setting('max_wal_size')) + pg_size_bytes(current_setting('wal_keep_size')))::text as wal,
            (select nullif(pg_tablespace_location(oid), '') from pg_tablespace where spcname = $1) as location`,
    [tablespace],
  );
  const paths: ServerPaths = { walBytes: Number(rows[0].wal), ...(rows[0].location ? { tablespaceLocation: rows[0].location } : {}) };
  // Both need privileges a restore role may lack (pg_read_all_settings, pg_stat_file's grant): without them the
  // disk is simply not seen here.
  try {
    const dir = await client.query<{ dir: string }>(`select current_setting('data_directory') as dir`);
    paths.dataDirectory = dir.rows[0].dir;
    const pid = await client.query<{ size: string; modification: Date }>(`select size::text, modification from pg_stat_file('postmaster.pid')`);
    paths.postmasterPid = { size: Number(pid.rows[0].size), modified: pid.rows[0].modification };
  } catch {
    // not seen
  }
  return paths;
}

/** One part of what a restore needs, on one directory of the server. */
export interface SpacePart {
  what: string;
  bytes: number;
  /** The server's directory it lands in: the tablespace's (or data directory's `base`), or `pg_wal`. */
  directory?: string;
}

/** What the restore needs, and where: stated in the plan. */
export interface SpaceNeed {
  totalBytes: number;
  parts: SpacePart[];
}

/** The size of the fresh copy: the database size the backup recorded, else its SQL size (said so). */
export function copySize(recordedBytes: number | undefined, sqlBytes: number): { bytes: number; what: string } {
  return recordedBytes !== undefined && recordedBytes > 0
    ? { bytes: recordedBytes, what: 'the fresh copy (the database size recorded at backup time)' }
    : { bytes: sqlBytes, what: 'the fresh copy (estimated from the SQL size: this backup recorded no database size)' };
}

export function spaceNeeded(copy: { bytes: number; what: string }, paths: ServerPaths): SpaceNeed {
  const copyDir = paths.tablespaceLocation ?? (paths.dataDirectory ? join(paths.dataDirectory, 'base') : undefined);
  const walDir = paths.dataDirectory ? join(paths.dataDirectory, 'pg_wal') : undefined;
  const headroom = Math.max(MIN_HEADROOM_BYTES, Math.ceil(copy.bytes / 10));
  const parts: SpacePart[] = [
    { what: copy.what, bytes: copy.bytes, ...(copyDir ? { directory: copyDir } : {}) },
    { what: 'headroom for temporary files and the live database', bytes: headroom, ...(copyDir ? { directory: copyDir } : {}) },
    { what: 'WAL written before a checkpoint recycles it (max_wal_size + wal_keep_size)', bytes: paths.walBytes, ...(walDir ? { directory: walDir } : {}) },
  ];
  return { totalBytes: parts.reduce((sum, p) => sum + p.bytes, 0), parts };
}

/** One filesystem the restore writes to, as seen from here. */
export interface Filesystem {
  /** A directory on it, as the server names it. */
  directory: string;
  device: number;
  freeBytes: number;
  neededBytes: number;
}

/** Where the answer to "does it fit" comes from. */
export type SpaceSource =
  | { kind: 'filesystem'; filesystems: Filesystem[] }
  | { kind: 'operator'; availableBytes: number }
  | { kind: 'unknown'; why: string };

export interface SpaceCheck {
  need: SpaceNeed;
  source: SpaceSource;
  /** False when known not to fit; undefined when nothing says. */
  fits?: boolean;
}

function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

/** Free bytes an unprivileged writer may use (statfs `bavail`); the server writes as an ordinary user. */
export function freeBytes(directory: string): number {
  const fs = statfsSync(directory);
  return Number(fs.bavail) * Number(fs.bsize);
}

/**
 * The server's directories as seen from here, or why not: the data directory must exist here and hold the very
 * postmaster.pid the server reports (same size and modification time), or a same-named path of another machine
 * (a container beside it, a laptop) would be measured.
 */
export function seenDirectories(paths: ServerPaths): { ok: true } | { ok: false; why: string } {
  if (!paths.dataDirectory || !paths.postmasterPid) {
    return { ok: false, why: 'the role may not read the data directory setting (superuser or pg_read_all_settings, and pg_stat_file)' };
  }
  const local = statOrUndefined(join(paths.dataDirectory, 'postmaster.pid'));
  if (!local) return { ok: false, why: `the server's data directory ${paths.dataDirectory} is not visible from here` };
  if (local.size !== paths.postmasterPid.size || Math.abs(local.mtimeMs - paths.postmasterPid.modified.getTime()) >= 1000) {
    return { ok: false, why: `${paths.dataDirectory} here is not that server's data directory` };
  }
  return { ok: true };
}

/** Groups the parts by the filesystem they land on and measures each. */
export function measureFilesystems(need: SpaceNeed): Filesystem[] {
  const byDevice = new Map<number, Filesystem>();
  for (const part of need.parts) {
    if (!part.directory) continue;
    // base/ and pg_wal/ exist in every data directory; a tablespace's own directory always exists.
    const stat = statSync(part.directory);
    const fs = byDevice.get(stat.dev) ?? { directory: part.directory, device: stat.dev, freeBytes: freeBytes(part.directory), neededBytes: 0 };
    fs.neededBytes += part.bytes;
    byDevice.set(stat.dev, fs);
  }
  return [...byDevice.values()];
}

/** What is known about whether `need` fits: the filesystems seen, else the operator's figure, else nothing. */
export function checkSpace(need: SpaceNeed, paths: ServerPaths, operatorAvailable: number | undefined): SpaceCheck {
  const seen = seenDirectories(paths);
  if (seen.ok) {
    const filesystems = measureFilesystems(need);
    return { need, source: { kind: 'filesystem', filesystems }, fits: filesystems.every((f) => f.neededBytes <= f.freeBytes) };
  }
  if (operatorAvailable !== undefined) {
    return { need, source: { kind: 'operator', availableBytes: operatorAvailable }, fits: need.totalBytes <= operatorAvailable };
  }
  return { need, source: { kind: 'unknown', why: seen.why } };
}

/** The plan's line about space. */
export function describeSpace(check: SpaceCheck): string {
  const parts = check.need.parts.map((p) => `${formatBytes(p.bytes)} ${p.what}`).join(' + ');
  const needs = `needs ${formatBytes(check.need.totalBytes)}: ${parts}`;
  switch (check.source.kind) {
    case 'filesystem':
      return `${needs}; free: ${check.source.filesystems.map((f) => `${formatBytes(f.freeBytes)} on the filesystem of ${f.directory} (needs ${formatBytes(f.neededBytes)})`).join(', ')}`;
    case 'operator':
      return `${needs}; available: ${formatBytes(check.source.availableBytes)} (--space-available)`;
    case 'unknown':
      return `${needs}; free space not checked: ${check.source.why} (--space-available says how much there is)`;
  }
}

/** What is missing, and where, when `check` is known not to fit ("2.3 GiB on the filesystem of …, which has …"). */
export function shortfall(check: SpaceCheck): string | undefined {
  if (check.fits !== false) return undefined;
  const { source } = check;
  return source.kind === 'filesystem'
    ? source.filesystems
        .filter((f) => f.neededBytes > f.freeBytes)
        .map((f) => `${formatBytes(f.neededBytes)} on the filesystem of ${f.directory}, which has ${formatBytes(f.freeBytes)} free`)
        .join(', and ')
    : source.kind === 'operator'
      ? `${formatBytes(check.need.totalBytes)}, and --space-available says ${formatBytes(source.availableBytes)}`
      : '';
}

/** Throws one line when the restore is known not to fit; nothing has been changed yet. */
export function refuseUnlessFits(check: SpaceCheck, target: string): void {
  const where = shortfall(check);
  if (where === undefined) return;
  throw new UserError(
    `not enough disk space to restore ${target}: it needs ${where} (the fresh copy beside the one it replaces, with headroom for WAL and checkpoints); free space on the server, or restore into a server with room; nothing was changed`,
    1,
  );
}

/** A load stopped by {@link DiskWatch}: the server's disk, not the backup, is what ran short. */
export class DiskNearlyFull extends UserError {
  constructor(message: string) {
    super(message, 1);
    this.name = 'DiskNearlyFull';
  }
}

/**
 * Watches the seen filesystems while a load runs and calls `stop` once one has less than `FLOOR_BYTES` free, so the
 * load is killed while the server can still write WAL, checkpoint, and drop what was loaded.
 */
export class DiskWatch {
  private readonly timer: NodeJS.Timeout;
  private stopped = false;

  constructor(
    private readonly filesystems: Filesystem[],
    private readonly onLow: (err: DiskNearlyFull) => void,
    intervalMs = WATCH_MS,
  ) {
    this.timer = setInterval(() => this.check(), intervalMs);
    this.timer.unref();
  }

  close(): void {
    clearInterval(this.timer);
  }

  private check(): void {
    if (this.stopped) return;
    for (const f of this.filesystems) {
      let free: number;
      try {
        free = freeBytes(f.directory);
      } catch {
        continue;
      }
      if (free < FLOOR_BYTES) {
        this.stopped = true;
        this.close();
        this.onLow(new DiskNearlyFull(`the load was stopped with ${formatBytes(free)} left free on the filesystem of ${f.directory}, before the disk filled: the backup needs more space than its recorded size; free space on the server and restore again`));
        return;
      }
    }
  }
}

/**
 * Runs a load with a signal that also aborts when a seen filesystem gets down to `FLOOR_BYTES` (the load's own
 * cleanup then runs as after any other abort); without a seen filesystem, with the caller's signal as it is.
 */
export async function whileWatchingDisk<T>(check: SpaceCheck, parent: AbortSignal | undefined, load: (signal: AbortSignal | undefined) => Promise<T>): Promise<T> {
  if (check.source.kind !== 'filesystem') return load(parent);
  const full = new AbortController();
  const watch = new DiskWatch(check.source.filesystems, (err) => full.abort(err));
  try {
    return await load(parent ? AbortSignal.any([parent, full.signal]) : full.signal);
  } finally {
    watch.close();
  }
}
