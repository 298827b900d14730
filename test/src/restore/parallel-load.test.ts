/**
 * The parallel load (`--jobs N`), against a real PostgreSQL and the S3 emulator, through the built CLI: a database
 * restored over several sessions dumps exactly as one restored by one psql stream; what the splitter does not know
 * is loaded by one stream, said once; a failure in any session ends them all and leaves no database behind.
 */
import { readdirSync } from 'node:fs';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { type CliResult, cleanEnv, runCli } from '../../support/cli';
import { tempDir } from '../../support/temp-dir';
import { comparableDump, pgDumpSql, writeBackupFixture } from '../../support/backup-fixture';
import { useHarness } from '../backup/fixtures';
import { AWKWARD_SCHEMA_SQL } from './awkward-schema';

const BUCKET = 'parallel-restore';

/** What the post-data scheduler must order: keys before the foreign keys on them, partitions, a cycle of foreign keys. */
const DEPENDENT_SCHEMA_SQL = String.raw`
create table users (id int primary key, email text not null unique);
create table sessions (id int primary key, user_id int not null references users, token text);
create table messages (id bigint primary key, session_id int references sessions, body text, at timestamptz);
create index messages_session_idx on messages (session_id);
create index messages_body_fts on messages using gin (to_tsvector('simple', body));
create index messages_recent_idx on messages (at) where at > '2025-01-01';
insert into users select g, 'user' || g || '@example.com' from generate_series(1, 500) g;
insert into sessions select g, 1 + g % 500, md5(g::text) from generate_series(1, 2000) g;
insert into messages select g, 1 + g % 2000, 'hello; world ' || g || E'\n-- Name: x; Type: TABLE; Schema: public; Owner: x', '2024-06-01'::timestamptz + g * interval '1 hour' from generate_series(1, 20000) g;

create table accounts (a int, b int, unique (a, b));
create unique index accounts_b_positive on accounts (b) where b > 0;
create table account_refs (a int, b int, foreign key (a, b) references accounts (a, b));
insert into accounts select g, g from generate_series(1, 100) g;
insert into account_refs select g, g from generate_series(1, 100) g;

create table pt (id int, k int, primary key (id, k)) partition by list (k);
create table pt1 partition of pt for values in (1);
create table pt2 partition of pt for values in (2);
create table pt_refs (id int, k int, foreign key (id, k) references pt);
insert into pt select g, 1 + g % 2 from generate_series(1, 1000) g;
insert into pt_refs select g, 1 + g % 2 from generate_series(1, 1000) g;

create table ca (id int primary key, b int);
create table cb (id int primary key, a int references ca);
alter table ca add foreign key (b) references cb;

create function tricky() returns text language sql as $q$ select E'\n--\n-- Name: fake; Type: TABLE; Schema: public; Owner: x\n--\n' $q$;
comment on index messages_session_idx is 'comment on an index; after it';
alter table messages enable row level security;
create policy own_messages on messages using (session_id > 0);
create rule no_delete_users as on delete to users do instead nothing;
create materialized view message_counts as select session_id, count(*) as n from messages group by 1;
create unique index message_counts_idx on message_counts (session_id);
`;

/**
 * The platform's shape with tables larger than a session's spool holds in memory (4 MiB), the first of them (30 MB,
 * more than the spool and the socket's buffers hold) slow to load (a CHECK that sleeps a moment a row), so that the
 * reader surely runs ahead of its busy session through a scratch file whatever the machine's load; nothing in it runs alone, so every table is analyzed as soon as its own
 * post-data is done.
 */
const PLATFORM_SQL = String.raw`
create function slow_ok(t text) returns boolean language plpgsql immutable as $$ begin perform pg_sleep(0.0002); return true; end $$;
create table a_wide (id int primary key, body text check (slow_ok(body)));
insert into a_wide select g, repeat(md5(g::text), 80) from generate_series(1, 12000) g;
create table users (id bigint primary key, email text not null, settings jsonb);
create table sessions (id bigint primary key, user_id bigint not null references users, token text not null);
create table messages (id bigint primary key, session_id bigint not null references sessions, body text not null, created_at timestamptz not null);
create table logs (id bigint primary key, level text not null, data jsonb not null);
insert into users select g, 'user' || g || '@example.com', jsonb_build_object('n', g) from generate_series(1, 1000) g;
insert into sessions select g, 1 + g % 1000, md5(g::text) from generate_series(1, 5000) g;
insert into messages select g, 1 + g % 5000, repeat('the lizard answered ' || g || ' ', 1 + g % 5) || md5(g::text), '2025-01-01'::timestamptz + g * interval '1 second' from generate_series(1, 60000) g;
insert into logs select g, (array['info', 'warn'])[1 + g % 2], jsonb_build_object('request', md5(g::text), 'ms', g % 1000, 'tags', jsonb_build_array('a' || g % 7)) from generate_series(1, 60000) g;
create unique index users_email_idx on users (email);
create index sessions_user_idx on sessions (user_id);
create index messages_session_idx on messages (session_id);
create index messages_created_idx on messages (created_at);
create index logs_data_gin on logs using gin (data);
`;

/** A large first table (so the reader spills), then an index build that takes seconds: a load to interrupt. */
const SLOW_SQL = String.raw`
create table a_big (id bigint primary key, body text not null);
insert into a_big select g, repeat(md5(g::text), 4) from generate_series(1, 60000) g;
create function slow_id(i int) returns int language plpgsql immutable as $$ begin perform pg_sleep(0.005); return i; end $$;
create table t (id int);
insert into t select generate_series(1, 1000);
create index t_slow on t (slow_id(id));
`;

const h = useHarness('parallel-restore', async ({ client, pg }) => {
  await client.send(new CreateBucketCommand({ Bucket: BUCKET }));
  await pg.query('create database source');
  await pg.query(AWKWARD_SCHEMA_SQL, 'source');
  await pg.query(DEPENDENT_SCHEMA_SQL, 'source');
  await pg.query('create database platform');
  await pg.query(PLATFORM_SQL, 'platform');
  await pg.query('create database slowdb');
  await pg.query(SLOW_SQL, 'slowdb');
});

function env(database: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return cleanEnv({ ...h.s3.env, ...h.pg.env(database), BACKUP_BUCKET: BUCKET, ...extra });
}

function json(result: CliResult): Record<string, unknown> {
  if (result.code !== 0) throw new Error(`exit ${result.code}: ${result.stderr}`);
  return JSON.parse(result.stdout) as Record<string, unknown>;
}

function restore(prefix: string, target: string, jobs: number, from = 'source', extra: Record<string, string> = {}, onSpawn?: (pid: number) => void): Promise<CliResult> {
  return runCli(['restore', 'latest', '--prefix', prefix, '--from-database', from, '--target-db', target, '--jobs', String(jobs), '--json', '--yes'], {
    env: env(from, extra),
    ...(onSpawn ? { onSpawn } : {}),
  });
}

async function databases(): Promise<string[]> {
  return (await h.pg.query<{ datname: string }>('select datname from pg_database order by 1')).map((r) => r.datname);
}

describe('GIVEN a backup of a database with partitions, foreign keys, large objects and awkward names', () => {
  test('WHEN it is restored with --jobs 4 and with --jobs 1 THEN both dump identically to the source, and the parallel one has planner statistics', async () => {
    const backup = json(await runCli(['backup', '--prefix', 'both/', '--json'], { env: env('source') }));
    expect(backup.key).toMatch(/^both\/source-/);

    const parallel = json(await restore('both/', 'parallel_4', 4));
    const single = json(await restore('both/', 'single_1', 1));

    expect(parallel).toMatchObject({ jobs: 4, notes: [] });
    expect(single).toMatchObject({ jobs: 1 });
    const source = comparableDump(h.pg.env(), 'source');
    expect(source).toContain('FK CONSTRAINT');
    expect(comparableDump(h.pg.env(), 'single_1')).toBe(source);
    expect(comparableDump(h.pg.env(), 'parallel_4')).toBe(source);
    const analyzed = await h.pg.query<{ n: number }>(`select count(*)::int as n from pg_stats where tablename = 'messages'`, 'parallel_4');
    expect(analyzed[0].n).toBeGreaterThan(0);
  });

  test('WHEN the restore test loads it with --jobs 3 THEN it passes', async () => {
    const backup = json(await runCli(['backup', '--prefix', 'tested/', '--json'], { env: env('source') }));
    const result = await runCli(['restore-test', backup.key as string, '--prefix', 'tested/', '--mode', 'scratch', '--jobs', '3', '--json'], { env: env('source') });
    expect(json(result)).toMatchObject({ ok: true });
  });
});

describe('GIVEN a backup of a platform-shaped database whose tables are larger than a session holds in memory', () => {
  test('WHEN it is restored with --jobs 4 THEN tables loaded at once through scratch files that are gone after, every table analyzed, and it dumps as --jobs 1 does', async () => {
    json(await runCli(['backup', '--prefix', 'platform/', '--json'], { env: env('platform') }));
    const scratch = tempDir('parallel-scratch-');

    const parallel = await restore('platform/', 'platform_4', 4, 'platform', { TMPDIR: scratch });
    const single = await restore('platform/', 'platform_1', 1, 'platform');

    expect(json(parallel)).toMatchObject({ jobs: 4, notes: [] });
    expect(json(single)).toMatchObject({ jobs: 1 });
    const source = comparableDump(h.pg.env(), 'platform');
    expect(comparableDump(h.pg.env(), 'platform_1')).toBe(source);
    expect(comparableDump(h.pg.env(), 'platform_4')).toBe(source);
    // The reader ran ahead of a busy session, and left nothing in the scratch directory.
    expect(parallel.stderr).toMatch(/of table data waited in scratch files \(at most [^)]+ at once, in /);
    expect(readdirSync(scratch)).toEqual([]);
    // ANALYZE of every table, each as soon as its own post-data was done: its statistics and its row estimate.
    const tables = await h.pg.query<{ relname: string; analyzed: boolean }>(
      `select relname, exists (select from pg_stats s where s.tablename = c.relname) and reltuples > 0 as analyzed
         from pg_class c where relnamespace = 'public'::regnamespace and relkind = 'r' order by 1`,
      'platform_4',
    );
    expect(tables).toEqual(['a_wide', 'logs', 'messages', 'sessions', 'users'].map((relname) => ({ relname, analyzed: true })));
  });

  test('WHEN SIGTERM arrives while a session builds an index THEN the restore stops, no database and no scratch file is left', async () => {
    json(await runCli(['backup', '--prefix', 'slow/', '--json'], { env: env('slowdb') }));
    const scratch = tempDir('parallel-scratch-');
    const before = await databases();

    let pid = 0;
    const run = restore('slow/', 'slow_4', 4, 'slowdb', { TMPDIR: scratch }, (p) => (pid = p));
    for (const end = Date.now() + 120_000; Date.now() < end; await new Promise((r) => setTimeout(r, 100))) {
      const building = await h.pg.query(`select 1 from pg_stat_activity where query like '%CREATE INDEX t_slow%' and application_name like 'meatbackup restore worker%'`);
      if (building.length > 0) break;
    }
    process.kill(pid, 'SIGTERM');
    const result = await run;

    expect(result.code).toBe(143);
    expect(result.stderr).toMatch(/interrupted by SIGTERM/);
    expect(await databases()).toEqual(before);
    expect(readdirSync(scratch)).toEqual([]);
    expect(await h.pg.query(`select 1 from pg_stat_activity where application_name like 'meatbackup restore worker%'`)).toEqual([]);
  });
});

describe('GIVEN a dump the splitter does not fully know', () => {
  test('WHEN an entry of an unknown type follows the data THEN the rest is loaded by one stream, said once, and the result is the same', async () => {
    const sql = pgDumpSql(h.pg.env(), 'source');
    const at = sql.indexOf('-- Name: messages_session_idx; Type: INDEX;');
    expect(at).toBeGreaterThan(0);
    const odd = `${sql.slice(0, at)}-- Name: marker; Type: FUTURE THING; Schema: public; Owner: postgres\n--\n\nCOMMENT ON TABLE public.ca IS 'from a future pg_dump';\n\n--\n${sql.slice(at)}`;
    await writeBackupFixture(h.client, BUCKET, { sql: odd, database: 'source', takenAt: new Date('2025-09-17T10:30:00Z'), prefix: 'odd/' });

    const result = await restore('odd/', 'odd_4', 4);

    expect(json(result)).toMatchObject({ jobs: 4, notes: [expect.stringMatching(/single stream from where the backup's SQL has an entry of type FUTURE THING/)] });
    expect(result.stderr.match(/loading the rest of it by a single stream/g)).toHaveLength(1);
    expect(await h.pg.query(`select obj_description('public.ca'::regclass) as c`, 'odd_4')).toEqual([{ c: 'from a future pg_dump' }]);
    await h.pg.query(`comment on table public.ca is null`, 'odd_4');
    expect(comparableDump(h.pg.env(), 'odd_4')).toBe(comparableDump(h.pg.env(), 'source'));
  });

  test('WHEN a foreign key fails in one session THEN the restore exits 1 with its error and no database is left behind', async () => {
    const sql = pgDumpSql(h.pg.env(), 'source').replace(/^(\d+)\t(\d+)\t([0-9a-f]{32})$/m, '$1\t999999\t$3');
    await writeBackupFixture(h.client, BUCKET, { sql, database: 'source', takenAt: new Date('2025-09-17T10:30:00Z'), prefix: 'broken/' });
    const before = await databases();

    const result = await restore('broken/', 'broken_4', 4);

    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^meatbackup: the backup's SQL failed \(FK CONSTRAINT sessions sessions_user_id_fkey\): ERROR: insert or update on table "sessions" violates foreign key constraint/m);
    expect(await databases()).toEqual(before);
  });
});
