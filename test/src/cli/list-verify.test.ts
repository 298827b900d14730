/**
 * `list` and `verify` saying what is known, and only that (runbook 1.1 "List and verify", issue "3 a.m. safety"):
 * one unreadable manifest marks its own row, the size column compares the listed size with the manifest, the last
 * check is a recorded verify or restore test, verify reads the version the manifest pinned and reports a newer one
 * loudly, and a deleted manifest is reported as deleted with how to bring it back. Real S3 emulator, real CLI; the
 * ops Lambda's list through its handler against the same emulator.
 */
import { ECSClient } from '@aws-sdk/client-ecs';
import { DeleteObjectCommand as DeleteS3Object, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { ENV, sidecarKey } from '../../../src/contract';
import { handleEvent } from '../../../lambda/ops/handler';
import { type CliResult, cleanEnv, runCli } from '../../support/cli';
import { alterBackupObject, writeBackupFixture } from '../../support/backup-fixture';
import { expectOneErrorLine, freshBucket, stderrLines, useHarness } from '../backup/fixtures';
import { readSettings } from '../../../src/settings';

const h = useHarness('list-verify');

const SQL = '--\n-- PostgreSQL database dump\n--\n\ncreate table t (id int);\n\n--\n-- PostgreSQL database dump complete\n--\n\n';

function env(bucket: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return cleanEnv({ ...h.s3.env, BACKUP_BUCKET: bucket, ...extra });
}

function rows(result: CliResult): string[] {
  if (result.code !== 0) throw new Error(`exit ${result.code}: ${result.stderr}`);
  return result.stdout.trimEnd().split('\n');
}

function listJson(result: CliResult): Array<Record<string, unknown>> {
  if (result.code !== 0) throw new Error(`exit ${result.code}: ${result.stderr}`);
  return (JSON.parse(result.stdout) as { backups: Array<Record<string, unknown>> }).backups;
}

describe('GIVEN three backups, the middle one with a manifest that was altered into something unreadable', () => {
  test('WHEN listed from the CLI and the ops Lambda THEN every backup is listed and the bad row says why', async () => {
    const bucket = await freshBucket(h.client, 'unreadable-manifest');
    const at = (d: string) => new Date(`2025-09-${d}T03:00:00Z`);
    const [newest, broken, oldest] = await Promise.all(['17', '16', '15'].map((d) => writeBackupFixture(h.client, bucket, { sql: SQL, database: 'meatdb', takenAt: at(d) })));
    await h.client.send(new PutObjectCommand({ Bucket: bucket, Key: broken.manifestKey, Body: '{ "format": "meatbackup/manif' }));

    const table = rows(await runCli(['list'], { env: env(bucket) }));

    expect(table.slice(1).map((l) => l.split(/\s{2,}/)[0])).toEqual([newest.key, broken.key, oldest.key]);
    expect(table[2]).toContain('MANIFEST UNREADABLE: not JSON (altered or truncated)');
    expect(table[1]).toContain('size as recorded');
    const json = listJson(await runCli(['list', '--json'], { env: env(bucket) }));
    expect(json.map((b) => [b.key, b.sizeCheck, b.manifestProblem])).toEqual([
      [newest.key, 'matches-manifest', undefined],
      [broken.key, 'manifest-unreadable', 'not JSON (altered or truncated)'],
      [oldest.key, 'matches-manifest', undefined],
    ]);

    const lambda = await handleEvent({ action: 'list' }, { s3: h.client, ecs: new ECSClient({ region: 'eu-west-1' }), settings: readSettings({ [ENV.bucket]: bucket }), now: () => new Date() });
    expect(lambda).toMatchObject({
      ok: true,
      count: 3,
      backups: [
        { key: newest.key, sizeCheck: 'matches-manifest', lastCheck: null },
        { key: broken.key, sizeCheck: 'manifest-unreadable', manifestProblem: 'not JSON (altered or truncated)' },
        { key: oldest.key, sizeCheck: 'matches-manifest' },
      ],
    });
    expect(JSON.stringify(lambda)).not.toContain('"verified"');
  });
});

describe('GIVEN a backup cut short after upload whose manifest still records its full size', () => {
  test('WHEN listed THEN the size column says it differs from the manifest, not that it is verified; verify records its failure and list shows it', async () => {
    const bucket = await freshBucket(h.client, 'size-check');
    const good = await writeBackupFixture(h.client, bucket, { sql: SQL.repeat(50), database: 'meatdb', takenAt: new Date('2025-09-16T03:00:00Z') });
    const cut = await writeBackupFixture(h.client, bucket, { sql: SQL.repeat(50), database: 'meatdb', takenAt: new Date('2025-09-17T03:00:00Z') });
    // Not versioned away: the only version is the cut one (a bucket without versioning, or a lost version).
    await h.client.send(new DeleteS3Object({ Bucket: bucket, Key: cut.key, VersionId: cut.versionId }));
    await h.client.send(new PutObjectCommand({ Bucket: bucket, Key: cut.key, Body: cut.bytes.subarray(0, 100) }));

    const before = listJson(await runCli(['list', '--json'], { env: env(bucket) }));
    expect(before.map((b) => [b.key, b.sizeCheck, b.lastCheck])).toEqual([
      [cut.key, 'differs-from-manifest', null],
      [good.key, 'matches-manifest', null],
    ]);
    expect(rows(await runCli(['list'], { env: env(bucket) }))[1]).toMatch(/SIZE DIFFERS \(manifest [\d.]+ (B|KiB)\): do not restore, run verify +never/);

    const failed = await runCli(['verify', cut.key], { env: env(bucket) });
    expectOneErrorLine(failed, /failed verification: it is 100 bytes but the manifest records \d+; do not restore it$/);
    expect((await runCli(['verify', good.key], { env: env(bucket) })).code).toBe(0);

    const after = listJson(await runCli(['list', '--json'], { env: env(bucket) }));
    expect(after).toEqual([
      expect.objectContaining({ key: cut.key, lastCheck: { kind: 'verify', ok: false, at: expect.stringMatching(/^\d{4}-/), error: expect.stringContaining('100 bytes') } }),
      expect.objectContaining({ key: good.key, lastCheck: { kind: 'verify', ok: true, at: expect.stringMatching(/^\d{4}-/) } }),
    ]);
    const table = rows(await runCli(['list'], { env: env(bucket) }));
    expect(table[1]).toMatch(/verify FAILED \d{4}-\d{2}-\d{2}/);
    expect(table[2]).toMatch(/size as recorded +verify passed \d{4}-\d{2}-\d{2}/);

    // A restore test newer than the verify is the last check; the result is a sidecar like the verify record.
    await h.client.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: sidecarKey(good.key, 'restoreTest'),
        Body: JSON.stringify({ format: 'meatbackup/restore-test@1', key: good.key, ok: true, testedAt: '2999-01-01T00:00:00.000Z', seconds: 1, mode: 'scratch', differences: [], assertions: [] }),
      }),
    );
    expect(rows(await runCli(['list'], { env: env(bucket) }))[2]).toMatch(/restore test passed 2999-01-01/);

    // delete removes the verify record with the backup.
    const deleted = await runCli(['delete', good.key, '--yes'], { env: env(bucket) });
    expect(deleted.code).toBe(0);
    await expect(h.client.send(new GetObjectCommand({ Bucket: bucket, Key: sidecarKey(good.key, 'verify') }))).rejects.toMatchObject({ name: 'NoSuchKey' });
  });
});

describe('GIVEN backups of two databases, the newest of another database', () => {
  test('WHEN `verify latest` runs for meatdb THEN it verifies meatdb\'s newest backup; with no database said it refuses to guess', async () => {
    const bucket = await freshBucket(h.client, 'verify-latest');
    const mine = await writeBackupFixture(h.client, bucket, { sql: SQL, database: 'meatdb', takenAt: new Date('2025-09-16T03:00:00Z') });
    await writeBackupFixture(h.client, bucket, { sql: SQL, database: 'postgres', takenAt: new Date('2025-09-17T03:00:00Z') });

    const verified = await runCli(['verify', 'latest', '--json'], { env: env(bucket, { PGDATABASE: 'meatdb' }) });
    expect(JSON.parse(verified.stdout)).toMatchObject({ ok: true, key: mine.key });
    expect(JSON.parse((await runCli(['verify', 'latest', '--database', 'meatdb', '--json'], { env: env(bucket) })).stdout)).toMatchObject({ key: mine.key });

    const guess = await runCli(['verify', 'latest'], { env: env(bucket) });
    expectOneErrorLine(guess, /^meatbackup: "latest" is ambiguous: s3:\/\/\S+\/backups\/ holds backups of 2 databases \(postgres, meatdb\): say which with --database NAME \(or PGDATABASE\)$/);
    expect(guess.code).toBe(2);
  });
});

describe('GIVEN a backup whose key was written over after the backup', () => {
  test('WHEN verified THEN the version the manifest pinned passes, with a warning that cannot be missed and exit code 4', async () => {
    const bucket = await freshBucket(h.client, 'overwritten');
    const backup = await writeBackupFixture(h.client, bucket, { sql: SQL, database: 'meatdb', takenAt: new Date('2025-09-17T03:00:00Z') });
    await alterBackupObject(h.client, bucket, backup, () => Buffer.from('someone else\'s bytes'));

    const result = await runCli(['verify', backup.key], { env: env(bucket) });

    expect(result.code).toBe(4);
    expect(result.stdout.split('\n')[0]).toMatch(/^WARNING: s3:\/\/\S+ was written over after the backup \(current version \S+\); the version the backup recorded, \S+, verified and is what a restore uses/);
    expect(result.stdout).toContain(`verified s3://${bucket}/${backup.key}\nversion  ${backup.versionId} (the one the manifest recorded)\n`);
    const json = await runCli(['verify', backup.key, '--json'], { env: env(bucket) });
    expect(json.code).toBe(4);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: true, versionId: backup.versionId, overwrittenBy: expect.any(String) });
  });
});

describe('GIVEN a backup whose manifest was deleted (a delete marker hides it)', () => {
  test('WHEN verified or restored THEN it says when it was deleted and how to bring the previous version back, never to bypass the check', async () => {
    const bucket = await freshBucket(h.client, 'deleted-manifest');
    const backup = await writeBackupFixture(h.client, bucket, { sql: SQL, database: 'delmanifest', takenAt: new Date('2025-09-17T03:00:00Z') });
    const marker = await h.client.send(new DeleteS3Object({ Bucket: bucket, Key: backup.manifestKey }));
    await h.pg.query('create database delmanifest');

    const verify = await runCli(['verify', backup.key], { env: env(bucket) });
    const restore = await runCli(['restore', backup.key, '--yes'], { env: cleanEnv({ ...h.s3.env, ...h.pg.env('delmanifest'), PGDATABASE: 'delmanifest', BACKUP_BUCKET: bucket }) });

    for (const result of [verify, restore]) {
      const line = expectOneErrorLine(
        result,
        new RegExp(
          `^meatbackup: the manifest of backup ${backup.key} was deleted at \\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}Z \\(delete marker version ${marker.VersionId}\\); ` +
            `its previous version \\S+ is still in the bucket: bring it back by removing the delete marker ` +
            `\\(aws s3api delete-object --bucket ${bucket} --key ${backup.manifestKey} --version-id ${marker.VersionId}\\), then run this again; nothing was changed$`,
        ),
      );
      expect(line).not.toMatch(/gunzip|psql|by hand/);
    }

    // Doing what it says brings the manifest back, and the backup verifies again.
    await h.client.send(new DeleteS3Object({ Bucket: bucket, Key: backup.manifestKey, VersionId: marker.VersionId }));
    expect((await runCli(['verify', backup.key], { env: env(bucket) })).code).toBe(0);
  });
});

describe('GIVEN the newest-named backup is a 0-byte object stamped in 2099 without a manifest, and an older one without a manifest', () => {
  test('WHEN listed THEN its age reads FUTURE, not 0s; WHEN `verify latest` runs THEN it verifies the newest complete backup and says once what it passed over', async () => {
    const bucket = await freshBucket(h.client, 'future-latest');
    const good = await writeBackupFixture(h.client, bucket, { sql: SQL, database: 'meatdb', takenAt: new Date('2025-09-16T03:00:00Z') });
    const unfinished = await writeBackupFixture(h.client, bucket, { sql: SQL, database: 'meatdb', takenAt: new Date('2025-09-17T03:00:00Z'), withoutManifest: true });
    const future = 'backups/meatdb-2099-01-01T00:00:00.sql.gz';
    await h.client.send(new PutObjectCommand({ Bucket: bucket, Key: future, Body: Buffer.alloc(0) }));

    const table = rows(await runCli(['list'], { env: env(bucket) }));
    const futureRow = table.find((l) => l.startsWith(future))!;
    expect(futureRow.split(/\s{2,}/)[2]).toMatch(/^FUTURE \(\+\d+d\)$/);
    expect(table.find((l) => l.startsWith(good.key))!.split(/\s{2,}/)[2]).toMatch(/^\d+d$/);
    const json = listJson(await runCli(['list', '--json'], { env: env(bucket) }));
    expect(json.filter((b) => b.inFuture === true).map((b) => b.key)).toEqual([future]);

    const verified = await runCli(['verify', 'latest', '--database', 'meatdb'], { env: env(bucket) });

    expect(verified.code).toBe(0);
    expect(verified.stdout).toContain(`verified s3://${bucket}/${good.key}`);
    const said = stderrLines(verified.stderr).json.filter((l) => /passed over/.test(String(l.message)));
    expect(said.map((l) => [l.level, l.message])).toEqual([
      ['warn', `"latest" passed over meatdb-2099-01-01T00:00:00.sql.gz (stamped in the future, 0 B); ${unfinished.key.slice('backups/'.length)} (no manifest: the run that wrote it did not complete)`],
    ]);
  });

  test('WHEN restore latest runs THEN it restores the newest complete backup into meatdb', async () => {
    const bucket = await freshBucket(h.client, 'future-restore');
    await h.pg.query('create database futurelatest');
    const good = await writeBackupFixture(h.client, bucket, { sql: `${SQL}create table restored_marker (v int);\n`, database: 'futurelatest', takenAt: new Date('2025-09-16T03:00:00Z') });
    await h.client.send(new PutObjectCommand({ Bucket: bucket, Key: 'backups/futurelatest-2099-01-01T00:00:00.sql.gz', Body: Buffer.alloc(0) }));

    const restored = await runCli(['restore', 'latest', '--yes', '--json'], { env: cleanEnv({ ...h.s3.env, ...h.pg.env('futurelatest'), PGDATABASE: 'futurelatest', BACKUP_BUCKET: bucket }) });

    expect(restored.code).toBe(0);
    expect(JSON.parse(restored.stdout)).toMatchObject({ key: good.key, target: 'futurelatest' });
    expect(await h.pg.query('select count(*)::int as n from restored_marker', 'futurelatest')).toEqual([{ n: 0 }]);
  });
});

describe('GIVEN a backup promoted into another bucket (the recorded version is not there)', () => {
  test('WHEN verified there THEN the note that it is a promoted copy of the recorded version is in the human and the --json output', async () => {
    const from = await freshBucket(h.client, 'promote-from');
    const to = `${from}-to`;
    const backup = await writeBackupFixture(h.client, from, { sql: SQL, database: 'meatdb', takenAt: new Date('2025-09-17T03:00:00Z') });
    expect((await runCli(['promote', '--from', from, '--to', to, '--yes', '--json'], { env: env(from) })).code).toBe(0);
    const note = `${backup.key} is a promoted copy of version ${backup.versionId}, the version its manifest names; checking its content against the manifest`;

    const human = await runCli(['verify', backup.key], { env: env(to) });
    const json = await runCli(['verify', backup.key, '--json'], { env: env(to) });

    expect(human.code).toBe(0);
    expect(human.stdout.split('\n')).toContain(`note     ${note}`);
    expect(json.code).toBe(0);
    expect((JSON.parse(json.stdout) as { notes: string[] }).notes).toEqual([note]);
  });
});
