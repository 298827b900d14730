/** The `--stall-timeout` flag every command that talks to S3 shares (backup, restore, verify, restore-test, promote, list). */
import { Option } from 'commander';
import { ENV } from '../contract';
import { DEFAULT_STALL_SECONDS } from '../core/watchdog';

/** `what` names what must keep moving, e.g. "the download from S3". */
export function stallTimeoutOption(what: string): Option {
  return new Option('--stall-timeout <seconds>', `give up when nothing moves for this long: ${what} (default: $${ENV.stallSeconds} or ${DEFAULT_STALL_SECONDS}; 0 never)`);
}
