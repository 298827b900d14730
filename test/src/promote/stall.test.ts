/**
 * Promotion when S3 stops answering in the middle of the copies (packets dropped, not refused: a TCP proxy in front
 * of the emulator freezes): the stall watchdog ends the run with one line naming the copy it waited for, and running
 * it again resumes and proves every object.
 */
import { S3Client } from '@aws-sdk/client-s3';
import { type LocalS3, EMULATOR_REGION, startLocalS3 } from '../../../src/local/s3-emulator';
import { type PromotionOptions, planPromotion, runPromotion } from '../../../src/promote/promote';
import { FreezableProxy } from '../../support/freezable-proxy';
import { makeReplica, smallKey } from './fixtures';

const REPLICA = 'stall-replica';
const TARGET = 'stall-promoted';
const OBJECTS = 60;

describe('GIVEN S3 freezes while a promotion copies', () => {
  let s3: LocalS3;
  let proxy: FreezableProxy;
  beforeAll(async () => {
    s3 = await startLocalS3();
    await makeReplica(s3.client(), REPLICA, { small: OBJECTS, specials: false });
    proxy = await FreezableProxy.start(s3.endpoint);
  });
  afterAll(async () => {
    proxy?.thaw();
    await proxy?.close();
    await s3?.stop();
  });
  const proxied = () =>
    new S3Client({ endpoint: proxy.url, region: EMULATOR_REGION, forcePathStyle: true, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' }, maxAttempts: 1 });
  const options = (client: S3Client): PromotionOptions => ({
    from: REPLICA,
    to: TARGET,
    clients: { source: client, target: client },
    tlsOnlyPolicy: false,
    concurrency: 4,
    stallSeconds: 2,
  });

  test('WHEN no copy ends for the stall timeout THEN the run ends with one line naming the copy it waits for, and a second run resumes and proves everything', async () => {
    const client = proxied();
    const prepared = await planPromotion(options(client));
    // The copy of the 21st object is held, with whatever else is in flight then.
    const frozen = proxy.freezeOnRequest(new RegExp(`^PUT /${TARGET}/${smallKey(20).replace('.', '\\.')}[ ?]`));
    const running = runPromotion(options(client), prepared);
    running.catch(() => undefined);
    await frozen;
    const err = (await running.catch((e: unknown) => e)) as Error;
    expect(err.message).toMatch(
      new RegExp(
        `^S3 copy of objects/\\d{5}\\.json from ${REPLICA} to ${TARGET}( \\(and \\d+ more in flight\\))? made no progress for 2s \\(stall timeout: --stall-timeout or STALL_TIMEOUT_SECONDS\\); ` +
          `(\\d+) of ${OBJECTS} object\\(s\\) were copied: run the same command again to resume$`,
      ),
    );
    const copiedBefore = Number(/; (\d+) of/.exec(err.message)![1]);
    expect(copiedBefore).toBeGreaterThan(0);
    expect(copiedBefore).toBeLessThan(OBJECTS);

    proxy.thaw();
    const again = await runPromotion(options(s3.client()));
    expect(again.skipped.objects + again.copied.objects).toBe(OBJECTS);
    expect(again.skipped.objects).toBeGreaterThanOrEqual(copiedBefore);
    expect(again.verification?.ok).toBe(true);
  });
});
