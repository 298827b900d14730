/**
 * One secret string from Secrets Manager (the Discord webhook URL, the bot token), read when first needed. The value
 * is never logged; a failure names the secret's ARN and what to do, not the value.
 */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { UserError, oneLine } from '../core/errors';
import { type AwsClientOptions, awsClientConfig } from './s3';

export function createSecretsClient(options: AwsClientOptions = {}): SecretsManagerClient {
  return new SecretsManagerClient(awsClientConfig(options));
}

/** The secret's string; a JSON secret (`{"url": "…"}` and the like) gives the value of its one field `field`. */
export async function readSecretString(client: SecretsManagerClient, secretArn: string, field?: string): Promise<string> {
  let value: string | undefined;
  try {
    value = (await client.send(new GetSecretValueCommand({ SecretId: secretArn }))).SecretString;
  } catch (err) {
    const name = (err as { name?: string }).name ?? 'error';
    throw new UserError(`cannot read secret ${secretArn} (${name}): check that it exists and that this role may read it; ${oneLine((err as Error).message ?? '')}`.replace(/; $/, ''));
  }
  if (!value) throw new UserError(`secret ${secretArn} holds no string: store the value as plain text`);
  if (field === undefined || !value.trim().startsWith('{')) return value.trim();
  const parsed = JSON.parse(value) as Record<string, unknown>;
  const found = parsed[field];
  if (typeof found !== 'string') throw new UserError(`secret ${secretArn} is JSON without a string field "${field}": store the value as plain text, or under "${field}"`);
  return found.trim();
}
