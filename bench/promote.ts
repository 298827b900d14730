/**
 * Promote throughput on the emulator: a replica of many small objects plus some MB-sized ones, promoted into a fresh
 * bucket at several concurrencies. Prints objects/s and MB/s for the copy phase (the number the target is about)
 * and for the whole run (listing, bucket creation, copy, verification).
 *
 *   npx tsx bench/promote.ts                     # human table
 *   npx tsx bench/promote.ts --json              # one JSON document (for bench/run.*)
 *   npx tsx bench/promote.ts --small 2000 --medium 20 --concurrency 16,32,64
 *
 * bench/run.* can also import { benchPromote } and print its rows beside the other figures.
 */
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { S3Client } from '@aws-sdk/client-s3';
import { type LocalS3, startLocalS3 } from '../src/local/s3-emulator';
import { copyObject } from '../src/promote/copy-object';
import { runPromotion } from '../src/promote/promote';
import { mapBounded } from '../src/util/pool';
import { MiB, makeReplica } from '../test/src/promote/fixtures';

export interface PromoteBenchOptions {
  /** Small objects in the replica. @default 2000 */
  small?: number;
  /** Bytes per small object. @default 1024 */
  smallBytes?: number;
  /** MB-sized objects. @default 20 */
  medium?: number;
  /** Bytes per medium object. @default 1 MiB */
  mediumBytes?: number;
  /** Concurrencies to measure, one fresh target each. @default [8, 16, 32, 64] */
  concurrency?: number[];
  /** Also measure the engine against a stub endpoint. @default true */
  engineCeiling?: boolean;
}

export interface PromoteBenchRow {
  concurrency: number;
  objects: number;
  bytes: number;
  copySeconds: number;
  totalSeconds: number;
  objectsPerSecond: number;
  megabytesPerSecond: number;
  totalObjectsPerSecond: number;
  /** CPU seconds this Node process used (user + system) for the run; moto's own CPU is not counted. */
  nodeCpuSeconds: number;
  verified: boolean;
}

/**
 * The engine's own ceiling: the same pool and CopyObject code against a stub endpoint (a worker thread that
 * answers every request with a CopyObjectResult at once), so the figure is this process's cost per copy, not moto's.
 */
export async function stubCopyCeiling(objects = 5000, concurrency = 64): Promise<{ objects: number; seconds: number; objectsPerSecond: number; nodeCpuMsPerCopy: number }> {
  const worker = new Worker(
    `const http = require('node:http');
     const { parentPort } = require('node:worker_threads');
     const body = '<?xml version="1.0" encoding="UTF-8"?><CopyObjectResult><ETag>"0123456789abcdef0123456789abcdef"</ETag><LastModified>2025-09-17T10:30:00.000Z</LastModified></CopyObjectResult>';
     const server = http.createServer((req, res) => { req.resume(); req.on('end', () => { res.writeHead(200, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) }); res.end(body); }); });
     server.listen(0, '127.0.0.1', () => parentPort.postMessage(server.address().port));`,
    { eval: true },
  );
  const [port] = (await once(worker, 'message')) as [number];
  const client = new S3Client({ endpoint: `http://127.0.0.1:${port}`, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
  try {
    const items = Array.from({ length: objects }, (_, i) => ({ key: `objects/${i}.json`, size: 1024, etag: '0123456789abcdef0123456789abcdef' }));
    const cpu = process.cpuUsage();
    const started = Date.now();
    await mapBounded(items, concurrency, (o) => copyObject({ source: client, target: client }, 'stub-replica', 'stub-target', o));
    const seconds = (Date.now() - started) / 1000;
    const used = process.cpuUsage(cpu);
    return { objects, seconds, objectsPerSecond: Math.round(objects / seconds), nodeCpuMsPerCopy: Number(((used.user + used.system) / 1000 / objects).toFixed(2)) };
  } finally {
    client.destroy();
    await worker.terminate();
  }
}

export interface PromoteBenchResult {
  name: 'promote';
  /** Same code against a stub endpoint: what this process can drive when S3 is not the bottleneck. */
  engineCeiling?: Awaited<ReturnType<typeof stubCopyCeiling>>;
  target: { objectsPerSecond: number };
  replica: { objects: number; bytes: number; seedSeconds: number };
  rows: PromoteBenchRow[];
  best: PromoteBenchRow;
}

export async function benchPromote(options: PromoteBenchOptions = {}): Promise<PromoteBenchResult> {
  const s3: LocalS3 = await startLocalS3();
  try {
    const client = s3.client();
    const seedStart = Date.now();
    const keys = await makeReplica(client, 'bench-replica', {
      small: options.small ?? 2000,
      smallBytes: options.smallBytes ?? 1024,
      medium: options.medium ?? 20,
      mediumBytes: options.mediumBytes ?? MiB,
      specials: false,
    });
    const seedSeconds = (Date.now() - seedStart) / 1000;
    const rows: PromoteBenchRow[] = [];
    let replicaBytes = 0;
    for (const concurrency of options.concurrency ?? [8, 16, 32, 64]) {
      const cpu = process.cpuUsage();
      const result = await runPromotion({
        from: 'bench-replica',
        to: `bench-target-${concurrency}`,
        clients: { source: client, target: client },
        tlsOnlyPolicy: false,
        concurrency,
      });
      const used = process.cpuUsage(cpu);
      replicaBytes = result.plan.source.bytes;
      rows.push({
        concurrency,
        objects: result.copied.objects,
        bytes: result.copied.bytes,
        copySeconds: result.copySeconds,
        totalSeconds: result.totalSeconds,
        objectsPerSecond: Math.round(result.objectsPerSecond),
        megabytesPerSecond: Number((result.bytesPerSecond / 1e6).toFixed(1)),
        totalObjectsPerSecond: Math.round(result.copied.objects / result.totalSeconds),
        nodeCpuSeconds: Number(((used.user + used.system) / 1e6).toFixed(2)),
        verified: result.verification?.ok === true,
      });
    }
    const best = rows.reduce((a, b) => (b.objectsPerSecond > a.objectsPerSecond ? b : a));
    const engineCeiling = options.engineCeiling === false ? undefined : await stubCopyCeiling(5000, 64);
    return {
      name: 'promote',
      target: { objectsPerSecond: 500 },
      replica: { objects: keys.length, bytes: replicaBytes, seedSeconds },
      rows,
      best,
      ...(engineCeiling ? { engineCeiling } : {}),
    };
  } finally {
    await s3.stop();
  }
}

function formatRows(result: PromoteBenchResult): string {
  const header = 'concurrency  objects  copy s  objects/s  MB/s   total s  total objects/s  node CPU s  verified';
  const lines = result.rows.map((r) =>
    [
      String(r.concurrency).padStart(11),
      String(r.objects).padStart(8),
      r.copySeconds.toFixed(2).padStart(7),
      String(r.objectsPerSecond).padStart(10),
      r.megabytesPerSecond.toFixed(1).padStart(5),
      r.totalSeconds.toFixed(2).padStart(8),
      String(r.totalObjectsPerSecond).padStart(16),
      r.nodeCpuSeconds.toFixed(2).padStart(11),
      r.verified ? '  yes' : '  NO',
    ].join(' '),
  );
  const verdict = result.best.objectsPerSecond >= result.target.objectsPerSecond ? 'meets' : 'below';
  return [
    `promote on moto: replica of ${result.replica.objects} objects, ${(result.replica.bytes / 1e6).toFixed(1)} MB (seeded in ${result.replica.seedSeconds.toFixed(1)} s)`,
    header,
    ...lines,
    `best: ${result.best.objectsPerSecond} objects/s at concurrency ${result.best.concurrency} (${verdict} the ${result.target.objectsPerSecond} objects/s target)`,
    ...(result.engineCeiling
      ? [
          `engine ceiling (same code, stub endpoint, concurrency 64): ${result.engineCeiling.objectsPerSecond} objects/s, ${result.engineCeiling.nodeCpuMsPerCopy} ms of Node CPU per copy`,
        ]
      : []),
  ].join('\n');
}

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

if (require.main === module) {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const num = (name: string) => (argValue(name) !== undefined ? Number(argValue(name)) : undefined);
  const concurrency = argValue('--concurrency')?.split(',').map(Number);
  benchPromote({
    ...(num('--small') !== undefined ? { small: num('--small') } : {}),
    ...(num('--medium') !== undefined ? { medium: num('--medium') } : {}),
    ...(concurrency ? { concurrency } : {}),
  }).then(
    (result) => process.stdout.write(process.argv.includes('--json') ? `${JSON.stringify(result)}\n` : `${formatRows(result)}\n`),
    (err: unknown) => {
      process.stderr.write(`bench promote: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
