process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
import { ListMultipartUploadsCommand, S3Client } from '@aws-sdk/client-s3';
import { runBackup } from '../../../src/backup/backup';
import { Stalled } from '../../../src/core/watchdog';
import { EMULATOR_REGION } from '../../../src/local/s3-emulator';
import { cleanEnv, runCli } from '../../support/cli';
import { useFreezableProxy } from '../../support/freezable-proxy';
import { bucketContents, dumpBackendsLeft, expectOneErrorLine, freshBucket, useHarness } from './fixtures';
import { compressorFor } from '../../support/compressors';

/** Poorly compressible rows (hex of random md5s): ~30 MB of SQL, ~15 MB stored, so the upload has several parts. */
async function seedNoise(h: { pg: { query: (sql: string, db?: string) => Promise<unknown> } }): Promise<void> {
  await h.pg.query('create database meatdb');
  await h.pg.query('create table noise as select g as id, md5(random()::text) || md5(random()::text) || md5(random()::text) as hex from generate_series(1, 300000) g', 'meatdb');
}

describe('a frozen S3 endpoint (packets dropped, not refused) in the middle of a backup, on a real cluster and the emulator', () => {
  const h = useHarness('stall', seedNoise);
  const p = useFreezableProxy(() => h.s3.endpoint);
  /** A client of the emulator that goes through the proxy. */
  const proxied = () => new S3Client({ endpoint: p.proxy.url, region: EMULATOR_REGION, forcePathStyle: true, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });

  test('GIVEN S3 freezes mid-upload WHEN nothing moves for the stall timeout THEN the backup ends with one line naming the stalled part, and once S3 answers again no object and no open upload remain', async () => {
    const bucket = await freshBucket(h.client, 'stall-backup');
    const frozen = p.proxy.freezeAfter(6 * 1024 * 1024);
    const running = runBackup({ compressor: compressorFor(), s3: proxied(), bucket, connection: h.pg.connection('meatdb'), partBytes: 5 * 1024 * 1024, stallSeconds: 2 });
    running.catch(() => undefined);
    await frozen;
    // When the watchdog gives up, the backup aborts the upload: that request is held too until S3 answers again.
    await p.proxy.requestSeen(/^DELETE \S+\?uploadId=/);
    p.proxy.thaw();
    const err = await running.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Stalled);
    expect((err as Error).message).toMatch(
      /^S3 upload of part \d+ of backups\/meatdb-\S+\.sql\.gz( \(and \d+ more in flight\))? made no progress for 2s \(stall timeout: --stall-timeout or STALL_TIMEOUT_SECONDS\)$/,
    );
    expect(await bucketContents(h.client, bucket)).toEqual({ versions: [], uploads: [] });
    expect(await dumpBackendsLeft(h.pg)).toBe(0);
  });

  test('GIVEN S3 frozen mid-upload WHEN the task gets SIGTERM THEN it ends within seconds with one line that names the upload it could not abort', async () => {
    const bucket = await freshBucket(h.client, 'stall-sigterm');
    const frozen = p.proxy.freezeAfter(6 * 1024 * 1024);
    let pid = 0;
    const env = cleanEnv({ ...h.s3.env, AWS_ENDPOINT_URL_S3: p.proxy.url, BACKUP_BUCKET: bucket, DATABASE_URL: h.pg.url('meatdb'), STALL_TIMEOUT_SECONDS: '600' });
    const run = runCli(['backup', '--first-part-size', '5'], { env, onSpawn: (p) => (pid = p) });
    await frozen;
    const signalled = Date.now();
    process.kill(pid, 'SIGTERM');
    const res = await run;
    const seconds = (Date.now() - signalled) / 1000;
    expect(seconds).toBeLessThan(15);
    const line = expectOneErrorLine(res, /^meatbackup: interrupted by SIGTERM; and could not abort multipart upload \S+: .*abort it with `aws s3api abort-multipart-upload --bucket \S+ --key backups\/meatdb-\S+\.sql\.gz --upload-id \S+`$/);
    // What the line names is exactly what is left: once S3 answers, the operator's command finds that upload.
    p.proxy.thaw();
    const open = await h.client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
    expect((open.Uploads ?? []).map((u) => u.UploadId)).toEqual([/--upload-id (\S+)`$/.exec(line)![1]]);
    expect((await bucketContents(h.client, bucket)).versions).toEqual([]);
    expect(await dumpBackendsLeft(h.pg)).toBe(0);
  });
});
