/**
 * The result of a restore test, stored next to the backup at `<key>.restore-test.json` (restoreTestResultSchema):
 * what the ops Lambda's status and an operator read back. The newest run overwrites it (a new version in a
 * versioned bucket). It is written without Object Lock retention: it describes the backup, it is not the backup.
 * The SDK sends a checksum with the PutObject, which a bucket with Object Lock requires.
 */
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { type RestoreTestResult, type RetentionClass, restoreTestResultSchema, sidecarKey } from '../contract';
import { retentionTagging } from '../backup/retention';
import { UserError } from '../cli/errors';
import { describeS3Error } from '../storage/s3';

/**
 * Writes the result beside its backup and returns the key it was written to. Tagged with the backup's retention
 * class, when it has one, so the bucket's lifecycle rules expire the result together with the backup.
 */
export async function writeRestoreTestResult(s3: S3Client, bucket: string, result: RestoreTestResult, retention?: RetentionClass): Promise<string> {
  const key = sidecarKey(result.key, 'restoreTest');
  const body = `${JSON.stringify(restoreTestResultSchema.parse(result), null, 2)}\n`;
  try {
    await s3.send(
      new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: 'application/json', ...(retention ? { Tagging: retentionTagging(retention) } : {}) }),
    );
  } catch (err) {
    throw describeS3Error(err, `record the restore test result at ${key} in bucket ${bucket}`, bucket);
  }
  return key;
}

/** The latest restore test result of a backup; undefined when it was never tested. */
export async function readRestoreTestResult(s3: S3Client, bucket: string, backupKey: string): Promise<RestoreTestResult | undefined> {
  const key = sidecarKey(backupKey, 'restoreTest');
  let body: string;
  try {
    const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    body = (await res.Body?.transformToString('utf8')) ?? '';
  } catch (err) {
    const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
    if (e?.name === 'NoSuchKey' || e?.$metadata?.httpStatusCode === 404) return undefined;
    throw describeS3Error(err, `read ${key} from bucket ${bucket}`, bucket);
  }
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw new UserError(`restore test result ${key} in bucket ${bucket} is not JSON: run the restore test again`);
  }
  const parsed = restoreTestResultSchema.safeParse(json);
  if (!parsed.success) {
    throw new UserError(`restore test result ${key} in bucket ${bucket} is not a meatbackup restore test result: run the restore test again`);
  }
  return parsed.data;
}
