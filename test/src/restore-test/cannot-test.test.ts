/**
 * A restore test records FAILED only for a backup that did not restore or did not match. A good backup tested where
 * the test cannot run (the server does not answer, refuses the password, is a read-only hot standby) is "cannot test
 * here": exit 5, `cannotTest` with the reason in the recorded result, RestoreTestCannotTest 1 and no
 * RestoreTestSuccess, so the bad-backup alarm stays quiet. Real PostgreSQL (a primary and a streaming hot standby of
 * it), the S3 emulator, the built CLI.
 */
import { appendFileSync, chownSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { type RestoreTestResult, restoreTestResultSchema } from '../../../src/contract';
import { serverBinDir } from '../../../src/local/postgres-cluster';
import { freePort, isRoot, runAsPostgres, waitFor } from '../../../src/local/processes';
import { type CliResult, cleanEnv, runCli } from '../../support/cli';
import { pgDumpSql, writeBackupFixture } from '../../support/backup-fixture';
import { freshBucket, useHarness } from '../backup/fixtures';

const h = useHarness('cannot-test', async ({ pg }) => {
  await pg.query('create database meatdb');
  await pg.query(`create table users (id int primary key, name text); insert into users select g, 'user ' || g from generate_series(1, 100) g; analyze users`, 'meatdb');
  // One role that must give a password (scram), before the harness's trust lines.
  await pg.query(`create role pwuser login createdb password 'right-password'`);
  const hba = join(pg.dataDir, 'pg_hba.conf');
  writeFileSync(hba, `host all pwuser 127.0.0.1/32 scram-sha-256\n${readFileSync(hba, 'utf8')}`);
  await pg.query('select pg_reload_conf()');
});

async function storedResult(bucket: string, key: string): Promise<RestoreTestResult> {
  const res = await h.client.send(new GetObjectCommand({ Bucket: bucket, Key: `${key}.restore-test.json` }));
  return restoreTestResultSchema.parse(JSON.parse(await res.Body!.transformToString('utf8')));
}

function metric(result: CliResult): Record<string, unknown> {
  const lines = result.stderr.split('\n').filter((l) => l.includes('"_aws"'));
  expect(lines).toHaveLength(1);
  return JSON.parse(lines[0]) as Record<string, unknown>;
}

/** A good backup of meatdb in a fresh bucket. */
async function goodBackup(label: string): Promise<{ bucket: string; key: string }> {
  const bucket = await freshBucket(h.client, label);
  const backup = await writeBackupFixture(h.client, bucket, { sql: pgDumpSql(h.pg.env(), 'meatdb'), database: 'meatdb', takenAt: new Date('2025-09-17T10:30:00Z') });
  return { bucket, key: backup.key };
}

/** Runs the restore test against `server` (libpq variables) and checks the "cannot test here" outcome. */
async function expectCannotTest(label: string, server: Record<string, string>, reason: RegExp): Promise<void> {
  const { bucket, key } = await goodBackup(label);

  const result = await runCli(['restore-test', 'latest', '--database', 'meatdb'], { env: cleanEnv({ ...h.s3.env, BACKUP_BUCKET: bucket, ...server }) });

  const errors = result.stderr.split('\n').filter((l) => l.startsWith('meatbackup:'));
  expect(errors).toEqual([expect.stringMatching(new RegExp(`^meatbackup: restore test of ${key.replace(/[.]/g, '\\.')}: cannot test here: ${reason.source}.*this says nothing against the backup; result recorded at`))]);
  expect(result.code).toBe(5);
  expect(await storedResult(bucket, key)).toMatchObject({ ok: false, cannotTest: { missingExtensions: [], reason: expect.stringMatching(reason) } });
  const m = metric(result);
  expect(m).toMatchObject({ Database: 'meatdb', RestoreTestCannotTest: 1 });
  expect(m).not.toHaveProperty('RestoreTestSuccess');
}

describe('GIVEN a good backup', () => {
  test('WHEN the server does not answer THEN it is "cannot test here", not FAILED', async () => {
    const closed = await freePort();
    await expectCannotTest('ct-unreachable', { PGHOST: '127.0.0.1', PGPORT: String(closed), PGUSER: 'postgres', PGDATABASE: 'meatdb' }, /the server is not reachable/);
  });

  test('WHEN the password is wrong THEN it is "cannot test here", not FAILED', async () => {
    await expectCannotTest('ct-password', { ...h.pg.env('meatdb'), PGUSER: 'pwuser', PGPASSWORD: 'wrong-password' }, /the server refused the login/);
  });

  describe('WHEN the server is a hot standby', () => {
    let root: string;
    let port: number;
    beforeAll(async () => {
      if (!isRoot()) throw new Error('this suite starts a standby cluster as the postgres user: run it as root (CI does)');
      root = mkdtempSync(join(tmpdir(), 'meatbackup-standby-'));
      chownSync(root, Number(runAsPostgres('id', ['-u']).stdout.trim()), Number(runAsPostgres('id', ['-g']).stdout.trim()));
      port = await freePort();
      const data = join(root, 'data');
      const base = runAsPostgres(join(serverBinDir(), 'pg_basebackup'), ['-h', '127.0.0.1', '-p', String(h.pg.port), '-U', 'postgres', '-D', data, '-R', '-X', 'stream']);
      if (base.status !== 0) throw new Error(`pg_basebackup failed: ${base.stderr}`);
      appendFileSync(join(data, 'postgresql.auto.conf'), `port = ${port}\nunix_socket_directories = '${root}'\nlisten_addresses = '127.0.0.1'\n`);
      const start = runAsPostgres(join(serverBinDir(), 'pg_ctl'), ['-D', data, '-l', join(root, 'server.log'), '-w', '-t', '60', 'start']);
      if (start.status !== 0) throw new Error(`standby did not start: ${start.stderr || start.stdout}`);
      await waitFor(async () => {
        const r = runAsPostgres(join(serverBinDir(), 'pg_isready'), ['-h', '127.0.0.1', '-p', String(port)]);
        return r.status === 0;
      }, 30_000, 'the standby');
    });
    afterAll(() => {
      if (!root) return;
      runAsPostgres(join(serverBinDir(), 'pg_ctl'), ['-D', join(root, 'data'), '-m', 'immediate', '-w', 'stop']);
      rmSync(root, { recursive: true, force: true });
    });

    test('THEN it is "cannot test here", not FAILED', async () => {
      await expectCannotTest('ct-standby', { ...h.pg.env('meatdb'), PGPORT: String(port) }, /the server is read-only \(a hot standby\)/);
    });
  });
});
