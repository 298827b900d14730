/**
 * The Docker Compose deployment, end to end on a real Docker engine, as
 * docs/compose.md "What the end-to-end test proves" describes it. Run by `npm run test:image`, beside the image test.
 *
 * GIVEN a Compose project made of a stand-in for the platform's docker-compose.yml (test/container/compose/: postgres
 * built here from Debian's PostgreSQL 15 on a free loopback port, and `web` and `worker`, which hold a connection each
 * and insert a numbered row every 200 ms) with deploy/compose/docker-compose.meatbackup.yml layered over it exactly
 * as an operator layers it (only the host network added: this engine has no bridge), the runtime image built as the
 * image test builds it, the platform's .env with `DATABASE_URL=postgresql+asyncpg://…`, a plain bucket in the
 * emulator on loopback, and a schedule of a backup every minute;
 * WHEN the minute comes THEN the scheduled backup is in the bucket and the service turns healthy;
 * WHEN an operator restores naming a service the project does not have THEN nothing changes;
 * WHEN they run `restore latest` as the documented one-off with the socket THEN web and worker are stopped only for
 * the swap, started again (the same containers), reconnect and keep writing; the restored database has every row
 * written before the backup, and the database it replaced, kept, every row written until they stopped;
 * WHEN backups stop (the database goes away) THEN the healthcheck turns the service unhealthy once the newest backup
 * is older than BACKUP_MAX_AGE.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { Client } from 'pg';
import { freePort } from '../../src/local/processes';
import { EMULATOR_REGION, type LocalS3, startLocalS3 } from '../../src/local/s3-emulator';
import { type Engine, DOCKER, docker, ensureEngine, requireComposeTool, requireContainerTools, run, runOk, stopwatch } from './docker';
import { REPO_ROOT, buildDebianImage, buildImages } from './images';

const FIXTURE = join(REPO_ROOT, 'test', 'container', 'compose');
const OVERRIDE = join(REPO_ROOT, 'deploy', 'compose', 'docker-compose.meatbackup.yml');
const COMPOSE = process.env.DOCKER_COMPOSE ?? 'docker-compose';
const POSTGRES_IMAGE = 'meatbackup-test/compose-postgres:15';
const PROJECT = `meatbackup-e2e-${randomBytes(4).toString('hex')}`;
const PASSWORD = `pw-${randomBytes(12).toString('hex')}`;
const USER = 'meat';
const DATABASE = 'meatdb';
const BUCKET = `meatbackup-e2e-${randomBytes(4).toString('hex')}`;
/** The newest backup may be this old: a backup every minute, the health answer's 30 s cache, and a slow minute. */
const MAX_AGE_SECONDS = 100;
const BACKUP_KEY = /^backups\/meatdb-(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.sql\.gz$/;

let work: string;
let engine: Engine | undefined;
let s3: LocalS3 | undefined;
let pgPort: number;
let upAt: Date;
const { timings, timed } = stopwatch();
const suiteStarted = Date.now();

/** docker-compose with the platform's file, the real override, and this machine's host network, in the project's directory. */
function compose(args: string[]) {
  return run(COMPOSE, ['-f', join(work, 'docker-compose.yml'), '-f', OVERRIDE, '-f', join(FIXTURE, 'host-network.yml'), ...args], { cwd: work });
}

async function composeOk(args: string[]): Promise<string> {
  const r = await compose(args);
  if (r.status !== 0) throw new Error(`docker-compose ${args.join(' ')} exited ${r.status}:\n${`${r.stdout}\n${r.stderr}`.trim().split('\n').slice(-30).join('\n')}`);
  return r.stdout;
}

/** Every container of the project (one-off runs included), by id. */
async function projectContainers(): Promise<string[]> {
  const out = await docker(['ps', '--all', '--quiet', '--no-trunc', '--filter', `label=com.docker.compose.project=${PROJECT}`]);
  return out.split('\n').filter(Boolean);
}

interface ContainerState {
  id: string;
  running: boolean;
  startedAt: Date;
  finishedAt: Date;
  health?: string;
}

async function serviceContainer(service: string): Promise<ContainerState> {
  const ids = (await docker(['ps', '--all', '--quiet', '--no-trunc', '--filter', `label=com.docker.compose.project=${PROJECT}`, '--filter', `label=com.docker.compose.service=${service}`, '--filter', 'label=com.docker.compose.oneoff=False'])).split('\n').filter(Boolean);
  if (ids.length !== 1) throw new Error(`service ${service}: ${ids.length} containers`);
  const [state] = JSON.parse(await docker(['inspect', '--format', '{{json .State}}', ids[0]]).then((s) => `[${s}]`)) as Array<{ Running: boolean; StartedAt: string; FinishedAt: string; Health?: { Status: string } }>;
  return { id: ids[0], running: state.Running, startedAt: new Date(state.StartedAt), finishedAt: new Date(state.FinishedAt), health: state.Health?.Status };
}

async function query<T = Record<string, unknown>>(database: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new Client({ host: '127.0.0.1', port: pgPort, user: USER, password: PASSWORD, database });
  await client.connect();
  try {
    return (await client.query(sql, params)).rows as T[];
  } finally {
    await client.end();
  }
}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>, everyMs = 1000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs / 1000}s${last ? ` (last: ${(last as Error).message})` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

const s3Client = () => new S3Client({ endpoint: s3!.endpoint, region: EMULATOR_REGION, forcePathStyle: true, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });

/** The backups that have a manifest (a completed run), oldest first. */
async function backups(): Promise<Array<{ key: string; takenAt: Date }>> {
  const out = await s3Client().send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'backups/' }));
  const keys = new Set((out.Contents ?? []).map((o) => o.Key!));
  return [...keys]
    .filter((k) => BACKUP_KEY.test(k) && keys.has(`${k}.manifest.json`))
    .sort()
    .map((key) => ({ key, takenAt: new Date(`${BACKUP_KEY.exec(key)![1]}Z`) }));
}

/** The rows each writer committed, as `session:n` (with when), in one database. */
async function writes(database: string): Promise<Array<{ service: string; session: string; n: number; at: Date }>> {
  return query(database, 'select service, session, n, at from writes order by id');
}

/** Sessions whose committed rows are not 1..n: rows a database lost. */
function gaps(rows: Array<{ session: string; n: number }>): string[] {
  const bySession = new Map<string, number[]>();
  for (const r of rows) bySession.set(r.session, [...(bySession.get(r.session) ?? []), r.n]);
  return [...bySession].filter(([, ns]) => ns.some((n, i) => n !== i + 1)).map(([s]) => s);
}

async function meatbackupLogs(): Promise<string> {
  const { id } = await serviceContainer('meatbackup');
  const r = await run(DOCKER, ['logs', id]);
  return `${r.stdout}${r.stderr}`;
}

beforeAll(async () => {
  requireContainerTools();
  requireComposeTool(COMPOSE);
  work = mkdtempSync(join(tmpdir(), 'meatbackup-compose-e2e-'));
  engine = await ensureEngine();
  s3 = await startLocalS3();
  // A plain S3-compatible bucket, as a store that is not AWS may give: no versioning, no Object Lock.
  await s3Client().send(new CreateBucketCommand({ Bucket: BUCKET }));

  // The runtime image as the image test builds it (its layers cached), and the stand-in's PostgreSQL image.
  const [runtime] = await timed('build runtime', () => buildImages({ targets: ['runtime'] }));
  const debian = await buildDebianImage();
  await timed('build postgres', () =>
    runOk(DOCKER, ['build', '--quiet', '--network', 'host', '--build-arg', `DEBIAN_IMAGE=${debian}`, '-t', POSTGRES_IMAGE, join(FIXTURE, 'postgres')], { env: { ...process.env, DOCKER_BUILDKIT: '0' } }),
  );

  // The platform's directory: its docker-compose.yml, and its .env with what docs/compose.md says to add to it.
  pgPort = await freePort();
  copyFileSync(join(FIXTURE, 'docker-compose.yml'), join(work, 'docker-compose.yml'));
  const env: Record<string, string> = {
    COMPOSE_PROJECT_NAME: PROJECT,
    E2E_POSTGRES_IMAGE: POSTGRES_IMAGE,
    POSTGRES_USER: USER,
    POSTGRES_PASSWORD: PASSWORD,
    POSTGRES_DB: DATABASE,
    POSTGRES_PORT: String(pgPort),
    DATABASE_URL: `postgresql+asyncpg://${USER}:${PASSWORD}@127.0.0.1:${pgPort}/${DATABASE}`,
    MEATBACKUP_IMAGE: runtime.tag,
    BACKUP_BUCKET: BUCKET,
    AWS_REGION: EMULATOR_REGION,
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    AWS_ENDPOINT_URL_S3: s3.endpoint,
    SCHEDULE_BACKUP: '* * * * *',
    SCHEDULE_RESTORE_TEST: 'off',
    SCHEDULE_STATUS: '* * * * *',
    BACKUP_MAX_AGE: `${MAX_AGE_SECONDS}s`,
    MEATBACKUP_HTTP_LISTEN: `127.0.0.1:${await freePort()}`,
    MEATBACKUP_HEALTH_INTERVAL: '5s',
    STOP_COMPOSE_SERVICES: 'web,worker',
    DOCKER_GID: String(statSync('/var/run/docker.sock').gid),
  };
  writeFileSync(join(work, '.env'), Object.entries(env).map(([k, v]) => `${k}=${v}\n`).join(''));

  // GIVEN the database, then its writers and the meatbackup service
  await timed('postgres up', async () => {
    await composeOk(['up', '--detach', 'postgres']);
    await waitFor('postgres answers', 60_000, async () => (await query(DATABASE, 'select 1 as ok'))[0]);
    await query(DATABASE, 'create table writes (id bigserial primary key, service text not null, session text not null, n int not null, at timestamptz not null default clock_timestamp())');
  });
  upAt = new Date();
  await composeOk(['up', '--detach']);
}, 20 * 60_000);

afterAll(async () => {
  if (work) {
    try {
      writeFileSync(join(tmpdir(), `meatbackup-compose-e2e-${PROJECT}.log`), await meatbackupLogs());
    } catch {
      // no meatbackup container to read
    }
  }
  // The project's containers, one-off runs included, and their anonymous volumes, by id; the images stay as cache.
  const ids = work ? await projectContainers().catch(() => [] as string[]) : [];
  if (ids.length > 0) await run(DOCKER, ['rm', '--force', '--volumes', ...ids]);
  await s3?.stop();
  await engine?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
  console.log(`Compose end-to-end: ${((Date.now() - suiteStarted) / 1000).toFixed(0)} s in all; ${Object.entries(timings).map(([k, v]) => `${k} ${v.toFixed(0)} s`).join(', ')}`);
}, 120_000);

describe('GIVEN the platform\'s compose project with deploy/compose/ layered over it and a backup every minute', () => {
  test('WHEN the minute comes THEN the scheduled backup is in the bucket within it, logged as one line, and the service turns healthy', async () => {
    // The first run is at the minute the scheduler names when it starts; a backup of this database takes seconds.
    const scheduled = await waitFor('the scheduler started', 120_000, async () => {
      const m = /"message":"backup: scheduled \* \* \* \* \* \(UTC\), next at ([^"]+)"/.exec(await meatbackupLogs());
      return m ? new Date(m[1]) : undefined;
    });
    expect(scheduled.getTime()).toBeGreaterThanOrEqual(upAt.getTime());
    expect(scheduled.getTime() % 60_000).toBe(0);
    const [first] = await timed('first scheduled backup', () =>
      waitFor('a scheduled backup with its manifest', Math.max(0, scheduled.getTime() + 60_000 - Date.now()), async () => {
        const found = await backups();
        return found.length > 0 ? found : undefined;
      }),
    );
    expect(first.takenAt.getTime()).toBeGreaterThanOrEqual(scheduled.getTime());
    expect(first.takenAt.getTime()).toBeLessThan(scheduled.getTime() + 60_000);
    const logs = await meatbackupLogs();
    expect(logs).toMatch(/"message":"meatbackup schedule started: backup \* \* \* \* \*; retention 0 4 \* \* \*; status \* \* \* \* \*;/);
    expect(logs).toContain(`"message":"backup: succeeded in `);
    expect(logs).toContain(`"key":"${first.key}"`);
    // AND Compose made no network: every service is on the host's
    expect(await docker(['network', 'ls', '--quiet', '--filter', `label=com.docker.compose.project=${PROJECT}`])).toBe('');
    await timed('healthy', () => waitFor('meatbackup healthy', 60_000, async () => ((await serviceContainer('meatbackup')).health === 'healthy' ? true : undefined)));
  }, 4 * 60_000);

  test('WHEN a restore names a service the project does not have THEN it says so in one line and nothing changes', async () => {
    const before = { web: await serviceContainer('web'), worker: await serviceContainer('worker') };
    const databases = () => query(DATABASE, 'select datname from pg_database order by 1');
    const dbsBefore = await databases();
    const rowsBefore = (await writes(DATABASE)).length;

    const r = await timed('restore naming wokrer', () => compose(['run', '-T', '--rm', 'meatbackup-restore', 'restore', 'latest', '--yes', '--stop-compose-services', 'web,wokrer']));
    expect(r.status).not.toBe(0);
    const said = `${r.stdout}${r.stderr}`.split('\n').filter((l) => l.startsWith('meatbackup: '));
    expect(said).toEqual([expect.stringMatching(new RegExp(`^meatbackup: Compose project ${PROJECT} has no service wokrer .*nothing was changed$`))]);

    expect(await databases()).toEqual(dbsBefore);
    for (const service of ['web', 'worker'] as const) {
      const now = await serviceContainer(service);
      expect(now).toMatchObject({ id: before[service].id, running: true, startedAt: before[service].startedAt });
    }
    await waitFor('the writers keep writing', 30_000, async () => ((await writes(DATABASE)).length > rowsBefore + 10 ? true : undefined));
  }, 3 * 60_000);

  test('WHEN `restore latest` runs as the one-off with the socket THEN web and worker stop only for the swap, come back and keep writing, and no row is lost', async () => {
    const before = { web: await serviceContainer('web'), worker: await serviceContainer('worker') };
    const started = new Date();
    const r = await timed('restore latest', () => compose(['run', '-T', '--rm', 'meatbackup-restore', 'restore', 'latest', '--yes', '--json']));
    const ended = new Date();
    if (r.status !== 0) throw new Error(`restore exited ${r.status}:\n${`${r.stdout}\n${r.stderr}`.trim().split('\n').slice(-30).join('\n')}`);
    const result = r.stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((o) => 'keptAs' in o) as { key: string; keptAs: string; restarted: string; seconds: { check: number; load: number; swap: number } };
    expect(result.restarted).toMatch(/web, worker|worker, web/);
    const backup = (await backups()).find((b) => b.key === result.key)!;
    expect(backup).toBeDefined();

    // the same containers, stopped during the restore and started again before it ended
    for (const service of ['web', 'worker'] as const) {
      const now = await serviceContainer(service);
      expect(now.id).toBe(before[service].id);
      expect(now.running).toBe(true);
      expect(now.finishedAt.getTime()).toBeGreaterThan(started.getTime());
      expect(now.startedAt.getTime()).toBeGreaterThan(now.finishedAt.getTime());
      expect(now.startedAt.getTime()).toBeLessThan(ended.getTime());
      // stopped for the swap only, not while the backup was checked and loaded
      expect(now.startedAt.getTime() - now.finishedAt.getTime()).toBeLessThanOrEqual(result.seconds.swap * 1000 + 1000);
      expect(now.finishedAt.getTime() - started.getTime()).toBeGreaterThanOrEqual((result.seconds.check + result.seconds.load) * 1000);
    }
    const stoppedAt = Math.min((await serviceContainer('web')).finishedAt.getTime(), (await serviceContainer('worker')).finishedAt.getTime());
    const startedAgain = Math.max((await serviceContainer('web')).startedAt.getTime(), (await serviceContainer('worker')).startedAt.getTime());

    // the database that was replaced is kept, with every row written until the writers stopped, none missing
    const old = await writes(result.keptAs);
    expect(gaps(old)).toEqual([]);
    const lastOld = Math.max(...old.map((w) => w.at.getTime()));
    expect(lastOld).toBeLessThanOrEqual(Math.max((await serviceContainer('web')).finishedAt.getTime(), (await serviceContainer('worker')).finishedAt.getTime()) + 1000);

    // the restored database has every row written before the backup began, and only rows the old one has
    const restored = await writes(DATABASE);
    const oldRows = new Map(old.map((w) => [`${w.session}:${w.n}`, w.at.getTime()]));
    const preRestore = restored.filter((w) => oldRows.has(`${w.session}:${w.n}`));
    const writtenBefore = old.filter((w) => w.at.getTime() < backup.takenAt.getTime()).map((w) => `${w.session}:${w.n}`);
    expect(new Set(old.filter((w) => w.at.getTime() < backup.takenAt.getTime()).map((w) => w.service))).toEqual(new Set(['web', 'worker']));
    const restoredKeys = new Set(preRestore.map((w) => `${w.session}:${w.n}`));
    expect(writtenBefore.filter((k) => !restoredKeys.has(k))).toEqual([]);
    for (const w of preRestore) expect(w.at.getTime()).toBe(oldRows.get(`${w.session}:${w.n}`));
    expect(gaps(preRestore)).toEqual([]);
    // nothing was written into the database the restore loaded before the swap: its other rows come after the restart
    for (const w of restored.filter((x) => !oldRows.has(`${x.session}:${x.n}`))) expect(w.at.getTime()).toBeGreaterThanOrEqual(startedAgain - 1000);
    expect(stoppedAt).toBeGreaterThan(started.getTime());

    // both writers reconnected to the restored database and keep writing there
    await waitFor('web and worker write into the restored database', 60_000, async () => {
      const after = (await writes(DATABASE)).filter((w) => !oldRows.has(`${w.session}:${w.n}`));
      return ['web', 'worker'].every((s) => after.filter((w) => w.service === s).length >= 10) ? true : undefined;
    });
  }, 5 * 60_000);

  test('WHEN backups stop (the database goes away) THEN the healthcheck turns the service unhealthy once the newest backup is older than BACKUP_MAX_AGE', async () => {
    expect((await serviceContainer('meatbackup')).health).toBe('healthy');
    await composeOk(['stop', 'postgres']);
    const newest = (await backups()).at(-1)!;
    const unhealthy = await timed('unhealthy', () =>
      waitFor('meatbackup unhealthy', (MAX_AGE_SECONDS + 120) * 1000, async () => ((await serviceContainer('meatbackup')).health === 'unhealthy' ? new Date() : undefined), 2000),
    );
    expect(unhealthy.getTime() - newest.takenAt.getTime()).toBeGreaterThan(MAX_AGE_SECONDS * 1000);
    // the failed runs are lines of their own, and the healthcheck's command says why
    expect(await meatbackupLogs()).toMatch(/"message":"backup: FAILED \(exit 1\) in [^"]*","job":"backup","ok":false/);
    const health = await run(DOCKER, ['exec', (await serviceContainer('meatbackup')).id, '/app/bin/meatbackup.js', 'health']);
    expect(health.status).toBe(1);
    expect(`${health.stdout}${health.stderr}`).toContain(`STALE: newest backup ${(await backups()).at(-1)!.key} is`);
  }, 6 * 60_000);
});
