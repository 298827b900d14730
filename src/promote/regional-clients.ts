/**
 * One S3 client per region for a process that works in two (a promotion reads the replica in one region and writes
 * the target in another). Each is the storage layer's client for that region; keeping one per region keeps its
 * connections warm, and a request sent to the right region never needs S3's region redirect.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { type S3ClientOptions, createS3Client } from '../storage/s3';

/**
 * A lookup that builds each region's client once; `undefined` is `aws.region` (the settings' region, else the SDK's).
 * `aws`: what every client is made with (settings.aws: the region, an endpoint override), or a factory of one's own.
 */
export function regionalClients(aws: S3ClientOptions | ((region: string | undefined) => S3Client) = {}): (region: string | undefined) => S3Client {
  const create = typeof aws === 'function' ? aws : (region: string | undefined) => createS3Client({ ...aws, ...(region ? { region } : {}) });
  const clients = new Map<string, S3Client>();
  return (region) => {
    const id = region ?? '';
    let client = clients.get(id);
    if (!client) {
      client = create(region);
      clients.set(id, client);
    }
    return client;
  };
}
