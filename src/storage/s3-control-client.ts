/**
 * The S3 Control client (Batch Operations), with the shared timeouts and retry budget. A module of its own so that
 * only a promotion by Batch Operations loads that SDK.
 */
import { S3ControlClient } from '@aws-sdk/client-s3-control';
import { type AwsClientOptions, awsClientConfig } from './s3';

export function createS3ControlClient(options: AwsClientOptions = {}): S3ControlClient {
  return new S3ControlClient(awsClientConfig(options));
}
