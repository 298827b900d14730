/**
 * Which gzip implementation a command uses. ISA-L's `igzip` (Debian package `isal`) compresses a plain dump with
 * about a fifth of the CPU of Node's zlib at level 1, and decompresses several times faster than zlib; both write
 * and read standard gzip, so a backup restores with either, and with the runbook's `gunzip -c | psql`.
 *
 * `igzip` runs as a child process; where it is not installed, Node's zlib does the same work in-process. A backup
 * may force one (`--compressor`, BACKUP_COMPRESSOR); forcing `isal` where igzip is missing is an error, not a
 * silent fallback. Reading (verify, restore, restore test) always takes the fastest one available.
 */
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { COMPRESSORS, ENV } from '../contract';
import { UserError } from '../core/errors';

export { COMPRESSORS };
export type CompressorName = (typeof COMPRESSORS)[number];

export const IGZIP_INSTALL_HINT = 'apt-get install isal (Debian/Ubuntu; the container image has it)';

/** Level ranges and defaults (the defaults are what `npm run bench` measured as the best trade-off). */
export const COMPRESSION_LEVELS: Record<CompressorName, { min: number; max: number; default: number }> = {
  // igzip's levels: 0 (fastest) to 3. On the benchmark's 1 GB of SQL, level 1 takes 1.5 CPU-s for 1.126× gzip -6's
  // size, level 2 4% more for 1.118×, level 3 2.3 times as much for 1.101×, which made it the slowest backup on the
  // benchmark's two cores (1.19–1.38× raw pg_dump); gzip -6 itself takes 19 CPU-s (npm run bench).
  isal: { min: 0, max: 3, default: 1 },
  // zlib's: 1 to 9. Level 6 costs ~50% more CPU than 1 for a few percent smaller output (bench/backup.ts).
  zlib: { min: 1, max: 9, default: 1 },
};

/** What a command compresses or decompresses with. */
export interface Compressor {
  name: CompressorName;
  /** The igzip binary, when `name` is `isal`. */
  igzipPath?: string;
}

/** The igzip on `path` (a PATH: the settings' at the entries), if any (an executable file named igzip). */
export function findIgzip(path: string | undefined): string | undefined {
  for (const dir of (path ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, 'igzip');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Parses a compressor name as given on the command line or in BACKUP_COMPRESSOR; undefined when not given. */
export function parseCompressorName(raw: string | undefined, source: string): CompressorName | undefined {
  if (raw === undefined || raw === '') return undefined;
  if ((COMPRESSORS as readonly string[]).includes(raw)) return raw as CompressorName;
  throw new UserError(`${source} ${raw}: give isal (ISA-L's igzip, the fastest) or zlib (built in)`, 2);
}

/**
 * The compressor a backup uses: the requested one, else igzip when installed, else zlib. `notice` is the one line
 * to print on stderr when the choice was not forced (which one, and how to get the faster one).
 */
export function chooseCompressor(requested: CompressorName | undefined, igzipPath: string | undefined): { compressor: Compressor; notice?: string } {
  if (requested === 'zlib') return { compressor: { name: 'zlib' } };
  if (igzipPath) return { compressor: { name: 'isal', igzipPath } };
  if (requested === 'isal') {
    throw new UserError(`compressor isal was asked for (--compressor or ${ENV.compressor}) but igzip is not installed: ${IGZIP_INSTALL_HINT}, or use --compressor zlib`);
  }
  return {
    compressor: { name: 'zlib' },
    notice: `compressing with Node's zlib: igzip (ISA-L) is not installed; ${IGZIP_INSTALL_HINT} for backups and restores several times lighter on CPU`,
  };
}

/** Checks a level for the compressor; undefined means its default. */
export function compressionLevel(name: CompressorName, raw: number | undefined): number {
  const range = COMPRESSION_LEVELS[name];
  if (raw === undefined) return range.default;
  if (!Number.isInteger(raw) || raw < range.min || raw > range.max) {
    throw new UserError(`compression level ${raw} does not exist for ${name}: give a whole number from ${range.min} (fastest) to ${range.max} (smallest)`, 2);
  }
  return raw;
}
