/**
 * What an interrupted or failed restore leaves behind is named in its last line with the command that removes it,
 * and `meatbackup cleanup` (or the next restore of the same database) removes leftovers of runs that are not running,
 * never the fresh database of a restore that is. Real PostgreSQL and the S3 emulator, through the built CLI.
 */
import { dirname, join } from 'node:path';
import { Client } from 'pg';
import { cleanEnv, runCli } from '../../support/cli';
import { writeBackupFixture } from '../../support/backup-fixture';
import { runAsPostgres } from '../../../src/local/processes';
import { serverBinDir } from '../../../src/local/postgres-cluster';
import { RESTORE_LOCK_CLASS } from '../../../src/restore/restore-lock';
import { expectOneErrorLine, freshBucket, useHarness } from '../backup/fixtures';

const h = useHarness('leftovers');

function env(database: string, bucket: string, user?: string): NodeJS.ProcessEnv {
  return cleanEnv({ ...h.s3.env, ...h.pg.env(database), PGDATABASE: database, BACKUP_BUCKET: bucket, ...(user ? { PGUSER: user } : {}) });
}

async function databases(): Promise<string[]> {
  return (await h.pg.query<{ datname: string }>('select datname from pg_database order by 1')).map((r) => r.datname);
}

async function waitUntil(what: string, check: () => Promise<boolean>, ms = 60_000): Promise<void> {
  for (const end = Date.now() + ms; Date.now() < end; ) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** A backup of `name` (a plain table, no owners, so any role with CREATEDB can load it) whose load sleeps `seconds`. */
async function slowBackup(bucket: string, name: string, seconds: number) {
  const sql = `create table marker (v text);\ninsert into marker values ('restored');\nselect pg_sleep(${seconds});\n`;
  return writeBackupFixture(h.client, bucket, { sql, database: name, takenAt: new Date('2025-09-17T10:30:00Z') });
}

/** The fresh database of the restore of `name` once its load is running. */
async function loadingInto(name: string): Promise<string> {
  let fresh = '';
  await waitUntil(`the load into ${name}_restore_…`, async () => {
    const rows = await h.pg.query<{ datname: string }>(`select datname from pg_stat_activity where query like 'select pg_sleep(%' and datname like '${name}\\_restore\\_%'`);
    fresh = rows[0]?.datname ?? '';
    return fresh !== '';
  });
  return fresh;
}

const lockFree = (name: string) => async () =>
  (await h.pg.query(`select 1 from pg_locks where locktype = 'advisory' and classid = ${RESTORE_LOCK_CLASS}::int4::oid and objid = hashtext('${name}')::oid`)).length === 0;

describe('GIVEN a restore stopped with SIGTERM while its fresh database is held by a session it may not end', () => {
  test('THEN its last line names the fresh database and the command that removes it, and cleanup removes it', async () => {
    const bucket = await freshBucket(h.client, 'sigterm-in-use');
    const backup = await slowBackup(bucket, 'heldfresh', 60);
    // The restore runs as a role that may create databases but not end a superuser's session on one.
    await h.pg.query('create role limited_restorer login createdb');
    const before = await databases();

    let pid = 0;
    const run = runCli(['restore', backup.key, '--yes'], { env: env('heldfresh', bucket, 'limited_restorer'), onSpawn: (p) => (pid = p) });
    const fresh = await loadingInto('heldfresh');
    const holder = new Client(h.pg.connection(fresh));
    holder.on('error', () => undefined);
    await holder.connect();

    process.kill(pid, 'SIGTERM');
    const result = await run;
    await holder.end();

    expect(result.code).toBe(143);
    expectOneErrorLine(
      result,
      new RegExp(`^meatbackup: interrupted by SIGTERM; the half-restored database ${fresh} was left behind \\(.+\\): remove it with \`meatbackup cleanup --yes\` \\(or DROP DATABASE "${fresh}"\\)$`),
    );
    expect(result.stderr).not.toMatch(/nothing was left half-done/);
    expect(await databases()).toEqual([...before, fresh].sort());

    const cleanup = await runCli(['cleanup', '--yes'], { env: env('postgres', bucket) });
    expect(cleanup.code).toBe(0);
    expect(cleanup.stdout).toContain(`dropped   ${fresh}`);
    expect(await databases()).toEqual(before);
  });
});

describe('GIVEN a restore killed with SIGKILL mid-load (it cannot clean up) and another restore in its load', () => {
  test('WHEN I run cleanup THEN the dead run\'s fresh database is dropped and the running one\'s is named and left alone; the next restore finds nothing left', async () => {
    const bucket = await freshBucket(h.client, 'killed');
    const killedBackup = await slowBackup(bucket, 'killeddb', 60);
    const runningBackup = await slowBackup(bucket, 'runningdb', 60);
    const before = await databases();

    let killedPid = 0;
    const killed = runCli(['restore', killedBackup.key, '--yes'], { env: env('killeddb', bucket), onSpawn: (p) => (killedPid = p) });
    const deadFresh = await loadingInto('killeddb');
    process.kill(killedPid, 'SIGKILL');
    await killed;
    await waitUntil('the killed run\'s lock to go', lockFree('killeddb'));
    expect(await databases()).toContain(deadFresh);

    let runningPid = 0;
    const running = runCli(['restore', runningBackup.key, '--yes'], { env: env('runningdb', bucket), onSpawn: (p) => (runningPid = p) });
    const liveFresh = await loadingInto('runningdb');

    const dry = await runCli(['cleanup', '--dry-run'], { env: env('postgres', bucket) });
    expect(dry.stdout).toMatch(new RegExp(`^leftover  ${deadFresh} \\(`, 'm'));
    expect(dry.stdout).toMatch(new RegExp(`^running   ${liveFresh} \\(in use by a running restore: meatbackup restore since .*; not touched\\)$`, 'm'));
    expect(await databases()).toContain(deadFresh);

    const cleanup = await runCli(['cleanup', '--yes'], { env: env('postgres', bucket) });
    expect(cleanup.code).toBe(0);
    expect(cleanup.stdout).toContain(`dropped   ${deadFresh}`);
    expect(cleanup.stdout).toMatch(new RegExp(`^running   ${liveFresh} `, 'm'));
    expect(await databases()).not.toContain(deadFresh);
    expect(await databases()).toContain(liveFresh);

    process.kill(runningPid, 'SIGTERM');
    expect((await running).code).toBe(143);
    expect(await databases()).toEqual(before);
  });

  test('WHEN the next restore of that database runs THEN it drops the dead run\'s fresh database first and says so', async () => {
    const bucket = await freshBucket(h.client, 'next-restore');
    const backup = await slowBackup(bucket, 'nextdb', 60);
    const quick = await writeBackupFixture(h.client, bucket, {
      sql: `create table marker (v text);\ninsert into marker values ('restored');\n`, database: 'nextdb', takenAt: new Date('2025-09-18T10:30:00Z'),
    });
    const before = await databases();

    let pid = 0;
    const killed = runCli(['restore', backup.key, '--yes'], { env: env('nextdb', bucket), onSpawn: (p) => (pid = p) });
    const deadFresh = await loadingInto('nextdb');
    process.kill(pid, 'SIGKILL');
    await killed;
    await waitUntil('the killed run\'s lock to go', lockFree('nextdb'));

    const result = await runCli(['restore', quick.key, '--yes'], { env: env('nextdb', bucket) });

    expect(result.code).toBe(0);
    expect(result.stderr).toContain(`dropped 1 leftover database(s) of earlier restores of nextdb that are not running: ${deadFresh}`);
    expect(await databases()).toEqual([...before, 'nextdb'].sort());
  });
});

describe('GIVEN a restore whose server restarts (pg_ctl restart -m fast) mid-load', () => {
  test('THEN it fails in one line and leaves no fresh database behind, or names it with the command that removes it', async () => {
    const bucket = await freshBucket(h.client, 'restart');
    const backup = await slowBackup(bucket, 'restartdb', 60);
    const before = await databases();

    const run = runCli(['restore', backup.key, '--yes'], { env: env('restartdb', bucket) });
    const fresh = await loadingInto('restartdb');
    // With a log file: a restarted server must not keep this process's pipes open (spawnSync would wait on them).
    const restart = runAsPostgres(join(serverBinDir(), 'pg_ctl'), ['-D', h.pg.dataDir, '-l', join(dirname(h.pg.dataDir), 'server.log'), '-m', 'fast', '-w', '-t', '60', 'restart']);
    expect(restart.status).toBe(0);
    const result = await run;

    expect(result.code).not.toBe(0);
    const line = expectOneErrorLine(result, /^meatbackup: /);
    if ((await databases()).includes(fresh)) {
      expect(line).toContain(`the half-restored database ${fresh} was left behind`);
      expect(line).toContain('remove it with `meatbackup cleanup --yes`');
      expect((await runCli(['cleanup', '--yes'], { env: env('postgres', bucket) })).code).toBe(0);
    } else {
      expect(result.stderr).toContain(`dropped the fresh database ${fresh}`);
    }
    expect(await databases()).toEqual(before);
  });
});
