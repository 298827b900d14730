/**
 * The ops Lambda as the team's chat channel uses it: the exact payloads its command aliases send (taken from the
 * custom actions the stack defines), invoked through the function's chat alias. S3 against the emulator (moto), ECS
 * with aws-sdk-client-mock. What a channel member reads is a few lines with the key fact first; what the function
 * logs says the request came through the chat alias; a restore is carried out only when the deployment allows it.
 */
import { CreateBucketCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { ECSClient } from '@aws-sdk/client-ecs';
import { mockClient } from 'aws-sdk-client-mock';
import { type ChatCommand, chatCommands } from '../../lib/constructs/chat-channel';
import { CHAT_COMMANDS, ENV, type RestoreTestResult, opsEventSchema, sidecarKey } from '../../src/contract';
import { expandChatCommand } from '../../src/ops/chat';
import { type LocalS3, startLocalS3 } from '../../src/local/s3-emulator';
import { respond } from '../../lambda/ops/handler';
import type { OpsContext } from '../../lambda/ops/types';
import { writeBackupFixture } from '../support/backup-fixture';
import { ACCOUNT, REGION, STARTED_TASK, STARTED_TASK_ID, TASK_DEFINITION, answerRunTask, answerRunning, deployment, opsContext, runTaskInputs as taskInputs } from '../support/ops-fixture';

const BUCKET = 'ops-chat-backups';
const FUNCTION = 'meatlizard-backup-ops';
const FUNCTION_ARN = `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${FUNCTION}`;
const BACKUP_TD = TASK_DEFINITION.backup;
const RESTORE_TD = TASK_DEFINITION.restore;
const TASK_ID = STARTED_TASK_ID;
const TASK_ARN = STARTED_TASK;
const LATEST = 'backups/meatdb-2025-09-17T03:00:00.sql.gz';
const NOW = new Date('2025-09-17T09:15:00Z');
const ENVIRONMENT = deployment(BUCKET);

const THROUGH_CHAT = { invokedFunctionArn: `${FUNCTION_ARN}:chat`, awsRequestId: 'chat-req-1' };
/** The console (or the CLI, or the schedule) invokes the unqualified function. */
const FROM_CONSOLE = { invokedFunctionArn: FUNCTION_ARN, awsRequestId: 'console-req-1' };

const ecsMock = mockClient(ECSClient);
let s3: LocalS3;
let client: S3Client;
let log: jest.SpyInstance;

function context(env: Record<string, string | undefined> = ENVIRONMENT): OpsContext {
  return opsContext(client, env, NOW);
}

/** The commands of a deployment's channel, as the stack defines its custom actions. */
function commands(allowRestore: boolean): Map<string, ChatCommand> {
  return new Map(chatCommands({ name: 'meatlizard-backup', region: REGION, functionName: FUNCTION, chat: { aliasPrefix: '', allowRestore } }).map((c) => [c.aliasName, c]));
}

/** The payload a custom action sends (its short form), with `$key` filled in as the member typed it. */
function payloadOf(command: ChatCommand | undefined, key?: string): unknown {
  if (!command) throw new Error('no such chat command');
  const match = /^lambda invoke --function-name (\S+) --payload (\S+)$/.exec(command.commandText);
  if (!match) throw new Error(`unexpected command text ${command.commandText}`);
  expect(match[1]).toBe(`${FUNCTION}:chat`);
  return JSON.parse(key === undefined ? match[2] : match[2].replace('$key', key));
}

function runTaskInputs(): Array<{ taskDefinition?: string }> {
  return taskInputs(ecsMock);
}

function loggedLines(): Array<Record<string, unknown>> {
  return log.mock.calls.map(([line]) => {
    const { time, level, ...rest } = JSON.parse(String(line)) as Record<string, unknown>;
    expect({ time, level }).toEqual({ time: expect.any(String), level: 'info' });
    return rest;
  });
}

beforeAll(async () => {
  s3 = await startLocalS3();
  client = s3.client();
  await client.send(new CreateBucketCommand({ Bucket: BUCKET }));
  await writeBackupFixture(client, BUCKET, { sql: 'create table t (id int);\n', database: 'meatdb', takenAt: new Date('2025-09-17T03:00:00Z') });
  await writeBackupFixture(client, BUCKET, { sql: 'select 1;\n', database: 'meatdb', takenAt: new Date('2025-09-16T03:00:00Z') });
});
afterAll(async () => {
  await s3?.stop();
});
beforeEach(() => {
  ecsMock.reset();
  answerRunning(ecsMock);
  answerRunTask(ecsMock);
  log = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
});
afterEach(() => {
  log.mockRestore();
});

describe('GIVEN the payloads of the channel\'s commands', () => {
  test('THEN each stands for its valid ops event (with $key filled in as "latest" or a backup name), and the restore-run only exists when chat restores are allowed', () => {
    const all = commands(true);
    expect([...all.keys()]).toEqual(Object.values(CHAT_COMMANDS));
    for (const command of all.values()) {
      for (const key of ['latest', 'meatdb-2025-09-17T03:00:00.sql.gz']) {
        const expanded = expandChatCommand(payloadOf(command, key));
        const event = 'event' in expanded ? expanded.event : expanded;
        const expected = JSON.parse(JSON.stringify(command.event).replace('$key', key)) as unknown;
        expect({ alias: command.aliasName, key, event, valid: opsEventSchema.safeParse(event).success }).toEqual({ alias: command.aliasName, key, event: expected, valid: true });
      }
    }
    expect([...commands(false).keys()]).not.toContain(CHAT_COMMANDS.restoreRun);
  });

  test('WHEN a short form comes with a wrong argument through the chat alias THEN one line says what to send, and nothing starts', async () => {
    const noKey = await respond({ 'restore-plan': '' }, THROUGH_CHAT, context());
    const argument = await respond({ 'backup-now': 'now' }, THROUGH_CHAT, context());
    expect(noKey).toEqual({ ok: false, answer: ['request failed: restore-plan: give the backup as "latest" or a backup name, e.g. {"restore-plan":"latest"}'] });
    expect(argument).toEqual({ ok: false, answer: ['request failed: backup-now takes no argument: send {"backup-now":true}'] });
    expect(ecsMock.calls()).toHaveLength(0);
  });

  test('WHEN a short form comes from the console THEN it is not an ops event there: the console keeps its JSON documents', async () => {
    const result = await respond({ 'backup-now': true }, FROM_CONSOLE, context());
    expect(result).toEqual({ ok: false, error: expect.stringMatching(/^action must be one of backup, list, restore, status, promote, replication-check/) });
    expect(ecsMock.calls()).toHaveLength(0);
  });
});

describe('GIVEN "@Amazon Q run backup-now" (the runbook\'s /admin backup) through the chat alias', () => {
  test('WHEN handled THEN the backup task starts once and the answer is a few lines: started from chat, the task, its log link, what to run next', async () => {
    // WHEN
    const answer = await respond(payloadOf(commands(false).get('backup-now')), THROUGH_CHAT, context());
    // THEN
    expect(runTaskInputs().map((i) => i.taskDefinition)).toEqual([BACKUP_TD]);
    expect(answer).toEqual({
      ok: true,
      action: 'backup',
      answer: [
        `backup started from chat: task ${TASK_ID}`,
        expect.stringMatching(/^log: https:\/\/eu-west-1\.console\.aws\.amazon\.com\/cloudwatch\/home\?region=eu-west-1#logsV2:log-groups\/log-group\//),
        'progress and exit code: @Amazon Q run backup-status',
      ],
    });
    // AND the function logged who asked (the chat alias, the request id) before doing anything, then the outcome
    expect(loggedLines()).toEqual([
      { message: 'ops request', action: 'backup', command: 'backup-now', caller: { via: 'chat', invokedFunctionArn: `${FUNCTION_ARN}:chat`, requestId: 'chat-req-1' } },
      { message: 'ops action', action: 'backup', ok: true, via: 'chat', requestId: 'chat-req-1' },
    ]);
  });
});

describe('GIVEN "@Amazon Q run list-backups" through the chat alias', () => {
  test('WHEN handled THEN the answer lists the newest backups one per line: name, age, size, manifest', async () => {
    // WHEN
    const answer = await respond(payloadOf(commands(false).get('list-backups')), THROUGH_CHAT, context());
    // THEN
    expect(answer).toEqual({
      ok: true,
      action: 'list',
      answer: [
        `2 newest backups in s3://${BUCKET}/backups/:`,
        expect.stringMatching(/^meatdb-2025-09-17T03:00:00\.sql\.gz · 6h15m ago · \d+ B · size as recorded · not checked yet$/),
        expect.stringMatching(/^meatdb-2025-09-16T03:00:00\.sql\.gz · 30h15m ago · \d+ B · size as recorded · not checked yet$/),
      ],
    });
    expect(runTaskInputs()).toEqual([]);
  });
});

describe('GIVEN a backup that needs pgvector, whose restore test could not run where it ran', () => {
  test('WHEN listed from chat and from the console THEN chat says CANNOT RUN (not FAILED) and the console gets its extensions', async () => {
    // GIVEN
    const bucket = 'ops-chat-extensions';
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
    const extensions = [{ name: 'plpgsql', version: '1.0' }, { name: 'vector', version: '0.8.0' }];
    const catalog = { tables: [], counts: { tables: 0, indexes: 0, sequences: 0, views: 0, materializedViews: 0, functions: 0 }, totalBytes: 8192, extensions };
    const backup = await writeBackupFixture(client, bucket, { sql: 'select 1;\n', database: 'meatdb', takenAt: new Date('2025-09-17T03:00:00Z'), manifest: { catalog } });
    const result: RestoreTestResult = {
      format: 'meatbackup/restore-test@1', key: backup.key, ok: false, testedAt: '2025-09-17T05:00:00.000Z', seconds: 3, mode: 'cluster', differences: [], assertions: [],
      error: 'cannot test here: needs extension vector (0.8.0)', cannotTest: { missingExtensions: [{ name: 'vector', version: '0.8.0' }] },
    };
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: sidecarKey(backup.key, 'restoreTest'), Body: JSON.stringify(result) }));
    const env = { ...ENVIRONMENT, [ENV.bucket]: bucket };
    // WHEN
    const chat = await respond({ action: 'list' }, THROUGH_CHAT, context(env));
    const fromConsole = await respond({ action: 'list' }, FROM_CONSOLE, context(env));
    // THEN
    expect(chat).toMatchObject({ answer: [expect.any(String), expect.stringMatching(/ · restore test CANNOT RUN here 2025-09-17$/)] });
    expect(fromConsole).toMatchObject({ backups: [{ key: backup.key, extensions, lastCheck: { kind: 'restore-test', ok: false, cannotTest: true } }] });
  });
});

describe('GIVEN "@Amazon Q run backup-status" through the chat alias', () => {
  test('WHEN handled THEN the answer is the status summary as lines, the newest backup first', async () => {
    // WHEN
    const answer = await respond(payloadOf(commands(false).get('backup-status')), THROUGH_CHAT, context());
    // THEN
    expect(answer).toMatchObject({ ok: true, action: 'status' });
    const lines = (answer as { answer: string[] }).answer;
    expect(lines[0]).toContain('meatdb-2025-09-17T03:00:00');
    expect(lines.at(-1)).toBe('no backup, restore or restore-test task is running or stopped recently');
    expect(lines.every((line) => !line.startsWith('{'))).toBe(true);
  });
});

describe('GIVEN "@Amazon Q run restore-plan" with key latest through the chat alias', () => {
  test('WHEN chat restores are off THEN the plan names the backup, target and web service, starts nothing, and says where to carry it out', async () => {
    // WHEN
    const answer = await respond(payloadOf(commands(false).get('restore-plan'), 'latest'), THROUGH_CHAT, context());
    // THEN
    expect(runTaskInputs()).toEqual([]);
    expect(answer).toEqual({
      ok: true,
      action: 'restore',
      answer: [
        'restore plan, nothing started: meatdb-2025-09-17T03:00:00.sql.gz',
        expect.stringMatching(/^taken 2025-09-17T03:00:00\.000Z \(6h15m ago\), \d+ B, sha256 [0-9a-f]{12}…$/),
        'into database meatdb: loaded into a fresh database first, the one it replaces is kept (renamed), never dropped',
        'web service meatlizard/web is stopped for the swap only, then started again',
        'to carry it out: the console or the CLI (restores from chat are off in this deployment)',
      ],
    });
  });

  test('WHEN chat restores are on THEN the plan\'s last line names the restore-run command with the exact key', async () => {
    // WHEN
    const answer = await respond(payloadOf(commands(true).get('restore-plan'), 'latest'), THROUGH_CHAT, context({ ...ENVIRONMENT, [ENV.chatRestoreEnabled]: 'true' }));
    // THEN
    expect((answer as { answer: string[] }).answer.at(-1)).toBe(`to carry it out: @Amazon Q run restore-run with key ${LATEST}`);
    expect(runTaskInputs()).toEqual([]);
  });
});

describe('GIVEN a confirmed restore sent through the chat alias', () => {
  test('WHEN the deployment does not allow chat restores THEN it is refused and nothing starts, even when typed as a raw lambda invoke', async () => {
    // GIVEN the restore-run payload (a member can type it by hand even where the alias does not exist)
    const event = payloadOf(commands(true).get('restore-run'), 'latest');
    // WHEN
    const answer = await respond(event, THROUGH_CHAT, context());
    const typed = await respond({ action: 'restore', key: 'latest', confirm: true }, THROUGH_CHAT, context());
    // THEN
    expect(typed).toEqual(answer);
    expect(answer).toEqual({
      ok: false,
      action: 'restore',
      answer: [expect.stringMatching(/^restore failed: carrying out a restore from chat is off in this deployment \(configuration chat\.allowRestore\); nothing was started/)],
    });
    expect(ecsMock.calls()).toHaveLength(0);
  });

  test('WHEN the deployment allows chat restores THEN the restore task starts and the answer says it was started from chat, with the task and its log link', async () => {
    // WHEN
    const answer = await respond(
      payloadOf(commands(true).get('restore-run'), 'latest'),
      THROUGH_CHAT,
      context({ ...ENVIRONMENT, [ENV.chatRestoreEnabled]: 'true' }),
    );
    // THEN
    expect(runTaskInputs().map((i) => i.taskDefinition)).toEqual([RESTORE_TD]);
    expect(answer).toEqual({
      ok: true,
      action: 'restore',
      answer: [
        `restore started from chat: task ${TASK_ID}`,
        'backup meatdb-2025-09-17T03:00:00.sql.gz into database meatdb; web service meatlizard/web stopped for the swap',
        expect.stringMatching(/^log: https:\/\/eu-west-1\.console\.aws\.amazon\.com\/.*restore\$252Fmeatbackup\$252F5d1c2b3a/),
        'progress and exit code: @Amazon Q run backup-status',
      ],
    });
  });

  test('WHEN the same confirmed restore comes from the console THEN the console gets its JSON result, not marked as from chat', async () => {
    // WHEN
    const result = await respond({ action: 'restore', key: 'latest', confirm: true }, FROM_CONSOLE, context());
    // THEN
    expect(result).toMatchObject({ ok: true, action: 'restore', confirmed: true, started: true, taskArn: TASK_ARN, plan: { key: LATEST } });
    expect(result).not.toHaveProperty('startedFrom');
    expect(result).not.toHaveProperty('answer');
  });
});

describe('GIVEN other events typed into the channel', () => {
  test('WHEN a promote arrives through the chat alias THEN it is refused and nothing is read or started', async () => {
    // WHEN
    const answer = await respond({ action: 'promote', confirm: true }, THROUGH_CHAT, context());
    // THEN
    expect(answer).toEqual({ ok: false, action: 'promote', answer: [expect.stringContaining('promote is not a chat command')] });
    expect(ecsMock.calls()).toHaveLength(0);
  });

  test('WHEN a malformed payload arrives through the chat alias THEN the answer is one line naming the field', async () => {
    // WHEN
    const answer = await respond({ action: 'restore', key: 'yesterday' }, THROUGH_CHAT, context());
    // THEN
    expect(answer).toEqual({ ok: false, answer: [expect.stringMatching(/^request failed: invalid restore event: key: key must be "latest" or a backup name/)] });
    expect(ecsMock.calls()).toHaveLength(0);
  });
});
