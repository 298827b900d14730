/**
 * The ECS client, with the shared timeouts and retry budget. A module of its own so that only the commands that
 * stop and start a service (restore) or run tasks (the ops Lambda) load the ECS SDK.
 */
import { ECSClient } from '@aws-sdk/client-ecs';
import { type AwsClientOptions, awsClientConfig } from './s3';

export function createEcsClient(options: AwsClientOptions = {}): ECSClient {
  return new ECSClient(awsClientConfig(options));
}
