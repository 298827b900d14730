/**
 * sslmode and the CA, decided once as libpq decides them (PGSSLMODE / PGSSLROOTCERT, or sslmode= / sslrootcert= in
 * the URL), and handed the same to node-postgres and to the libpq tools.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserError } from '../../../src/core/errors';
import { type Connection, libpqEnv, parseDatabaseUrl, pgSslOptions, resolveConnection } from '../../../src/postgres/connection';

const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
let dir: string;
let caFile: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'meatbackup-ssl-options-'));
  caFile = join(dir, 'ca.pem');
  writeFileSync(caFile, PEM);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const base = { PGHOST: 'db.internal', PGUSER: 'meat', PGDATABASE: 'meatdb' };

function usageError(fn: () => unknown): UserError {
  try {
    fn();
  } catch (err) {
    if (err instanceof UserError) return err;
    throw err;
  }
  throw new Error('no error was thrown');
}

describe('GIVEN libpq settings for TLS', () => {
  test('WHEN sslmode is verify-full with PGSSLROOTCERT THEN node-postgres checks CA and host name with that CA, and libpq gets the same file', () => {
    const conn = resolveConnection(undefined, { ...base, PGSSLMODE: 'verify-full', PGSSLROOTCERT: caFile });
    expect(conn).toMatchObject({ sslmode: 'verify-full', sslrootcert: caFile });
    expect(pgSslOptions(conn)).toEqual({ rejectUnauthorized: true, ca: PEM });
    expect(libpqEnv(conn, {})).toMatchObject({ PGSSLMODE: 'verify-full', PGSSLROOTCERT: caFile });
  });

  test('WHEN sslmode is verify-ca THEN the CA is checked and the host name is not', () => {
    const ssl = pgSslOptions(resolveConnection(undefined, { ...base, PGSSLMODE: 'verify-ca', PGSSLROOTCERT: caFile })) as { rejectUnauthorized: boolean; ca: string; checkServerIdentity: () => unknown };
    expect(ssl).toMatchObject({ rejectUnauthorized: true, ca: PEM });
    expect(ssl.checkServerIdentity()).toBeUndefined();
  });

  test('WHEN sslmode is require THEN it encrypts without checking, unless a CA is named, which libpq then checks (as verify-ca)', () => {
    expect(pgSslOptions(resolveConnection(undefined, { ...base, PGSSLMODE: 'require' }))).toEqual({ rejectUnauthorized: false });
    const withCa = pgSslOptions(resolveConnection(undefined, { ...base, PGSSLMODE: 'require', PGSSLROOTCERT: caFile }));
    expect(withCa).toMatchObject({ rejectUnauthorized: true, ca: PEM, checkServerIdentity: expect.any(Function) });
  });

  test.each(['disable', 'allow', 'prefer', undefined])('WHEN sslmode is %s THEN node-postgres is told no TLS, not left to read PGSSLMODE itself', (mode) => {
    const conn: Connection = { host: 'h', port: 5432, user: 'u', database: 'd', ...(mode ? { sslmode: mode } : {}) };
    expect(pgSslOptions(conn)).toBe(false);
    expect(libpqEnv(conn, { PGSSLROOTCERT: '/elsewhere.pem' }).PGSSLROOTCERT).toBeUndefined();
  });

  test('WHEN the URL names sslmode and sslrootcert THEN they win over the environment, and PGSSLMODE applies when the URL names none', () => {
    const url = `postgresql://meat@db.internal/meatdb?sslmode=verify-ca&sslrootcert=${encodeURIComponent(caFile)}&application_name=x`;
    expect(parseDatabaseUrl(url, { PGSSLMODE: 'disable' })).toMatchObject({ sslmode: 'verify-ca', sslrootcert: caFile, database: 'meatdb' });
    expect(parseDatabaseUrl('postgresql://meat@db.internal/meatdb', { PGSSLMODE: 'verify-full', PGSSLROOTCERT: caFile })).toMatchObject({ sslmode: 'verify-full', sslrootcert: caFile });
  });

  test('WHEN sslrootcert is system THEN node-postgres uses its trusted roots with verify-full, and any weaker mode is a usage error', () => {
    const conn = resolveConnection(undefined, { ...base, PGSSLMODE: 'verify-full', PGSSLROOTCERT: 'system' });
    expect(pgSslOptions(conn)).toEqual({ rejectUnauthorized: true });
    const err = usageError(() => resolveConnection(undefined, { ...base, PGSSLMODE: 'verify-ca', PGSSLROOTCERT: 'system' }));
    expect(err.exitCode).toBe(2);
    expect(err.message).toMatch(/sslrootcert=system checks only with sslmode verify-full/);
  });

  test('WHEN verify-full names no CA and libpq\'s default ~/.postgresql/root.crt is missing THEN a usage error says to set PGSSLROOTCERT', () => {
    const err = usageError(() => resolveConnection(undefined, { ...base, PGSSLMODE: 'verify-full' }));
    expect(err.exitCode).toBe(2);
    expect(err.message).toMatch(/the CA file .*\.postgresql\/root\.crt \(libpq's default, which sslmode verify-full needs when PGSSLROOTCERT is unset\) does not exist: set PGSSLROOTCERT/);
  });
});
