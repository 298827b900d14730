import type { Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { AppConfig } from '../config';
import { acknowledgeWildcardResource, defaultPolicyOf } from '../nag';

/**
 * The platform's web ECS service, which is not this project's: the ARNs a restore needs to stop and start it, from
 * the configuration. A cluster given by ARN is used as is; a cluster name is in the stack's account and region.
 */
export class WebService {
  /** `CLUSTER/SERVICE`, as the restore reads it from WEB_SERVICE. */
  readonly ref: string;
  readonly clusterArn: string;
  readonly serviceArn: string;
  /** The cluster's tasks, `…:task/CLUSTER/*`. */
  readonly tasks: string;

  constructor(stack: Stack, web: NonNullable<AppConfig['webService']>) {
    const arn = /^arn:([^:]+):ecs:([^:]+):([^:]+):cluster\/(.+)$/.exec(web.cluster);
    const [partition, region, account, cluster] = arn ? arn.slice(1) : [stack.partition, stack.region, stack.account, web.cluster];
    const base = `arn:${partition}:ecs:${region}:${account}`;
    this.ref = `${web.cluster}/${web.service}`;
    this.clusterArn = `${base}:cluster/${cluster}`;
    this.serviceArn = `${base}:service/${cluster}/${web.service}`;
    this.tasks = `${base}:task/${cluster}/*`;
  }

  /**
   * What the restore does to the service around the swap (src/restore/web-service.ts): read and scale that one
   * service, list its tasks and wait until they have stopped. Nothing else in its cluster.
   */
  grantStopStart(role: iam.IRole): void {
    const onCluster = { ArnEquals: { 'ecs:cluster': this.clusterArn } };
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({ sid: 'StopStartWebService', actions: ['ecs:DescribeServices', 'ecs:UpdateService'], resources: [this.serviceArn] }),
    );
    role.addToPrincipalPolicy(
      // ListTasks cannot be scoped to the service's tasks (Resource "*"); the ecs:cluster condition keeps it to that cluster.
      new iam.PolicyStatement({ sid: 'ListWebServiceTasks', actions: ['ecs:ListTasks'], resources: ['*'], conditions: onCluster }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({ sid: 'DescribeWebServiceTasks', actions: ['ecs:DescribeTasks'], resources: [this.tasks], conditions: onCluster }),
    );
    const policy = defaultPolicyOf(role);
    acknowledgeWildcardResource(
      policy,
      '*',
      'ecs:ListTasks cannot be scoped by resource; the ecs:cluster condition limits it to the web service\'s cluster, which the restore waits on.',
    );
    acknowledgeWildcardResource(
      policy,
      this.tasks,
      'The web service\'s task ARNs are only known at run time; DescribeTasks is limited to that cluster\'s tasks (resource and ecs:cluster condition).',
    );
  }
}
