/** The context's client for its own region, and one client per other region (the context's own, or the storage layer's). */
import type { S3Client } from '@aws-sdk/client-s3';
import { regionalClients } from '../../src/promote/regional-clients';
import type { OpsContext } from './types';

export function s3ForRegion(ctx: OpsContext): (region: string) => S3Client {
  return ctx.s3ForRegion ?? regionalClients(ctx.settings.aws);
}
