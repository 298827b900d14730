/** The Lambda client (the Discord function asks the ops function, and hands its follow-ups to itself), made like every AWS client here. */
import { LambdaClient } from '@aws-sdk/client-lambda';
import { type AwsClientOptions, awsClientConfig } from './s3';

export function createLambdaClient(options: AwsClientOptions = {}): LambdaClient {
  return new LambdaClient(awsClientConfig(options));
}
