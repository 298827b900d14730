/**
 * One S3 client per region for a process that works in two (a promotion reads the replica in one region and writes
 * the target in another). Each is the storage layer's client for that region; keeping one per region keeps its
 * connections warm, and a request sent to the right region never needs S3's region redirect.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { createS3Client } from '../storage/s3';

/** A lookup that builds each region's client once; `undefined` is the SDK's own region. */
export function regionalClients(create: (region: string | undefined) => S3Client = (region) => createS3Client(region ? { region } : {})): (region: string | undefined) => S3Client {
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
