/**
 * Which services a restore stops while the databases swap, and through what: decided here, where `meatbackup
 * restore` starts, from its flags and the settings. ECS (`--stop-ecs-service` / WEB_SERVICE, the restore task's) or
 * Docker Compose (`--stop-compose-services` / STOP_COMPOSE_SERVICES, with `--compose-project` /
 * COMPOSE_PROJECT_NAME); never both. Each client is loaded only when its kind is asked for.
 */
import { ENV } from '../contract';
import { usageError } from '../core/errors';
import { parseServiceList, parseServiceRef } from '../restore/service-ref';
import type { StoppedServices } from '../restore/stopped-services';
import type { Settings } from '../settings';

export interface StopFlags {
  stopEcsService?: string;
  stopComposeServices?: string;
  composeProject?: string;
}

/** Where DOCKER_HOST points the client (unix socket, or tcp:// for an engine that listens on a port). */
export function dockerEndpoint(dockerHost: string | undefined): { endpoint: string; options: { socketPath: string } | { host: string; port: number; protocol: 'http' } } {
  const given = dockerHost?.trim() || 'unix:///var/run/docker.sock';
  if (given.startsWith('unix://')) return { endpoint: given, options: { socketPath: given.slice('unix://'.length) } };
  const tcp = /^tcp:\/\/([^:/]+):(\d+)\/?$/.exec(given);
  if (tcp) return { endpoint: given, options: { host: tcp[1], port: Number(tcp[2]), protocol: 'http' } };
  throw usageError(`DOCKER_HOST=${given}: give unix:///path/to/docker.sock or tcp://HOST:PORT`);
}

export async function stoppedServicesFrom(flags: StopFlags, settings: Settings): Promise<StoppedServices | undefined> {
  const ecsGiven = flags.stopEcsService !== undefined ? parseServiceRef(flags.stopEcsService) : settings.webService;
  const composeGiven = flags.stopComposeServices !== undefined ? parseServiceList(flags.stopComposeServices, '--stop-compose-services') : settings.compose.services;
  if (flags.stopEcsService !== undefined && flags.stopComposeServices !== undefined) {
    throw usageError('give --stop-ecs-service or --stop-compose-services, not both: a deployment runs on ECS or on Docker Compose');
  }
  // A flag of one kind wins over the other kind's setting.
  const kind = flags.stopComposeServices !== undefined ? 'compose' : flags.stopEcsService !== undefined ? 'ecs' : composeGiven !== undefined && ecsGiven !== undefined ? 'both' : composeGiven !== undefined ? 'compose' : ecsGiven !== undefined ? 'ecs' : 'none';
  if (kind === 'both') throw usageError(`both ${ENV.webService} and ${ENV.stopComposeServices} are set: keep the one of this deployment`);
  if (kind === 'none') {
    if (flags.composeProject !== undefined) throw usageError('--compose-project names the project of --stop-compose-services: give the services too');
    return undefined;
  }
  if (kind === 'ecs') {
    const ref = ecsGiven!;
    const [{ ecsService }, { createEcsClient }] = await Promise.all([import('../restore/web-service.js'), import('../storage/ecs-client.js')]);
    return ecsService(() => createEcsClient({ ...(settings.aws.region ? { region: settings.aws.region } : {}) }), ref);
  }
  const services = composeGiven!;
  const project = flags.composeProject ?? settings.compose.project;
  if (project !== undefined && !/^[a-z0-9][a-z0-9_-]*$/.test(project)) {
    throw usageError(`--compose-project ${JSON.stringify(project)}: a Compose project name is lower-case letters, digits, _ and -`);
  }
  const { endpoint, options } = dockerEndpoint(settings.env.DOCKER_HOST);
  const [{ composeServices }, { default: Docker }] = await Promise.all([import('../restore/compose-services.js'), import('dockerode')]);
  return composeServices({ docker: () => new Docker({ ...options, timeout: 120_000 }), endpoint, services, ...(project !== undefined ? { project } : {}) });
}
