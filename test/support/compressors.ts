/**
 * What the suites compress and decompress with: what a command would choose on this machine (igzip where installed,
 * which `.ci/run` makes sure of), decided here as the CLI decides it at its start, from the PATH it was given.
 */
import { type Compressor, type CompressorName, chooseCompressor, chooseDecompressor, findIgzip } from '../../src/gzip/choice';

/** The backup's compressor: `name` forced, else the fastest installed. */
export function compressorFor(name?: CompressorName): { compressor: Compressor; notice?: string } {
  return chooseCompressor(name, findIgzip(process.env.PATH));
}

/** The reading commands' decompressor: the fastest installed. */
export function installedDecompressor(): Compressor {
  return chooseDecompressor(undefined, findIgzip(process.env.PATH)).compressor;
}
