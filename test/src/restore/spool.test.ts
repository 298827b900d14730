/**
 * A table's COPY block between the reader of the dump and its session: held in memory up to a bound, then either the
 * reader waits (no session would gain from running ahead) or the rest goes to an unlinked scratch file within the
 * load's budget; the session reads it all back in order, and the space is given back as it does.
 */
import { readdirSync } from 'node:fs';
import { MEMORY_BYTES, Notifier, SpillBudget, Spool } from '../../../src/restore/parallel/spool';
import { tempDir } from '../../support/temp-dir';

const CHUNK = 256 * 1024;

/** `count` chunks whose bytes say where they are, so any reordering shows. */
function chunks(count: number): Buffer[] {
  return Array.from({ length: count }, (_, i) => Buffer.alloc(CHUNK, i % 251));
}

async function readAll(spool: Spool): Promise<Buffer> {
  const got: Buffer[] = [];
  for await (const chunk of spool.read()) got.push(chunk);
  return Buffer.concat(got);
}

function world(limit: number, worth: () => boolean, parent?: string) {
  const notifier = new Notifier();
  const dir = parent ?? tempDir('spool-test-');
  const budget = SpillBudget.forLoad(notifier, limit, dir);
  let failure: unknown;
  const spool = new Spool(budget, notifier, worth, () => failure);
  return { dir, budget, spool, fail: (err: unknown) => ((failure = err), notifier.notify()) };
}

describe('GIVEN a block larger than a spool holds in memory', () => {
  const blocks = chunks((3 * MEMORY_BYTES) / CHUNK);
  const whole = Buffer.concat(blocks);

  test('WHEN no other session is idle THEN the reader waits for its session and nothing goes to disk', async () => {
    const { spool, budget } = world(1024 ** 3, () => false);
    let written = 0;
    const writing = (async () => {
      for (const b of blocks) {
        await spool.write(b);
        written += 1;
      }
      spool.end();
    })();
    await new Promise((r) => setTimeout(r, 50));
    expect(written).toBe(MEMORY_BYTES / CHUNK);
    const [read] = await Promise.all([readAll(spool), writing]);
    expect(read.equals(whole)).toBe(true);
    expect(budget.written).toBe(0);
  });

  test('WHEN another session is idle THEN the reader runs ahead through a scratch file that leaves no trace, and the session reads it all in order', async () => {
    const { spool, budget, dir } = world(1024 ** 3, () => true);
    for (const b of blocks) await spool.write(b);
    spool.end();
    expect(budget.written).toBe(whole.length - MEMORY_BYTES);
    // The file is unlinked as soon as it is opened: a killed restore leaves nothing behind.
    const [scratch] = readdirSync(dir);
    expect(readdirSync(`${dir}/${scratch}`)).toEqual([]);

    expect((await readAll(spool)).equals(whole)).toBe(true);
    expect(budget.peak).toBe(whole.length - MEMORY_BYTES);
    budget.close();
    expect(readdirSync(dir)).toEqual([]);
  });

  test('WHEN the scratch budget is used up THEN the reader waits until its session has read the file back, and goes on', async () => {
    const { spool, budget } = world(2 * CHUNK, () => true);
    const writing = (async () => {
      for (const b of blocks) await spool.write(b);
      spool.end();
    })();
    const [read] = await Promise.all([readAll(spool), writing]);
    expect(read.equals(whole)).toBe(true);
    expect(budget.peak).toBeLessThanOrEqual(2 * CHUNK);
    expect(budget.written).toBeGreaterThan(0);
  });

  test('WHEN no scratch file can be made THEN the reader waits for its session instead, and says why', async () => {
    const { spool, budget } = world(1024 ** 3, () => true, '/nonexistent/scratch');
    const [read] = await Promise.all([
      readAll(spool),
      (async () => {
        for (const b of blocks) await spool.write(b);
        spool.end();
      })(),
    ]);
    expect(read.equals(whole)).toBe(true);
    expect(budget.written).toBe(0);
    expect(budget.unavailable).toMatch(/ENOENT/);
  });

  test('WHEN the load fails elsewhere THEN a waiting reader and its session stop with that failure', async () => {
    const { spool, fail } = world(1024 ** 3, () => false);
    const writing = (async () => {
      for (const b of blocks) await spool.write(b);
    })();
    await new Promise((r) => setTimeout(r, 20));
    fail(new Error('a session failed'));
    await expect(writing).rejects.toThrow('a session failed');
    await expect(readAll(spool)).rejects.toThrow('a session failed');
  });
});
