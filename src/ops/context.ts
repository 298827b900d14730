/** What every ops action works with: the clients, the settings and the clock. The ops Lambda builds it once; tests pass their own. */
import type { ECSClient } from '@aws-sdk/client-ecs';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Settings } from '../settings';

export interface OpsContext {
  readonly s3: S3Client;
  readonly ecs: ECSClient;
  /** The function's settings, read from its environment once (src/settings.ts). */
  readonly settings: Settings;
  readonly now: () => Date;
  /** The S3 client of another region (a promotion's target, the replica); one per region. @default from the storage layer */
  readonly s3ForRegion?: (region: string) => S3Client;
}
