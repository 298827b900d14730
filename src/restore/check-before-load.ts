/**
 * The first step of every load of a backup, whether it becomes the live database (`restore`) or an ephemeral one
 * (`restore-test`): pin the object and hash every byte against the manifest before any database is touched.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { Manifest } from '../contract';
import type { Logger } from '../core/log';
import type { StallWatchdog } from '../core/watchdog';
import { fileNameOf, formatBytes, formatDuration, secondsSince } from '../core/format';
import { type HashOptions, type PinnedBackup, checkBackupObject } from './fetch-verified';
import { sayLackedProtections } from '../storage/bucket-protection';

export interface CheckOptions {
  logger: Logger;
  /** The watchdog's signal when there is one. */
  signal?: AbortSignal;
  /** Watches the S3 reads: no byte for its timeout is a stall. */
  watchdog?: StallWatchdog;
  hash?: HashOptions;
}

/**
 * Pins the backup and hashes every byte against its manifest, logging progress, the notes an operator should know
 * and the result. Throws (nothing touched) when the bytes are not the recorded ones.
 */
export async function checkBeforeLoad(
  s3: S3Client,
  bucket: string,
  key: string,
  manifest: Manifest,
  options: CheckOptions,
): Promise<PinnedBackup & { seconds: number }> {
  const { logger, signal } = options;
  const started = Date.now();
  let checked: PinnedBackup;
  try {
    checked = await checkBackupObject(s3, bucket, key, manifest, {
      ...options.hash,
      ...(signal ? { signal } : {}),
      ...(options.watchdog ? { watchdog: options.watchdog } : {}),
      onProgress: (bytes) => logger.progress(`checking ${fileNameOf(key)}`, bytes, manifest.sizeBytes),
    });
  } finally {
    logger.progressDone();
  }
  sayLackedProtections(logger, bucket, checked.seen);
  for (const note of checked.notes) logger.warn(note);
  const seconds = secondsSince(started);
  logger.info(`sha256 matches the manifest (${formatBytes(checked.pin.sizeBytes)} in ${formatDuration(seconds)})`, {
    sha256: checked.pin.sha256,
    versionId: checked.pin.versionId,
  });
  if (signal?.aborted) throw signal.reason;
  return { ...checked, seconds };
}
