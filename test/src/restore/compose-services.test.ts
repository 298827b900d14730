/**
 * The Compose implementation of the services stopped while the databases swap, against a Docker Engine API on a
 * Unix socket (test/support/fake-docker-engine.ts) through dockerode, as against the real engine: the named services'
 * running containers stop before the swap and exactly those start again, whatever happens; one-off containers and
 * other services are left alone; a wrong name or an unreachable engine is one line when the plan is checked.
 */
import Docker from 'dockerode';
import { composeServices } from '../../../src/restore/compose-services';
import { dockerEndpoint, stoppedServicesFrom } from '../../../src/cli/stopped-services';
import { readSettings } from '../../../src/settings';
import { type FakeContainer, type FakeEngine, startFakeEngine } from '../../support/fake-docker-engine';

const platform = (): FakeContainer[] => [
  { id: 'a1', name: 'meat_postgres_1', project: 'meat', service: 'postgres', running: true },
  { id: 'b1', name: 'meat_web_1', project: 'meat', service: 'web', running: true },
  { id: 'b2', name: 'meat_web_2', project: 'meat', service: 'web', running: true },
  { id: 'c1', name: 'meat_import_worker_1', project: 'meat', service: 'import_worker', running: true },
  { id: 'c2', name: 'meat_server_bot_1', project: 'meat', service: 'server_bot', running: false },
  // The restore itself, a one-off `docker compose run --rm meatbackup restore …` container.
  { id: 'd1', name: 'meat_meatbackup_run_1', project: 'meat', service: 'meatbackup', oneoff: true, running: true },
  { id: 'e1', name: 'other_web_1', project: 'other', service: 'web', running: true },
];

let engine: FakeEngine;
afterEach(async () => engine?.close());

const services = (names: string[], project: string | null = 'meat') =>
  composeServices({ docker: () => new Docker({ socketPath: engine.socketPath }), endpoint: `unix://${engine.socketPath}`, services: names, ...(project ? { project } : {}) });
const running = () => engine.containers.filter((c) => c.running).map((c) => c.name);

describe('GIVEN the platform\'s Compose project on a Docker engine', () => {
  test('WHEN the swap runs with web and import_worker stopped THEN their running containers are stopped during it and exactly those started again', async () => {
    engine = await startFakeEngine(platform());
    let during: string[] = [];
    const out = await services(['web', 'import_worker', 'server_bot']).whileStopped(async () => {
      during = running();
      return 'swapped';
    });
    expect(out).toEqual({ result: 'swapped', restarted: 'web, import_worker of project meat (3 containers)' });
    expect(during).toEqual(['meat_postgres_1', 'meat_meatbackup_run_1', 'other_web_1']);
    // server_bot was not running, so it is not started; the other project's web is never touched.
    expect(engine.calls).toEqual(['stop meat_web_1', 'stop meat_web_2', 'stop meat_import_worker_1', 'start meat_web_1', 'start meat_web_2', 'start meat_import_worker_1']);
    expect(running()).toEqual(['meat_postgres_1', 'meat_web_1', 'meat_web_2', 'meat_import_worker_1', 'meat_meatbackup_run_1', 'other_web_1']);
  });

  test('WHEN the swap fails THEN the stopped containers are started again and the swap\'s own error is reported', async () => {
    engine = await startFakeEngine(platform());
    await expect(services(['web']).whileStopped(async () => { throw new Error('could not rename meatdb: sessions remain'); })).rejects.toThrow('could not rename meatdb: sessions remain');
    expect(engine.calls).toEqual(['stop meat_web_1', 'stop meat_web_2', 'start meat_web_1', 'start meat_web_2']);
    expect(running()).toContain('meat_web_2');
  });

  test('WHEN SIGTERM arrives while the containers stop THEN the swap never runs and those already stopped are started again', async () => {
    const controller = new AbortController();
    engine = await startFakeEngine(platform(), { onStop: (c) => { if (c.id === 'b1') controller.abort(new Error('interrupted by SIGTERM')); } });
    let swapped = false;
    await expect(services(['web', 'import_worker']).whileStopped(async () => { swapped = true; }, { signal: controller.signal })).rejects.toThrow('interrupted by SIGTERM');
    expect(swapped).toBe(false);
    expect(engine.calls).toEqual(['stop meat_web_1', 'start meat_web_1']);
    expect(running()).toContain('meat_web_1');
  });

  test('WHEN a container cannot be started again THEN the error says so with the command that does it by hand', async () => {
    engine = await startFakeEngine(platform());
    const s = services(['web']);
    engine.failNext('start', 500, 'cannot start container: port is already allocated');
    await expect(s.whileStopped(async () => 'swapped')).rejects.toThrow(
      'the restore finished but could not start meat_web_1 (could not start it: cannot start container: port is already allocated); start them by hand: docker compose -p meat start web',
    );
    expect(running()).toContain('meat_web_2');
  });

  test('WHEN no project is named THEN the one project that has the services is used, and two such projects is one line asking which', async () => {
    engine = await startFakeEngine(platform());
    await expect(services(['import_worker'], null).check()).resolves.toBeUndefined();
    expect(services(['import_worker'], null).description).toBe('Compose service import_worker');
    await expect(services(['web'], null).check()).rejects.toThrow('services web are in several Compose projects (meat, other): say which with --compose-project or COMPOSE_PROJECT_NAME; nothing was changed');
  });

  test('WHEN a named service does not exist THEN the check, made with the plan, is one line naming the project\'s services, and nothing is stopped', async () => {
    engine = await startFakeEngine(platform());
    await expect(services(['web', 'wokrer']).check()).rejects.toThrow(
      'Compose project meat has no service wokrer (its services: import_worker, meatbackup, postgres, server_bot, web): check --stop-compose-services or STOP_COMPOSE_SERVICES; nothing was changed',
    );
    await expect(services(['web'], 'meet').check()).rejects.toThrow(/^there is no Compose project meet on the Docker engine at unix:\/\/.*docker\.sock \(projects: meat, other\)/);
    expect(engine.calls).toEqual([]);
  });
});

describe('GIVEN no Docker engine to talk to', () => {
  test('WHEN the socket does not exist, or nothing listens on it THEN the check is one line saying what to mount or start', async () => {
    const absent = composeServices({ docker: () => new Docker({ socketPath: '/nonexistent/docker.sock' }), endpoint: 'unix:///nonexistent/docker.sock', services: ['web'] });
    await expect(absent.check()).rejects.toThrow(
      'could not list the Compose containers to stop web: no Docker socket at unix:///nonexistent/docker.sock: mount it into this container (-v /var/run/docker.sock:/var/run/docker.sock) or set DOCKER_HOST',
    );
    const refused = composeServices({ docker: () => new Docker({ host: '127.0.0.1', port: 1, protocol: 'http' }), endpoint: 'tcp://127.0.0.1:1', services: ['web'] });
    await expect(refused.check()).rejects.toThrow('could not list the Compose containers to stop web: the Docker engine does not answer at tcp://127.0.0.1:1 (ECONNREFUSED): is it running? (DOCKER_HOST)');
  });
});

describe('GIVEN the restore command\'s flags and settings', () => {
  test('WHEN the services are chosen THEN Compose or ECS is picked where the command starts, never both, and bad values are one line', async () => {
    const settings = readSettings({ STOP_COMPOSE_SERVICES: 'web, server_bot,import_worker', COMPOSE_PROJECT_NAME: 'meat', DOCKER_HOST: 'unix:///run/docker.sock' });
    expect(settings.compose).toEqual({ services: ['web', 'server_bot', 'import_worker'], project: 'meat' });
    expect((await stoppedServicesFrom({}, settings))?.description).toBe('Compose services web, server_bot, import_worker of project meat');
    expect((await stoppedServicesFrom({ stopEcsService: 'meatlizard/web' }, readSettings({})))?.description).toBe('ECS service meatlizard/web');
    expect(await stoppedServicesFrom({}, readSettings({}))).toBeUndefined();
    await expect(stoppedServicesFrom({ stopEcsService: 'c/web', stopComposeServices: 'web' }, readSettings({}))).rejects.toThrow(/not both/);
    await expect(stoppedServicesFrom({}, readSettings({ WEB_SERVICE: 'c/web', STOP_COMPOSE_SERVICES: 'web' }))).rejects.toThrow('both WEB_SERVICE and STOP_COMPOSE_SERVICES are set: keep the one of this deployment');
    await expect(stoppedServicesFrom({ stopComposeServices: 'web;worker' }, readSettings({}))).rejects.toThrow('--stop-compose-services "web;worker": give the Compose service names, comma-separated (web,server_bot,import_worker); "web;worker" is not one');
    expect(() => readSettings({ STOP_COMPOSE_SERVICES: ',' })).toThrow('STOP_COMPOSE_SERVICES=,: give the Compose service names, comma-separated (web,server_bot,import_worker)');
    expect(dockerEndpoint('tcp://127.0.0.1:2375').options).toEqual({ host: '127.0.0.1', port: 2375, protocol: 'http' });
    expect(() => dockerEndpoint('ssh://me@host')).toThrow('DOCKER_HOST=ssh://me@host: give unix:///path/to/docker.sock or tcp://HOST:PORT');
  });
});
