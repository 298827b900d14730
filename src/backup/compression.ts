/**
 * The backup's side of compression: the levels each compressor offers and how a requested name and level are
 * checked. Which compressor runs (igzip or zlib) is decided in ../gzip/choice.ts, shared with every read.
 */
import { UserError } from '../core/errors';
import { COMPRESSORS, type CompressorName } from '../gzip/choice';

/** Level ranges and defaults (the defaults are what `npm run bench` measured as the best trade-off). */
export const COMPRESSION_LEVELS: Record<CompressorName, { min: number; max: number; default: number }> = {
  // igzip's levels: 0 (fastest) to 3. On the benchmark's 1 GB of SQL, level 1 takes 1.5 CPU-s for 1.126× gzip -6's
  // size, level 2 4% more for 1.118×, level 3 2.3 times as much for 1.101×, which made it the slowest backup on the
  // benchmark's two cores (1.19–1.38× raw pg_dump); gzip -6 itself takes 19 CPU-s (npm run bench).
  isal: { min: 0, max: 3, default: 1 },
  // zlib's: 1 to 9. Level 6 costs ~50% more CPU than 1 for a few percent smaller output (bench/backup.ts).
  zlib: { min: 1, max: 9, default: 1 },
};

/** Parses a compressor name as given on the command line or in BACKUP_COMPRESSOR; undefined when not given. */
export function parseCompressorName(raw: string | undefined, source: string): CompressorName | undefined {
  if (raw === undefined || raw === '') return undefined;
  if ((COMPRESSORS as readonly string[]).includes(raw)) return raw as CompressorName;
  throw new UserError(`${source} ${raw}: give isal (ISA-L's igzip, the fastest) or zlib (built in)`, 2);
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
