/** The `--space-available` flag restore and restore-test (scratch mode) share: src/restore/disk-space.ts. */
import { InvalidArgumentError, Option } from 'commander';
import { ENV } from '../contract';
import { parseSize } from '../core/format';

/** `what` names what the space is for, e.g. "this restore". */
export function spaceAvailableOption(what: string): Option {
  return new Option(
    '--space-available <size>',
    `disk space the database server has for ${what} (50GiB), where its filesystem cannot be seen from here, e.g. RDS (default: $${ENV.restoreSpaceAvailable})`,
  ).argParser((value) => {
    const bytes = parseSize(value);
    if (bytes === undefined) throw new InvalidArgumentError('must be a size such as 50GiB, 800MiB or 1048576');
    return bytes;
  });
}
