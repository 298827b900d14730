/**
 * The ops function as the team's chat channel sees it (AWS Chatbot, now "Amazon Q Developer in chat applications"):
 *
 * - where a request came from: the channel may invoke only the function's `chat` alias (CHAT_ALIAS), so the ARN
 *   Lambda was invoked through says it; a field of the event could not, since anyone in the channel can type a raw
 *   `lambda invoke` with any payload the guardrail lets through;
 * - who asked, as far as the function can see: Lambda hands a synchronous invocation's handler no identity of its
 *   caller (only a client context or Cognito identity when the caller supplies one:
 *   https://docs.aws.amazon.com/lambda/latest/dg/nodejs-context.html), so the function logs the alias (the channel
 *   and its guardrail), the request id and whatever client context arrived; the person is in Chatbot's own logs;
 * - what the channel may not do: carry out a restore unless the deployment turned it on (chat.allowRestore);
 * - how an answer reads there: a few short lines, the key fact first, instead of the console's JSON document.
 */
import { CHAT_ALIAS, CHAT_COMMANDS, type ChatCommandKey, type OpsAction, type OpsEvent, chatCommandEvent, chatCommandTakesKey } from '../contract';
import { formatAge, formatBytes } from '../core/format';
import type { Settings } from '../settings';

/** `chat`: through the channel's alias; `direct`: the console, the CLI, the hourly schedule (the unqualified function). */
export type RequestVia = 'chat' | 'direct';

/** The parts of the Lambda context object the ops function reads (a structural subset of aws-lambda's Context). */
export interface InvocationContext {
  readonly invokedFunctionArn?: string;
  readonly awsRequestId?: string;
  readonly clientContext?: unknown;
  readonly identity?: unknown;
}

/** What the function logs about every request before it does anything. */
export interface Caller {
  via: RequestVia;
  /** The function, version or alias ARN the caller invoked. */
  invokedFunctionArn: string | null;
  requestId: string | null;
  /** Only present when the caller sent one (Lambda's ClientContext, or a Cognito identity). */
  clientContext?: unknown;
  identity?: unknown;
}

/** `arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]` → QUALIFIER, if any. */
export function functionQualifier(invokedFunctionArn: string | undefined): string | undefined {
  const parts = (invokedFunctionArn ?? '').split(':');
  return parts.length === 8 && parts[5] === 'function' && parts[7] !== '' ? parts[7] : undefined;
}

export function requestVia(invokedFunctionArn: string | undefined): RequestVia {
  return functionQualifier(invokedFunctionArn) === CHAT_ALIAS ? 'chat' : 'direct';
}

export function callerOf(context: InvocationContext | undefined): Caller {
  return {
    via: requestVia(context?.invokedFunctionArn),
    invokedFunctionArn: context?.invokedFunctionArn ?? null,
    requestId: context?.awsRequestId ?? null,
    ...(context?.clientContext ? { clientContext: context.clientContext } : {}),
    ...(context?.identity ? { identity: context.identity } : {}),
  };
}

/** The command a chat payload names (`{"restore-plan":"latest"}` → restorePlan), if it is one of the channel's commands. */
function commandOf(payload: unknown): ChatCommandKey | undefined {
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) return undefined;
  const fields = Object.keys(payload);
  if (fields.length !== 1) return undefined;
  return (Object.keys(CHAT_COMMANDS) as ChatCommandKey[]).find((k) => CHAT_COMMANDS[k] === fields[0]);
}

/** The channel command a payload is the short form of (`backup-now`), for the log. */
export function chatCommandOf(payload: unknown): string | undefined {
  const command = commandOf(payload);
  return command === undefined ? undefined : CHAT_COMMANDS[command];
}

/**
 * The ops event a payload from the channel stands for. The channel's custom actions send their command's short form
 * (contract: chatCommandPayload), which becomes the command's event here; anything else (a member's own typed
 * `lambda invoke` with an ops event) is passed on as it is, to be validated like every event.
 */
export function expandChatCommand(payload: unknown): { event: unknown } | { error: string } {
  const command = commandOf(payload);
  if (command === undefined) return { event: payload };
  const name = CHAT_COMMANDS[command];
  const argument = (payload as Record<string, unknown>)[name];
  if (chatCommandTakesKey(command)) {
    if (typeof argument !== 'string' || argument === '') return { error: `${name}: give the backup as "latest" or a backup name, e.g. {"${name}":"latest"}` };
    return { event: chatCommandEvent(command, argument) };
  }
  if (argument !== true) return { error: `${name} takes no argument: send {"${name}":true}` };
  return { event: chatCommandEvent(command, '') };
}

/** Why the channel may not carry out this event, or undefined. Plans, lists and backups are always allowed. */
export function chatRefusal(event: OpsEvent, chat: Settings['chat']): string | undefined {
  if (event.action === 'restore' && event.confirm === true && !chat.restoreEnabled) {
    return (
      'carrying out a restore from chat is off in this deployment (configuration chat.allowRestore); nothing was started: ' +
      `read the plan here (${CHAT_COMMANDS.restorePlan}), then run it from the console or the CLI`
    );
  }
  if (event.action === 'promote') {
    return 'promote is not a chat command: it runs from the promotion function in the replica region (console or CLI); nothing was started';
  }
  return undefined;
}

/** A task the channel started says so in its answer (so in the channel, and in the JSON the function logs). */
export function markStartedFromChat<T extends { ok: boolean }>(result: T): T {
  const r = result as T & Record<string, unknown>;
  if (!r.ok || r.started !== true) return result;
  const message = typeof r.message === 'string' ? `started from chat: ${r.message}` : 'started from chat';
  return { ...r, startedFrom: 'chat', message };
}

/** The answer a chat channel shows: `ok` first, then a few short lines. */
export interface ChatAnswer {
  ok: boolean;
  action?: OpsAction;
  answer: string[];
}

/** Loosely typed view of an ops result (the actions answer JSON objects); each formatter reads only what it names. */
type Result = { ok: boolean; action?: OpsAction; error?: string } & Record<string, unknown>;

const str = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);
const num = (value: unknown): number | undefined => (typeof value === 'number' && Number.isFinite(value) ? value : undefined);
const obj = (value: unknown): Record<string, unknown> => (value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : {});

/** The task's id (the end of its ARN): enough to find it in the console, short enough for a chat line. */
export function taskId(taskArn: string): string {
  return taskArn.slice(taskArn.lastIndexOf('/') + 1);
}

/** `backups/meatdb-2025-09-17T03:00:00.sql.gz` → `meatdb-2025-09-17T03:00:00.sql.gz`. */
function fileName(key: string): string {
  return key.slice(key.lastIndexOf('/') + 1);
}

function logLine(result: Record<string, unknown>): string[] {
  const url = str(result.logUrl);
  return url ? [`log: ${url}`] : [];
}

/** How the channel names its commands: the aliases after the deployment's prefix. */
export type ChatCommandNames = { readonly [K in keyof typeof CHAT_COMMANDS]: string };

export function chatCommandNames(chat: Pick<Settings['chat'], 'commandPrefix'>): ChatCommandNames {
  const prefix = chat.commandPrefix;
  return Object.fromEntries(Object.entries(CHAT_COMMANDS).map(([k, v]) => [k, `${prefix}${v}`])) as unknown as ChatCommandNames;
}

function backupAnswer(r: Result, via: string, commands: ChatCommandNames): string[] {
  const arn = str(r.taskArn);
  return [`backup started${via}: task ${arn ? taskId(arn) : '(no ARN)'}`, ...logLine(r), `progress and exit code: @Amazon Q run ${commands.status}`];
}

/** The list answer's `sizeCheck`: the listed size against the manifest's, which is all a listing can know. */
function sizeCheckText(check: string | undefined): string {
  if (check === 'matches-manifest') return 'size as recorded';
  if (check === 'differs-from-manifest') return 'SIZE DIFFERS from its manifest';
  if (check === 'manifest-unreadable') return 'MANIFEST UNREADABLE';
  return 'no manifest';
}

/** The list answer's `lastCheck`: the latest verify or restore test, or that there was none. */
function lastCheckText(check: unknown): string {
  if (!check || typeof check !== 'object') return 'not checked yet';
  const c = obj(check);
  const what = c.kind === 'verify' ? 'verify' : 'restore test';
  return `${what} ${c.ok === true ? 'passed' : c.cannotTest === true ? 'CANNOT RUN here' : 'FAILED'}${str(c.at) ? ` ${str(c.at)!.slice(0, 10)}` : ''}`;
}

function listAnswer(r: Result, now: Date): string[] {
  const backups = Array.isArray(r.backups) ? r.backups.map(obj) : [];
  const where = `s3://${str(r.bucket) ?? '?'}/${str(r.prefix) ?? ''}`;
  if (backups.length === 0) return [`no backups in ${where}`];
  return [
    `${backups.length} newest backup${backups.length === 1 ? '' : 's'} in ${where}:`,
    ...backups.map((b) => {
      const key = str(b.key) ?? '?';
      const takenAt = str(b.takenAt);
      const size = num(b.sizeBytes);
      return [
        fileName(key),
        takenAt ? `${formatAge(new Date(takenAt), now)} ago` : undefined,
        size !== undefined ? formatBytes(size) : undefined,
        sizeCheckText(str(b.sizeCheck)),
        lastCheckText(b.lastCheck),
      ].filter(Boolean).join(' · ');
    }),
  ];
}

function statusAnswer(r: Result): string[] {
  const summary = str(r.summary);
  return summary ? summary.split('\n') : ['no status'];
}

function restorePlanAnswer(r: Result, restoreAllowed: boolean, commands: ChatCommandNames): string[] {
  const plan = obj(r.plan);
  const key = str(plan.key) ?? '?';
  const size = num(plan.sizeBytes);
  const sha = str(plan.sha256);
  const blockers = Array.isArray(plan.blockedBy) ? plan.blockedBy.map(obj) : [];
  return [
    `restore plan, nothing started: ${fileName(key)}`,
    [`taken ${str(plan.takenAt) ?? '?'} (${str(plan.age) ?? '?'} ago)`, size !== undefined ? formatBytes(size) : undefined, sha ? `sha256 ${sha.slice(0, 12)}…` : undefined]
      .filter(Boolean)
      .join(', '),
    `into database ${str(plan.target) ?? '?'}: loaded into a fresh database first, the one it replaces is kept (renamed), never dropped`,
    ...(str(plan.webService) ? [`web service ${str(plan.webService)} is stopped for the swap only, then started again`] : []),
    ...blockers.map((b) => `blocked: a ${str(b.kind) ?? ''} task is running (${taskId(str(b.taskArn) ?? '')}); wait until it stops`),
    restoreAllowed
      ? `to carry it out: @Amazon Q run ${commands.restoreRun} with key ${key}`
      : 'to carry it out: the console or the CLI (restores from chat are off in this deployment)',
  ];
}

function restoreStartedAnswer(r: Result, via: string, commands: ChatCommandNames): string[] {
  const plan = obj(r.plan);
  const arn = str(r.taskArn);
  return [
    `restore started${via}: task ${arn ? taskId(arn) : '(no ARN)'}`,
    `backup ${fileName(str(plan.key) ?? '?')} into database ${str(plan.target) ?? '?'}` +
      (str(plan.webService) ? `; web service ${str(plan.webService)} stopped for the swap` : ''),
    ...logLine(r),
    `progress and exit code: @Amazon Q run ${commands.status}`,
  ];
}

/**
 * The chat rendering of an ops result: the key fact on the first line (started what, which backup, failed why),
 * then the few lines an operator acts on (task, log link, what to send next). The console keeps the JSON result.
 */
export function chatAnswer(result: Result, options: { now: Date; restoreAllowed: boolean; commands: ChatCommandNames }): ChatAnswer {
  const action = result.action;
  const base = { ok: result.ok, ...(action ? { action } : {}) };
  if (!result.ok) return { ...base, answer: [`${action ?? 'request'} failed: ${result.error ?? 'unknown error'}`] };
  const via = result.startedFrom === 'chat' ? ' from chat' : '';
  switch (action) {
    case 'backup':
      return { ...base, answer: backupAnswer(result, via, options.commands) };
    case 'list':
      return { ...base, answer: listAnswer(result, options.now) };
    case 'status':
      return { ...base, answer: statusAnswer(result) };
    case 'restore':
      return {
        ...base,
        answer: result.confirmed === true ? restoreStartedAnswer(result, via, options.commands) : restorePlanAnswer(result, options.restoreAllowed, options.commands),
      };
    default:
      return { ...base, answer: [str(result.message) ?? str(result.summary) ?? `${action ?? 'request'} done`] };
  }
}
