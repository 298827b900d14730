/**
 * The result of a restore test, stored next to the backup at `<key>.restore-test.json` (restoreTestResultSchema):
 * what the ops Lambda's status and an operator read back. The newest run overwrites it (a new version in a
 * versioned bucket). It is written without Object Lock retention: it describes the backup, it is not the backup.
 * The SDK sends a checksum with the PutObject, which a bucket with Object Lock requires.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { type RestoreTestResult, type RetentionClass, restoreTestResultSchema, sidecarKey } from '../contract';
import { retentionTagging } from '../backup/retention';
import { readJsonObject, writeJsonObject } from '../storage/json-object';

/**
 * Writes the result beside its backup and returns the key it was written to. Tagged with the backup's retention
 * class, when it has one, so the bucket's lifecycle rules expire the result together with the backup.
 */
export async function writeRestoreTestResult(s3: S3Client, bucket: string, result: RestoreTestResult, retention?: RetentionClass): Promise<string> {
  const key = sidecarKey(result.key, 'restoreTest');
  await writeJsonObject(s3, bucket, key, restoreTestResultSchema, result, { what: 'restore test result', ...(retention ? { tagging: retentionTagging(retention) } : {}) });
  return key;
}

/** The latest restore test result of a backup; undefined when it was never tested. */
export function readRestoreTestResult(s3: S3Client, bucket: string, backupKey: string): Promise<RestoreTestResult | undefined> {
  return readJsonObject(s3, bucket, sidecarKey(backupKey, 'restoreTest'), restoreTestResultSchema, {
    what: 'restore test result',
    kind: 'a meatbackup restore test result',
    remedy: 'run the restore test again',
  });
}
