/** The `--jobs` flag of the commands that load a backup (restore, restore-test). */
import { availableParallelism } from 'node:os';
import { Option } from 'commander';
import { ENV } from '../contract';
import { usageError } from '../core/errors';

/** Most sessions the default takes: beyond this a load gains little and the server's connections matter more. */
const MAX_DEFAULT_JOBS = 8;

export function jobsOption(): Option {
  return new Option(
    '--jobs <n>',
    `sessions to load over: the dump's tables, indexes and constraints run in parallel (1: one psql stream) (default: $${ENV.restoreJobs}, else this machine's CPUs, at least 2, at most ${MAX_DEFAULT_JOBS} and what the server has connections for)`,
  );
}

/** The flag, else RESTORE_JOBS, else the CPUs here (at least 2: the server works while this process feeds it). */
export function restoreJobs(flag: string | undefined, configured: number | undefined): number {
  if (flag !== undefined) {
    const n = Number(flag);
    if (!Number.isInteger(n) || n < 1 || n > 64) throw usageError(`--jobs ${flag}: give the number of sessions to restore over, 1 to 64 (1: one psql stream)`);
    return n;
  }
  return configured ?? Math.min(MAX_DEFAULT_JOBS, Math.max(2, availableParallelism()));
}
