import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { choosePgDump, choosePgDumpall, parseToolVersion, toolVersion } from '../../../src/postgres/tools';
import { UserError } from '../../../src/core/errors';

/** A fake /usr/lib/postgresql with shell-script stubs (pg_dump unless told) that only answer --version. */
function fakeLibDir(versions: Record<string, string>, programs: readonly string[] = ['pg_dump']): string {
  const dir = mkdtempSync(join(tmpdir(), 'meatbackup-pglib-'));
  for (const [major, version] of Object.entries(versions)) {
    const bin = join(dir, major, 'bin');
    mkdirSync(bin, { recursive: true });
    for (const program of programs) {
      const stub = join(bin, program);
      writeFileSync(stub, `#!/bin/sh\necho "${program} (PostgreSQL) ${version} (stub)"\n`);
      chmodSync(stub, 0o755);
    }
  }
  return dir;
}

describe('choosing pg_dump for the server (the runbook: pg_dump must be the server major or newer)', () => {
  const dirs: string[] = [];
  const lib = (versions: Record<string, string>, programs?: readonly string[]): string => {
    const dir = fakeLibDir(versions, programs);
    dirs.push(dir);
    return dir;
  };
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  test('GIVEN pg_dump 13, 15 and 17 installed WHEN the server is 15 THEN the 15 one is used and its version reported', async () => {
    const dir = lib({ 13: '13.20', 15: '15.18', 17: '17.6' });
    const tool = await choosePgDump(15, { libDir: dir, pgDumpPath: '' });
    expect(tool).toEqual({ path: join(dir, '15', 'bin', 'pg_dump'), major: 15, version: '15.18', versionLine: 'pg_dump (PostgreSQL) 15.18 (stub)' });
  });

  test('GIVEN pg_dump 13 and 17 installed WHEN the server is 15 THEN the smallest newer one (17) is used', async () => {
    const dir = lib({ 13: '13.20', 17: '17.6' });
    expect((await choosePgDump(15, { libDir: dir, pgDumpPath: '' })).version).toBe('17.6');
  });

  test('GIVEN only pg_dump 15 installed WHEN the server is 17 THEN it refuses and says what to install', async () => {
    const dir = lib({ 14: '14.19', 15: '15.18' });
    const err = await choosePgDump(17, { libDir: dir, pgDumpPath: '' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toBe('server is PostgreSQL 17 but the newest pg_dump here is 15: install postgresql-client-17 or set PG_DUMP_PATH');
  });

  test('GIVEN a directory whose pg_dump reports an older major than its name WHEN chosen THEN its own --version decides', async () => {
    const dir = lib({ 16: '14.2' });
    await expect(choosePgDump(15, { libDir: dir, pgDumpPath: '' })).rejects.toThrow('newest pg_dump here is 14');
  });

  test('GIVEN PG_DUMP_PATH pointing at pg_dump 18 WHEN the server is 15 THEN that program is used', async () => {
    const dir = lib({ 18: '18.0' });
    const path = join(dir, '18', 'bin', 'pg_dump');
    expect(await choosePgDump(15, { pgDumpPath: path, libDir: '/nonexistent' })).toMatchObject({ path, major: 18, version: '18.0' });
  });

  test('GIVEN PG_DUMP_PATH pointing at an older pg_dump WHEN the server is 17 THEN it refuses and names the variable', async () => {
    const dir = lib({ 15: '15.18' });
    const path = join(dir, '15', 'bin', 'pg_dump');
    await expect(choosePgDump(17, { pgDumpPath: path })).rejects.toThrow(
      `server is PostgreSQL 17 but PG_DUMP_PATH=${path} is pg_dump 15.18: point it at pg_dump 17 or newer, or unset it`,
    );
  });

  test('GIVEN PG_DUMP_PATH pointing at nothing WHEN chosen THEN it says it cannot run it', async () => {
    await expect(choosePgDump(15, { pgDumpPath: '/nonexistent/pg_dump' })).rejects.toThrow('cannot run PG_DUMP_PATH=/nonexistent/pg_dump --version (no such file)');
  });

  test('GIVEN no pg_dump anywhere WHEN chosen THEN it says what to install', async () => {
    await expect(choosePgDump(16, { libDir: '/nonexistent', path: '/nonexistent', pgDumpPath: '' })).rejects.toThrow(
      'no pg_dump found in /nonexistent/*/bin or on PATH: install postgresql-client-16 or set PG_DUMP_PATH',
    );
  });

  test('GIVEN this machine WHEN the server is 15 THEN the real /usr/lib/postgresql/15 pg_dump is found', async () => {
    const tool = await choosePgDump(15, { pgDumpPath: '', libDir: '/usr/lib/postgresql' });
    expect(tool.path).toBe('/usr/lib/postgresql/15/bin/pg_dump');
    expect(tool.major).toBe(15);
    expect(tool.versionLine).toMatch(/^pg_dump \(PostgreSQL\) 15\.\d+/);
  });

  test('GIVEN pg_dump 17 chosen for a server 15 WHEN pg_dumpall is chosen THEN it is the 17 one beside it, not the server\'s major', async () => {
    const dir = lib({ 15: '15.18', 17: '17.6' }, ['pg_dump', 'pg_dumpall']);
    const pgDump = await toolVersion(join(dir, '17', 'bin', 'pg_dump'));
    expect(await choosePgDumpall(pgDump, { libDir: dir, path: '' })).toEqual({
      path: join(dir, '17', 'bin', 'pg_dumpall'), major: 17, version: '17.6', versionLine: 'pg_dumpall (PostgreSQL) 17.6 (stub)',
    });
  });

  test('GIVEN PG_DUMP_PATH pointing at a lone pg_dump 15 WHEN pg_dumpall is chosen THEN the per-major directory supplies pg_dumpall 15', async () => {
    const lone = lib({ 15: '15.18' });
    const installed = lib({ 15: '15.18', 16: '16.9' }, ['pg_dumpall']);
    const pgDump = await toolVersion(join(lone, '15', 'bin', 'pg_dump'));
    expect((await choosePgDumpall(pgDump, { libDir: installed, path: '' })).path).toBe(join(installed, '15', 'bin', 'pg_dumpall'));
  });

  test('GIVEN only a pg_dumpall of another major WHEN chosen for pg_dump 17 THEN it refuses and says what to install', async () => {
    const dir = lib({ 17: '17.6' });
    const other = lib({ 16: '16.9' }, ['pg_dumpall']);
    const pgDump = await toolVersion(join(dir, '17', 'bin', 'pg_dump'));
    await expect(choosePgDumpall(pgDump, { libDir: other, path: join(other, '16', 'bin') })).rejects.toThrow(
      `no pg_dumpall 17 found beside ${join(dir, '17', 'bin', 'pg_dump')}, in ${other}/17/bin or on PATH: every backup stores the roles with pg_dumpall of the same major as pg_dump; install postgresql-client-17 or set PG_DUMP_PATH`,
    );
  });

  test('GIVEN version lines of releases and betas WHEN parsed THEN major and version come out', () => {
    expect(parseToolVersion('pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)')).toEqual({ major: 15, version: '15.18' });
    expect(parseToolVersion('pg_dump (PostgreSQL) 18beta1')).toEqual({ major: 18, version: '18beta1' });
    expect(parseToolVersion('pg_dump (PostgreSQL) 9.6.24')).toEqual({ major: 9, version: '9.6.24' });
    expect(parseToolVersion('something else')).toBeUndefined();
  });
});
