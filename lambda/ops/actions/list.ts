/**
 * `{"action": "list", "limit"?: N}`: the newest backups in the bucket, with what their manifests recorded, how each
 * one's listed size compares with its manifest (`sizeCheck`) and its latest verify or restore-test result
 * (`lastCheck`), and the extensions it needs (`extensions`). A backup whose manifest cannot be read is listed with `manifestProblem` saying why.
 */
import { listBackups, sizeCheck } from '../../../src/catalog/catalog';
import { ENV } from '../../../src/contract';
import { required } from '../../../src/settings';
import type { ActionHandler } from '../types';

/** How many backups `list` returns when the event gives no limit. */
export const DEFAULT_LIST_LIMIT = 20;

export const list: ActionHandler<'list'> = async (event, ctx) => {
  const bucket = required(ctx.settings.bucket, ENV.bucket);
  const { prefix } = ctx.settings;
  const limit = event.limit ?? DEFAULT_LIST_LIMIT;
  const entries = await listBackups(ctx.s3, bucket, prefix, { limit });
  return {
    ok: true,
    action: 'list',
    bucket,
    prefix,
    count: entries.length,
    backups: entries.map((entry) => ({
      key: entry.key,
      database: entry.database,
      takenAt: entry.takenAt.toISOString(),
      sizeBytes: entry.sizeBytes,
      lastModified: entry.lastModified?.toISOString(),
      storageClass: entry.storageClass,
      sizeCheck: sizeCheck(entry),
      ...(entry.manifestProblem ? { manifestProblem: entry.manifestProblem } : {}),
      lastCheck: entry.lastCheck ?? null,
      sha256: entry.manifest?.sha256,
      serverVersion: entry.manifest?.serverVersion,
      pgDumpVersion: entry.manifest?.pgDumpVersion,
      // the extensions a restore needs on its server; absent for backups recorded before they were
      extensions: entry.manifest?.catalog?.extensions,
    })),
  };
};
