/** What the reading commands (verify, restore, restore-test) decompress with, decided once as each starts. */
import { type Compressor, findIgzip } from '../backup/compression';
import { chooseDecompressor } from '../backup/gunzip-stage';
import type { Logger } from '../core/log';
import type { Settings } from '../settings';

/** igzip on the settings' PATH, else zlib, saying so once (how to get the faster one). */
export function readingDecompressor(settings: Pick<Settings, 'path'>, logger: Pick<Logger, 'warn'>): Compressor {
  const { compressor, notice } = chooseDecompressor(undefined, findIgzip(settings.path));
  if (notice) logger.warn(notice);
  return compressor;
}
