/**
 * A restore test never fails a backup restored exactly because the row estimates it recorded were stale. The two
 * cases PostgreSQL's own regression database holds, reproduced directly on a real server: a table refilled after a
 * VACUUM with autovacuum off (reltuples 0), and one whose estimate was set by hand (the regression suite's join_hash:
 * reltuples 2 on 20 000 rows). Backed up with `meatbackup backup`, tested with `meatbackup restore-test`, on real
 * PostgreSQL and the S3 emulator.
 */
import { cleanEnv, runCli } from '../../support/cli';
import { freshBucket, useHarness } from '../backup/fixtures';

const h = useHarness('stale-estimates', async ({ pg }) => {
  await pg.query('create database statsdb');
  await pg.query(
    `create table refilled (id int, t text) with (autovacuum_enabled = false);
     insert into refilled select g, 'x' from generate_series(1, 5000) g;
     delete from refilled;`,
    'statsdb',
  );
  // VACUUM (outside a transaction block) leaves reltuples 0 and truncates the table; then it is filled again.
  await pg.query('vacuum refilled', 'statsdb');
  await pg.query(
    `insert into refilled select g, 'y' from generate_series(1, 20000) g;
     create table extremely_skewed (id int, t text) with (autovacuum_enabled = false);
     insert into extremely_skewed select 42, 'aaaaaa' from generate_series(1, 20000);
     update pg_class set reltuples = 2, relpages = pg_relation_size('extremely_skewed') / 8192 where relname = 'extremely_skewed';`,
    'statsdb',
  );
});

describe('GIVEN a database whose row estimates are stale (0 after a refill, 2 set by hand on 20,000 rows)', () => {
  test('WHEN it is backed up and its restore tested THEN the test passes: a backup restored exactly never fails on its estimates', async () => {
    const bucket = await freshBucket(h.client, 'stale-estimates');
    const env = cleanEnv({ ...h.s3.env, ...h.pg.env('statsdb'), BACKUP_BUCKET: bucket });
    const estimates = await h.pg.query<{ relname: string; reltuples: number }>(`select relname, reltuples from pg_class where relname in ('refilled', 'extremely_skewed') order by 1`, 'statsdb');
    expect(estimates).toEqual([{ relname: 'extremely_skewed', reltuples: 2 }, { relname: 'refilled', reltuples: 0 }]);

    const backup = await runCli(['backup', '--json'], { env });
    expect(backup.code === 0 ? '' : backup.stderr).toBe('');

    const result = await runCli(['restore-test', 'latest', '--json'], { env });

    expect(result.code === 0 ? '' : result.stderr).toBe('');
    expect(JSON.parse(result.stdout)).toMatchObject({ ok: true, differences: [] });
  });
});
