process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { runBackup } from '../../../src/backup/backup';
import { serverBinDir } from '../../../src/local/postgres-cluster';
import { withClient } from '../../../src/postgres/client';
import { readCatalogSummary } from '../../../src/postgres/catalog-summary';
import { toolVersion } from '../../../src/postgres/tools';
import { dumpBackendsLeft, freshBucket, useHarness } from './fixtures';
import { compressorFor } from '../../support/compressors';

describe('the catalog summary in the manifest, read in the snapshot pg_dump dumps', () => {
  const h = useHarness('snapshot', async ({ pg }) => {
    await pg.query('create database meatdb');
    await pg.query(
      `create table users (id bigserial primary key, name text not null unique);
       create table messages (id bigint generated always as identity primary key, user_id bigint references users, body text);
       create view names as select name from users;
       create materialized view counts as select count(*) as n from messages;
       create function shout(t text) returns text language sql immutable as $$ select upper(t) $$;
       insert into users (name) select 'user ' || g from generate_series(1, 500) g;
       insert into messages (user_id, body) select 1 + g % 500, 'hello ' || g from generate_series(1, 3000) g;`,
      'meatdb',
    );
    // Settled statistics (reltuples, visibility maps), so the database reads the same after the backup as during it.
    await pg.query('vacuum analyze', 'meatdb');
  });

  test('GIVEN a database WHEN backed up THEN the manifest records its catalog summary: per-table row estimates and sizes, and the counts', async () => {
    const bucket = await freshBucket(h.client, 'catalog-summary');
    const result = await runBackup({ compressor: compressorFor(), s3: h.client, bucket, connection: h.pg.connection('meatdb') });
    const live = await withClient(h.pg.connection('meatdb'), readCatalogSummary);

    expect(result.manifest.catalog).toEqual({ ...live, totalBytes: result.manifest.catalog?.totalBytes });
    expect(result.manifest.catalog?.counts).toEqual({ tables: 2, indexes: 3, sequences: 2, views: 1, materializedViews: 1, functions: 1 });
    expect(result.manifest.catalog?.tables).toEqual([
      { schema: 'public', name: 'messages', estimatedRows: 3000, sizeBytes: expect.any(Number) as number, relpages: expect.any(Number) as number, pages: expect.any(Number) as number, liveRows: expect.any(Number) as number },
      { schema: 'public', name: 'users', estimatedRows: 500, sizeBytes: expect.any(Number) as number, relpages: expect.any(Number) as number, pages: expect.any(Number) as number, liveRows: expect.any(Number) as number },
    ]);
    // pg_database_size moves with any write anywhere in the database (catalogs, free space maps, hint bits), so
    // between the backup and this check only its order of magnitude can be compared.
    expect(Math.abs(result.manifest.catalog!.totalBytes - live.totalBytes)).toBeLessThan(live.totalBytes * 0.05);
    expect(await dumpBackendsLeft(h.pg)).toBe(0);
  });

  test('GIVEN the database changes after the snapshot is exported WHEN pg_dump runs THEN the dump and the recorded summary both show the database as of the snapshot', async () => {
    const bucket = await freshBucket(h.client, 'catalog-snapshot');
    const bin = serverBinDir();
    const args = join(h.work, 'pg_dump.args');
    // A pg_dump that first changes the database (a new table, more rows) and then dumps: what it dumps must be the
    // snapshot the summary was read in, not the database as it is by then.
    const wrapper = join(h.work, 'pg_dump');
    writeFileSync(
      wrapper,
      `#!/bin/sh
if [ "$1" = --version ]; then exec '${bin}/pg_dump' --version; fi
echo "$@" > '${args}'
'${bin}/psql' -X -q -v ON_ERROR_STOP=1 -c "create table late_arrival (id int); insert into users (name) select 'late ' || g from generate_series(1, 100) g" || exit 3
exec '${bin}/pg_dump' "$@"
`,
    );
    chmodSync(wrapper, 0o755);
    const pgDump = await toolVersion(wrapper);

    const result = await runBackup({ compressor: compressorFor(), s3: h.client, bucket, connection: h.pg.connection('meatdb'), pgDump });
    try {
      const sql = gunzipSync(Buffer.from(await (await h.client.send(new GetObjectCommand({ Bucket: bucket, Key: result.key }))).Body!.transformToByteArray())).toString();
      expect(readFileSync(args, 'utf8')).toMatch(/^--format=plain --no-password --snapshot=[0-9A-F]+-[0-9A-F]+-\d+\n$/);
      // The database has the late table and 600 users now...
      const [{ n }] = await h.pg.query<{ n: string }>('select count(*) as n from users', 'meatdb');
      expect(Number(n)).toBe(600);
      expect(await h.pg.query("select 1 from pg_class where relname = 'late_arrival'", 'meatdb')).toHaveLength(1);
      // ...but neither the dump nor the summary does.
      expect(sql).not.toContain('late_arrival');
      expect(sql).not.toContain('late 1');
      const usersCopy = /COPY public\.users \(id, name\) FROM stdin;\n([\s\S]*?)\n\\\.\n/.exec(sql);
      expect(usersCopy?.[1].split('\n')).toHaveLength(500);
      expect(result.manifest.catalog?.tables.map((t) => t.name)).toEqual(['messages', 'users']);
      expect(result.manifest.catalog?.counts.tables).toBe(2);
      expect(await dumpBackendsLeft(h.pg)).toBe(0);
    } finally {
      await h.pg.query('drop table late_arrival; delete from users where name like \'late %\'', 'meatdb');
    }
  });
});
