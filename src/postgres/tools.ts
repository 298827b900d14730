/**
 * Which pg_dump to run against a given server. pg_dump must be the server's major version or newer (an older one
 * refuses, or worse, misses newer catalog features), so the choice is made per server:
 *
 * 1. `PG_DUMP_PATH`, when set: used as is, after checking its `--version` is new enough;
 * 2. otherwise `<PG_LIB_DIR or /usr/lib/postgresql>/<major>/bin/pg_dump` for the smallest installed major that is
 *    at least the server's (Debian/PGDG layout, the container image installs 13–18 side by side);
 * 3. only when that directory holds no pg_dump at all: `pg_dump` on PATH (Homebrew, other distributions).
 *
 * Anything older than the server is refused with a message that says what to install.
 *
 * `pg_dumpall` (the roles and tablespaces stored beside each backup) is taken from the same installation as the
 * chosen pg_dump, so both are the same major: see {@link choosePgDumpall}.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { ENV } from '../contract';
import { UserError } from '../core/errors';

export const DEFAULT_PG_LIB_DIR = '/usr/lib/postgresql';

export interface PgTool {
  /** Absolute path of the program. */
  path: string;
  /** Major version it reported, e.g. 15. */
  major: number;
  /** Version number it reported, e.g. "15.18". */
  version: string;
  /** Its whole `--version` line, e.g. "pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)". */
  versionLine: string;
}

/** Parses `pg_dump (PostgreSQL) 15.18 (Debian …)`, `pg_dump (PostgreSQL) 18beta1` and the like. */
export function parseToolVersion(line: string): { major: number; version: string } | undefined {
  const m = /\(PostgreSQL\)\s+(\d+)((?:\.\d+)*(?:[a-z]+\d*)?)/.exec(line);
  if (!m) return undefined;
  return { major: Number(m[1]), version: `${m[1]}${m[2]}` };
}

/** Runs `<path> --version` and parses it; a program that does not run or does not answer like pg_dump is refused. */
export function toolVersion(path: string, what: string = path, program = 'pg_dump'): Promise<PgTool> {
  return new Promise((resolve, reject) => {
    execFile(path, ['--version'], { timeout: 10_000, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) {
        const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (stderr.trim() || err.message);
        reject(new UserError(`cannot run ${what} --version (${reason}): point it at a ${program} binary`));
        return;
      }
      const versionLine = stdout.trim().split('\n')[0] ?? '';
      const parsed = parseToolVersion(versionLine);
      if (!parsed) {
        reject(new UserError(`${what} --version printed ${JSON.stringify(versionLine)}, not a PostgreSQL version: point it at a ${program} binary`));
        return;
      }
      resolve({ path, versionLine, ...parsed });
    });
  });
}

/** Where the PostgreSQL programs are looked for (settings PG_DUMP_PATH, PG_LIB_DIR and PATH, src/settings.ts). */
export interface PgPrograms {
  /** One pg_dump for every server, instead of the per-major lookup. @default none */
  pgDumpPath?: string;
  /** @default /usr/lib/postgresql */
  libDir?: string;
  /** Consulted only when libDir holds no such program. @default none: PATH is not searched */
  path?: string;
}

/**
 * The PostgreSQL majors installed side by side under `libDir` (Debian/PGDG layout `<libDir>/<major>/bin`) that have
 * `program`, oldest first. The one scan for pg_dump, psql and the server programs.
 */
export function installedMajors(libDir: string, program: string): number[] {
  if (!existsSync(libDir)) return [];
  return readdirSync(libDir)
    .filter((d) => /^\d+$/.test(d) && existsSync(join(libDir, d, 'bin', program)))
    .map(Number)
    .sort((a, b) => a - b);
}

function onPath(program: string, pathVar: string): string | undefined {
  for (const dir of pathVar.split(delimiter)) {
    if (dir && existsSync(join(dir, program))) return join(dir, program);
  }
  return undefined;
}

function installHint(serverMajor: number): string {
  return `install postgresql-client-${serverMajor} or set ${ENV.pgDumpPath}`;
}

/** The pg_dump to run against a server of major version `serverMajor`, or a UserError saying what to install. */
export async function choosePgDump(serverMajor: number, options: PgPrograms = {}): Promise<PgTool> {
  const explicit = options.pgDumpPath;
  if (explicit) {
    const tool = await toolVersion(explicit, `${ENV.pgDumpPath}=${explicit}`);
    if (tool.major < serverMajor) {
      throw new UserError(
        `server is PostgreSQL ${serverMajor} but ${ENV.pgDumpPath}=${explicit} is pg_dump ${tool.version}: point it at pg_dump ${serverMajor} or newer, or unset it`,
      );
    }
    return tool;
  }

  const libDir = options.libDir ?? DEFAULT_PG_LIB_DIR;
  const majors = installedMajors(libDir, 'pg_dump');
  if (majors.length === 0) {
    const fallback = onPath('pg_dump', options.path ?? '');
    if (!fallback) throw new UserError(`no pg_dump found in ${libDir}/*/bin or on PATH: ${installHint(serverMajor)}`);
    const tool = await toolVersion(fallback);
    if (tool.major < serverMajor) {
      throw new UserError(`server is PostgreSQL ${serverMajor} but the pg_dump on PATH (${fallback}) is ${tool.version}: ${installHint(serverMajor)}`);
    }
    return tool;
  }

  // The directory name says which major should be there; the program's own --version has the last word. Only the
  // candidates that can qualify are run (each --version is a process start), the rest only to word a refusal.
  for (const major of majors.filter((m) => m >= serverMajor)) {
    const tool = await toolVersion(join(libDir, String(major), 'bin', 'pg_dump'));
    if (tool.major >= serverMajor) return tool;
  }
  const reported = await Promise.all(majors.map((m) => toolVersion(join(libDir, String(m), 'bin', 'pg_dump')).then((t) => t.major, () => m)));
  throw new UserError(`server is PostgreSQL ${serverMajor} but the newest pg_dump here is ${Math.max(...reported)}: ${installHint(serverMajor)}`);
}

/**
 * The pg_dumpall of the same major as `pgDump`: the one beside it (same installation), else
 * `<PG_LIB_DIR>/<major>/bin/pg_dumpall`, else `pg_dumpall` on PATH; each only if its own `--version` says that major.
 * (With PG_DUMP_PATH pointing at a lone pg_dump, the per-major directory supplies its pg_dumpall.)
 */
export async function choosePgDumpall(pgDump: PgTool, options: Omit<PgPrograms, 'pgDumpPath'> = {}): Promise<PgTool> {
  const libDir = options.libDir ?? DEFAULT_PG_LIB_DIR;
  const candidates = [
    join(dirname(pgDump.path), 'pg_dumpall'),
    join(libDir, String(pgDump.major), 'bin', 'pg_dumpall'),
    onPath('pg_dumpall', options.path ?? ''),
  ].filter((c, i, all): c is string => c !== undefined && all.indexOf(c) === i && existsSync(c));
  for (const candidate of candidates) {
    const tool = await toolVersion(candidate, candidate, 'pg_dumpall').catch(() => undefined);
    if (tool?.major === pgDump.major) return tool;
  }
  throw new UserError(
    `no pg_dumpall ${pgDump.major} found beside ${pgDump.path}, in ${libDir}/${pgDump.major}/bin or on PATH: every backup stores the roles with pg_dumpall of the same major as pg_dump; ${installHint(pgDump.major)}`,
  );
}
