process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
/**
 * moto accepts any credentials unless its IAM authentication is on. INITIAL_NO_AUTH_ACTION_COUNT turns it on after
 * that many requests: the free ones create an IAM user with an s3:* policy and its access key; from then on moto
 * checks every request's key id and signature like S3 does, so wrong credentials are really rejected.
 *
 * One emulator limit: with authentication on, moto 5.2 recomputes signatures wrongly for requests whose path or
 * query holds an encoded "/" or ":" (even botocore's own `list-objects-v2 --prefix a/b` fails), and every backup key
 * holds both. So a full backup cannot succeed against authenticating moto; that the right credentials pass and a
 * wrong secret does not is shown with `meatbackup list --prefix ''`, whose requests have no such characters.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { S3Client } from '@aws-sdk/client-s3';
import { type LocalCluster, startLocalCluster } from '../../../src/local/postgres-cluster';
import { freePort, waitFor, which } from '../../../src/local/processes';
import { EMULATOR_REGION } from '../../../src/local/s3-emulator';
import { cleanEnv, runCli } from '../../support/cli';
import { bucketContents, expectOneErrorLine, freshBucket } from '../backup/fixtures';

/**
 * moto_server with IAM authentication switched on after `freeRequests` requests. (startLocalS3 cannot pass it an
 * environment, and jest's sandboxed process.env does not reach child processes, hence this small launcher.)
 */
async function startAuthenticatingS3(freeRequests: number): Promise<{ endpoint: string; env: Record<string, string>; stop(): void }> {
  const program = which('moto_server');
  if (!program) throw new Error("moto_server (the S3 emulator) not found on PATH: install it with `pip install 'moto[server]'`");
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn(program, ['-H', '127.0.0.1', '-p', String(port)], {
    stdio: 'ignore',
    env: { ...process.env, INITIAL_NO_AUTH_ACTION_COUNT: String(freeRequests) },
  });
  await waitFor(async () => fetch(`${endpoint}/moto-api/`).then((r) => r.status < 500, () => false), 30_000, 'moto_server');
  return {
    endpoint,
    env: { AWS_ENDPOINT_URL_S3: endpoint, AWS_ENDPOINT_URL: endpoint, AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', AWS_REGION: EMULATOR_REGION, AWS_DEFAULT_REGION: EMULATOR_REGION },
    stop: () => void child.kill('SIGTERM'),
  };
}

describe('meatbackup backup with credentials S3 rejects', () => {
  let pg: LocalCluster;
  let s3: Awaited<ReturnType<typeof startAuthenticatingS3>>;
  let key: { id: string; secret: string };
  let client: S3Client;
  let bucket: string;

  const aws = (args: string[]): string =>
    execFileSync('aws', ['--endpoint-url', s3.endpoint, '--output', 'json', ...args], { env: cleanEnv(s3.env), encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

  beforeAll(async () => {
    // Three free requests: create the user, give it s3:*, create its access key. Everything after is checked.
    [pg, s3] = await Promise.all([startLocalCluster(), startAuthenticatingS3(3)]);
    aws(['iam', 'create-user', '--user-name', 'backup']);
    aws(['iam', 'put-user-policy', '--user-name', 'backup', '--policy-name', 's3', '--policy-document', JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 's3:*', Resource: '*' }] })]);
    const created = JSON.parse(aws(['iam', 'create-access-key', '--user-name', 'backup'])) as { AccessKey: { AccessKeyId: string; SecretAccessKey: string } };
    key = { id: created.AccessKey.AccessKeyId, secret: created.AccessKey.SecretAccessKey };
    client = new S3Client({ endpoint: s3.endpoint, region: EMULATOR_REGION, forcePathStyle: true, credentials: { accessKeyId: key.id, secretAccessKey: key.secret } });
    bucket = await freshBucket(client, 'creds');
    await pg.query('create database meatdb');
    await pg.query('create table t as select generate_series(1, 1000) as n', 'meatdb');
  });
  afterAll(async () => {
    client?.destroy();
    s3?.stop();
    await pg?.stop();
  });

  const env = (extra: Record<string, string>) => cleanEnv({ ...s3.env, BACKUP_BUCKET: bucket, DATABASE_URL: pg.url('meatdb'), ...extra });

  test('GIVEN the emulator checks credentials WHEN the anonymous test key is used THEN it is refused (the check is real)', () => {
    expect(() => aws(['s3api', 'list-objects-v2', '--bucket', bucket])).toThrow(/InvalidAccessKeyId/);
  });

  test('GIVEN an access key id S3 does not know WHEN backing up THEN one line says the credentials were rejected, and nothing is left', async () => {
    const res = await runCli(['backup'], { env: env({ AWS_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE', AWS_SECRET_ACCESS_KEY: key.secret }) });
    expectOneErrorLine(res, /^meatbackup: could not check backups\/meatdb-.* in bucket creds-.*: S3 rejected the credentials \(InvalidAccessKeyId\): check AWS_PROFILE \/ AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY$/);
    expect(await bucketContents(client, bucket)).toEqual({ versions: [], uploads: [] });
  });

  test('GIVEN the right key id with a wrong secret WHEN backing up THEN one line says the signature was rejected, and nothing is left', async () => {
    const res = await runCli(['backup'], { env: env({ AWS_ACCESS_KEY_ID: key.id, AWS_SECRET_ACCESS_KEY: 'not-the-secret' }) });
    expectOneErrorLine(res, /S3 rejected the credentials \(SignatureDoesNotMatch\): check AWS_PROFILE \/ AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY$/);
    expect(await bucketContents(client, bucket)).toEqual({ versions: [], uploads: [] });
  });

  test('GIVEN no credentials at all (no env, no profile, no instance role) WHEN backing up THEN one line says none were found', async () => {
    const res = await runCli(['backup'], {
      env: cleanEnv({
        AWS_ENDPOINT_URL_S3: s3.endpoint, AWS_REGION: EMULATOR_REGION, BACKUP_BUCKET: bucket, DATABASE_URL: pg.url('meatdb'),
        AWS_SHARED_CREDENTIALS_FILE: '/nonexistent', AWS_CONFIG_FILE: '/nonexistent', AWS_EC2_METADATA_DISABLED: 'true',
      }),
    });
    // describeS3Error (src/storage/s3.ts) currently names the SDK's CredentialsProviderError as rejected credentials.
    expectOneErrorLine(res, /^meatbackup: could not check backups\/meatdb-.*: (no AWS credentials found|S3 rejected the credentials \(CredentialsProviderError\))/);
  });

  test('GIVEN the right key and then a wrong secret WHEN listing THEN the first passes and the second is refused (the signature is checked)', async () => {
    const good = await runCli(['list', '--prefix', ''], { env: env({ AWS_ACCESS_KEY_ID: key.id, AWS_SECRET_ACCESS_KEY: key.secret }) });
    expect(good.stderr).toBe('');
    expect(good.stdout).toBe(`no backups under s3://${bucket}/\n`);
    const bad = await runCli(['list', '--prefix', ''], { env: env({ AWS_ACCESS_KEY_ID: key.id, AWS_SECRET_ACCESS_KEY: 'not-the-secret' }) });
    expectOneErrorLine(bad, /^meatbackup: could not list backups in bucket creds-.*: S3 rejected the credentials \(SignatureDoesNotMatch\)/);
  });
});
