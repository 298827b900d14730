process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListObjectVersionsCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { runBackup } from '../../../src/backup/backup';
import { verifyBackup } from '../../../src/backup/verify';
import { EMULATOR_REGION } from '../../../src/local/s3-emulator';
import { toolVersion } from '../../../src/postgres/tools';
import { bucketContents, dumpBackendsLeft, freshBucket, freshLockedBucket, seedBigTable, useHarness } from './fixtures';
import { compressorFor, installedDecompressor } from '../../support/compressors';

const DAY_MS = 86_400_000;

/** Makes the client fail the commands `when` picks with an S3 error (name, HTTP status). */
function failWhen(client: S3Client, when: (command: string, input: Record<string, unknown>) => boolean, name: string, status: number): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (when(context.commandName ?? '', args.input as Record<string, unknown>)) {
        throw Object.assign(new Error(name === 'AccessDenied' ? 'Access Denied' : name), { name, Code: name, $metadata: { httpStatusCode: status } });
      }
      return next(args);
    },
    { step: 'initialize', name: `fail-${Math.random()}` },
  );
}

/** Records every request as sent (after the SDK added its checksum headers): command, key and header names. */
function recordRequests(client: S3Client): { command: string; key: string; headers: Record<string, string> }[] {
  const seen: { command: string; key: string; headers: Record<string, string> }[] = [];
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const request = args.request as { headers?: Record<string, string> };
      seen.push({ command: context.commandName ?? '', key: String((args.input as { Key?: string }).Key ?? ''), headers: { ...(request.headers ?? {}) } });
      return next(args);
    },
    { step: 'finalizeRequest', name: 'record-requests', priority: 'low' },
  );
  return seen;
}

/** Now, to the second: Object Lock dates must lie ahead of the emulator's clock. */
const second = (): Date => new Date(Math.floor(Date.now() / 1000) * 1000);

describe('Object Lock, checksums and globals, on a real cluster and the S3 emulator', () => {
  const h = useHarness('lock', async ({ pg }) => {
    await pg.query("create role app_reader nologin; create role app login password 'not-in-the-bucket' in role app_reader");
    await pg.query('create database meatdb');
    // Enough SQL for several 5 MiB parts after compression.
    await seedBigTable(pg, 'meatdb', 300_000);
  });

  test('GIVEN a bucket with Object Lock WHEN backed up THEN the object, its manifest and its globals are under governance retention for 35 days, as the manifest records', async () => {
    const bucket = await freshLockedBucket(h.client, 'lock-written');
    const now = second();
    const result = await runBackup({ compressor: compressorFor(), s3: h.client, bucket, connection: h.pg.connection('meatdb'), now: () => now });
    const until = new Date(now.getTime() + 35 * DAY_MS);

    expect(result.manifest.retention).toEqual({ class: 'monthly', lockedUntil: until.toISOString() });
    // (moto 5.2 has no GetObjectRetention: it answers ?retention with the object itself. HEAD carries the same
    // retention, as S3 does for a caller allowed s3:GetObjectRetention.)
    for (const key of [result.key, result.manifestKey, result.globalsKey]) {
      const head = await h.client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      expect([key, head.ObjectLockMode, head.ObjectLockRetainUntilDate?.toISOString()]).toEqual([key, 'GOVERNANCE', until.toISOString()]);
    }
    // S3 itself refuses to delete the locked version without a bypass.
    const err = await h.client.send(new DeleteObjectCommand({ Bucket: bucket, Key: result.key, VersionId: result.manifest.versionId })).catch((e: unknown) => e);
    expect((err as { name?: string }).name).toBe('AccessDenied');
    expect((await bucketContents(h.client, bucket)).versions).toEqual([result.key, result.globalsKey, result.manifestKey]);
  });

  test('GIVEN the days each class is kept (BACKUP_RETENTION_DAYS) WHEN a monthly and then a daily backup are taken THEN each is locked until its class expires, never less than the lock days, and S3 refuses to delete either', async () => {
    const bucket = await freshLockedBucket(h.client, 'lock-class');
    const retentionDays = { daily: 14, weekly: 56, monthly: 365 };
    const first = second();
    const monthly = await runBackup({ compressor: compressorFor(), s3: h.client, bucket, connection: h.pg.connection('meatdb'), now: () => first, retentionDays });
    const later = new Date(first.getTime() + 1000);
    const daily = await runBackup({ compressor: compressorFor(), s3: h.client, bucket, connection: h.pg.connection('meatdb'), now: () => later, retentionDays });

    // The first of the month lives 365 days; the second of the same day is daily: 14 days, so the 35 lock days hold.
    expect(monthly.manifest.retention).toEqual({ class: 'monthly', lockedUntil: new Date(first.getTime() + 365 * DAY_MS).toISOString() });
    expect(daily.manifest.retention).toEqual({ class: 'daily', lockedUntil: new Date(later.getTime() + 35 * DAY_MS).toISOString() });
    for (const r of [monthly, daily]) {
      for (const key of [r.key, r.manifestKey, r.globalsKey]) {
        const head = await h.client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
        expect([key, head.ObjectLockMode, head.ObjectLockRetainUntilDate?.toISOString()]).toEqual([key, 'GOVERNANCE', r.manifest.retention?.lockedUntil]);
      }
      const err = await h.client.send(new DeleteObjectCommand({ Bucket: bucket, Key: r.key, VersionId: r.manifest.versionId })).catch((e: unknown) => e);
      expect((err as { name?: string }).name).toBe('AccessDenied');
    }
  });

  test('GIVEN an SDK that sends checksums only when an operation requires one WHEN backing up to a locked bucket THEN every PutObject and UploadPart still carries one', async () => {
    const bucket = await freshLockedBucket(h.client, 'lock-checksums');
    const strict = new S3Client({
      endpoint: h.s3.endpoint,
      region: EMULATOR_REGION,
      forcePathStyle: true,
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
      requestChecksumCalculation: 'WHEN_REQUIRED',
    });
    try {
      const requests = recordRequests(strict);
      const result = await runBackup({ compressor: compressorFor(), s3: strict, bucket, connection: h.pg.connection('meatdb'), partBytes: 5 * 1024 * 1024 });
      const uploads = requests.filter((r) => r.command === 'UploadPartCommand' || r.command === 'PutObjectCommand');
      expect(uploads.filter((r) => r.command === 'UploadPartCommand').length).toBeGreaterThanOrEqual(2);
      expect(uploads.map((r) => r.key)).toEqual(expect.arrayContaining([result.key, result.globalsKey, result.manifestKey]));
      for (const r of uploads) {
        expect([r.command, r.key, Object.keys(r.headers).some((h) => /^x-amz-checksum-(crc32|crc32c|sha1|sha256|crc64nvme)$|^content-md5$/i.test(h))]).toEqual([r.command, r.key, true]);
      }
      // Lock last: the objects are written with their tags but no lock headers, and locked only once all three are
      // stored, by PutObjectRetention: object, globals, manifest, as the run's last requests.
      const create = requests.find((r) => r.command === 'CreateMultipartUploadCommand')!;
      expect(create.headers).toMatchObject({ 'x-amz-tagging': 'retention=monthly' });
      for (const r of requests.filter((u) => u.command === 'CreateMultipartUploadCommand' || u.command === 'PutObjectCommand')) {
        expect([r.command, r.key, Object.keys(r.headers).filter((name) => /^x-amz-object-lock/i.test(name))]).toEqual([r.command, r.key, []]);
      }
      expect(requests.slice(-3).map((r) => [r.command, r.key])).toEqual([
        ['PutObjectRetentionCommand', result.key],
        ['PutObjectRetentionCommand', result.globalsKey],
        ['PutObjectRetentionCommand', result.manifestKey],
      ]);
    } finally {
      strict.destroy();
    }
  });

  test('GIVEN a locked backup WHEN a second backup gets the same key (same clock) THEN it is refused and the locked one is untouched', async () => {
    const bucket = await freshLockedBucket(h.client, 'lock-overwrite');
    const now = second();
    const first = await runBackup({ compressor: compressorFor(), s3: h.client, bucket, connection: h.pg.connection('meatdb'), now: () => now });
    const before = await bucketContents(h.client, bucket);
    await expect(runBackup({ compressor: compressorFor(), s3: h.client, bucket, connection: h.pg.connection('meatdb'), now: () => now })).rejects.toThrow(
      `a backup named ${first.key} already exists in bucket ${bucket}: backups are never overwritten; run again in a second`,
    );
    expect(await bucketContents(h.client, bucket)).toEqual(before);
    expect(await dumpBackendsLeft(h.pg)).toBe(0);
  });

  test('GIVEN a locked backup WHEN someone writes over its key directly THEN S3 adds a version, the locked version stays, and it still verifies by its recorded version', async () => {
    const bucket = await freshLockedBucket(h.client, 'lock-raw-put');
    const result = await runBackup({ compressor: compressorFor(), s3: h.client, bucket, connection: h.pg.connection('meatdb') });
    const recorded = result.manifest.versionId!;
    await h.client.send(new PutObjectCommand({ Bucket: bucket, Key: result.key, Body: 'not a backup' }));

    const versions = await h.client.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: result.key }));
    expect(versions.Versions?.filter((v) => v.Key === result.key).map((v) => [v.VersionId === recorded, v.IsLatest])).toEqual([[false, true], [true, false]]);
    const head = await h.client.send(new HeadObjectCommand({ Bucket: bucket, Key: result.key, VersionId: recorded }));
    expect(head.ObjectLockMode).toBe('GOVERNANCE');

    const verified = await verifyBackup({ decompressor: installedDecompressor(), s3: h.client, bucket, key: result.key, versionId: recorded });
    expect(verified).toMatchObject({ versionId: recorded, sha256: result.manifest.sha256, globals: { key: result.globalsKey, sha256: result.manifest.globals?.sha256 } });
    // A plain verify reads the version the manifest pins, as a restore does, and names the foreign version on top.
    const plain = await verifyBackup({ decompressor: installedDecompressor(), s3: h.client, bucket, key: result.key });
    expect(plain).toMatchObject({ versionId: recorded, sha256: result.manifest.sha256 });
    expect(plain.overwrittenBy).toBe(versions.Versions?.find((v) => v.IsLatest && v.Key === result.key)?.VersionId);
  });

  test('GIVEN a locked bucket WHEN the manifest cannot be written (before the lock step) THEN the backup object and its globals, never locked, are deleted again without any bypass, and nothing is left', async () => {
    const bucket = await freshLockedBucket(h.client, 'lock-cleanup');
    const local = h.s3.client();
    const requests = recordRequests(local);
    const deletes: Record<string, unknown>[] = [];
    local.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'DeleteObjectCommand') deletes.push(args.input as Record<string, unknown>);
        return next(args);
      },
      { step: 'initialize', name: 'record-deletes' },
    );
    failWhen(local, (cmd, input) => cmd === 'PutObjectCommand' && String(input.Key).endsWith('.manifest.json'), 'AccessDenied', 403);
    const err = await runBackup({ compressor: compressorFor(), s3: local, bucket, connection: h.pg.connection('meatdb') }).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/^could not write the manifest backups\/meatdb-.*\.manifest\.json to bucket .*: access denied to bucket .*; the backup object and its globals were removed again$/);
    expect(deletes).toEqual([
      expect.objectContaining({ Key: expect.stringMatching(/\.sql\.gz$/) as string, VersionId: expect.any(String) as string }),
      expect.objectContaining({ Key: expect.stringMatching(/\.globals\.sql\.gz$/) as string, VersionId: expect.any(String) as string }),
    ]);
    for (const d of deletes) expect(d).not.toHaveProperty('BypassGovernanceRetention');
    expect(requests.filter((r) => r.command === 'DeleteObjectCommand').map((r) => r.headers['x-amz-bypass-governance-retention'])).toEqual([undefined, undefined]);
    expect(requests.map((r) => r.command)).not.toContain('PutObjectRetentionCommand');
    expect(await bucketContents(h.client, bucket)).toEqual({ versions: [], uploads: [] });
  });

  test('GIVEN a locked bucket WHEN locking the globals fails (the backup object is already locked) THEN its globals and manifest are deleted without bypass, and the one line names the locked version and until when it stays', async () => {
    const bucket = await freshLockedBucket(h.client, 'lock-step-fails');
    const local = h.s3.client();
    const deletes: Record<string, unknown>[] = [];
    local.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'DeleteObjectCommand') deletes.push(args.input as Record<string, unknown>);
        return next(args);
      },
      { step: 'initialize', name: 'record-deletes' },
    );
    failWhen(local, (cmd, input) => cmd === 'PutObjectRetentionCommand' && String(input.Key).endsWith('.globals.sql.gz'), 'InternalError', 500);
    const now = second();
    const err = await runBackup({ compressor: compressorFor(), s3: local, bucket, connection: h.pg.connection('meatdb'), now: () => now }).catch((e: unknown) => e);
    const until = `${new Date(now.getTime() + 35 * DAY_MS).toISOString().slice(0, 19)}Z`;
    const message = (err as Error).message;
    expect(message).toMatch(new RegExp(
      `^could not set the Object Lock retention of backups/meatdb-\\S+\\.globals\\.sql\\.gz in bucket ${bucket} \\(s3:PutObjectRetention\\): InternalError \\(HTTP 500\\).*; its globals and the manifest were removed again; the backup object \\(version \\S+ of backups/meatdb-\\S+\\.sql\\.gz\\) is already locked until ${until} and stays until then: nothing else to do$`,
    ));
    expect(message).not.toContain('\n');
    expect(deletes.map((d) => String(d.Key).replace(/^.*?(\.globals\.sql\.gz|\.manifest\.json)$/, '$1'))).toEqual(['.globals.sql.gz', '.manifest.json']);
    for (const d of deletes) expect(d).not.toHaveProperty('BypassGovernanceRetention');
    const contents = await bucketContents(h.client, bucket);
    expect(contents.versions).toHaveLength(1);
    expect(contents.versions[0]).toMatch(/^backups\/meatdb-\S+\.sql\.gz$/);
    const head = await h.client.send(new HeadObjectCommand({ Bucket: bucket, Key: contents.versions[0] }));
    expect([head.ObjectLockMode, head.ObjectLockRetainUntilDate?.toISOString()]).toEqual(['GOVERNANCE', new Date(now.getTime() + 35 * DAY_MS).toISOString()]);
  });

  test('GIVEN a locked bucket WHEN locking the backup object itself fails THEN nothing was locked, all three are deleted without bypass, and nothing is left', async () => {
    const bucket = await freshLockedBucket(h.client, 'lock-first-fails');
    const local = h.s3.client();
    failWhen(local, (cmd, input) => cmd === 'PutObjectRetentionCommand' && String(input.Key).endsWith('.sql.gz') && !String(input.Key).endsWith('.globals.sql.gz'), 'AccessDenied', 403);
    const err = await runBackup({ compressor: compressorFor(), s3: local, bucket, connection: h.pg.connection('meatdb') }).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/^could not set the Object Lock retention of backups\/meatdb-\S+\.sql\.gz in bucket .*; the backup object, its globals and the manifest were removed again$/);
    expect(await bucketContents(h.client, bucket)).toEqual({ versions: [], uploads: [] });
  });

  test('GIVEN BACKUP_LOCK_DAYS=0 WHEN backing up to a locked bucket THEN nothing is locked and the bucket is not even asked', async () => {
    const bucket = await freshLockedBucket(h.client, 'lock-zero');
    const local = h.s3.client();
    const requests = recordRequests(local);
    const result = await runBackup({ compressor: compressorFor(), s3: local, bucket, connection: h.pg.connection('meatdb'), lockDays: 0 });
    expect(result.manifest.retention).toEqual({ class: 'monthly' });
    expect(requests.map((r) => r.command)).not.toContain('GetObjectLockConfigurationCommand');
    expect((await h.client.send(new HeadObjectCommand({ Bucket: bucket, Key: result.key }))).ObjectLockMode).toBeUndefined();
  });

  test('GIVEN a role that may not read the bucket\'s Object Lock configuration WHEN backing up THEN it refuses before dumping, naming the permission and the way out', async () => {
    const bucket = await freshLockedBucket(h.client, 'lock-denied');
    const local = h.s3.client();
    failWhen(local, (cmd) => cmd === 'GetObjectLockConfigurationCommand', 'AccessDenied', 403);
    await expect(runBackup({ compressor: compressorFor(), s3: local, bucket, connection: h.pg.connection('meatdb') })).rejects.toThrow(
      `could not read the Object Lock configuration of bucket ${bucket}: access denied to bucket ${bucket}: the role or user needs s3 permissions on it (s3:GetBucketObjectLockConfiguration), or set BACKUP_LOCK_DAYS=0 to write backups without Object Lock`,
    );
    expect(await bucketContents(h.client, bucket)).toEqual({ versions: [], uploads: [] });
    expect(await dumpBackendsLeft(h.pg)).toBe(0);
  });

  test('GIVEN a backup WHEN its globals are read THEN they are pg_dumpall --globals-only: the roles and memberships, no passwords, with the recorded size and sha256', async () => {
    const bucket = await freshBucket(h.client, 'globals-stored');
    const result = await runBackup({ compressor: compressorFor(), s3: h.client, bucket, connection: h.pg.connection('meatdb') });
    const stored = Buffer.from(await (await h.client.send(new GetObjectCommand({ Bucket: bucket, Key: result.globalsKey }))).Body!.transformToByteArray());
    expect(result.manifest.globals).toEqual({ key: `${result.key}.globals.sql.gz`, sizeBytes: stored.length, sha256: createHash('sha256').update(stored).digest('hex') });
    const sql = gunzipSync(stored).toString();
    expect(sql).toContain('CREATE ROLE app;');
    expect(sql).toContain('CREATE ROLE app_reader;');
    expect(sql).toMatch(/GRANT app_reader TO app/);
    expect(sql).not.toMatch(/PASSWORD|not-in-the-bucket|SCRAM-SHA-256/);
    expect(result.pgDumpall.path).toBe('/usr/lib/postgresql/15/bin/pg_dumpall');
  });

  test('GIVEN pg_dumpall fails (a role without the privileges) WHEN backing up THEN the backup fails with its words on one line, before anything is uploaded', async () => {
    const bucket = await freshBucket(h.client, 'globals-fail');
    const fake = join(h.work, 'pg_dumpall');
    writeFileSync(fake, `#!/bin/sh
if [ "$1" = --version ]; then echo "pg_dumpall (PostgreSQL) 15.99"; exit 0; fi
echo "pg_dumpall: error: query failed: ERROR:  permission denied for table pg_authid" >&2
echo "pg_dumpall: detail: Query was: SELECT oid, rolname FROM pg_authid" >&2
exit 1
`);
    chmodSync(fake, 0o755);
    const pgDumpall = await toolVersion(fake, fake, 'pg_dumpall');
    const err = await runBackup({ compressor: compressorFor(), s3: h.client, bucket, connection: h.pg.connection('meatdb'), pgDumpall }).catch((e: unknown) => e);
    expect((err as Error).message).toBe('pg_dumpall exited with code 1: error: query failed: ERROR:  permission denied for table pg_authid; detail: Query was: SELECT oid, rolname FROM pg_authid');
    expect(await bucketContents(h.client, bucket)).toEqual({ versions: [], uploads: [] });
    expect(await dumpBackendsLeft(h.pg)).toBe(0);
  });
});
