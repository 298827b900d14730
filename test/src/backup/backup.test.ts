process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { runBackup } from '../../../src/backup/backup';
import { COMPRESSORS } from '../../../src/gzip/choice';
import { UserError } from '../../../src/core/errors';
import { type LocalCluster, startLocalCluster } from '../../../src/local/postgres-cluster';
import { type LocalS3, startLocalS3 } from '../../../src/local/s3-emulator';
import { nullLogger } from '../../support/null-logger';
import { bucketContents, dumpBackendsLeft, freshBucket, seedBigTable, watchCommands } from './fixtures';
import { compressorFor } from '../../support/compressors';

/** Makes the client fail the commands `when` picks, the way S3 would (an error with a code and an HTTP status). */
function failWhen(client: S3Client, when: (command: string, input: Record<string, unknown>) => boolean, name = 'InternalError', status = 500): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (when(context.commandName ?? '', args.input as Record<string, unknown>)) {
        throw Object.assign(new Error('We encountered an internal error. Please try again.'), { name, Code: name, $metadata: { httpStatusCode: status } });
      }
      return next(args);
    },
    { step: 'initialize', name: `fail-${Math.random()}` },
  );
}

describe('the backup pipeline (pg_dump → igzip or zlib → multipart upload), on a real cluster and the S3 emulator', () => {
  let pg: LocalCluster;
  let s3: LocalS3;
  beforeAll(async () => {
    [pg, s3] = await Promise.all([startLocalCluster(), startLocalS3()]);
    await pg.query('create database meatdb');
    // ~25 MB of SQL: several gzip members and several 8 MiB parts... before compression.
    await seedBigTable(pg, 'meatdb', 300_000);
  });
  afterAll(async () => {
    await Promise.all([pg?.stop(), s3?.stop()]);
  });

  describe.each(COMPRESSORS)('compressing with %s', (name) => {
    test('GIVEN a database WHEN backed up THEN the stored bytes, manifest and part traffic are what the runbook promises', async () => {
      const client = s3.client();
      const bucket = await freshBucket(client, 'pipeline-ok');
      const watcher = watchCommands(client);
      const result = await runBackup({ s3: client, bucket, connection: pg.connection('meatdb'), compressor: compressorFor(name), memberBytes: 256 * 1024, partBytes: 5 * 1024 * 1024, partsInFlight: 2 });

        const stored = Buffer.from(await (await client.send(new GetObjectCommand({ Bucket: bucket, Key: result.key }))).Body!.transformToByteArray());
      expect(result.manifest).toMatchObject({
        sizeBytes: stored.length,
        sha256: createHash('sha256').update(stored).digest('hex'),
        sqlBytes: gunzipSync(stored).length,
        compression: name === 'zlib' ? { format: 'gzip', compressor: 'zlib', level: 1, memberBytes: 256 * 1024 } : { format: 'gzip', compressor: 'isal', level: 1 },
      });
      expect(watcher.maxPartsInFlight()).toBeLessThanOrEqual(2);
      expect(watcher.partSizes.slice(0, -1).every((n) => n === 5 * 1024 * 1024)).toBe(true);
      expect(await bucketContents(client, bucket)).toEqual({ versions: [result.key, `${result.key}.globals.sql.gz`, `${result.key}.manifest.json`], uploads: [] });
    });
    test('GIVEN S3 fails a part half-way WHEN backing up THEN pg_dump and the compressor are stopped, the upload aborted, nothing is left, and the line says S3 failed', async () => {
      const client = s3.client();
      const bucket = await freshBucket(client, 'pipeline-s3-fails');
      failWhen(client, (cmd, input) => cmd === 'UploadPartCommand' && input.PartNumber === 2);
      const err = await runBackup({ s3: client, bucket, connection: pg.connection('meatdb'), compressor: compressorFor(name), memberBytes: 256 * 1024, partBytes: 5 * 1024 * 1024 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UserError);
      expect((err as Error).message).toMatch(/^could not upload part 2 of backups\/meatdb-.*\.sql\.gz to bucket pipeline-s3-fails-.*: InternalError \(HTTP 500\)/);
      expect(await bucketContents(client, bucket)).toEqual({ versions: [], uploads: [] });
      expect(await dumpBackendsLeft(pg)).toBe(0);
    });
    test('GIVEN a shutdown signal mid-dump WHEN backing up THEN the signal reason is thrown and nothing is left', async () => {
      const client = s3.client();
      const bucket = await freshBucket(client, 'pipeline-signal');
      const controller = new AbortController();
      // Abort as soon as the first part is on its way: pg_dump is mid-COPY by then.
      client.middlewareStack.add(
        (next, context) => async (args) => {
          if (context.commandName === 'UploadPartCommand') controller.abort(new Error('interrupted by SIGTERM'));
          return next(args);
        },
        { step: 'initialize', name: 'abort-on-first-part' },
      );
      await expect(runBackup({ s3: client, bucket, connection: pg.connection('meatdb'), compressor: compressorFor(name), partBytes: 5 * 1024 * 1024, memberBytes: 256 * 1024, signal: controller.signal })).rejects.toThrow('interrupted by SIGTERM');
      expect(await bucketContents(client, bucket)).toEqual({ versions: [], uploads: [] });
      expect(await dumpBackendsLeft(pg)).toBe(0);
    });
  });


  test('GIVEN S3 stops accepting parts WHEN backing up THEN pg_dump, and the server behind it, wait (backpressure) with memory bounded, and finish once S3 resumes', async () => {
    await pg.query('create database bigdb');
    await seedBigTable(pg, 'bigdb', 1_000_000);
    const client = s3.client();
    const bucket = await freshBucket(client, 'pipeline-backpressure');
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    client.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'UploadPartCommand') await gate;
        return next(args);
      },
      { step: 'initialize', name: 'hold-parts' },
    );
    let sqlRead = 0;
    const logger = nullLogger({ progress: (_l: string, bytes: number) => (sqlRead = bytes) });
    const running = runBackup({ compressor: compressorFor(), s3: client, bucket, connection: pg.connection('bigdb'), partBytes: 5 * 1024 * 1024, partsInFlight: 1, logger });
    running.catch(() => undefined);

    let stalledAt = -1;
    let waitEvents: (string | null)[] = [];
    try {
      // Stalled: what was read from pg_dump stops growing for half a second, and the server waits for pg_dump to
      // read (ClientWrite). (ClientWrite alone also shows up for moments in a flowing dump.)
      let unchanged = 0;
      let last = -1;
      for (let i = 0; i < 300 && stalledAt < 0; i++) {
        await new Promise((r) => setTimeout(r, 100));
        const rows = await pg.query<{ wait_event: string | null }>("select wait_event from pg_stat_activity where application_name = 'meatbackup' and query like 'COPY %'");
        waitEvents = rows.map((r) => r.wait_event);
        unchanged = sqlRead === last ? unchanged + 1 : 0;
        last = sqlRead;
        if (unchanged >= 5 && waitEvents[0] === 'ClientWrite') stalledAt = sqlRead;
      }
    } finally {
      release();
    }
    expect(waitEvents).toEqual(['ClientWrite']);
    // One part held plus one being filled (5 MiB each, compressed) and a few members: a bounded amount of SQL,
    // far less than the ~140 MB the table dumps to.
    expect(stalledAt).toBeGreaterThan(0);
    expect(stalledAt).toBeLessThan(64 * 1024 * 1024);
    const result = await running;
    expect(result.manifest.sqlBytes).toBeGreaterThan(100 * 1024 * 1024);
    expect(await bucketContents(client, bucket)).toEqual({ versions: [result.key, `${result.key}.globals.sql.gz`, `${result.key}.manifest.json`], uploads: [] });
  });

  test('GIVEN a database whose name has a space and accents WHEN backed up THEN the key keeps the name and the metadata is percent-encoded', async () => {
    const client = s3.client();
    const bucket = await freshBucket(client, 'pipeline-name');
    await pg.query('create database "méat db"');
    await pg.query('create table t as select 1 as n', 'méat db');
    const result = await runBackup({ compressor: compressorFor(), s3: client, bucket, connection: pg.connection('méat db') });
    expect(result.key).toMatch(/^backups\/méat db-\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.sql\.gz$/);
    const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: result.key }));
    expect(head.Metadata?.['meatbackup-database']).toBe('m%C3%A9at%20db');
    expect(await bucketContents(client, bucket)).toEqual({ versions: [result.key, `${result.key}.globals.sql.gz`, `${result.key}.manifest.json`], uploads: [] });
  });

  test('GIVEN a backup of that name already exists WHEN a backup starts in the same second THEN it refuses and leaves the existing one alone', async () => {
    const client = s3.client();
    const bucket = await freshBucket(client, 'pipeline-exists');
    const now = () => new Date('2025-09-17T10:30:00.400Z');
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'backups/meatdb-2025-09-17T10:30:00.sql.gz', Body: 'the earlier backup' }));
    const watcher = watchCommands(client);
    await expect(runBackup({ compressor: compressorFor(), s3: client, bucket, connection: pg.connection('meatdb'), now })).rejects.toThrow(
      `a backup named backups/meatdb-2025-09-17T10:30:00.sql.gz already exists in bucket ${bucket}: backups are never overwritten; run again in a second`,
    );
    expect(watcher.counts.CreateMultipartUploadCommand).toBeUndefined();
    expect(await bucketContents(client, bucket)).toEqual({ versions: ['backups/meatdb-2025-09-17T10:30:00.sql.gz'], uploads: [] });
  });


  test('GIVEN the manifest cannot be written WHEN the object is already stored THEN the object is deleted again (by version) and nothing is left', async () => {
    const client = s3.client();
    const bucket = await freshBucket(client, 'pipeline-manifest-fails');
    failWhen(client, (cmd, input) => cmd === 'PutObjectCommand' && String(input.Key).endsWith('.manifest.json'), 'AccessDenied', 403);
    const err = await runBackup({ compressor: compressorFor(), s3: client, bucket, connection: pg.connection('meatdb') }).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/^could not write the manifest backups\/meatdb-.*\.sql\.gz\.manifest\.json to bucket .*: access denied to bucket .*; the backup object and its globals were removed again$/);
    // Versioned bucket: deleting by version id removes it outright, without leaving a delete marker.
    expect(await bucketContents(client, bucket)).toEqual({ versions: [], uploads: [] });
  });

});
