/**
 * `meatbackup restore --stop-compose-services`, as an operator runs it on the platform's server: the CLI against
 * PostgreSQL, the S3 emulator and a Docker Engine API on a socket (DOCKER_HOST). The services are checked with the
 * plan, stopped only for the swap and started again; a service that does not exist changes nothing.
 */
import { type FakeEngine, startFakeEngine } from '../../support/fake-docker-engine';
import { cleanEnv, runCli } from '../../support/cli';
import { freshBucket, useHarness } from '../backup/fixtures';

describe('restore on Docker Compose', () => {
  const h = useHarness('restore-compose', async ({ pg }) => {
    await pg.query('create database meatdb');
    await pg.query("create table messages (id int primary key, body text); insert into messages values (1, 'before the backup')", 'meatdb');
  });
  let engine: FakeEngine;
  beforeEach(async () => {
    engine = await startFakeEngine([
      { id: 'w1', name: 'meat_web_1', project: 'meat', service: 'web', running: true },
      { id: 'k1', name: 'meat_worker_1', project: 'meat', service: 'worker', running: true },
    ]);
  });
  afterEach(async () => engine.close());
  const env = (bucket: string) => cleanEnv({ ...h.s3.env, BACKUP_BUCKET: bucket, DATABASE_URL: h.pg.url('meatdb'), DOCKER_HOST: `unix://${engine.socketPath}` });
  const databases = async () => (await h.pg.query<{ datname: string }>('select datname from pg_database order by 1')).map((r) => r.datname);

  test('GIVEN web and worker running WHEN restoring latest with --stop-compose-services web,worker THEN both are stopped for the swap only and started again, and the result says so', async () => {
    const bucket = await freshBucket(h.client, 'compose-ok');
    expect((await runCli(['backup'], { env: env(bucket) })).code).toBe(0);
    await h.pg.query("insert into messages values (2, 'after the backup')", 'meatdb');
    const res = await runCli(['restore', 'latest', '--yes', '--stop-compose-services', 'web,worker'], { env: env(bucket) });
    expect(res.stderr).not.toMatch(/^meatbackup: /m);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/^started {3}web, worker of project meat \(2 containers\) again$/m);
    expect(engine.calls).toEqual(['stop meat_web_1', 'stop meat_worker_1', 'start meat_web_1', 'start meat_worker_1']);
    expect(await h.pg.query('select body from messages order by id', 'meatdb')).toEqual([{ body: 'before the backup' }]);
  });

  test('GIVEN a service name that does not exist WHEN restoring THEN exit 2 with one line before anything is loaded, and nothing changes', async () => {
    const bucket = await freshBucket(h.client, 'compose-typo');
    expect((await runCli(['backup'], { env: env(bucket) })).code).toBe(0);
    const before = await databases();
    const res = await runCli(['restore', 'latest', '--yes', '--stop-compose-services', 'web,wroker'], { env: env(bucket) });
    expect(res.code).toBe(2);
    expect(res.stderr).toBe('meatbackup: Compose project meat has no service wroker (its services: web, worker): check --stop-compose-services or STOP_COMPOSE_SERVICES; nothing was changed\n');
    expect(engine.calls).toEqual([]);
    expect(await databases()).toEqual(before);
  });
});
