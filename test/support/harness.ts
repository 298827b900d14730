/**
 * The integration suites' one setup: a throwaway PostgreSQL cluster, the S3 emulator and a scratch directory for the
 * enclosing describe block (or the whole file at top level), started in beforeAll and stopped in afterAll.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { type LocalCluster, startLocalCluster } from '../../src/local/postgres-cluster';
import { type LocalS3, startLocalS3 } from '../../src/local/s3-emulator';

export interface Harness {
  pg: LocalCluster;
  s3: LocalS3;
  /** A client of the emulator, for setting up and inspecting buckets. */
  client: S3Client;
  /** A scratch directory, removed afterwards. */
  work: string;
}

/**
 * A throwaway cluster, the S3 emulator and a scratch directory for the enclosing describe block (beforeAll/afterAll);
 * `seed` runs once they are up. Read the fields inside tests, not at describe time.
 */
export function useHarness(label: string, seed?: (h: Harness) => Promise<void>): Harness {
  const h = {} as Harness;
  beforeAll(async () => {
    [h.pg, h.s3] = await Promise.all([startLocalCluster(), startLocalS3()]);
    h.client = h.s3.client();
    h.work = mkdtempSync(join(tmpdir(), `meatbackup-${label}-`));
    await seed?.(h);
  });
  afterAll(async () => {
    await Promise.all([h.pg?.stop(), h.s3?.stop()]);
    if (h.work) rmSync(h.work, { recursive: true, force: true });
  });
  return h;
}

