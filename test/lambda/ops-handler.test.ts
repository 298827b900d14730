/**
 * The ops Lambda's handler: validation of the event, the dispatch table, and `list` through the catalog, with the
 * S3 and ECS clients mocked (aws-sdk-client-mock) so the exact calls it makes are visible.
 */
import { ECSClient } from '@aws-sdk/client-ecs';
import { GetObjectCommand, type GetObjectCommandOutput, ListObjectsV2Command, NoSuchKey, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import * as catalog from '../../src/catalog/catalog';
import { ENV, type Manifest, OPS_ACTIONS } from '../../src/contract';
import { actions } from '../../lambda/ops/actions';
import { DEFAULT_LIST_LIMIT } from '../../lambda/ops/actions/list';
import { handleEvent, handler } from '../../lambda/ops/handler';
import type { OpsContext } from '../../lambda/ops/types';
import { readSettings } from '../../src/settings';

const s3Mock = mockClient(S3Client);
const ecsMock = mockClient(ECSClient);

const BUCKET = 'meatlizard-backup-123456789012-eu-west-1';
const ENVIRONMENT = { [ENV.bucket]: BUCKET, [ENV.prefix]: 'backups/' };

function context(env: Record<string, string | undefined> = ENVIRONMENT): OpsContext {
  return { s3: new S3Client({ region: 'eu-west-1' }), ecs: new ECSClient({ region: 'eu-west-1' }), settings: readSettings(env), now: () => new Date('2025-09-20T00:00:00Z') };
}

function manifest(key: string, takenAt: string, sizeBytes = 1234): Manifest {
  return {
    format: 'meatbackup/manifest@1',
    key,
    database: 'meatdb',
    takenAt,
    completedAt: takenAt,
    sizeBytes,
    sha256: 'ab'.repeat(32),
    sqlBytes: 5678,
    serverVersion: '15.8',
    pgDumpVersion: '15.8',
    compression: { format: 'gzip', level: 1, memberBytes: 1048576 },
    durationSeconds: 2.5,
  };
}

function body(text: string): GetObjectCommandOutput['Body'] {
  return { transformToString: async () => text } as unknown as GetObjectCommandOutput['Body'];
}

/** Nothing may have been called on AWS. */
function expectNoAwsCalls(): void {
  expect(s3Mock.calls()).toHaveLength(0);
  expect(ecsMock.calls()).toHaveLength(0);
}

beforeEach(() => {
  s3Mock.reset();
  ecsMock.reset();
});

describe('ops handler: bad input answers an error naming the field and starts nothing', () => {
  test.each([
    [undefined, 'the event must be a JSON object'],
    ['list', 'the event must be a JSON object'],
    [[{ action: 'list' }], 'the event must be a JSON object'],
    [{}, 'action must be one of backup, list, restore, status, promote, replication-check (got nothing)'],
    [{ action: 'drop-everything' }, 'action must be one of backup, list, restore, status, promote, replication-check (got "drop-everything")'],
    [{ action: 'list', limit: 0 }, 'invalid list event: limit:'],
    [{ action: 'list', limit: 'ten' }, 'invalid list event: limit:'],
    [{ action: 'list', lmit: 3 }, 'invalid list event: lmit: not a field of the list action'],
    [{ action: 'restore' }, 'invalid restore event: key: is required'],
    [{ action: 'restore', key: 'backups/whatever.tar' }, 'invalid restore event: key: key must be "latest" or a backup name'],
    [{ action: 'restore', key: 'latest', confirm: 'yes' }, 'invalid restore event: confirm: confirm must be exactly true'],
    [{ action: 'status', taskArn: 'task-1' }, 'invalid status event: taskArn:'],
    [{ action: 'promote', from: 'Not_A_Bucket' }, 'invalid promote event: from: not a valid S3 bucket name'],
  ])('GIVEN %j WHEN handled THEN the answer says %j', async (event, message) => {
    // WHEN
    const result = await handleEvent(event, context());
    // THEN
    expect(result.ok).toBe(false);
    expect(result).toEqual({ ok: false, error: expect.stringContaining(message) });
    expectNoAwsCalls();
  });
});

describe('ops handler: the dispatch table', () => {
  // backup, restore and status: test/lambda/ops-restore.test.ts; promote and replication-check: test/lambda/ops-promote.test.ts
  test('THEN the dispatch table has exactly one handler per action of the contract', () => {
    expect(Object.keys(actions).sort()).toEqual([...OPS_ACTIONS].sort());
  });
});

describe('ops handler: list', () => {
  const older = 'backups/meatdb-2025-09-17T03:00:00.sql.gz';
  const newer = 'backups/meatdb-2025-09-18T03:00:00.sql.gz';
  const newest = 'backups/meatdb-2025-09-19T03:00:00.sql.gz';

  beforeEach(() => {
    s3Mock.on(ListObjectsV2Command).resolves({
      IsTruncated: false,
      Contents: [
        { Key: older, Size: 100, LastModified: new Date('2025-09-17T03:01:00Z'), StorageClass: 'STANDARD' },
        { Key: `${older}.manifest.json`, Size: 10 },
        { Key: newest, Size: 300, LastModified: new Date('2025-09-19T03:01:00Z'), StorageClass: 'STANDARD' },
        { Key: newer, Size: 200, LastModified: new Date('2025-09-18T03:01:00Z'), StorageClass: 'STANDARD_IA' },
        { Key: `${newer}.manifest.json`, Size: 10 },
        { Key: 'backups/notes.txt', Size: 1 },
      ],
    });
    s3Mock.on(GetObjectCommand).rejects(new NoSuchKey({ message: 'The specified key does not exist.', $metadata: { httpStatusCode: 404 } }));
    s3Mock.on(GetObjectCommand, { Key: `${newer}.manifest.json` }).resolves({ Body: body(JSON.stringify(manifest(newer, '2025-09-18T03:00:00.000Z', 200))) });
    s3Mock.on(GetObjectCommand, { Key: `${older}.manifest.json` }).resolves({ Body: body(JSON.stringify(manifest(older, '2025-09-17T03:00:00.000Z'))) });
  });

  test('GIVEN three backups WHEN listed THEN they come newest first with what their manifests recorded', async () => {
    // WHEN
    const result = await handleEvent({ action: 'list' }, context());
    // THEN
    expect(result).toEqual({
      ok: true,
      action: 'list',
      bucket: BUCKET,
      prefix: 'backups/',
      count: 3,
      backups: [
        {
          key: newest,
          database: 'meatdb',
          takenAt: '2025-09-19T03:00:00.000Z',
          sizeBytes: 300,
          lastModified: '2025-09-19T03:01:00.000Z',
          storageClass: 'STANDARD',
          sizeCheck: 'no-manifest',
          lastCheck: null,
          sha256: undefined,
          serverVersion: undefined,
          pgDumpVersion: undefined,
        },
        {
          key: newer,
          database: 'meatdb',
          takenAt: '2025-09-18T03:00:00.000Z',
          sizeBytes: 200,
          lastModified: '2025-09-18T03:01:00.000Z',
          storageClass: 'STANDARD_IA',
          sizeCheck: 'matches-manifest',
          lastCheck: null,
          sha256: 'ab'.repeat(32),
          serverVersion: '15.8',
          pgDumpVersion: '15.8',
        },
        // Listed at 100 bytes, recorded at 1234: listing sizes are free, and this one says the object is not the backup.
        expect.objectContaining({ key: older, sizeCheck: 'differs-from-manifest' }),
      ],
    });
    // and only backups/ was listed, in the configured bucket
    expect(s3Mock.commandCalls(ListObjectsV2Command).map((c) => c.args[0].input)).toEqual([{ Bucket: BUCKET, Prefix: 'backups/', ContinuationToken: undefined }]);
    expect(ecsMock.calls()).toHaveLength(0);
  });

  test('GIVEN a limit WHEN listed THEN only that many backups are returned and only their manifests are read', async () => {
    // WHEN
    const result = await handleEvent({ action: 'list', limit: 1 }, context());
    // THEN
    expect(result).toMatchObject({ ok: true, count: 1, backups: [{ key: newest }] });
    expect(s3Mock.commandCalls(GetObjectCommand).map((c) => c.args[0].input)).toEqual([{ Bucket: BUCKET, Key: `${newest}.manifest.json` }]);
  });

  test(`GIVEN no limit WHEN listed THEN at most ${DEFAULT_LIST_LIMIT} backups come back`, async () => {
    // GIVEN
    const keys = Array.from({ length: DEFAULT_LIST_LIMIT + 5 }, (_, i) => `backups/meatdb-2025-08-${String(i + 1).padStart(2, '0')}T03:00:00.sql.gz`);
    s3Mock.on(ListObjectsV2Command).resolves({ IsTruncated: false, Contents: keys.map((Key) => ({ Key, Size: 1 })) });
    // WHEN
    const result = await handleEvent({ action: 'list' }, context());
    // THEN
    expect(result).toMatchObject({ ok: true, count: DEFAULT_LIST_LIMIT });
  });

  test('GIVEN S3 denies access WHEN listed THEN the answer says so in one line', async () => {
    // GIVEN
    s3Mock.on(ListObjectsV2Command).rejects(new S3ServiceException({ name: 'AccessDenied', $fault: 'client', message: 'Access Denied', $metadata: { httpStatusCode: 403 } }));
    // WHEN
    const result = await handleEvent({ action: 'list' }, context());
    // THEN
    expect(result).toEqual({ ok: false, action: 'list', error: `could not list backups in bucket ${BUCKET}: access denied to bucket ${BUCKET}: the role or user needs s3 permissions on it` });
  });

  test('GIVEN a deployment without BACKUP_BUCKET WHEN listed THEN the answer names the variable and calls nothing', async () => {
    // WHEN
    const result = await handleEvent({ action: 'list' }, context({}));
    // THEN
    expect(result).toEqual({ ok: false, action: 'list', error: expect.stringContaining(`no ${ENV.bucket} in its environment`) });
    expectNoAwsCalls();
  });

  test('GIVEN a corrupt manifest WHEN listed THEN the backup is still listed, its row saying why its manifest cannot be used', async () => {
    // GIVEN
    s3Mock.on(ListObjectsV2Command).resolves({ IsTruncated: false, Contents: [{ Key: newest, Size: 1 }] });
    s3Mock.on(GetObjectCommand).resolves({ Body: body('{ not json') });
    // WHEN
    const result = await handleEvent({ action: 'list' }, context());
    // THEN
    expect(result).toMatchObject({ ok: true, action: 'list', count: 1, backups: [{ key: newest, sizeCheck: 'manifest-unreadable', manifestProblem: 'not JSON (altered or truncated)', lastCheck: null }] });
  });

  test('GIVEN an unexpected failure WHEN listed THEN the answer points to the log, which has the details', async () => {
    // GIVEN a bug, not an operator's mistake
    const bug = jest.spyOn(catalog, 'listBackups').mockRejectedValue(new TypeError('cannot read properties of undefined'));
    const logged = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
    // WHEN
    const result = await handleEvent({ action: 'list' }, context());
    // THEN
    expect(result).toEqual({ ok: false, action: 'list', error: "unexpected error: cannot read properties of undefined (details in the function's log)" });
    expect(logged.mock.calls.map(([line]) => JSON.parse(String(line)) as Record<string, unknown>)).toEqual([
      expect.objectContaining({ level: 'warn', message: 'ops action failed', action: 'list', error: expect.stringContaining('TypeError: cannot read properties of undefined') }),
    ]);
    bug.mockRestore();
    logged.mockRestore();
  });
});

describe('ops handler: the Lambda entry point', () => {
  const saved = { ...process.env };
  afterEach(() => {
    process.env = { ...saved };
  });

  test('GIVEN the environment the stack sets WHEN the console invokes {"action": "list"} THEN it answers the JSON result and logs who asked and how it ended', async () => {
    // GIVEN
    Object.assign(process.env, ENVIRONMENT, { AWS_REGION: 'eu-west-1' });
    s3Mock.on(ListObjectsV2Command).resolves({ IsTruncated: false, Contents: [] });
    const log = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const functionArn = 'arn:aws:lambda:eu-west-1:123456789012:function:meatlizard-backup-ops';
    // WHEN
    const result = await handler({ action: 'list' }, { invokedFunctionArn: functionArn, awsRequestId: 'req-1' });
    // THEN
    expect(result).toEqual({ ok: true, action: 'list', bucket: BUCKET, prefix: 'backups/', count: 0, backups: [] });
    // One logger for the CLI, the tasks and the function: time, level, message, fields.
    expect(log.mock.calls.map(([line]) => JSON.parse(String(line)))).toEqual([
      { time: expect.any(String), level: 'info', message: 'ops request', action: 'list', caller: { via: 'direct', invokedFunctionArn: functionArn, requestId: 'req-1' } },
      { time: expect.any(String), level: 'info', message: 'ops action', action: 'list', ok: true, via: 'direct', requestId: 'req-1' },
    ]);
    log.mockRestore();
  });
});
