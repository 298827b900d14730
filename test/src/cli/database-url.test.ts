/**
 * Database URLs are parsed by node-postgres' own parser, and the password never shows: not in an error line, not in
 * the output of a successful backup, not in the manifest, whatever characters it holds (`/ @ ? # %`).
 */
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { type LocalCluster, startLocalCluster } from '../../../src/local/postgres-cluster';
import { freePort } from '../../../src/local/processes';
import { type LocalS3, startLocalS3 } from '../../../src/local/s3-emulator';
import { maskDatabaseUrl, parseDatabaseUrl } from '../../../src/postgres/connection';
import { UserError } from '../../../src/core/errors';
import { cleanEnv, runCli } from '../../support/cli';
import { bucketContents, expectOneErrorLine, freshBucket } from '../backup/fixtures';

const PASSWORD = 'ab/cd@ef?gh#ij%kl';
const ENCODED = encodeURIComponent(PASSWORD);
/** Unencoded, / ? # @ make the URL unparsable (a bare % is caught first, as a malformed escape). */
const RAW = 'ab/cd@ef?gh#ij';

describe('database URLs: parsed properly, the password never printed', () => {
  test('GIVEN a password with / @ ? # % percent-encoded WHEN parsed THEN every part is decoded, and masking hides it', () => {
    const conn = parseDatabaseUrl(`postgresql://meat:${ENCODED}@db.internal:6543/meatdb?sslmode=require`);
    expect(conn).toEqual({ host: 'db.internal', port: 6543, user: 'meat', password: PASSWORD, database: 'meatdb', sslmode: 'require' });
    expect(maskDatabaseUrl(`postgresql://meat:${ENCODED}@db.internal/meatdb`)).toBe('postgresql://meat:***@db.internal/meatdb');
    // Unencoded, the password's own / and @ must not end the masking early.
    expect(maskDatabaseUrl(`postgresql://meat:${PASSWORD}@db.internal/meatdb`)).toBe('postgresql://meat:***@db.internal/meatdb');
  });

  test.each(['postgresql+asyncpg', 'postgresql+psycopg', 'postgresql+psycopg2', 'postgres'])(
    'GIVEN the platform\'s DATABASE_URL form %s:// WHEN parsed THEN the driver is dropped, the same server is reached and the password is masked',
    (scheme) => {
      const url = `${scheme}://meat:${ENCODED}@postgres:5432/meatdb`;
      expect(parseDatabaseUrl(url)).toEqual({ host: 'postgres', port: 5432, user: 'meat', password: PASSWORD, database: 'meatdb' });
      expect(maskDatabaseUrl(url)).toBe(`${scheme}://meat:***@postgres:5432/meatdb`);
    },
  );

  test('GIVEN a URL with no password, or no user WHEN masked THEN nothing is hidden that is not there', () => {
    expect(maskDatabaseUrl('postgresql://meat@db.internal/meatdb')).toBe('postgresql://meat@db.internal/meatdb');
    expect(maskDatabaseUrl('postgresql:///meatdb?host=/var/run/postgresql')).toBe('postgresql:///meatdb?host=/var/run/postgresql');
  });

  test('GIVEN a malformed escape or a URL that does not parse WHEN parsed THEN a usage error names the problem and not the password', () => {
    const refusal = (url: string): UserError => {
      try {
        parseDatabaseUrl(url);
      } catch (err) {
        return err as UserError;
      }
      throw new Error(`${url} was accepted`);
    };
    const bad = refusal('postgresql://meat:se%zzcret@db.internal/meatdb');
    expect(bad).toBeInstanceOf(UserError);
    expect(bad.exitCode).toBe(2);
    expect(bad.message).toBe('database URL postgresql://meat:***@db.internal/meatdb has a malformed percent-escape (in the user name or password): write a literal % as %25');
    const unparsable = refusal(`postgresql://meat:${RAW}@db.internal/meatdb`);
    expect(unparsable.exitCode).toBe(2);
    expect(unparsable.message).toMatch(/^database URL postgresql:\/\/meat:\*\*\*@db\.internal\/meatdb is not a valid URL: percent-encode/);
    expect(refusal('mysql://meat@db.internal/meatdb').message).toMatch(/must start with postgresql:\/\/ \(or postgres:\/\/, postgresql\+asyncpg:\/\//);
    expect(refusal('mysql+pymysql://meat:secret@db.internal/meatdb').message).toBe(
      'database URL mysql+pymysql://meat:***@db.internal/meatdb must start with postgresql:// (or postgres://, postgresql+asyncpg://, postgresql+psycopg://, postgresql+psycopg2://): use postgresql://USER:PASSWORD@HOST:PORT/DATABASE',
    );
    expect(refusal('postgresql://meat@db.internal').message).toMatch(/names no database/);
  });

  describe('the CLI, against PostgreSQL and the S3 emulator', () => {
    let pg: LocalCluster;
    let s3: LocalS3;
    let client: S3Client;
    let port: number;
    beforeAll(async () => {
      [pg, s3] = await Promise.all([startLocalCluster(), startLocalS3()]);
      client = s3.client();
      await pg.query('create database meatdb');
      await pg.query(`create role meat login superuser password '${PASSWORD.replace(/'/g, "''")}'`);
      await pg.query('create table messages (id int primary key, body text)', 'meatdb');
      port = Number(new URL(pg.url('meatdb')).port);
    }, 120_000);
    afterAll(async () => {
      await Promise.all([pg?.stop(), s3?.stop()]);
    });

    const env = (bucket: string) => cleanEnv({ ...s3.env, BACKUP_BUCKET: bucket });
    const noPassword = (text: string) => {
      expect(text).not.toContain(PASSWORD);
      expect(text).not.toContain(ENCODED);
      expect(text).not.toContain('ij%kl');
    };

    test('GIVEN a correctly encoded URL with such a password WHEN backing up THEN it connects, and neither the output nor the manifest holds the password', async () => {
      const bucket = await freshBucket(client, 'url-ok');
      const res = await runCli(['backup', '--json', '--database-url', `postgresql://meat:${ENCODED}@127.0.0.1:${port}/meatdb`], { env: env(bucket) });
      expect(res.stderr).not.toMatch(/^meatbackup: /m);
      expect(res.code).toBe(0);
      noPassword(res.stdout + res.stderr);
      const { versions } = await bucketContents(client, bucket);
      const manifestKey = versions.find((k) => k.endsWith('.manifest.json'))!;
      const manifest = await (await client.send(new GetObjectCommand({ Bucket: bucket, Key: manifestKey }))).Body!.transformToString();
      expect(JSON.parse(manifest)).toMatchObject({ database: 'meatdb' });
      noPassword(manifest);
    });

    test('GIVEN the platform\'s DATABASE_URL=postgresql+asyncpg://… WHEN backing up, verifying latest and restoring latest THEN each reaches the same database and none prints the password', async () => {
      const bucket = await freshBucket(client, 'url-asyncpg');
      const platform = { ...env(bucket), DATABASE_URL: `postgresql+asyncpg://meat:${ENCODED}@127.0.0.1:${port}/meatdb` };
      await pg.query("insert into messages values (1, 'before the backup')", 'meatdb');
      const backup = await runCli(['backup'], { env: platform });
      expect(backup.code).toBe(0);
      const verify = await runCli(['verify', 'latest'], { env: platform });
      expect(verify.code).toBe(0);
      await pg.query('delete from messages', 'meatdb');
      const restore = await runCli(['restore', 'latest', '--yes'], { env: platform });
      expect(restore.stderr).not.toMatch(/^meatbackup: /m);
      expect(restore.code).toBe(0);
      expect(await pg.query('select body from messages', 'meatdb')).toEqual([{ body: 'before the backup' }]);
      for (const res of [backup, verify, restore]) noPassword(res.stdout + res.stderr);
    });

    test('GIVEN the password unencoded in the URL WHEN backing up THEN exit 2, one line saying how to encode it, the password masked, nothing stored', async () => {
      const bucket = await freshBucket(client, 'url-raw');
      const res = await runCli(['backup', '--database-url', `postgresql://meat:${RAW}@127.0.0.1:${port}/meatdb`], { env: env(bucket) });
      expect(res.stderr).not.toContain(RAW);
      expect(res.code).toBe(2);
      expectOneErrorLine(res, /^meatbackup: database URL postgresql:\/\/meat:\*\*\*@127\.0\.0\.1:\d+\/meatdb is not a valid URL: percent-encode/);
      noPassword(res.stdout + res.stderr);
      expect(await bucketContents(client, bucket)).toEqual({ versions: [], uploads: [] });
    });

    test('GIVEN a malformed percent-escape (%zz) in DATABASE_URL WHEN backing up THEN exit 2 naming the malformed escape, not "URI malformed"', async () => {
      const bucket = await freshBucket(client, 'url-zz');
      const res = await runCli(['backup'], { env: { ...env(bucket), DATABASE_URL: `postgresql://meat:ab%zzcd@127.0.0.1:${port}/meatdb` } });
      expect(res.code).toBe(2);
      expectOneErrorLine(res, /^meatbackup: database URL postgresql:\/\/meat:\*\*\*@127\.0\.0\.1:\d+\/meatdb has a malformed percent-escape/);
      expect(res.stderr).not.toContain('ab%zzcd');
      expect(await bucketContents(client, bucket)).toEqual({ versions: [], uploads: [] });
    });

    test('GIVEN a server that is not there WHEN restoring with such a password THEN the connection failure line does not hold it', async () => {
      const bucket = await freshBucket(client, 'url-down');
      const closed = await freePort();
      const res = await runCli(['restore', 'latest', '--yes', '--database-url', `postgresql://meat:${ENCODED}@127.0.0.1:${closed}/meatdb`], { env: env(bucket) });
      expect(res.code).not.toBe(0);
      noPassword(res.stdout + res.stderr);
    });
  });
});
