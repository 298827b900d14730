/** Shared by the backup and CLI integration suites: buckets, leftovers, seeded tables, stderr checks. */
import {
  CreateBucketCommand,
  ListMultipartUploadsCommand,
  ListObjectVersionsCommand,
  PutBucketVersioningCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { LocalCluster } from '../../../src/local/postgres-cluster';
import type { CliResult } from '../../support/cli';

export { type Harness, useHarness } from '../../support/harness';

let bucketCounter = 0;

export function bucketName(label: string): string {
  bucketCounter += 1;
  return `${label}-${process.pid}-${bucketCounter}`.toLowerCase().replace(/[^a-z0-9-]/g, '-').slice(0, 63);
}

/** A fresh versioned bucket (so "nothing left" also covers old versions and delete markers). */
export async function freshBucket(client: S3Client, label: string): Promise<string> {
  const name = bucketName(label);
  await client.send(new CreateBucketCommand({ Bucket: name }));
  await client.send(new PutBucketVersioningCommand({ Bucket: name, VersioningConfiguration: { Status: 'Enabled' } }));
  return name;
}

/** A fresh bucket created with S3 Object Lock enabled (which turns versioning on), as the stacks create theirs. */
export async function freshLockedBucket(client: S3Client, label: string): Promise<string> {
  const name = bucketName(label);
  await client.send(new CreateBucketCommand({ Bucket: name, ObjectLockEnabledForBucket: true }));
  return name;
}

export interface BucketContents {
  /** Every object version and delete marker, as `key` (versions of one key repeat it). */
  versions: string[];
  /** Keys of the multipart uploads still open. */
  uploads: string[];
}

export async function bucketContents(client: S3Client, bucket: string): Promise<BucketContents> {
  const v = await client.send(new ListObjectVersionsCommand({ Bucket: bucket }));
  const u = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
  return {
    versions: [...(v.Versions ?? []), ...(v.DeleteMarkers ?? [])].map((x) => x.Key ?? '').sort(),
    uploads: (u.Uploads ?? []).map((x) => x.Key ?? ''),
  };
}

/** Counts the S3 commands a client sends and the most UploadPart requests it had in flight at once. */
export function watchCommands(client: S3Client): { counts: Record<string, number>; maxPartsInFlight: () => number; partSizes: number[]; partBuffers: Set<ArrayBufferLike> } {
  const counts: Record<string, number> = {};
  const partSizes: number[] = [];
  const partBuffers = new Set<ArrayBufferLike>();
  let inFlight = 0;
  let max = 0;
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const name = context.commandName ?? 'unknown';
      counts[name] = (counts[name] ?? 0) + 1;
      if (name !== 'UploadPartCommand') return next(args);
      const body = (args.input as { Body?: Uint8Array }).Body;
      partSizes.push(body?.length ?? 0);
      if (body) partBuffers.add(body.buffer);
      inFlight += 1;
      max = Math.max(max, inFlight);
      try {
        return await next(args);
      } finally {
        inFlight -= 1;
      }
    },
    { step: 'initialize', name: 'watchCommands' },
  );
  return { counts, maxPartsInFlight: () => max, partSizes, partBuffers };
}

/** Splits a CLI's stderr into its structured log lines (JSON) and its human lines. */
export function stderrLines(stderr: string): { json: Record<string, unknown>[]; text: string[] } {
  const json: Record<string, unknown>[] = [];
  const text: string[] = [];
  for (const line of stderr.split('\n').filter((l) => l !== '')) {
    try {
      json.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      text.push(line);
    }
  }
  return { json, text };
}

/**
 * The CLI failed the way the runbook wants: non-zero, and exactly one human line on stderr, `meatbackup: …`, last.
 * (Without a TTY the other stderr lines are the JSON logs and the EMF metric the container ships to CloudWatch.)
 */
export function expectOneErrorLine(result: CliResult, pattern: RegExp): string {
  const { text } = stderrLines(result.stderr);
  expect(text).toEqual([expect.stringMatching(/^meatbackup: /)]);
  expect(text[0]).toMatch(pattern);
  expect(result.stderr.trimEnd().split('\n').pop()).toBe(text[0]);
  expect(result.code).not.toBe(0);
  return text[0];
}

/** The EMF metric record of a backup run. */
export function backupMetric(stderr: string): Record<string, unknown> | undefined {
  return stderrLines(stderr).json.find((r) => r._aws !== undefined && r.event === 'backup');
}

/** A table of `rows` rows of ~120 bytes each, generated server-side. */
export async function seedBigTable(pg: LocalCluster, database: string, rows: number): Promise<void> {
  await pg.query(
    `create table if not exists big (id bigint primary key, name text, payload text, at timestamptz);
     insert into big select g, 'user-' || g, md5(g::text) || repeat(' lorem ipsum', 5), now() from generate_series(1, ${rows}) g`,
    database,
  );
}

/** Waits until pg_dump's backend (application_name meatbackup) is running its COPY; returns the backend pid. */
export async function waitForDumpCopy(pg: LocalCluster, timeoutMs = 30_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const rows = await pg.query<{ pid: number }>("select pid from pg_stat_activity where application_name = 'meatbackup' and query like 'COPY %' and state = 'active'");
    if (rows[0]) return rows[0].pid;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('pg_dump never reached a COPY');
}

/** Backends still connected as meatbackup (pg_dump's), after a short grace period for them to go. */
export async function dumpBackendsLeft(pg: LocalCluster): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const rows = await pg.query<{ n: string }>("select count(*) as n from pg_stat_activity where application_name = 'meatbackup'");
    if (Number(rows[0].n) === 0) return 0;
    await new Promise((r) => setTimeout(r, 100));
  }
  const rows = await pg.query<{ n: string }>("select count(*) as n from pg_stat_activity where application_name = 'meatbackup'");
  return Number(rows[0].n);
}
