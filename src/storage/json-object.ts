/**
 * The small JSON documents stored beside each backup (its manifest, its restore-test result): read, parsed and
 * checked against their schema, with one actionable line when they are missing parts or altered.
 */
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { z } from 'zod';
import { UserError } from '../core/errors';
import { describeS3Error } from './s3';

export interface JsonObjectDescription {
  /** What it is, as a noun: "manifest", "restore test result". */
  what: string;
  /** What the schema expects, e.g. "a meatbackup manifest". */
  kind: string;
  /** What to do when it is unreadable, e.g. "verify or restore another backup". */
  remedy: string;
}

/** Reads `key` and validates it with `schema`; undefined when there is no such object. */
export async function readJsonObject<S extends z.ZodType>(s3: S3Client, bucket: string, key: string, schema: S, about: JsonObjectDescription): Promise<z.infer<S> | undefined> {
  let body: string;
  try {
    const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    body = (await res.Body?.transformToString('utf8')) ?? '';
  } catch (err) {
    const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
    if (e?.name === 'NoSuchKey' || e?.$metadata?.httpStatusCode === 404) return undefined;
    throw describeS3Error(err, `read ${key} from bucket ${bucket}`, bucket);
  }
  const where = `${about.what} ${key} in bucket ${bucket}`;
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw new UserError(`${where} is not JSON: it was altered or truncated; ${about.remedy}`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new UserError(`${where} is not ${about.kind} (${issue?.path.join('.') || 'document'}: ${issue?.message}); ${about.remedy}`);
  }
  return parsed.data;
}
