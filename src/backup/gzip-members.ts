/**
 * Parallel gzip: the SQL is cut into fixed-size blocks and each block becomes its own gzip member, compressed with
 * zlib's asynchronous API, which runs on the libuv threadpool, so several blocks compress at once on every core.
 * Members come out in input order; `gunzip` (and zlib's Gunzip) read a concatenation of members as one stream.
 *
 * Memory is bounded: at most `concurrency` blocks are being compressed, and the source is read only when the
 * consumer asks for the next member, so a slow consumer stops the reads (and, through the pipe, pg_dump).
 */
import { gzip } from 'node:zlib';

export interface GzipMembersOptions {
  /** zlib level, 1 (fastest) to 9 (smallest). @default 1 */
  level?: number;
  /** Uncompressed bytes per gzip member. @default 1 MiB */
  memberBytes?: number;
  /** Blocks compressing at once. More than the threadpool (UV_THREADPOOL_SIZE, 4) only queues. @default 4 */
  concurrency?: number;
}

export const DEFAULT_LEVEL = 1;
export const DEFAULT_MEMBER_BYTES = 1024 * 1024;
export const DEFAULT_CONCURRENCY = 4;
const OUTPUT_CHUNK_BYTES = 256 * 1024;

export interface GzipStats {
  /** Uncompressed bytes read from the source so far. */
  inputBytes: number;
  /** Members handed out so far. */
  members: number;
}

function gzipBlock(block: Buffer, level: number, chunkSize: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    // memLevel 9 (zlib's default is 8): a larger hash table, a few percent faster at level 1 with the same output size.
    gzip(block, { level, chunkSize, memLevel: 9 }, (err, out) => (err ? reject(err) : resolve(out)));
  });
}

/**
 * Compresses `source` into gzip members, in order. Updates `stats` as it goes. Ending the iteration early (break,
 * throw) ends the source's iteration too, which destroys a stream source.
 */
export async function* gzipMembers(
  source: AsyncIterable<Buffer | string>,
  options: GzipMembersOptions = {},
  stats: GzipStats = { inputBytes: 0, members: 0 },
): AsyncGenerator<Buffer, void, undefined> {
  const level = options.level ?? DEFAULT_LEVEL;
  const memberBytes = options.memberBytes ?? DEFAULT_MEMBER_BYTES;
  const concurrency = Math.max(1, options.concurrency ?? DEFAULT_CONCURRENCY);
  // Output in 256 KiB pieces rather than zlib's default 16 KiB: a 1 MiB block (~150–350 KiB compressed) takes one or
  // two trips through the threadpool instead of ten or twenty, each of which costs the main thread a callback.
  // (An output buffer the size of the whole block makes more garbage than it saves.)
  const chunkSize = OUTPUT_CHUNK_BYTES;
  const pending: Promise<Buffer>[] = [];
  // Input blocks are recycled once compressed: allocating a fresh 1 MiB block per member is external memory
  // churn that makes V8 run full garbage collections, which cost more than they do in a small heap.
  const free: Buffer[] = [];
  const take = (): Buffer => free.pop() ?? Buffer.allocUnsafe(memberBytes);
  const launch = (block: Buffer, length: number): void => {
    const p = gzipBlock(block.subarray(0, length), level, chunkSize);
    // Awaited in order below; this keeps a failure of a later block from being reported as unhandled meanwhile.
    p.then(() => free.push(block), () => undefined);
    pending.push(p);
  };
  const next = async (): Promise<Buffer> => {
    const out = await pending.shift()!;
    stats.members += 1;
    return out;
  };

  let block = take();
  let fill = 0;
  for await (const raw of source) {
    const chunk = typeof raw === 'string' ? Buffer.from(raw) : raw;
    stats.inputBytes += chunk.length;
    let offset = 0;
    while (offset < chunk.length) {
      const n = Math.min(chunk.length - offset, memberBytes - fill);
      chunk.copy(block, fill, offset, offset + n);
      fill += n;
      offset += n;
      if (fill === memberBytes) {
        launch(block, fill);
        block = take();
        fill = 0;
        if (pending.length >= concurrency) yield await next();
      }
    }
  }
  // The last, short block; an empty input still yields one (empty) member so the result is a valid gzip file.
  if (fill > 0 || stats.members + pending.length === 0) launch(block, fill);
  while (pending.length > 0) yield await next();
}
