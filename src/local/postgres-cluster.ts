/**
 * A throwaway PostgreSQL cluster in a temporary directory, listening on a free loopback port, for the demo
 * and the integration tests. Trust authentication on loopback only; removed completely by stop().
 */
import { chmodSync, chownSync, copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { freePort, isRoot, runAsPostgres, waitFor } from './processes';
import type { Connection } from '../postgres/connection';
import { DEFAULT_PG_LIB_DIR, installedMajors } from '../postgres/tools';

export interface LocalCluster {
  port: number;
  dataDir: string;
  /** Superuser connection to `postgres`; pass a database name to get one for another database. */
  connection(database?: string): Connection;
  url(database?: string): string;
  /** libpq environment for tools and child processes. */
  env(database?: string): NodeJS.ProcessEnv;
  query<R extends Record<string, unknown> = Record<string, unknown>>(sql: string, database?: string): Promise<R[]>;
  stop(): Promise<void>;
}

/** The newest installed PostgreSQL server's bin directory (it has initdb). */
export function serverBinDir(libDir: string = DEFAULT_PG_LIB_DIR): string {
  const newest = installedMajors(libDir, 'initdb').at(-1);
  if (newest === undefined) {
    throw new Error(`PostgreSQL server programs (initdb, pg_ctl) not found under ${libDir}: install them with \`apt-get install -y postgresql\``);
  }
  return join(libDir, String(newest), 'bin');
}

export interface LocalClusterOptions {
  superuser?: string;
  /**
   * Serve TLS with this certificate and key (PEM files; copied into the cluster's directory, the key readable by the
   * server only, as PostgreSQL demands) and accept TCP connections over TLS only (hostssl).
   */
  ssl?: { certFile: string; keyFile: string };
  /** Where the cluster's temporary directory is made (e.g. on a small filesystem). @default the OS temp directory */
  parentDir?: string;
  /** More server settings, e.g. `['max_wal_size=32MB']`. */
  settings?: string[];
}

export async function startLocalCluster(options: LocalClusterOptions = {}): Promise<LocalCluster> {
  const bin = serverBinDir();
  const superuser = options.superuser ?? 'postgres';
  const root = mkdtempSync(join(options.parentDir ?? tmpdir(), 'meatbackup-pg-'));
  const dataDir = join(root, 'data');
  const owner = isRoot() ? { uid: Number(runAsPostgres('id', ['-u']).stdout.trim()), gid: Number(runAsPostgres('id', ['-g']).stdout.trim()) } : undefined;
  // The postgres user must own the directory it creates the cluster in.
  if (owner) chownSync(root, owner.uid, owner.gid);
  const init = runAsPostgres(join(bin, 'initdb'), ['-D', dataDir, '-U', superuser, '-A', 'trust', '-E', 'UTF8', '--locale=C.UTF-8', '--no-sync']);
  if (init.status !== 0) {
    rmSync(root, { recursive: true, force: true });
    throw new Error(`initdb failed: ${init.stderr.trim()}`);
  }
  const sslSettings: string[] = [];
  if (options.ssl) {
    const cert = join(root, 'server.crt');
    const key = join(root, 'server.key');
    copyFileSync(options.ssl.certFile, cert);
    copyFileSync(options.ssl.keyFile, key);
    chmodSync(key, 0o600);
    if (owner) for (const f of [cert, key]) chownSync(f, owner.uid, owner.gid);
    writeFileSync(join(dataDir, 'pg_hba.conf'), 'local all all trust\nhostssl all all 127.0.0.1/32 trust\n');
    sslSettings.push('-c ssl=on', `-c ssl_cert_file=${cert}`, `-c ssl_key_file=${key}`);
  }
  const port = await freePort();
  const start = runAsPostgres(join(bin, 'pg_ctl'), [
    '-D', dataDir, '-l', join(root, 'server.log'), '-w', '-t', '60',
    '-o', [
      `-p ${port} -k ${root} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=50`,
      ...sslSettings,
      ...(options.settings ?? []).map((s) => `-c ${s}`),
    ].join(' '),
    'start',
  ]);
  if (start.status !== 0) {
    rmSync(root, { recursive: true, force: true });
    throw new Error(`pg_ctl start failed: ${start.stderr.trim() || start.stdout.trim()}`);
  }

  const connection = (database = 'postgres'): Connection => ({ host: '127.0.0.1', port, user: superuser, database });
  const cluster: LocalCluster = {
    port,
    dataDir,
    connection,
    url: (database = 'postgres') => `postgresql://${superuser}@127.0.0.1:${port}/${encodeURIComponent(database)}`,
    env: (database = 'postgres') => ({ PGHOST: '127.0.0.1', PGPORT: String(port), PGUSER: superuser, PGDATABASE: database }),
    async query(sql, database = 'postgres') {
      // The harness's own sessions encrypt without checking the certificate: what is checked is meatbackup's.
      const client = new Client({ ...connection(database), ssl: options.ssl ? { rejectUnauthorized: false } : false });
      await client.connect();
      try {
        const result = await client.query(sql);
        // Several statements give an array of results; the last one is what callers want.
        const last = Array.isArray(result) ? result[result.length - 1] : result;
        return last.rows;
      } finally {
        await client.end();
      }
    },
    async stop() {
      runAsPostgres(join(bin, 'pg_ctl'), ['-D', dataDir, '-m', 'immediate', '-w', 'stop']);
      rmSync(root, { recursive: true, force: true });
    },
  };
  await waitFor(async () => {
    try {
      await cluster.query('select 1');
      return true;
    } catch {
      return false;
    }
  }, 30_000, 'PostgreSQL');
  return cluster;
}
