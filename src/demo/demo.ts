/**
 * `meatbackup demo` (`npm start`): the platform's backup & restore runbook, every step for real, on this machine.
 * A throwaway PostgreSQL cluster and the moto S3 emulator stand in for the platform's database and AWS. Each
 * runbook step runs the same `meatbackup` command an operator (or the Fargate task) runs, so what the demo shows
 * is what production does.
 */
import { spawn } from 'node:child_process';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  ListObjectVersionsCommand,
  PutBucketVersioningCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Client } from 'pg';
import { UserError, oneLine } from '../core/errors';
import { shutdownSignal } from '../core/signals';
import { type LocalCluster, startLocalCluster } from '../local/postgres-cluster';
import { type LocalS3, startLocalS3 } from '../local/s3-emulator';
import { copyObject } from '../promote/copy-object';
import { listCurrentObjects } from '../promote/listing';
import { mapBounded } from '../util/pool';
import { DEFAULT_SEED, type SeedSize, countRows, seedDatabase, seedTranscripts } from './seed';
import { StepRunner } from './steps';

/** Where the summary goes: the terminal's width, else 100 columns (a pipe or a log). */
function terminalWidth(): number {
  return process.stdout.isTTY && process.stdout.columns ? process.stdout.columns : 100;
}

export interface DemoOptions {
  /** The environment the demo was started in (the CLI's settings.env); its commands inherit it. */
  env: Readonly<Record<string, string | undefined>>;
  /** Leave the database and the emulator running and print how to connect. */
  keep?: boolean;
  seed?: SeedSize;
  transcripts?: number;
  /** Where the narration goes (stderr: stdout carries only the summary). */
  say?: (line: string) => void;
  /** Called with the result once every step passed, before --keep waits for Ctrl-C. */
  onFinished?: (result: DemoResult) => void;
}

export interface DemoResult {
  table: string;
  steps: StepRunner['records'];
}

const DATABASE = 'meatdb';
const PRIMARY = 'meatlizard-primary';
const REPLICA = 'meatlizard-replica';

interface Services {
  /** The environment the demo was started in, which its commands inherit (PATH, the PostgreSQL and igzip installs). */
  env: Readonly<Record<string, string | undefined>>;
  pg: LocalCluster;
  s3: LocalS3;
  client: S3Client;
}

/** Runs the CLI as a child process (as an operator would), its progress on our stderr, its --json result parsed. */
function meatbackup(services: Services, args: string[]): Promise<Record<string, unknown>> {
  const env: NodeJS.ProcessEnv = {
    ...services.env,
    ...services.s3.env,
    ...services.pg.env(DATABASE),
    BACKUP_BUCKET: PRIMARY,
  };
  delete env.DATABASE_URL;
  // On a terminal the child draws its own progress line and prints its own error; otherwise we keep its JSON log
  // lines to quote its error.
  const live = Boolean(process.stderr.isTTY);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [process.argv[1], ...args, '--json'], { env, stdio: ['ignore', 'pipe', live ? 'inherit' : 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) {
        const why = live ? 'its error is printed above' : (stderr.split('\n').filter((l) => l.startsWith('meatbackup:')).pop() ?? oneLine(stderr).slice(-300));
        reject(new Error(`meatbackup ${args.join(' ')} exited ${code}: ${why.replace(/^meatbackup: /, '')}`));
        return;
      }
      try {
        resolve(JSON.parse(stdout.trim().split('\n').pop() ?? '{}'));
      } catch {
        reject(new Error(`meatbackup ${args.join(' ')} printed no JSON result`));
      }
    });
  });
}

async function withDb<T>(pg: LocalCluster, database: string, fn: (c: Client) => Promise<T>): Promise<T> {
  const client = new Client(pg.connection(database));
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

async function createVersionedBucket(client: S3Client, bucket: string): Promise<void> {
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  await client.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }));
}

/** Deletes every version and delete marker, then the bucket: the primary bucket is gone for good. */
async function destroyBucket(client: S3Client, bucket: string): Promise<number> {
  let removed = 0;
  for (;;) {
    const page = await client.send(new ListObjectVersionsCommand({ Bucket: bucket, MaxKeys: 1000 }));
    const ids = [...(page.Versions ?? []), ...(page.DeleteMarkers ?? [])].map((v) => ({ Key: v.Key!, VersionId: v.VersionId }));
    if (ids.length === 0) break;
    await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: ids, Quiet: true } }));
    removed += ids.length;
  }
  await client.send(new DeleteBucketCommand({ Bucket: bucket }));
  return removed;
}

function expect(condition: boolean, message: string): void {
  if (!condition) throw new Error(message);
}

export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const say = options.say ?? ((line: string) => process.stderr.write(`${line}\n`));
  const steps = new StepRunner(say);
  let services: Services | undefined;
  let keep = false;
  try {
    await steps.run('start PostgreSQL and S3 emulator', async () => {
      const [pg, s3] = await Promise.allSettled([startLocalCluster(), startLocalS3()]);
      if (pg.status === 'rejected' || s3.status === 'rejected') {
        if (pg.status === 'fulfilled') await pg.value.stop();
        if (s3.status === 'fulfilled') await s3.value.stop();
        const reason = [pg, s3].filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => (r.reason as Error).message);
        throw new UserError(reason.join('; '));
      }
      services = { env: options.env, pg: pg.value, s3: s3.value, client: s3.value.client() };
      return { result: `PostgreSQL on 127.0.0.1:${pg.value.port}, moto_server S3 at ${s3.value.endpoint}` };
    });
    const svc = services!;

    await steps.run('seed meatdb and the bucket', async () => {
      await createVersionedBucket(svc.client, PRIMARY);
      await createVersionedBucket(svc.client, REPLICA);
      await svc.pg.query(`create database ${DATABASE}`);
      const rows = await withDb(svc.pg, DATABASE, (c) => seedDatabase(c, options.seed ?? DEFAULT_SEED));
      const t = await seedTranscripts(svc.client, PRIMARY, options.transcripts ?? 300);
      const total = Object.values(rows).reduce((a, b) => a + b, 0);
      return {
        result: `${total.toLocaleString('en-US')} rows (${Object.entries(rows).map(([k, v]) => `${k} ${v}`).join(', ')}), ${t.objects} transcripts`,
        bytes: t.bytes,
      };
    });
    const rowsBefore = await withDb(svc.pg, DATABASE, countRows);

    let backupKey = '';
    await steps.run('1.1 backup (pg_dump → gzip → S3)', async () => {
      const out = (await meatbackup(svc, ['backup'])) as { key: string; sizeBytes: number; sha256: string };
      backupKey = out.key;
      expect(/^backups\/meatdb-\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.sql\.gz$/.test(backupKey), `unexpected key ${backupKey}`);
      return { result: `${backupKey} sha256 ${out.sha256.slice(0, 12)}…`, bytes: out.sizeBytes };
    });

    await steps.run('1.1 list and verify', async () => {
      const listed = (await meatbackup(svc, ['list'])) as { backups: { key: string }[] };
      expect(listed.backups[0]?.key === backupKey, `list does not show ${backupKey} first`);
      const verified = (await meatbackup(svc, ['verify', 'latest'])) as { ok: boolean; key: string };
      expect(verified.ok && verified.key === backupKey, 'verify did not pass');
      return { result: `${listed.backups.length} backup listed; sha256, gzip stream and pg_dump's completion line check out` };
    });

    await steps.run('1.2 replicate to the replica', async () => {
      say('  (the emulator has no S3 Replication: the demo copies each object as replication would, headers, metadata and tags included)');
      const objects = await listCurrentObjects(svc.client, PRIMARY);
      await mapBounded(objects, 16, (o) => copyObject({ source: svc.client, target: svc.client }, PRIMARY, REPLICA, o));
      const check = (await meatbackup(svc, ['replication-check', '--replica', REPLICA])) as { verdict: string };
      expect(check.verdict === 'ok', `replication-check says ${check.verdict}`);
      return { result: `${objects.length} objects in ${REPLICA}; replication-check: newest backup is there, same sha256`, bytes: objects.reduce((a, o) => a + o.size, 0) };
    });

    let keptAs = '';
    await steps.run('2.1 DELETE FROM messages → restore', async () => {
      await svc.pg.query('delete from messages', DATABASE);
      const emptied = await withDb(svc.pg, DATABASE, countRows);
      expect(emptied.messages === 0, 'messages were not deleted');
      const out = (await meatbackup(svc, ['restore', 'latest', '--yes'])) as { keptAs?: string; key: string; sizeBytes: number };
      expect(out.key === backupKey, `restore picked ${out.key}, not the latest backup ${backupKey}`);
      keptAs = out.keptAs ?? '';
      const after = await withDb(svc.pg, DATABASE, countRows);
      expect(JSON.stringify(after) === JSON.stringify(rowsBefore), `counts after restore ${JSON.stringify(after)} differ from before ${JSON.stringify(rowsBefore)}`);
      const old = keptAs ? await withDb(svc.pg, keptAs, countRows) : undefined;
      expect(old?.messages === 0, `the replaced database ${keptAs || '(unnamed)'} was not kept as it was`);
      return { result: `${after.messages.toLocaleString('en-US')} messages back; the damaged database is kept as ${keptAs}`, bytes: out.sizeBytes };
    });

    await steps.run('2.2 bucket lost → promote replica', async () => {
      const removed = await destroyBucket(svc.client, PRIMARY);
      say(`  deleted ${removed} object versions and the bucket ${PRIMARY}`);
      const out = (await meatbackup(svc, ['promote', '--from', REPLICA, '--to', PRIMARY, '--yes'])) as {
        verification?: { ok: boolean; objects: number; bytes: number };
      };
      const verification = out.verification;
      expect(verification?.ok === true, 'promotion did not verify');
      const verified = (await meatbackup(svc, ['verify', 'latest'])) as { ok: boolean; key: string };
      expect(verified.ok && verified.key === backupKey, 'the promoted backup does not verify');
      const transcripts = (await listCurrentObjects(svc.client, PRIMARY)).filter((o) => o.key.startsWith('transcripts/')).length;
      expect(transcripts === (options.transcripts ?? 300), `${transcripts} transcripts in the new ${PRIMARY}`);
      return {
        result: `${verification!.objects} objects back in a new ${PRIMARY} (${transcripts} transcripts); listings match and the backup verifies`,
        bytes: verification!.bytes,
      };
    });

    keep = options.keep === true;
    const result = { table: steps.table(terminalWidth()), steps: steps.records };
    options.onFinished?.(result);
    return result;
  } catch (err) {
    // The table so far shows which runbook step broke, before the one-line error.
    say(`\n${steps.table(terminalWidth())}`);
    throw err;
  } finally {
    if (services && keep) {
      const { pg, s3 } = services;
      say(
        [
          '',
          'Left running (--keep) until you press Ctrl-C:',
          `  psql "${pg.url(DATABASE)}"`,
          `  AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1 aws --endpoint-url ${s3.endpoint} s3 ls s3://${PRIMARY} --recursive`,
          `  BACKUP_BUCKET=${PRIMARY} AWS_ENDPOINT_URL_S3=${s3.endpoint} AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 PGHOST=127.0.0.1 PGPORT=${pg.port} PGUSER=postgres PGDATABASE=${DATABASE} npx meatbackup list`,
        ].join('\n'),
      );
      await new Promise<void>((resolve) => shutdownSignal().addEventListener('abort', () => resolve(), { once: true }));
    }
    if (services) {
      services.client.destroy();
      await Promise.allSettled([services.pg.stop(), services.s3.stop()]);
    }
  }
}
