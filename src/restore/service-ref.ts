/**
 * The services a restore stops, as given: an ECS service as CLUSTER/SERVICE (WEB_SERVICE, --stop-ecs-service), or
 * Compose service names (STOP_COMPOSE_SERVICES, --stop-compose-services). Parsed where the setting enters, without
 * loading the ECS or Docker client, which only the restore itself needs.
 */
import { ECS_CLUSTER_ARN_PATTERN, ECS_NAME_PATTERN } from '../contract';
import { usageError } from '../core/errors';

export interface ServiceRef {
  cluster: string;
  service: string;
}

/**
 * Parses `CLUSTER/SERVICE` (names or a cluster ARN followed by /SERVICE) or a service ARN
 * (`arn:aws:ecs:region:account:service/CLUSTER/SERVICE`).
 */
export function parseServiceRef(value: string): ServiceRef {
  const arn = /^arn:[^:]+:ecs:[^:]*:[^:]*:service\/([^/]+)\/([^/]+)$/.exec(value);
  if (arn) return { cluster: arn[1], service: value };
  const slash = value.lastIndexOf('/');
  const cluster = value.slice(0, slash);
  const service = value.slice(slash + 1);
  const clusterOk = ECS_CLUSTER_ARN_PATTERN.test(cluster) || ECS_NAME_PATTERN.test(cluster);
  if (slash <= 0 || !service || !clusterOk || !ECS_NAME_PATTERN.test(service)) {
    throw usageError(`web service ${JSON.stringify(value)} is not CLUSTER/SERVICE (names, or a cluster ARN/SERVICE, or a service ARN)`);
  }
  return { cluster, service };
}

export function describeServiceRef(ref: ServiceRef): string {
  return ref.service.startsWith('arn:') ? ref.service : `${ref.cluster}/${ref.service}`;
}

/** `web, server_bot,import_worker` → the names; each must be a Compose service name. */
export function parseServiceList(value: string, source: string): string[] {
  const names = value.split(',').map((s) => s.trim()).filter(Boolean);
  const bad = names.find((n) => !/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(n));
  if (names.length === 0 || bad !== undefined) {
    throw usageError(`${source} ${JSON.stringify(value)}: give the Compose service names, comma-separated (web,server_bot,import_worker)${bad !== undefined ? `; ${JSON.stringify(bad)} is not one` : ''}`);
  }
  return names;
}
