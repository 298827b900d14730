/**
 * `database.sslMode` verify-ca and verify-full, against a real PostgreSQL serving TLS with a certificate for
 * `localhost` signed by a throwaway CA (made here with openssl), accepting TCP connections over TLS only. Backup and
 * restore go through the built CLI, so both paths are exercised: node-postgres (server version, snapshot, restore
 * lock, swap) and libpq (pg_dump, psql). The libpq tools are also run alone with the environment meatbackup gives
 * them, to show they refuse what node-postgres refuses.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type LocalCluster, serverBinDir, startLocalCluster } from '../../../src/local/postgres-cluster';
import { type LocalS3, startLocalS3 } from '../../../src/local/s3-emulator';
import { libpqEnv, resolveConnection } from '../../../src/postgres/connection';
import { cleanEnv, runCli } from '../../support/cli';
import { bucketContents, expectOneErrorLine, freshBucket } from '../backup/fixtures';

let pg: LocalCluster;
let s3: LocalS3;
let dir: string;
let ca: string;
let otherCa: string;

function openssl(args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
}

/** A CA (key and self-signed certificate) named `name`. */
function makeCa(name: string): string {
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', `/CN=meatbackup test ${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-keyout', `${name}.key`, '-out', `${name}.crt`]);
  return join(dir, `${name}.crt`);
}

/** The server's certificate: CN and SAN localhost (not 127.0.0.1), signed by the CA `caName`. */
function makeServerCert(caName: string): { certFile: string; keyFile: string } {
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n');
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=localhost', '-keyout', 'server.key', '-out', 'server.csr']);
  openssl(['x509', '-req', '-in', 'server.csr', '-CA', `${caName}.crt`, '-CAkey', `${caName}.key`, '-CAcreateserial', '-days', '2', '-extfile', 'server.ext', '-out', 'server.crt']);
  return { certFile: join(dir, 'server.crt'), keyFile: join(dir, 'server.key') };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'meatbackup-tls-'));
  ca = makeCa('ca');
  otherCa = makeCa('other-ca');
  [pg, s3] = await Promise.all([startLocalCluster({ ssl: makeServerCert('ca') }), startLocalS3()]);
  await pg.query('create database meatdb');
  await pg.query("create table users (id int primary key, name text); insert into users select g, 'user ' || g from generate_series(1, 500) g", 'meatdb');
});

afterAll(async () => {
  await Promise.all([pg?.stop(), s3?.stop()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The CLI's environment: libpq's own variables, as an operator or the task definition sets them. */
function env(bucket: string, tls: { host: string; mode: string; rootCert?: string }): NodeJS.ProcessEnv {
  return cleanEnv({
    ...s3.env,
    BACKUP_BUCKET: bucket,
    PGHOST: tls.host,
    PGPORT: String(pg.port),
    PGUSER: 'postgres',
    PGDATABASE: 'meatdb',
    PGSSLMODE: tls.mode,
    PGSSLROOTCERT: tls.rootCert,
  });
}

/** psql (libpq) with the environment meatbackup gives its libpq tools for these settings: TLS in use, or libpq's error. */
function psqlOverTls(tls: { host: string; mode: string; rootCert: string }): { ok: boolean; out: string } {
  const conn = resolveConnection(undefined, { PGHOST: tls.host, PGPORT: String(pg.port), PGUSER: 'postgres', PGDATABASE: 'meatdb', PGSSLMODE: tls.mode, PGSSLROOTCERT: tls.rootCert });
  const r = spawnSync(join(serverBinDir(), 'psql'), ['-XAtc', 'select ssl from pg_stat_ssl where pid = pg_backend_pid()'], { env: libpqEnv(conn, cleanEnv()), encoding: 'utf8' });
  return { ok: r.status === 0, out: `${r.stdout}${r.stderr}`.trim() };
}

describe('GIVEN a server whose certificate for localhost is signed by our CA, TLS connections only', () => {
  test('WHEN I back up and restore with sslmode verify-full and that CA THEN both succeed, over TLS, and the restored data is the source', async () => {
    const bucket = await freshBucket(s3.client(), 'tls-full');
    const tls = { host: 'localhost', mode: 'verify-full', rootCert: ca };

    const backup = await runCli(['backup', '--json'], { env: env(bucket, tls) });
    expect(backup.stderr).not.toMatch(/^meatbackup: /m);
    expect(backup.code).toBe(0);
    const restore = await runCli(['restore', 'latest', '--from-database', 'meatdb', '--target-db', 'meatdb_tls', '--yes', '--json'], { env: env(bucket, tls) });
    expect(restore.stderr).not.toMatch(/^meatbackup: /m);
    expect(restore.code).toBe(0);

    expect(await pg.query('select count(*)::int as n, sum(id)::int as s from users', 'meatdb_tls')).toEqual([{ n: 500, s: 125250 }]);
    // libpq, with what meatbackup hands pg_dump and psql, is on TLS (the server takes nothing else over TCP).
    expect(psqlOverTls(tls)).toEqual({ ok: true, out: 't' });
  });

  test('WHEN the CA given is another one THEN backup refuses with one line naming the certificate problem, and libpq refuses too', async () => {
    const bucket = await freshBucket(s3.client(), 'tls-other-ca');

    const result = await runCli(['backup', '--json'], { env: env(bucket, { host: 'localhost', mode: 'verify-full', rootCert: otherCa }) });

    expectOneErrorLine(result, new RegExp(`the server's certificate is not signed by the CA in ${otherCa.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(\\w+\\): set PGSSLROOTCERT`));
    expect(result.code).toBe(1);
    expect(await bucketContents(s3.client(), bucket)).toEqual({ versions: [], uploads: [] });
    const libpq = psqlOverTls({ host: 'localhost', mode: 'verify-full', rootCert: otherCa });
    expect(libpq.ok).toBe(false);
    expect(libpq.out).toMatch(/certificate verify failed/);
  });

  test('WHEN I connect to 127.0.0.1 (the certificate names localhost) THEN verify-full refuses on the host name and verify-ca, which checks only the CA, backs up', async () => {
    const bucket = await freshBucket(s3.client(), 'tls-ip');

    const full = await runCli(['backup', '--json'], { env: env(bucket, { host: '127.0.0.1', mode: 'verify-full', rootCert: ca }) });
    expectOneErrorLine(full, /the server's certificate does not name host 127\.0\.0\.1 .*use sslmode verify-ca, which checks only the CA/);
    expect(await bucketContents(s3.client(), bucket)).toEqual({ versions: [], uploads: [] });
    const libpqFull = psqlOverTls({ host: '127.0.0.1', mode: 'verify-full', rootCert: ca });
    expect(libpqFull.ok).toBe(false);
    expect(libpqFull.out).toMatch(/does not match host name "127\.0\.0\.1"/);

    const verifyCa = await runCli(['backup', '--json'], { env: env(bucket, { host: '127.0.0.1', mode: 'verify-ca', rootCert: ca }) });
    expect(verifyCa.stderr).not.toMatch(/^meatbackup: /m);
    expect(verifyCa.code).toBe(0);
    expect(psqlOverTls({ host: '127.0.0.1', mode: 'verify-ca', rootCert: ca })).toEqual({ ok: true, out: 't' });
  });

  test.each([
    ['does not exist', () => join(dir, 'missing.pem'), /the CA file .*missing\.pem \(PGSSLROOTCERT\) does not exist: set PGSSLROOTCERT/],
    ['is not a certificate', () => join(dir, 'server.ext'), /the CA file .*server\.ext \(PGSSLROOTCERT\) holds no PEM certificate: set PGSSLROOTCERT/],
  ])('WHEN PGSSLROOTCERT %s THEN backup says so in one line, exits 2 and touches nothing', async (_what, file, message) => {
    const bucket = await freshBucket(s3.client(), 'tls-no-ca');

    const result = await runCli(['backup', '--json'], { env: env(bucket, { host: 'localhost', mode: 'verify-full', rootCert: file() }) });

    expectOneErrorLine(result, message);
    expect(result.code).toBe(2);
    expect(await bucketContents(s3.client(), bucket)).toEqual({ versions: [], uploads: [] });
    expect(await pg.query("select count(*)::int as n from pg_stat_activity where application_name = 'meatbackup'")).toEqual([{ n: 0 }]);
  });

  test('WHEN restore is given a CA file that does not exist THEN it exits 2 before it touches any database', async () => {
    const before = await pg.query<{ datname: string }>('select datname from pg_database order by 1');

    const result = await runCli(['restore', 'latest', '--from-database', 'meatdb', '--target-db', 'meatdb_never', '--yes'], {
      env: env('any-bucket', { host: 'localhost', mode: 'verify-ca', rootCert: join(dir, 'missing.pem') }),
    });

    expectOneErrorLine(result, /the CA file .*missing\.pem \(PGSSLROOTCERT\) does not exist/);
    expect(result.code).toBe(2);
    expect(await pg.query('select datname from pg_database order by 1')).toEqual(before);
  });
});
