/**
 * An S3 download as the stall watchdog (src/core/watchdog.ts) sees it, for every command that reads a backup back
 * (restore's check and load, verify, restore-test): each chunk received is progress, and while none comes the
 * download is what the run waits for ("S3 download of backups/meatdb-….sql.gz at 12.0 MiB").
 *
 * Unless what reads it is busy: psql building an index stops reading its input, the pipe's backpressure pauses the
 * response body, and the download then waits for psql, legitimately. A body is waiting for the network only while
 * its reader wants more (it is not paused) and nothing is buffered in it.
 */
import type { Readable } from 'node:stream';
import { formatBytes } from '../core/format';
import type { StallWatchdog } from '../core/watchdog';

export interface DownloadWatch {
  /** Bytes received so far: the progress callback of the stage that counts them (a DigestStream's `onBytes`). */
  onBytes: (bytes: number) => void;
  /** The response body being read: with it, a wait while its reader is busy is not a stall. */
  reading: (body: Readable) => void;
}

/** True while `body` waits for bytes from the network, not for its reader. */
export function waitingForNetwork(body: Readable): boolean {
  return !body.readableEnded && !body.destroyed && body.readableFlowing !== false && body.readableLength === 0;
}

/**
 * Makes the download of `key` what `watchdog` waits on from now on (nothing when there is no watchdog), and returns
 * the callbacks that report its progress.
 */
export function watchDownload(watchdog: StallWatchdog | undefined, key: string, also?: (bytes: number) => void): DownloadWatch {
  let received = 0;
  let body: Readable | undefined;
  watchdog?.waitingOn(() => (body && !waitingForNetwork(body) ? undefined : `S3 download of ${key} at ${formatBytes(received)}`));
  return {
    onBytes: (bytes) => {
      received = bytes;
      watchdog?.progress();
      also?.(bytes);
    },
    reading: (b) => {
      body = b;
    },
  };
}
