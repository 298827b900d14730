/**
 * The cluster's globals — roles, role memberships and settings, tablespaces — which pg_dump of one database leaves
 * out: `pg_dumpall --globals-only --no-role-passwords`, stored gzip-compressed beside every backup
 * (`<key>.globals.sql.gz`) so a restore onto a brand-new server can create the roles first.
 *
 * --no-role-passwords makes pg_dumpall read pg_roles instead of pg_authid, which every role may read, so it works
 * without superuser (and on managed servers); passwords are never copied into the bucket. Globals are small (a few
 * KiB): they are read into memory, bounded, and compressed as one gzip member.
 */
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { UserError } from '../core/errors';
import type { Connection } from '../postgres/connection';
import type { PgTool } from '../postgres/tools';
import { describeDumpFailure, startTool } from './dump-process';

/** More than this is not globals; refuse rather than hold it in memory. */
export const GLOBALS_LIMIT_BYTES = 64 * 1024 * 1024;

export interface DumpedGlobals {
  /** The gzip-compressed SQL, as stored. */
  body: Buffer;
  sha256: string;
  sqlBytes: number;
}

/** The pg_dumpall arguments: globals only, no passwords, connecting to the backed-up database (`-l`). */
export function globalsArguments(database: string): string[] {
  return ['--globals-only', '--no-role-passwords', '--no-password', '-l', database];
}

/**
 * Runs pg_dumpall against `conn`'s server and returns its output compressed. Any failure (missing privileges,
 * connection, a killed process) is a UserError with pg_dumpall's own words on one line: a backup without its roles
 * does not restore onto a new server, so it is never skipped silently.
 */
export async function dumpGlobals(pgDumpall: PgTool, conn: Connection, signal?: AbortSignal): Promise<DumpedGlobals> {
  const proc = startTool([pgDumpall.path, ...globalsArguments(conn.database)], conn);
  const onAbort = (): void => proc.kill();
  signal?.addEventListener('abort', onAbort, { once: true });
  const chunks: Buffer[] = [];
  let bytes = 0;
  let tooBig = false;
  try {
    for await (const chunk of proc.stdout as AsyncIterable<Buffer>) {
      bytes += chunk.length;
      if (bytes > GLOBALS_LIMIT_BYTES) {
        tooBig = true;
        proc.kill();
        break;
      }
      chunks.push(chunk);
    }
  } catch {
    // The pipe breaks when the process is killed; its exit says why.
  }
  const exit = await proc.exit;
  signal?.removeEventListener('abort', onAbort);
  if (signal?.aborted) throw signal.reason;
  if (tooBig) throw new UserError(`pg_dumpall --globals-only wrote more than ${GLOBALS_LIMIT_BYTES} bytes: that is not a cluster's roles; check ${pgDumpall.path}`);
  if (exit.code !== 0 || exit.spawnError !== undefined) throw new UserError(describeDumpFailure(exit, pgDumpall.path, 'pg_dumpall'));
  const body = await promisify(gzip)(Buffer.concat(chunks, bytes), { level: 6 });
  return { body, sha256: createHash('sha256').update(body).digest('hex'), sqlBytes: bytes };
}
