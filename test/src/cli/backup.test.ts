process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { OBJECT_METADATA, manifestSchema, parseBackupKey } from '../../../src/contract';
import { type LocalCluster, serverBinDir, startLocalCluster } from '../../../src/local/postgres-cluster';
import { type LocalS3, startLocalS3 } from '../../../src/local/s3-emulator';
import { cleanEnv, runCli } from '../../support/cli';
import { backupMetric, bucketContents, expectOneErrorLine, freshBucket, stderrLines } from '../backup/fixtures';

/** A schema with the awkward parts: enums, jsonb, bytea, arrays, sequences, partitions, views, triggers, large objects, non-ASCII. */
const MEATDB_SCHEMA = `
  create type role as enum ('user', 'admin', 'bot');
  create table users (id bigserial primary key, name text not null, role role not null default 'user', prefs jsonb, avatar bytea, tags text[]);
  create table messages (id bigint generated always as identity, user_id bigint references users, at timestamptz not null, body text, primary key (id, at)) partition by range (at);
  create table messages_2025 partition of messages for values from ('2025-01-01') to ('2026-01-01');
  create table messages_2026 partition of messages for values from ('2026-01-01') to ('2027-01-01');
  create table "Ünïcödé tåble" ("naïve column" text);
  create view active_users as select u.id, u.name, count(m.*) as messages from users u left join messages m on m.user_id = u.id group by u.id;
  create function touch() returns trigger language plpgsql as $$ begin new.body := coalesce(new.body, ''); return new; end $$;
  create trigger messages_touch before insert on messages for each row execute function touch();
  insert into users (name, role, prefs, avatar, tags) select 'user ' || g, (array['user','admin','bot'])[1 + g % 3]::role,
    jsonb_build_object('theme', 'dark', 'n', g), decode(md5(g::text), 'hex'), array['a' || g, 'tab\there', 'new\nline'] from generate_series(1, 2000) g;
  insert into messages (user_id, at, body) select 1 + g % 2000, '2025-06-01'::timestamptz + g * interval '5 minutes', 'hello\\tworld \\\\ back\\nslash ' || g || ' 🦎' from generate_series(1, 60000) g;
  insert into "Ünïcödé tåble" values ('grüße'), (E'tab\\there'), (null);
  select lo_from_bytea(0, 'large object bytes');
  select setval('users_id_seq', 5000);
`;

/** pg_dump of a database, without the per-run random \\restrict key lines. */
function plainDump(pg: LocalCluster, database: string): string {
  const out = execFileSync(join(serverBinDir(), 'pg_dump'), ['--no-password'], { env: { ...process.env, ...pg.env(database) }, maxBuffer: 512 * 1024 * 1024 }).toString();
  return out.replace(/^\\(un)?restrict .*$/gm, '');
}

describe('meatbackup backup, list and verify, from the command line (runbook 1.1)', () => {
  let pg: LocalCluster;
  let s3: LocalS3;
  let client: S3Client;
  let bucket: string;
  let work: string;
  const env = (extra: Record<string, string> = {}) => cleanEnv({ ...s3.env, BACKUP_BUCKET: bucket, DATABASE_URL: pg.url('meatdb'), ...extra });

  beforeAll(async () => {
    [pg, s3] = await Promise.all([startLocalCluster(), startLocalS3()]);
    client = s3.client();
    bucket = await freshBucket(client, 'cli-backups');
    work = mkdtempSync(join(tmpdir(), 'meatbackup-cli-'));
    await pg.query('create database meatdb');
    await pg.query(MEATDB_SCHEMA, 'meatdb');
  });
  afterAll(async () => {
    await Promise.all([pg?.stop(), s3?.stop()]);
    if (work) rmSync(work, { recursive: true, force: true });
  });

  let key: string;
  let started: number;

  test('GIVEN meatdb WHEN an operator runs `meatbackup backup` THEN it prints the key, size, sha256 and time, and emits a success metric', async () => {
    started = Math.floor(Date.now() / 1000) * 1000;
    const res = await runCli(['backup'], { env: env() });
    expect(stderrLines(res.stderr).text).toEqual([]);
    expect(res.code).toBe(0);
    const lines = res.stdout.trim().split('\n');
    expect(lines[0]).toMatch(new RegExp(`^backup   s3://${bucket}/backups/meatdb-\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.sql\\.gz$`));
    expect(lines[1]).toMatch(/^size {5}[\d.]+ (KiB|MiB) \(\d+% of [\d.]+ MiB SQL, igzip level 1\)$/);
    expect(lines[2]).toMatch(/^sha256 {3}[0-9a-f]{64}$/);
    expect(lines[3]).toMatch(/^took {5}[\d.]+s$/);
    expect(lines[4]).toMatch(/^versions server 15\.\d+, pg_dump 15\.\d+ \(\/usr\/lib\/postgresql\/15\/bin\/pg_dump\)$/);
    key = lines[0].replace(`backup   s3://${bucket}/`, '');
    // The first backup of the month in this bucket; the emulator's bucket has no Object Lock.
    expect(lines[5]).toBe('keep     monthly (tag retention=monthly), not locked (no Object Lock on the bucket, or BACKUP_LOCK_DAYS=0)');
    expect(lines[6]).toMatch(new RegExp(`^globals  s3://${bucket}/${key.replace(/[.]/g, '\\.')}\\.globals\\.sql\\.gz \\([\\d.]+ (B|KiB), pg_dumpall --globals-only --no-role-passwords\\)$`));
    expect(lines[7]).toMatch(/^catalog {2}5 tables, 4 indexes, 2 sequences, 1 view, 0 materialized views, 1 function; [\d.]+ MiB on the server$/);
    expect(backupMetric(res.stderr)).toMatchObject({
      _aws: { CloudWatchMetrics: [{ Namespace: 'MeatLizard/Backup', Dimensions: [['Database']] }] },
      Database: 'meatdb',
      BackupSuccess: 1,
      BackupBytes: expect.any(Number) as number,
      BackupSeconds: expect.any(Number) as number,
    });
  });

  test('GIVEN that backup WHEN its key is read THEN it is backups/<database>-<UTC start, to the second>.sql.gz', () => {
    const name = parseBackupKey(key)!;
    expect(name).toMatchObject({ prefix: 'backups/', database: 'meatdb' });
    expect(name.takenAt.getTime()).toBeGreaterThanOrEqual(started);
    expect(name.takenAt.getTime()).toBeLessThanOrEqual(Date.now());
  });

  test('GIVEN that backup WHEN its object and manifest are inspected THEN they record gzip, sha256 and size of the stored bytes, and both versions', async () => {
    const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    const stored = Buffer.from(await (await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToByteArray());
    const manifestText = await (await client.send(new GetObjectCommand({ Bucket: bucket, Key: `${key}.manifest.json` }))).Body!.transformToString();
    const manifest = manifestSchema.parse(JSON.parse(manifestText));
    const version = /^pg_dump \(PostgreSQL\) (\S+)/.exec(execFileSync('/usr/lib/postgresql/15/bin/pg_dump', ['--version']).toString())![1];

    expect(head.ContentType).toBe('application/gzip');
    expect(head.Metadata).toEqual({
      [OBJECT_METADATA.database]: 'meatdb',
      [OBJECT_METADATA.serverVersion]: version,
      [OBJECT_METADATA.pgDumpVersion]: version,
      [OBJECT_METADATA.takenAt]: parseBackupKey(key)!.takenAt.toISOString(),
    });
    expect(manifest).toMatchObject({
      format: 'meatbackup/manifest@1',
      key,
      database: 'meatdb',
      takenAt: parseBackupKey(key)!.takenAt.toISOString(),
      sizeBytes: stored.length,
      sha256: createHash('sha256').update(stored).digest('hex'),
      versionId: head.VersionId,
      serverVersion: version,
      pgDumpVersion: version,
      compression: { format: 'gzip', compressor: 'isal', level: 1 },
      globals: { key: `${key}.globals.sql.gz`, sizeBytes: expect.any(Number) as number, sha256: expect.stringMatching(/^[0-9a-f]{64}$/) as string },
      retention: { class: 'monthly' },
    });
    expect(manifest.catalog?.tables.map((t) => t.name)).toEqual(['messages', 'messages_2025', 'messages_2026', 'users', 'Ünïcödé tåble']);
    expect(new Date(manifest.completedAt).getTime()).toBeGreaterThanOrEqual(new Date(manifest.takenAt).getTime());
  });

  test('GIVEN that backup WHEN restored the runbook way (`gunzip -c file | psql -d newdb`) THEN the new database dumps identically', async () => {
    const stored = Buffer.from(await (await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToByteArray());
    const file = join(work, 'meatdb.sql.gz');
    writeFileSync(file, stored);
    await pg.query('create database restored');
    const psql = join(serverBinDir(), 'psql');
    const res = spawnSync('bash', ['-o', 'pipefail', '-c', `gunzip -c '${file}' | '${psql}' -q -v ON_ERROR_STOP=1 -d restored`], { env: { ...process.env, ...pg.env('restored') }, encoding: 'utf8' });
    expect(res.stderr).toBe('');
    expect(res.status).toBe(0);
    expect(plainDump(pg, 'restored')).toBe(plainDump(pg, 'meatdb'));
    const [{ n }] = await pg.query<{ n: string }>('select count(*) as n from messages', 'restored');
    expect(Number(n)).toBe(60000);
  });

  test('GIVEN backups WHEN an operator runs `meatbackup list` THEN they come newest first with size, age, checksum and versions', async () => {
    // A second backup (a second later, so its name differs) and a stray object without a manifest.
    await new Promise((r) => setTimeout(r, 1100));
    const second = await runCli(['backup', '--json'], { env: env() });
    expect(second.code).toBe(0);
    const newest = JSON.parse(second.stdout) as { key: string; sha256: string; sizeBytes: number };
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'backups/meatdb-2020-01-01T00:00:00.sql.gz', Body: gzipSync('x') }));

    const res = await runCli(['list'], { env: env() });
    expect(res.code).toBe(0);
    const lines = res.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^KEY +SIZE +AGE +CLASS +EXPIRES +LOCKED UNTIL +SIZE CHECK +LAST CHECK +SERVER \/ PG_DUMP$/);
    expect(lines.slice(1).map((l) => l.split(/\s{2,}/)[0])).toEqual([newest.key, key, 'backups/meatdb-2020-01-01T00:00:00.sql.gz']);
    expect(lines[1]).toMatch(/size as recorded +never +15\.\d+ \/ 15\.\d+$/);
    // No manifest and no tag (written by hand): no class; this bucket has no lifecycle rules and no Object Lock.
    expect(lines[3]).toMatch(/\d+d +- +no rule +- +no manifest +never +-$/);

    const json = await runCli(['list', '--json'], { env: env() });
    const doc = JSON.parse(json.stdout) as { bucket: string; backups: { key: string; sizeCheck: string; sizeBytes: number; manifest?: { sha256: string } }[] };
    expect(doc.bucket).toBe(bucket);
    expect(doc.backups.map((b) => [b.key, b.sizeCheck])).toEqual([[newest.key, 'matches-manifest'], [key, 'matches-manifest'], ['backups/meatdb-2020-01-01T00:00:00.sql.gz', 'no-manifest']]);
    expect(doc.backups[0]).toMatchObject({ sizeBytes: newest.sizeBytes, manifest: { sha256: newest.sha256 } });
  });

  test('GIVEN a good backup WHEN an operator runs `meatbackup verify latest` THEN it checks sha256, every gzip member and the completion line and passes', async () => {
    const res = await runCli(['verify', 'latest'], { env: env() });
    expect(stderrLines(res.stderr).text).toEqual([]);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/^verified s3:\/\/.*\/backups\/meatdb-.*\.sql\.gz\n/);
    expect(res.stdout).toContain("dump     complete (ends with pg_dump's completion line)");
    const byName = await runCli(['verify', key.replace('backups/', ''), '--json'], { env: env() });
    expect(JSON.parse(byName.stdout)).toMatchObject({ ok: true, key });
  });

  test('GIVEN a backup written over after upload WHEN verified THEN the recorded version passes, loudly, and the new bytes fail when checked', async () => {
    const stored = Buffer.from(await (await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToByteArray());
    const tampered = Buffer.from(stored);
    tampered[Math.floor(tampered.length / 2)] ^= 0xff;
    const written = await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: tampered }));
    // The version the manifest pinned is what verify (and a restore) reads; the overwrite is reported with exit 4.
    const pinned = await runCli(['verify', key], { env: env() });
    expect(pinned.code).toBe(4);
    expect(pinned.stdout).toMatch(new RegExp(`^WARNING: s3://${bucket}/${key} was written over after the backup \\(current version ${written.VersionId}\\); the version the backup recorded, \\S+, verified and is what a restore uses`));
    const res = await runCli(['verify', key, '--version-id', written.VersionId!], { env: env() });
    expectOneErrorLine(res, new RegExp(`^meatbackup: backup ${key} failed verification: .*; do not restore it$`));

    // Same size, valid gzip, but not the recorded bytes: the sha256 says so.
    const other = gzipSync(Buffer.alloc(stored.length, 'x'));
    const again = await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: Buffer.concat([other, Buffer.alloc(Math.max(0, stored.length - other.length))]).subarray(0, stored.length) }));
    const res2 = await runCli(['verify', key, '--version-id', again.VersionId!], { env: env() });
    expectOneErrorLine(res2, /failed verification: .*(sha256 is [0-9a-f]{12}… but the manifest records|not a valid gzip stream)/);
  });

  test('GIVEN a dump cut short but recorded consistently WHEN verified THEN the missing completion line is reported', async () => {
    const sql = Buffer.from('--\n-- PostgreSQL database dump\n--\n\nCOPY public.t (a) FROM stdin;\n1\n');
    const body = gzipSync(sql);
    const cut = 'backups/meatdb-2021-01-01T00:00:00.sql.gz';
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: cut, Body: body }));
    const manifest = {
      format: 'meatbackup/manifest@1', key: cut, database: 'meatdb', takenAt: '2021-01-01T00:00:00.000Z', completedAt: '2021-01-01T00:00:01.000Z',
      sizeBytes: body.length, sha256: createHash('sha256').update(body).digest('hex'), sqlBytes: sql.length,
      serverVersion: '15.18', pgDumpVersion: '15.18', compression: { format: 'gzip', level: 1, memberBytes: 1048576 }, durationSeconds: 1,
    };
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: `${cut}.manifest.json`, Body: JSON.stringify(manifest) }));
    const res = await runCli(['verify', cut], { env: env() });
    expectOneErrorLine(res, /failed verification: the SQL does not end with pg_dump's "-- PostgreSQL database dump complete" line \(the dump is cut short\); do not restore it$/);
  });

  test('GIVEN names an operator might type WHEN verifying THEN bad shapes, other prefixes and unknown names are refused with what exists', async () => {
    expectOneErrorLine(await runCli(['verify', 'meatdb.sql.gz'], { env: env() }), /^meatbackup: "meatdb\.sql\.gz" is not a backup name: give "latest"/);
    expectOneErrorLine(await runCli(['verify', 'other/meatdb-2025-09-17T10:30:00.sql.gz'], { env: env() }), /is outside backups\/: only backups directly under backups\/ can be used$/);
    const res = await runCli(['verify', 'meatdb-2019-01-01T00:00:00.sql.gz'], { env: env() });
    expectOneErrorLine(res, /^meatbackup: backup meatdb-2019-01-01T00:00:00\.sql\.gz not found under s3:\/\/.*\/backups\/; newest there: meatdb-\d{4}-/);
    expectOneErrorLine(await runCli(['verify', 'meatdb-2020-01-01T00:00:00.sql.gz'], { env: env() }), /has no manifest .*never recorded its sha256, so it cannot be checked; pick another backup \(meatbackup list\); nothing was changed$/);
  });

  test('GIVEN --help WHEN asked THEN backup, list and verify document their options', async () => {
    const backup = await runCli(['backup', '--help'], { env: env() });
    expect(backup.code).toBe(0);
    for (const flag of ['--bucket', '--prefix', '--database-url', '--compression-level', '--compressor', '--stall-timeout', '--first-part-size', '--json']) expect(backup.stdout).toContain(flag);
    // Help wraps to its widest option: compare the words, not the line breaks.
    expect((await runCli(['verify', '--help'], { env: env() })).stdout.replace(/\s+/g, ' ')).toContain('"latest" (the newest backup of --database), a file name');
    expect((await runCli(['list', '--help'], { env: env() })).stdout).toContain('newest first');
    expectOneErrorLine(await runCli(['backup', '--compression-level', '11'], { env: env() }), /compression level 11 does not exist for isal: give a whole number from 0 \(fastest\) to 3 \(smallest\)$/);
    expectOneErrorLine(await runCli(['backup', '--compressor', 'zlib', '--compression-level', '11'], { env: env() }), /compression level 11 does not exist for zlib: give a whole number from 1 \(fastest\) to 9 \(smallest\)$/);
    expectOneErrorLine(await runCli(['backup', '--compressor', 'lz4'], { env: env() }), /^meatbackup: --compressor lz4: give isal \(ISA-L's igzip, the fastest\) or zlib \(built in\)$/);
  });

  test('GIVEN all of the above WHEN the bucket is listed THEN no multipart upload was left open', async () => {
    expect((await bucketContents(client, bucket)).uploads).toEqual([]);
  });
});
