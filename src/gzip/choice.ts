/**
 * Which gzip implementation a command uses, shared by everything that writes or reads a backup (backup, verify,
 * restore, restore test). ISA-L's `igzip` (Debian package `isal`) compresses a plain dump with about a fifth of the
 * CPU of Node's zlib at level 1, and decompresses several times faster than zlib; both write and read standard gzip,
 * so a backup restores with either, and with the runbook's `gunzip -c | psql`.
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

/**
 * The decompressor reads use: igzip when installed (the fastest), else zlib, with the one line to print about it.
 * `requested` forces one, as for a backup (BACKUP_COMPRESSOR); a forced isal without igzip is an error.
 */
export function chooseDecompressor(requested: CompressorName | undefined, igzipPath: string | undefined): { compressor: Compressor; notice?: string } {
  const chosen = chooseCompressor(requested, igzipPath);
  return chosen.notice ? { ...chosen, notice: `decompressing with Node's zlib: igzip (ISA-L) is not installed; ${IGZIP_INSTALL_HINT} for restores several times lighter on CPU` } : chosen;
}
