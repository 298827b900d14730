/**
 * An interrupt (Ctrl-C, SIGTERM) that arrives after the load but before the swap has committed stops the restore:
 * the fresh database is dropped and the live one stays as it was. One that arrives once the swap's commit point has
 * passed is told that the swap will finish. Real PostgreSQL and the S3 emulator; the interrupt is sent when the
 * restore reaches the step, through its own log lines, so the moment is exact.
 */
import { Interrupted } from '../../../src/core/signals';
import { restoreBackup } from '../../../src/restore/restore';
import { thisProcess } from '../../../src/restore/restore-lock';
import { nullLogger } from '../../support/null-logger';
import { installedDecompressor } from '../../support/compressors';
import { pgDumpSql, writeBackupFixture } from '../../support/backup-fixture';
import { freshBucket, useHarness } from '../backup/fixtures';

const h = useHarness('interrupt-after-load');

async function databases(): Promise<string[]> {
  return (await h.pg.query<{ datname: string }>('select datname from pg_database order by 1')).map((r) => r.datname);
}

async function marker(database: string): Promise<string> {
  return (await h.pg.query<{ v: string }>('select v from marker', database))[0].v;
}

/** A database with a setting (so the restore copies it after the load) and a backup of it; then the live data moves on. */
async function backedUp(name: string) {
  const bucket = await freshBucket(h.client, name);
  await h.pg.query(`create database "${name}"`);
  await h.pg.query(`alter database "${name}" set statement_timeout = '7s'`);
  await h.pg.query(`create table marker (v text); insert into marker values ('as backed up');`, name);
  const backup = await writeBackupFixture(h.client, bucket, { sql: pgDumpSql(h.pg.env(), name), database: name, takenAt: new Date('2025-09-17T10:30:00Z') });
  await h.pg.query(`update marker set v = 'live'`, name);
  return { bucket, backup };
}

/** Restores `name`, sending SIGINT's abort when a log line matches `when`; returns the warnings and the outcome. */
async function restoreInterrupted(name: string, bucket: string, key: string, when: RegExp) {
  const controller = new AbortController();
  const warnings: string[] = [];
  const onLine = (message: string): void => {
    if (when.test(message) && !controller.signal.aborted) controller.abort(new Interrupted('SIGINT'));
  };
  const outcome = await restoreBackup({
    decompressor: installedDecompressor(),
    lockHolder: thisProcess(process.env),
    s3: h.client,
    bucket,
    prefix: 'backups/',
    ref: key,
    conn: h.pg.connection(name),
    confirmReplace: async () => true,
    signal: controller.signal,
    logger: nullLogger({ info: onLine, warn: (message) => (warnings.push(message), onLine(message)) }),
  }).then(
    (result): { result?: unknown; error?: unknown } => ({ result }),
    (error: unknown): { result?: unknown; error?: unknown } => ({ error }),
  );
  return { ...outcome, warnings, interrupted: controller.signal.aborted };
}

describe('GIVEN a restore that has loaded its fresh database', () => {
  test('WHEN Ctrl-C arrives just after the load THEN it stops before the swap: the fresh database is dropped and the live one is unchanged', async () => {
    const { bucket, backup } = await backedUp('ctrlc_after_load');
    const before = await databases();

    const run = await restoreInterrupted('ctrlc_after_load', bucket, backup.key, /^copied \d+ database-level/);

    expect(run.interrupted).toBe(true);
    expect(run.error).toBeInstanceOf(Interrupted);
    expect(await databases()).toEqual(before);
    expect(await marker('ctrlc_after_load')).toBe('live');
  });

  test('WHEN Ctrl-C arrives while the sessions are ended for the swap THEN the swap is rolled back and nothing changes', async () => {
    const { bucket, backup } = await backedUp('ctrlc_in_swap');
    const before = await databases();
    // A session on the live database, which the swap ends (and logs) inside its retry loop, before the renames.
    const { Client } = await import('pg');
    const app = new Client(h.pg.connection('ctrlc_in_swap'));
    app.on('error', () => undefined);
    await app.connect();

    const run = await restoreInterrupted('ctrlc_in_swap', bucket, backup.key, /^ended \d+ session\(s\) on ctrlc_in_swap/);
    await app.end().catch(() => undefined);

    expect(run.interrupted).toBe(true);
    expect(run.error).toBeInstanceOf(Interrupted);
    expect(await databases()).toEqual(before);
    expect(await marker('ctrlc_in_swap')).toBe('live');
  });

  test('WHEN Ctrl-C arrives once the swap has committed THEN it says the swap has begun and will finish, and the restore completes', async () => {
    const { bucket, backup } = await backedUp('ctrlc_after_swap');

    const run = await restoreInterrupted('ctrlc_after_swap', bucket, backup.key, /is now the restored database/);

    expect(run.interrupted).toBe(true);
    expect(run.error).toBeUndefined();
    expect(run.warnings).toContain('interrupt received (SIGINT): the swap has begun and will finish');
    expect(await marker('ctrlc_after_swap')).toBe('as backed up');
  });
});
