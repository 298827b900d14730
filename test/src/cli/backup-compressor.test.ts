process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { manifestSchema } from '../../../src/contract';
import { cleanEnv, runCli } from '../../support/cli';
import { bucketContents, expectOneErrorLine, freshBucket, stderrLines, useHarness } from '../backup/fixtures';

/** A PATH with no igzip on it: the CLI finds pg_dump and psql under PG_LIB_DIR, and starts nothing else from PATH. */
const NO_IGZIP = '/nonexistent';

describe('where igzip (ISA-L) is not installed: the zlib fallback, and asking for isal anyway', () => {
  const h = useHarness('compressor', async (harness) => {
    await harness.pg.query('create database meatdb');
    await harness.pg.query("create table notes as select g as id, 'note ' || g || ' ' || md5(g::text) as body from generate_series(1, 50000) g", 'meatdb');
  });
  const env = (bucket: string, extra: Record<string, string> = {}) => cleanEnv({ ...h.s3.env, BACKUP_BUCKET: bucket, DATABASE_URL: h.pg.url('meatdb'), ...extra });

  test('GIVEN no igzip WHEN backing up THEN Node zlib compresses, one stderr line says so and how to get igzip, and the manifest records zlib', async () => {
    const bucket = await freshBucket(h.client, 'fallback');
    const res = await runCli(['backup', '--json'], { env: env(bucket, { PATH: NO_IGZIP }) });
    expect(res.code).toBe(0);
    const notices = stderrLines(res.stderr).json.filter((l) => String(l.message).includes('igzip'));
    expect(notices.map((l) => l.message)).toEqual([expect.stringMatching(/^compressing with Node's zlib: igzip \(ISA-L\) is not installed; apt-get install isal/) as string]);
    const key = (JSON.parse(res.stdout) as { key: string }).key;
    const manifest = manifestSchema.parse(JSON.parse(await (await h.client.send(new GetObjectCommand({ Bucket: bucket, Key: `${key}.manifest.json` }))).Body!.transformToString()));
    expect(manifest.compression).toEqual({ format: 'gzip', compressor: 'zlib', level: 1, memberBytes: 1024 * 1024 });

    // Every log line of the backup has a level that is a word (its compression level once replaced it: "level":1).
    expect(new Set(stderrLines(res.stderr).json.filter((l) => l._aws === undefined).map((l) => l.level))).toEqual(new Set(['info', 'warn']));

    // Read back without igzip too: verify and restore decompress with zlib; that is no warning in their logs, and
    // --debug says it in plain text.
    const verified = await runCli(['verify', key], { env: env(bucket, { PATH: NO_IGZIP }) });
    expect(verified.code).toBe(0);
    expect(verified.stderr).not.toMatch(/zlib|igzip/);
    const debug = await runCli(['--debug', 'verify', key], { env: env(bucket, { PATH: NO_IGZIP }) });
    expect(debug.code).toBe(0);
    expect(stderrLines(debug.stderr).text).toEqual([expect.stringMatching(/^debug: decompressing with Node's zlib: igzip \(ISA-L\) is not installed; apt-get install isal/)]);
    const restored = await runCli(['restore', key, '--from-database', 'meatdb', '--target-db', 'fallback_copy', '--yes'], { env: env(bucket, { PATH: NO_IGZIP }) });
    expect(restored.code).toBe(0);
    expect(await h.pg.query('select count(*)::int as n from notes', 'fallback_copy')).toEqual([{ n: 50000 }]);
  });

  test('GIVEN no igzip WHEN restore, verify and restore-test fail THEN their only stderr line is the error, and --help and list say once that zlib decompresses', async () => {
    const bucket = await freshBucket(h.client, 'fallback-quiet');
    const missing = 'meatdb-2025-09-17T10:30:00.sql.gz';
    for (const args of [['restore', missing, '--yes'], ['verify', missing], ['restore-test', missing]]) {
      const res = await runCli(args, { env: env(bucket, { PATH: NO_IGZIP }) });
      expectOneErrorLine(res, /^meatbackup: backup meatdb-2025-09-17T10:30:00\.sql\.gz not found: there are no backups under/);
      // No log line before it (restore-test's metric record aside, which CloudWatch reads).
      expect(stderrLines(res.stderr).json.filter((l) => l._aws === undefined)).toEqual([]);
    }
    const note = /^note: igzip \(ISA-L\) is not installed here, so verify, restore and restore-test decompress with Node's zlib \(slower, same result\); apt-get install isal/m;
    expect((await runCli(['--help'], { env: env(bucket, { PATH: NO_IGZIP }) })).stdout).toMatch(note);
    const backedUp = await runCli(['backup'], { env: env(bucket, { PATH: NO_IGZIP }) });
    expect(backedUp.code).toBe(0);
    const listed = await runCli(['list'], { env: env(bucket, { PATH: NO_IGZIP }) });
    expect(listed.stdout.match(new RegExp(note.source, 'gm'))).toHaveLength(1);
    // Where igzip is installed, neither says anything about it.
    expect((await runCli(['--help'], { env: env(bucket) })).stdout).not.toMatch(/igzip/);
    expect((await runCli(['list'], { env: env(bucket) })).stdout).not.toMatch(/igzip/);
  });

  test('GIVEN a backup written with zlib WHEN verified and restored where igzip is installed THEN igzip -d reads it (gzip members are gzip)', async () => {
    const bucket = await freshBucket(h.client, 'zlib-then-isal');
    const res = await runCli(['backup', '--json', '--compressor', 'zlib'], { env: env(bucket) });
    expect(res.code).toBe(0);
    const key = (JSON.parse(res.stdout) as { key: string }).key;
    expect((await runCli(['verify', key], { env: env(bucket) })).code).toBe(0);
    expect((await runCli(['restore', key, '--from-database', 'meatdb', '--target-db', 'zlib_copy', '--yes'], { env: env(bucket) })).code).toBe(0);
    expect(await h.pg.query('select count(*)::int as n from notes', 'zlib_copy')).toEqual([{ n: 50000 }]);
  });

  test('GIVEN BACKUP_COMPRESSOR=isal and no igzip WHEN backing up THEN one line says igzip is missing and how to install it, and nothing is stored', async () => {
    const bucket = await freshBucket(h.client, 'forced-isal');
    const res = await runCli(['backup'], { env: env(bucket, { PATH: NO_IGZIP, BACKUP_COMPRESSOR: 'isal' }) });
    expect(res.code).toBe(1);
    expectOneErrorLine(res, /^meatbackup: compressor isal was asked for \(--compressor or BACKUP_COMPRESSOR\) but igzip is not installed: apt-get install isal .*, or use --compressor zlib$/);
    expect(await bucketContents(h.client, bucket)).toEqual({ versions: [], uploads: [] });
  });

  test('GIVEN a manifest written before the compressor was recorded WHEN read THEN it still parses (as zlib members)', () => {
    const old = {
      format: 'meatbackup/manifest@1', key: 'backups/meatdb-2025-09-17T10:30:00.sql.gz', database: 'meatdb', takenAt: '2025-09-17T10:30:00.000Z',
      completedAt: '2025-09-17T10:30:09.000Z', sizeBytes: 10, sha256: 'a'.repeat(64), sqlBytes: 40, serverVersion: '15.8', pgDumpVersion: '15.8',
      compression: { format: 'gzip', level: 1, memberBytes: 1048576 }, durationSeconds: 9,
    };
    expect(manifestSchema.parse(old).compression).toEqual({ format: 'gzip', level: 1, memberBytes: 1048576 });
  });
});
