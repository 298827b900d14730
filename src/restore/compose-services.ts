/**
 * The Docker Compose implementation of the services stopped while the databases swap (./stopped-services.ts): the
 * runbook's own `docker compose stop web` … `docker compose start web`, through the Docker Engine API (dockerode, on
 * the socket or DOCKER_HOST). Compose labels every container it makes with its project and service
 * (`com.docker.compose.project`, `com.docker.compose.service`), which is how the containers are found; one-off
 * containers (`docker compose run`, label `com.docker.compose.oneoff=True`), such as the restore itself, are never
 * stopped. Only the containers that were running are stopped, and exactly those are started again.
 * https://docs.docker.com/engine/api/v1.41/ (ContainerList, ContainerStop, ContainerStart)
 */
import type Dockerode from 'dockerode';
import { UserError, oneLine } from '../core/errors';
import type { StopOptions, StoppedServices, WhileStopped } from './stopped-services';

export const COMPOSE_LABELS = {
  project: 'com.docker.compose.project',
  service: 'com.docker.compose.service',
  oneoff: 'com.docker.compose.oneoff',
} as const;

export interface ComposeServicesOptions {
  /** Made on first use. */
  docker: () => Dockerode;
  /** Where the client talks to, for messages: `unix:///var/run/docker.sock`, `tcp://127.0.0.1:2375`. */
  endpoint: string;
  /** The services to stop, as the compose file names them. */
  services: readonly string[];
  /** The Compose project; when unset, the one project that has these services. */
  project?: string;
  /** Seconds each container gets to stop before it is killed (docker stop -t). @default 30 */
  stopSeconds?: number;
}

interface Found {
  project: string;
  /** The project's containers of the named services, one-off containers left out. */
  containers: Dockerode.ContainerInfo[];
}

const containerName = (c: Dockerode.ContainerInfo): string => (c.Names?.[0] ?? c.Id.slice(0, 12)).replace(/^\//, '');

/** One line for a failed Docker call: the socket missing or refused, the permission, or the engine's own message. */
export function dockerFailed(err: unknown, doing: string, endpoint: string): UserError {
  if (err instanceof UserError) return err;
  const e = err as { code?: string; statusCode?: number; json?: { message?: string }; message?: string };
  const fix =
    e.code === 'ENOENT' ? `no Docker socket at ${endpoint}: mount it into this container (-v /var/run/docker.sock:/var/run/docker.sock) or set DOCKER_HOST`
    : e.code === 'EACCES' ? `permission denied on ${endpoint}: run as root or as a member of the socket's group (docker)`
    : e.code === 'ECONNREFUSED' || e.code === 'ETIMEDOUT' || e.code === 'EHOSTUNREACH' ? `the Docker engine does not answer at ${endpoint} (${e.code}): is it running? (DOCKER_HOST)`
    : e.statusCode === 403 || e.statusCode === 401 ? `the Docker engine at ${endpoint} refused it (${e.statusCode}: ${oneLine(e.json?.message ?? e.message ?? '')})`
    : `${oneLine(e.json?.message ?? e.message ?? String(err))}`;
  return new UserError(`could not ${doing}: ${fix}`, 1, { cause: err });
}

export function composeServices(options: ComposeServicesOptions): StoppedServices {
  const names = [...new Set(options.services)];
  const stopSeconds = options.stopSeconds ?? 30;
  let docker: Dockerode | undefined;
  const client = (): Dockerode => (docker ??= options.docker());
  const described = `Compose service${names.length === 1 ? '' : 's'} ${names.join(', ')}${options.project ? ` of project ${options.project}` : ''}`;

  /** The project's containers of the named services; every name must be a service of the project. */
  async function find(): Promise<Found> {
    let all: Dockerode.ContainerInfo[];
    try {
      await client().ping();
      all = await client().listContainers({ all: true, filters: { label: [COMPOSE_LABELS.project, COMPOSE_LABELS.service] } });
    } catch (err) {
      throw dockerFailed(err, `list the Compose containers to stop ${names.join(', ')}`, options.endpoint);
    }
    const projects = [...new Set(all.map((c) => c.Labels[COMPOSE_LABELS.project]))].sort();
    let project = options.project;
    if (project === undefined) {
      const having = [...new Set(all.filter((c) => names.includes(c.Labels[COMPOSE_LABELS.service])).map((c) => c.Labels[COMPOSE_LABELS.project]))].sort();
      if (having.length !== 1) {
        throw new UserError(
          having.length === 0
            ? `no Compose project on the Docker engine at ${options.endpoint} has a service ${names.join(' or ')} (projects: ${projects.join(', ') || 'none'}): check --stop-compose-services; nothing was changed`
            : `services ${names.join(', ')} are in several Compose projects (${having.join(', ')}): say which with --compose-project or COMPOSE_PROJECT_NAME; nothing was changed`,
          2,
        );
      }
      project = having[0];
    }
    const ofProject = all.filter((c) => c.Labels[COMPOSE_LABELS.project] === project);
    if (ofProject.length === 0) {
      throw new UserError(`there is no Compose project ${project} on the Docker engine at ${options.endpoint} (projects: ${projects.join(', ') || 'none'}): check --compose-project or COMPOSE_PROJECT_NAME; nothing was changed`, 2);
    }
    const services = new Set(ofProject.map((c) => c.Labels[COMPOSE_LABELS.service]));
    const missing = names.filter((n) => !services.has(n));
    if (missing.length > 0) {
      throw new UserError(
        `Compose project ${project} has no service ${missing.join(', ')} (its services: ${[...services].sort().join(', ')}): check --stop-compose-services or STOP_COMPOSE_SERVICES; nothing was changed`,
        2,
      );
    }
    const containers = ofProject.filter((c) => names.includes(c.Labels[COMPOSE_LABELS.service]) && c.Labels[COMPOSE_LABELS.oneoff] !== 'True');
    return { project, containers };
  }

  async function startAgain(stopped: Dockerode.ContainerInfo[], project: string): Promise<string[]> {
    const failed: string[] = [];
    for (const c of stopped) {
      try {
        await client().getContainer(c.Id).start();
      } catch (err) {
        // 304: it is running already (someone started it by hand): what we wanted.
        if ((err as { statusCode?: number }).statusCode !== 304) failed.push(`${containerName(c)} (${dockerFailed(err, 'start it', options.endpoint).message})`);
      }
    }
    if (failed.length === 0) return [];
    const services = [...new Set(stopped.map((c) => c.Labels[COMPOSE_LABELS.service]))];
    return [`could not start ${failed.join('; ')}; start them by hand: docker compose -p ${project} start ${services.join(' ')}`];
  }

  return {
    description: described,
    async check() {
      await find();
    },
    async whileStopped<T>(fn: () => Promise<T>, stop: StopOptions = {}): Promise<WhileStopped<T>> {
      const { project, containers } = await find();
      const running = containers.filter((c) => c.State === 'running' || c.State === 'restarting' || c.State === 'paused');
      const stopped: Dockerode.ContainerInfo[] = [];
      let failure: unknown;
      let result: T | undefined;
      try {
        stop.log?.(`stopping ${running.length} container(s) of Compose project ${project}: ${running.map(containerName).join(', ') || 'none running'}`, { project, services: names });
        for (const c of running) {
          if (stop.signal?.aborted) throw stop.signal.reason;
          // Counted before the call: a stop that fails half-way still gets a start.
          stopped.push(c);
          try {
            await client().getContainer(c.Id).stop({ t: stopSeconds });
          } catch (err) {
            if ((err as { statusCode?: number }).statusCode !== 304) throw dockerFailed(err, `stop ${containerName(c)}`, options.endpoint);
          }
        }
        // docker stop returns once the container has exited; a restart policy or a racing `up` could bring it back.
        for (const c of stopped) {
          const state = await client().getContainer(c.Id).inspect().catch((err: unknown) => {
            throw dockerFailed(err, `inspect ${containerName(c)}`, options.endpoint);
          });
          if (state.State.Running) throw new UserError(`${containerName(c)} is running again right after it was stopped (a restart policy, or someone ran docker compose up): nothing was swapped`);
        }
        if (stop.signal?.aborted) throw stop.signal.reason;
        result = await fn();
      } catch (err) {
        failure = err;
      } finally {
        const problems = await startAgain(stopped, project);
        if (problems.length === 0 && stopped.length > 0) {
          stop.log?.(`started ${stopped.map(containerName).join(', ')} again`, { project, containers: stopped.map(containerName) });
        }
        if (problems.length > 0) {
          const message = problems.join('; ');
          failure = failure
            ? new UserError(`${(failure as Error).message}; and ${message}`, 1, { cause: failure })
            : new UserError(`the restore finished but ${message}`, 1);
        }
      }
      if (failure) throw failure;
      const services = [...new Set(stopped.map((c) => c.Labels[COMPOSE_LABELS.service]))];
      return {
        result: result as T,
        restarted: stopped.length === 0 ? `none (no container of ${names.join(', ')} was running)` : `${services.join(', ')} of project ${project} (${stopped.length} container${stopped.length === 1 ? '' : 's'})`,
      };
    },
  };
}
