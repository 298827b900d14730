import { gunzipSync } from 'node:zlib';
import type { Compressor } from '../../../src/gzip/choice';
import { findIgzip } from '../../../src/gzip/choice';
import { startDumpPipeline } from '../../../src/backup/dump-pipeline';
import { parseDatabaseUrl } from '../../../src/postgres/connection';

// pg_dump's place taken by a shell that prints a statement and exits: the arguments the pipeline gives pg_dump become
// the script's ignored positional parameters.
const SQL = 'select 1;\n'.repeat(1000);
const fakeDump = ['/bin/sh', '-c', `printf '${SQL.replace(/\n/g, '\\n')}'`, 'pg_dump'];

async function collect(output: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of output) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** Resolves once the process is no longer there (exited and reaped by Node). */
async function gone(pid: number): Promise<void> {
  for (;;) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

const igzip = findIgzip(process.env.PATH);
const compressors: Array<[string, Compressor]> = [['zlib', { name: 'zlib' }]];
if (igzip) compressors.push(['isal', { name: 'isal', igzipPath: igzip }]);

describe('the dump pipeline, read by a consumer that starts late', () => {
  test('igzip is installed (the default compressor; apt-get install -y isal)', () => {
    expect(igzip).toBeDefined();
  });

  test.each(compressors)('GIVEN the %s pipeline WHEN every process has exited before the upload starts reading THEN no byte is lost', async (_name, compressor) => {
    const pipeline = startDumpPipeline({
      pgDumpPath: 'pg_dump',
      conn: parseDatabaseUrl('postgresql://postgres@127.0.0.1:5432/meatdb'),
      dumpArgs: [],
      prefix: fakeDump,
      compressor,
      level: 1,
    });
    // What a slow first S3 answer does: the processes finish before anything reads their output. ('close', which
    // `exit` waits for, comes only once the output is read, so the processes' end is watched by pid.)
    await Promise.all([pipeline.pgDump.pid, pipeline.igzip?.pid].map((pid) => (pid === undefined ? undefined : gone(pid))));
    await new Promise((r) => setTimeout(r, 100));
    const gz = await collect(pipeline.output);
    await pipeline.settle();
    expect(gunzipSync(gz).toString()).toBe(SQL);
  });
});
