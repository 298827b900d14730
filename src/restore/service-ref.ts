/**
 * The web service a restore stops, as CLUSTER/SERVICE: parsed where the setting enters (WEB_SERVICE, --stop-ecs-service)
 * without loading the ECS client, which only the restore itself needs.
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
