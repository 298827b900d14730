/**
 * What the reading commands (verify, restore, restore-test) decompress with, decided once as each starts. Without
 * igzip they fall back to Node's zlib: slower, never wrong, so it is not a warning in every command's log (where it
 * stood before each command's one error line). It is said where it helps: `--help`, `list`, and under `--debug`.
 */
import type { Command } from 'commander';
import { type Compressor, IGZIP_INSTALL_HINT, chooseDecompressor, findIgzip } from '../gzip/choice';
import type { Settings } from '../settings';

/** igzip on the settings' PATH, else zlib; with --debug the fallback is one plain line on stderr. */
export function readingDecompressor(settings: Pick<Settings, 'path'>, command: Command): Compressor {
  const { compressor, notice } = chooseDecompressor(undefined, findIgzip(settings.path));
  if (notice && command.optsWithGlobals<{ debug?: boolean }>().debug) process.stderr.write(`debug: ${notice}\n`);
  return compressor;
}

/** The line `--help` and `list` add where igzip is missing; undefined where it is installed. */
export function zlibFallbackNote(settings: Pick<Settings, 'path'>): string | undefined {
  if (findIgzip(settings.path)) return undefined;
  return `note: igzip (ISA-L) is not installed here, so verify, restore and restore-test decompress with Node's zlib (slower, same result); ${IGZIP_INSTALL_HINT}`;
}
