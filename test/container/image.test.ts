/**
 * `npm run test:image`: the Fargate images, built and run on a real Docker engine exactly as the task definitions run
 * them (docs/container-image.md).
 *
 * GIVEN a `cdk synth` into a temporary directory, whose database is a throwaway PostgreSQL serving TLS only (a
 * certificate for 127.0.0.1 signed by a test CA, `verify-full`, a password the tasks get as their ECS secret) and
 * whose buckets are in moto on loopback; both targets built from the synthesized image assets' staged contexts, on a
 * local Debian base (mmdebstrap) with Node.js 22 from npm, the test CA given where the RDS CA bundle goes;
 * WHEN each task definition's container runs as ECS would run it (its command or the override the ops Lambda gives,
 * environment, secret, user, read-only root, the scratch volume): backup, list, verify, restore into another database
 * with --from-database, restore-test in cluster mode;
 * THEN each exits 0 and does what it says, the restored rows are the source's, the tasks' user reads the CA bundle and
 * owns /scratch, and neither the images nor the logs hold the password or the build's CA certificates.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BucketLocationConstraint, CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { type LocalCluster, startLocalCluster } from '../../src/local/postgres-cluster';
import { type LocalS3, startLocalS3 } from '../../src/local/s3-emulator';
import { restoreCommand } from '../../src/ops/actions';
import { ENV } from '../../src/contract';
import { parseConfig } from '../../lib/config';
import { TEST_CONFIG, testApp } from '../lib/fixture';
import { type Engine, docker, ensureEngine, requireContainerTools, run, stopwatch } from './docker';
import { type BuiltImage, buildImages, hostExtraCaCerts } from './images';
import { type SynthesizedApp, type TaskModel, type TaskRun, readSynthesizedApp, readTasks, runTask } from './tasks';

const PASSWORD = `pw-${randomBytes(12).toString('hex')}`;
const DATABASE = 'meatdb';
const ROLE = 'meatbackup';
const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:meatdb/backup-AbC123';
const BUILD_MINUTES = 12;
/** A backup's own key (not its globals, manifest or results beside it). */
const BACKUP_KEY = /^backups\/meatdb-\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.sql\.gz$/;

let work: string;
let engine: Engine | undefined;
let pg: LocalCluster | undefined;
let s3: LocalS3 | undefined;
let app: SynthesizedApp;
let tasks: Map<string, TaskModel>;
let images: Record<string, BuiltImage>;
let testCa: string;
const containers: string[] = [];
const volumes: string[] = [];
const runs: Array<{ what: string; run: TaskRun }> = [];
const { timings, timed } = stopwatch();

const config = () =>
  parseConfig(
    {
      ...TEST_CONFIG,
      // No web service: the restore task would stop it through ECS, which is not here.
      webService: undefined,
      database: { host: '127.0.0.1', port: pg!.port, name: DATABASE, user: ROLE, sslMode: 'verify-full', passwordSecretArn: SECRET_ARN, passwordSecretField: 'password' },
    },
    'image test',
  );

function openssl(args: string[]): void {
  execFileSync('openssl', args, { cwd: work, stdio: 'pipe' });
}

/** A test CA, and a server certificate for 127.0.0.1 (an IP SAN: the tasks connect to that address) signed by it. */
function makeCertificates(): { ca: string; certFile: string; keyFile: string } {
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=meatbackup image test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-keyout', 'ca.key', '-out', 'ca.crt']);
  writeFileSync(join(work, 'server.ext'), 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n');
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', 'server.key', '-out', 'server.csr']);
  openssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-extfile', 'server.ext', '-out', 'server.crt']);
  return { ca: execFileSync('cat', [join(work, 'ca.crt')]).toString(), certFile: join(work, 'server.crt'), keyFile: join(work, 'server.key') };
}

function s3Client(): S3Client {
  return new S3Client({ endpoint: s3!.endpoint, region: config().primaryRegion, forcePathStyle: true, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
}

/** The task definition of a family of the synthesized stack. */
function task(suffix: 'backup' | 'restore' | 'restore-test'): TaskModel {
  const family = `${config().name}-${suffix}`;
  const t = tasks.get(family);
  if (!t) throw new Error(`no task definition ${family} in the synthesized template (families: ${[...tasks.keys()].join(', ')})`);
  return t;
}

/** What Fargate gives every task beside its definition: the region and credentials; here also the emulator. */
function platformEnv(): Record<string, string> {
  return { AWS_REGION: config().primaryRegion, AWS_DEFAULT_REGION: config().primaryRegion, AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', AWS_ENDPOINT_URL_S3: s3!.endpoint };
}

/** Runs a task as ECS would, keeping the run for the checks on logs and inspect. */
async function runAs(what: string, t: TaskModel, options: { command?: string[]; environment?: Record<string, string>; entrypoint?: string; volumes?: Record<string, string> } = {}): Promise<TaskRun> {
  const r = await timed(what, () =>
    runTask(t, {
      ...options,
      images: Object.fromEntries(Object.values(images).map((i) => [i.target, i.tag])),
      secretValues: { [`${SECRET_ARN}:password::`]: PASSWORD },
      platformEnv: platformEnv(),
      created: containers,
    }),
  );
  runs.push({ what, run: r });
  return r;
}

function expectExit(r: TaskRun, code: number, what: string): void {
  if (r.code !== code) throw new Error(`${what}: exit ${r.code}, expected ${code}\nstdout: ${r.stdout.slice(-3000)}\nstderr: ${r.stderr.slice(-3000)}`);
}

async function keysUnder(prefix: string): Promise<string[]> {
  const out = await s3Client().send(new ListObjectsV2Command({ Bucket: task('backup').environment[ENV.bucket], Prefix: prefix }));
  return (out.Contents ?? []).map((o) => o.Key!).sort();
}

/** A digest of a database's rows: the same in the source and a faithful restore. */
async function fingerprint(database: string): Promise<Record<string, unknown>> {
  const [row] = await pg!.query(
    `select (select count(*) from users) as users, (select count(*) from messages) as messages,
            (select md5(string_agg(id || ':' || name, ',' order by id)) from users) as users_md5,
            (select md5(string_agg(id || ':' || user_id || ':' || body, ',' order by id)) from messages) as messages_md5`,
    database,
  );
  return row;
}

beforeAll(async () => {
  requireContainerTools();
  work = mkdtempSync(join(tmpdir(), 'meatbackup-image-test-'));
  engine = await ensureEngine();

  // GIVEN a database that speaks TLS only, with a password-protected role that owns meatdb
  const certs = makeCertificates();
  testCa = certs.ca;
  [pg, s3] = await Promise.all([startLocalCluster({ ssl: { certFile: certs.certFile, keyFile: certs.keyFile } }), startLocalS3()]);
  writeFileSync(join(pg.dataDir, 'pg_hba.conf'), 'local all all trust\nhostssl all postgres 127.0.0.1/32 trust\nhostssl all all 127.0.0.1/32 scram-sha-256\n');
  await pg.query(`select pg_reload_conf(); create role ${ROLE} login createdb password '${PASSWORD}'`);
  await pg.query(`create database ${DATABASE} owner ${ROLE}`);
  await pg.query(
    `set role ${ROLE};
     create table users (id bigserial primary key, name text not null);
     create table messages (id bigserial primary key, user_id bigint references users, body text);
     insert into users (name) select 'user ' || g from generate_series(1, 2000) g;
     insert into messages (user_id, body) select 1 + g % 2000, repeat('hello ', 1 + g % 7) || g from generate_series(1, 20000) g;`,
    DATABASE,
  );

  // AND the app synthesized with that database into a cloud assembly, as `cdk synth` does it (bin/app.ts's stacks,
  // cdk.json's context, cdk-nag), in this process: the Lambda functions are not bundled, which only the CLI's synth
  // would spend half a minute on and nothing here runs; the image assets' build contexts are staged as for a deploy.
  const port = pg.port;
  const synthesized = await timed('cdk synth', async () => {
    const { app: cdkApp, outdir } = testApp({ ...TEST_CONFIG, webService: undefined, database: { host: '127.0.0.1', port, name: DATABASE, user: ROLE, sslMode: 'verify-full', passwordSecretArn: SECRET_ARN, passwordSecretField: 'password' } }, { nag: true });
    cdkApp.synth();
    return outdir;
  });
  app = readSynthesizedApp(synthesized, 'meatlizard-backup-primary', config().primaryRegion, config().account!);
  tasks = readTasks(app);

  // AND the buckets the stacks name, in their regions, with Object Lock as deployed
  // The bucket the tasks name (the backup task no longer names the replica, which none of them uses).
  for (const [bucket, region] of [[task('backup').environment[ENV.bucket], config().primaryRegion]]) {
    const client = new S3Client({ endpoint: s3.endpoint, region, forcePathStyle: true, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
    await client.send(new CreateBucketCommand({ Bucket: bucket, ObjectLockEnabledForBucket: true, CreateBucketConfiguration: { LocationConstraint: region as BucketLocationConstraint } }));
  }

  // AND each image the tasks name, built from its synthesized asset's staged context (what `cdk deploy` builds)
  images = {};
  for (const asset of app.imageAssets) {
    const [built] = await timed(`build ${asset.target}`, () =>
      buildImages({ context: asset.context, targets: [asset.target as 'runtime' | 'restore-test'], rdsCaBundle: testCa }),
    );
    images[asset.target] = built;
  }
  console.log(
    [
      'meatbackup images (uncompressed, docker image inspect):',
      ...Object.values(images).map((i) => `  ${i.target.padEnd(13)} ${(i.size / 1e6).toFixed(0)} MB  ${i.tag}`),
      `timings (s): ${Object.entries(timings).map(([k, v]) => `${k} ${v.toFixed(0)}`).join(', ')}`,
    ].join('\n'),
  );
}, BUILD_MINUTES * 60_000);

afterAll(async () => {
  // The containers and volumes this run made, by id; the images stay as the next run's cache.
  for (const id of containers) await run('docker', ['rm', '--force', '--volumes', id]);
  for (const id of volumes) await run('docker', ['volume', 'rm', '--force', id]);
  await Promise.all([pg?.stop(), s3?.stop()]);
  await engine?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
  if (Object.keys(timings).length > 0) console.log(`timings (s): ${Object.entries(timings).map(([k, v]) => `${k} ${v.toFixed(0)}`).join(', ')}`);
}, 120_000);

describe('GIVEN the synthesized task definitions and their images', () => {
  test('THEN the backup and restore tasks run the runtime image, the restore test (cluster mode) the restore-test image, each read-only as an unprivileged user', () => {
    expect(task('backup').image).toBe('runtime');
    expect(task('restore').image).toBe('runtime');
    expect(task('restore-test').image).toBe('restore-test');
    for (const t of [task('backup'), task('restore'), task('restore-test')]) expect(t.readonlyRootFilesystem).toBe(true);
    expect(task('restore-test').mounts).toEqual([{ volume: 'scratch', path: '/scratch', readOnly: false }]);
    // the runtime image has no server; the restore-test image has the one its cluster mode starts
    expect(images.runtime.size).toBeLessThan(images['restore-test'].size);
  });

  test('WHEN the backup task runs THEN it connects with verify-full against the CA where the RDS bundle goes, as node, and stores one backup', async () => {
    const t = task('backup');
    expect(t.environment).toMatchObject({ PGSSLMODE: 'verify-full', PGSSLROOTCERT: '/etc/ssl/meatbackup/rds-global-bundle.pem', PGHOST: '127.0.0.1' });
    expect(t.secrets).toEqual({ PGPASSWORD: `${SECRET_ARN}:password::` });
    const r = await runAs('backup', t);
    expectExit(r, 0, 'backup task');
    expect((r.inspect.Config as { User: string }).User).toBe('node');
    const keys = await keysUnder('backups/');
    expect(keys.filter((k) => BACKUP_KEY.test(k))).toHaveLength(1);
    expect(keys.filter((k) => k.endsWith('.manifest.json'))).toHaveLength(1);
  });

  test('WHEN the backup runs with the public roots instead of that CA THEN verify-full refuses the server and nothing is stored', async () => {
    const before = await keysUnder('backups/');
    await new Promise((r) => setTimeout(r, 1100));
    const r = await runAs('backup (system roots)', task('backup'), { environment: { PGSSLROOTCERT: 'system' } });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/certificate/i);
    expect(await keysUnder('backups/')).toEqual(before);
  });

  test('WHEN list and verify run in the backup task\'s container THEN they find the backup and its checksum holds', async () => {
    const list = await runAs('list', task('backup'), { command: ['list', '--json'] });
    expectExit(list, 0, 'list');
    const listed = JSON.parse(list.stdout) as { backups: Array<{ key: string; sizeCheck: string }> };
    expect(listed.backups).toHaveLength(1);
    const verify = await runAs('verify', task('backup'), { command: ['verify', 'latest', '--json'] });
    expectExit(verify, 0, 'verify');
    expect(JSON.parse(verify.stdout)).toMatchObject({ ok: true });
  });

  test('WHEN the restore task runs the ops Lambda\'s command into another database with --from-database THEN that database holds the same rows', async () => {
    const t = task('restore');
    const [key] = (await keysUnder('backups/')).filter((k) => BACKUP_KEY.test(k));
    const command = restoreCommand({ bucket: t.environment[ENV.bucket], prefix: t.environment[ENV.prefix], webService: undefined } as never, key, `${DATABASE}_restored`, DATABASE);
    expect(command).toEqual(expect.arrayContaining(['--from-database', DATABASE, '--target-db', `${DATABASE}_restored`]));
    const r = await runAs('restore', t, { command });
    expectExit(r, 0, 'restore task');
    expect(await fingerprint(`${DATABASE}_restored`)).toEqual(await fingerprint(DATABASE));
  });

  test('WHEN the restore test runs in cluster mode THEN it restores the backup into its own cluster in /scratch, as node, and records that it passed', async () => {
    const t = task('restore-test');
    expect(t.environment).toMatchObject({ TMPDIR: '/scratch', RESTORE_TEST_MODE: 'cluster' });
    expect(t.secrets).toEqual({});
    const volume = (await docker(['volume', 'create'])).trim();
    volumes.push(volume);
    const r = await runAs('restore-test', t, { volumes: { scratch: volume } });
    expectExit(r, 0, 'restore-test task');
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, mode: 'cluster', differences: [] });
    const [result] = (await keysUnder('backups/')).filter((k) => k.endsWith('.restore-test.json'));
    const body = await (await s3Client().send(new GetObjectCommand({ Bucket: t.environment[ENV.bucket], Key: result }))).Body!.transformToString();
    expect(JSON.parse(body)).toMatchObject({ ok: true, mode: 'cluster' });
    // AND /scratch, the task's volume, is the tasks' user's, as ECS fills it from the image
    const look = await runAs('restore-test (look inside)', t, { volumes: { scratch: volume }, entrypoint: 'stat', command: ['-c', '%U %a', '/scratch'] });
    expectExit(look, 0, 'stat /scratch');
    expect(look.stdout.trim()).toBe('node 700');
  });

  test('THEN the tasks\' user reads every CA file of the image, and the build\'s CA certificates are nowhere in it', async () => {
    for (const target of ['runtime', 'restore-test'] as const) {
      const t = target === 'runtime' ? task('backup') : task('restore-test');
      const r = await runAs(`look inside ${target}`, t, {
        volumes: { scratch: volumes[0] ?? 'unused' },
        entrypoint: 'sh',
        command: ['-c', 'id -un; for f in /etc/ssl/meatbackup/*; do cat "$f"; done; echo @@system-store@@; cat /etc/ssl/certs/ca-certificates.crt; ls /usr/local/share/ca-certificates'],
      });
      expectExit(r, 0, `look inside ${target}`);
      const [user, ...rest] = r.stdout.split('\n');
      expect(user).toBe('node');
      const [meatbackupCas, systemStore] = rest.join('\n').split('@@system-store@@\n');
      expect(meatbackupCas.replace(/\s/g, '')).toContain(testCa.replace(/\s/g, ''));
      for (const pem of certificates(hostExtraCaCerts())) expect(systemStore.replace(/\s/g, '')).not.toContain(pem);
    }
  });

  test('THEN neither the images (config, history) nor any task\'s logs or command line hold the password or a build CA certificate', async () => {
    const needles = [PASSWORD, ...certificates(hostExtraCaCerts()).map((pem) => pem.slice(40, 120))];
    for (const image of Object.values(images)) {
      const described = (await docker(['image', 'inspect', image.tag])) + (await docker(['history', '--no-trunc', image.tag]));
      for (const needle of needles) expect(described).not.toContain(needle);
      expect(described).not.toContain('BUILD_CA_CERTS');
    }
    expect(runs.length).toBeGreaterThanOrEqual(6);
    for (const { what, run: r } of runs) {
      for (const needle of needles) {
        expect({ what, logs: `${r.stdout}${r.stderr}`.includes(needle) }).toEqual({ what, logs: false });
        const { Args, Cmd, Entrypoint } = (r.inspect.Config ?? {}) as Record<string, unknown>;
        expect({ what, argv: JSON.stringify([r.inspect.Args, Args, Cmd, Entrypoint]).includes(needle) }).toEqual({ what, argv: false });
      }
      // The password is in the container's environment only as the task's secret, PGPASSWORD (as ECS injects it).
      const env = ((r.inspect.Config as { Env: string[] }).Env ?? []).filter((e) => e.includes(PASSWORD));
      expect(env.every((e) => e === `PGPASSWORD=${PASSWORD}`)).toBe(true);
    }
  });
});

/** The base64 bodies of the PEM certificates in a text, whitespace removed. */
function certificates(pem: string): string[] {
  return [...pem.matchAll(/-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g)].map((m) => m[1].replace(/\s/g, ''));
}

/** Owner, group and mode of what the tasks read, run and write, and the PostgreSQL majors, as the image has them. */
async function layout(tag: string): Promise<string> {
  return docker([
    'run', '--rm', '--network', 'host', '--entrypoint', 'sh', tag, '-c',
    'for p in /etc/ssl/meatbackup /etc/ssl/meatbackup/* /app /app/bin /app/bin/meatbackup.js /app/dist /app/dist/* /scratch; do [ -e "$p" ] && stat -c "%n %U:%G %a" "$p"; done; ls /usr/lib/postgresql; ls /usr/lib/postgresql/*/bin | sort | md5sum',
  ]);
}

describe('GIVEN the engine\'s BuildKit instead of the classic builder', () => {
  test('WHEN both targets are built with it THEN each builds, its check as node passing, with the same owners, modes and programs as the classic build', async () => {
    for (const asset of app.imageAssets) {
      const [built] = await timed(`build ${asset.target} (BuildKit)`, () =>
        buildImages({ builder: 'buildkit', context: asset.context, targets: [asset.target as 'runtime' | 'restore-test'], rdsCaBundle: testCa }),
      );
      // built: its last step, the check as node, passed (now, or in the identical build its cache comes from)
      expect(await layout(built.tag)).toBe(await layout(images[asset.target].tag));
      const history = await docker(['history', '--no-trunc', built.tag]);
      for (const pem of certificates(hostExtraCaCerts())) expect(history.replace(/\s/g, '')).not.toContain(pem.slice(40, 120));
    }
  }, BUILD_MINUTES * 60_000);
});
