/**
 * The small JSON documents stored beside each backup (its manifest, its restore-test result): read, parsed and
 * checked against their schema, with one actionable line when they are missing parts or altered.
 */
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type * as z from 'zod/mini';
import { UserError } from '../core/errors';
import { isNotFound } from './aws-errors';
import { describeS3Error } from './s3';

export interface JsonObjectDescription {
  /** What it is, as a noun: "manifest", "restore test result". */
  what: string;
  /** What the schema expects, e.g. "a meatbackup manifest". */
  kind: string;
  /** What to do when it is unreadable, e.g. "verify or restore another backup". */
  remedy: string;
}

/** A JSON document that is there but cannot be used; `reason` is the short why, for a table cell. */
export class UnreadableJsonObject extends UserError {
  constructor(
    message: string,
    readonly reason: string,
  ) {
    super(message);
    this.name = 'UnreadableJsonObject';
  }
}

/** Reads `key` and validates it with `schema`; undefined when there is no such object. */
export async function readJsonObject<S extends z.ZodMiniType>(s3: S3Client, bucket: string, key: string, schema: S, about: JsonObjectDescription): Promise<z.infer<S> | undefined> {
  let body: string;
  try {
    const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    body = (await res.Body?.transformToString('utf8')) ?? '';
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw describeS3Error(err, `read ${key} from bucket ${bucket}`, bucket);
  }
  const where = `${about.what} ${key} in bucket ${bucket}`;
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw new UnreadableJsonObject(`${where} is not JSON: it was altered or truncated; ${about.remedy}`, 'not JSON (altered or truncated)');
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const what = `${issue?.path.join('.') || 'document'}: ${issue?.message}`;
    throw new UnreadableJsonObject(`${where} is not ${about.kind} (${what}); ${about.remedy}`, `not ${about.kind} (${what})`);
  }
  return parsed.data;
}

/**
 * Writes `value` (checked against `schema`) as pretty JSON at `key`, tagged when `tagging` is given, e.g. with its
 * backup's retention class so the bucket's lifecycle rules expire both together. The SDK sends a checksum with the
 * PutObject, which a bucket with Object Lock requires.
 */
export async function writeJsonObject<S extends z.ZodMiniType>(
  s3: S3Client,
  bucket: string,
  key: string,
  schema: S,
  value: z.infer<S>,
  options: { what: string; tagging?: string },
): Promise<void> {
  const body = `${JSON.stringify(schema.parse(value), null, 2)}\n`;
  try {
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: 'application/json', ...(options.tagging ? { Tagging: options.tagging } : {}) }));
  } catch (err) {
    throw describeS3Error(err, `record the ${options.what} at ${key} in bucket ${bucket}`, bucket);
  }
}
