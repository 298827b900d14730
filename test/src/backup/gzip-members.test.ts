import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { type GzipStats, gzipMembers } from '../../../src/backup/gzip-members';

const KiB = 1024;

async function* chunks(data: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}

async function collect(source: AsyncIterable<Buffer>): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const b of source) out.push(b);
  return out;
}

/** SQL-ish text, with a random stretch so blocks compress at different speeds. */
function sqlLike(bytes: number): Buffer {
  const rows: string[] = [];
  let n = 0;
  for (let i = 0; n < bytes; i++) {
    const row = `${i}\tuser-${i % 977}\t${'hello world '.repeat(i % 7)}\t2025-09-17 10:30:00+00\n`;
    rows.push(row);
    n += row.length;
  }
  const text = Buffer.from(rows.join('')).subarray(0, bytes);
  randomBytes(200 * KiB).copy(text, 300 * KiB);
  return text;
}

describe('parallel gzip members', () => {
  test('GIVEN 5.5 blocks of SQL in odd-sized chunks WHEN compressed THEN one gzip member per block, in order, that gunzip reads back whole', async () => {
    const input = sqlLike(5.5 * 256 * KiB);
    const stats: GzipStats = { inputBytes: 0, members: 0 };
    const members = await collect(gzipMembers(chunks(input, 10_007), { memberBytes: 256 * KiB, concurrency: 3 }, stats));

    expect(members).toHaveLength(6);
    expect(stats).toEqual({ inputBytes: input.length, members: 6 });
    // Each member is a complete gzip file holding exactly its block.
    members.forEach((m, i) => expect(gunzipSync(m).equals(input.subarray(i * 256 * KiB, (i + 1) * 256 * KiB))).toBe(true));
    // The concatenation is what `gunzip -c file | psql` reads.
    const all = Buffer.concat(members);
    expect(gunzipSync(all).equals(input)).toBe(true);
    const system = spawnSync('gunzip', ['-c'], { input: all, maxBuffer: 64 * 1024 * 1024 });
    expect(system.status).toBe(0);
    expect(system.stdout.equals(input)).toBe(true);
  });

  test('GIVEN a consumer that stops pulling WHEN the source is endless THEN reading stops after the blocks in flight (backpressure)', async () => {
    let read = 0;
    async function* endless(): AsyncGenerator<Buffer> {
      const chunk = Buffer.alloc(64 * KiB, 'a');
      for (;;) {
        read += chunk.length;
        yield chunk;
      }
    }
    const members = gzipMembers(endless(), { memberBytes: 256 * KiB, concurrency: 2 });
    await members.next();
    await new Promise((r) => setTimeout(r, 200));
    // Two blocks compressing plus the one being filled, at most, were read.
    expect(read).toBeLessThanOrEqual(4 * 256 * KiB);
    await members.return();
  });

  test('GIVEN an empty dump WHEN compressed THEN the result is still a valid (empty) gzip file', async () => {
    const members = await collect(gzipMembers(chunks(Buffer.alloc(0), 1)));
    expect(members).toHaveLength(1);
    expect(gunzipSync(Buffer.concat(members))).toHaveLength(0);
  });

  test('GIVEN a level WHEN compressed THEN each member carries it (level 9 is no larger than level 1)', async () => {
    const input = sqlLike(512 * KiB);
    const fast = Buffer.concat(await collect(gzipMembers(chunks(input, 65_536), { level: 1 })));
    const small = Buffer.concat(await collect(gzipMembers(chunks(input, 65_536), { level: 9 })));
    expect(small.length).toBeLessThanOrEqual(fast.length);
    expect(gunzipSync(small).equals(input)).toBe(true);
  });
});
