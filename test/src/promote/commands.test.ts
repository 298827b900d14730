/**
 * The built CLI (`npm run build` first: jest does not build) and replication-check, on moto:
 * promote's confirmation rule and one-line errors, and whether the newest backup is safe in the replica.
 */
import { createHash } from 'node:crypto';
import { CreateBucketCommand, HeadBucketCommand, PutBucketVersioningCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { type LocalS3, startLocalS3 } from '../../../src/local/s3-emulator';
import { type Manifest, sidecarKey } from '../../../src/contract';
import { checkReplication, judgeReplication } from '../../../src/promote/replication-check';
import { cleanEnv, runCli } from '../../support/cli';
import { makeReplica } from './fixtures';

const KEY_OLD = 'backups/meatdb-2025-09-16T10:30:00.sql.gz';
const KEY_NEW = 'backups/meatdb-2025-09-17T10:30:00.sql.gz';

function manifestFor(key: string, body: Buffer, completedAt: Date): Manifest {
  return {
    format: 'meatbackup/manifest@1',
    key,
    database: 'meatdb',
    takenAt: '2025-09-17T10:30:00.000Z',
    completedAt: completedAt.toISOString(),
    sizeBytes: body.length,
    sha256: createHash('sha256').update(body).digest('hex'),
    sqlBytes: body.length * 3,
    serverVersion: '15.8',
    pgDumpVersion: '15.8',
    compression: { format: 'gzip', level: 1, memberBytes: 1048576 },
    durationSeconds: 2,
  };
}

describe('the promote and replication-check commands', () => {
  let s3: LocalS3;
  let client: S3Client;
  const env = (extra: Record<string, string> = {}) => cleanEnv({ ...s3.env, ...extra });
  const backup = Buffer.from('-- pretend gzip of a pg_dump\n'.repeat(5000));

  async function putBackup(bucket: string, key: string, body: Buffer, manifest?: Manifest): Promise<void> {
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: 'application/gzip' }));
    if (manifest) await client.send(new PutObjectCommand({ Bucket: bucket, Key: sidecarKey(key, 'manifest'), Body: JSON.stringify(manifest) }));
  }

  beforeAll(async () => {
    s3 = await startLocalS3();
    client = s3.client();
    await makeReplica(client, 'cli-replica', { small: 30, specials: false });
    // Versioned, as S3 replication needs both sides to be (replication-check refuses a primary without versioning).
    for (const b of ['primary', 'replica-good', 'replica-bad', 'replica-late']) {
      await client.send(new CreateBucketCommand({ Bucket: b }));
      await client.send(new PutBucketVersioningCommand({ Bucket: b, VersioningConfiguration: { Status: 'Enabled' } }));
    }
  });
  afterAll(async () => {
    await s3?.stop();
  });

  test('GIVEN no TTY and no --yes WHEN meatbackup promote runs THEN it refuses in one line, exit 2, and creates nothing', async () => {
    const res = await runCli(['promote', '--from', 'cli-replica', '--to', 'cli-target'], { env: env() });
    expect(res.code).toBe(2);
    expect(res.stderr).toBe('meatbackup: promote creates bucket cli-target and writes into it: pass --yes to confirm (there is no TTY to ask on); nothing was changed\n');
    await expect(client.send(new HeadBucketCommand({ Bucket: 'cli-target' }))).rejects.toMatchObject({ $metadata: { httpStatusCode: 404 } });
  });

  test('GIVEN --yes --json WHEN meatbackup promote runs THEN it copies, verifies and prints one JSON result', async () => {
    const res = await runCli(['promote', '--from', 'cli-replica', '--to', 'cli-target', '--yes', '--json'], { env: env() });
    expect(res.code).toBe(0);
    const result = JSON.parse(res.stdout);
    expect(result).toMatchObject({ ok: true, created: true, copied: { objects: 30 }, verification: { ok: true, objects: 30 }, hardening: { tlsOnlyPolicy: 'skipped' } });
    // 30 copies at once, each listening on the run's signal, is the design: Node must not warn of a leak on stderr.
    expect(res.stderr).not.toMatch(/Warning/);
  });

  test('GIVEN a promoted bucket WHEN meatbackup promote runs again THEN it skips everything and says so', async () => {
    const res = await runCli(['promote', '--from', 'cli-replica', '--to', 'cli-target', '--yes'], { env: env() });
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('skipped:  30 objects');
    expect(res.stdout).toContain('verified: 30 objects');
  });

  test('GIVEN a missing replica WHEN meatbackup promote runs THEN it fails in one line with exit 1', async () => {
    const res = await runCli(['promote', '--from', 'gone-replica', '--to', 'cli-target-2', '--yes'], { env: env() });
    expect(res.code).toBe(1);
    expect(res.stderr).toBe("meatbackup: the replica bucket gone-replica does not exist: check --from and the replica's region\n");
  });

  test('GIVEN the newest backup replicated byte for byte WHEN replication-check runs THEN it passes (exit 0)', async () => {
    const old = Buffer.from('older');
    await putBackup('primary', KEY_OLD, old, manifestFor(KEY_OLD, old, new Date(Date.now() - 86_400_000)));
    await putBackup('primary', KEY_NEW, backup, manifestFor(KEY_NEW, backup, new Date(Date.now() - 3_600_000)));
    await putBackup('replica-good', KEY_NEW, backup, manifestFor(KEY_NEW, backup, new Date(Date.now() - 3_600_000)));

    const report = await checkReplication({ primary: 'primary', replica: 'replica-good', primaryClient: client, replicaClient: client });
    expect(report).toMatchObject({ verdict: 'ok', ok: true, key: KEY_NEW, replica: { exists: true, sizeBytes: backup.length, manifest: true } });
    expect(report.replica.sha256).toBe(report.primary.sha256);

    const res = await runCli(['replication-check', '--bucket', 'primary', '--replica', 'replica-good'], { env: env() });
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/^OK: backups\/meatdb-2025-09-17T10:30:00.sql.gz: the newest backup is in the replica with the same size and sha256/);
  });

  test('GIVEN a replica whose copy has other bytes of the same size WHEN replication-check runs THEN the recomputed sha256 catches it (exit 1)', async () => {
    const tampered = Buffer.from(backup);
    tampered[100] ^= 0xff;
    await putBackup('replica-bad', KEY_NEW, tampered, manifestFor(KEY_NEW, backup, new Date()));
    const res = await runCli(['replication-check', '--json'], { env: env({ BACKUP_BUCKET: 'primary', REPLICA_BUCKET: 'replica-bad' }) });
    expect(res.code).toBe(1);
    expect(JSON.parse(res.stdout)).toMatchObject({ verdict: 'different', ok: false, replica: { sizeBytes: backup.length } });
    expect(res.stderr).toMatch(/^meatbackup: replication check failed: different: the replica's copy differs: size \d+ vs \d+, sha256 [0-9a-f]{12}… vs [0-9a-f]{12}…\n$/);
  });

  test('GIVEN a backup an hour old that never reached the replica WHEN replication-check runs THEN it is missing (exit 1)', async () => {
    const res = await runCli(['replication-check', '--bucket', 'primary', '--replica', 'replica-late'], { env: env() });
    expect(res.code).toBe(1);
    expect(res.stdout).toMatch(/^MISSING: /);
  });

  test('GIVEN a backup taken a minute ago and not replicated yet WHEN replication-check runs THEN it is pending (exit 3), not failed', async () => {
    const fresh = 'backups/meatdb-2025-09-18T10:30:00.sql.gz';
    await putBackup('primary', fresh, backup, manifestFor(fresh, backup, new Date(Date.now() - 60_000)));
    const res = await runCli(['replication-check', '--bucket', 'primary', '--replica', 'replica-late'], { env: env() });
    expect(res.code).toBe(3);
    expect(res.stdout).toMatch(/^PENDING: backups\/meatdb-2025-09-18T10:30:00.sql.gz: not in the replica yet, \d+ s after the backup/);
    expect(res.stderr).toBe('');
  });

  test('GIVEN each replication status WHEN judged THEN FAILED fails even with a good copy, and PENDING only counts within 15 minutes', () => {
    const good = { sizeBytes: 10, manifestSha256: 'a'.repeat(64), replicaSize: 10, replicaSha256: 'a'.repeat(64), replicaManifest: true };
    expect(judgeReplication({ ...good, ageSeconds: 60, replicationStatus: 'COMPLETED' }).verdict).toBe('ok');
    expect(judgeReplication({ ...good, ageSeconds: 60, replicationStatus: 'FAILED' }).verdict).toBe('failed');
    const absent = { sizeBytes: 10, manifestSha256: 'a'.repeat(64), replicaManifest: false };
    expect(judgeReplication({ ...absent, ageSeconds: 14 * 60, replicationStatus: 'PENDING' }).verdict).toBe('pending');
    expect(judgeReplication({ ...absent, ageSeconds: 16 * 60, replicationStatus: 'PENDING' }).verdict).toBe('missing');
    expect(judgeReplication({ ...good, replicaManifest: false, ageSeconds: 16 * 60 }).verdict).toBe('missing');
    expect(judgeReplication({ sizeBytes: 10, replicaManifest: true, replicaSize: 10, ageSeconds: 60 }).verdict).toBe('unverifiable');
  });
});
