/**
 * The AWS deployment's backend: the Discord function asks the ops function (lambda/ops/handler.ts) with the same
 * events the console sends, and reads its JSON answers. The ops function holds the permissions (read backups/, run the
 * backup task); the function Discord reaches from the internet holds only the right to invoke it. The member who
 * asked travels in the invocation's client context, which the ops function logs with every request
 * (src/ops/chat.ts `callerOf`; https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html#API_Invoke_RequestSyntax).
 */
import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import type { BackupCheck, SizeCheck } from '../catalog/catalog';
import { DEFAULT_PREFIX } from '../contract';
import { UserError } from '../core/errors';
import { taskId } from '../ops/chat';
import type { BackupList, BackupRow, BackupStarted, DiscordBackend, RestorePlan, Requester } from './backend';

type OpsAnswer = { ok: boolean; error?: string } & Record<string, unknown>;

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
const obj = (v: unknown): Record<string, unknown> => (v !== null && typeof v === 'object' ? (v as Record<string, unknown>) : {});

export class OpsFunctionBackend implements DiscordBackend {
  constructor(
    private readonly lambda: LambdaClient,
    private readonly functionName: string,
  ) {}

  /** One synchronous invocation; an `ok: false` answer is the member's answer (a UserError with its line). */
  private async ask(event: Record<string, unknown>, requester?: Requester): Promise<OpsAnswer> {
    const clientContext = requester ? Buffer.from(JSON.stringify({ custom: { via: 'discord', discordUser: requester.userId, discordName: requester.name, interaction: requester.interactionId } })).toString('base64') : undefined;
    const out = await this.lambda.send(
      new InvokeCommand({
        FunctionName: this.functionName,
        InvocationType: 'RequestResponse',
        Payload: Buffer.from(JSON.stringify(event)),
        ...(clientContext ? { ClientContext: clientContext } : {}),
      }),
    );
    const body = out.Payload ? Buffer.from(out.Payload).toString('utf8') : '';
    if (out.FunctionError) throw new Error(`the ops function failed (${out.FunctionError}): see its log`);
    const answer = JSON.parse(body || '{}') as OpsAnswer;
    if (!answer.ok) throw new UserError(str(answer.error) ?? 'the ops function refused without saying why');
    return answer;
  }

  async startBackup(requester: Requester): Promise<BackupStarted> {
    const answer = await this.ask({ action: 'backup' }, requester);
    const arn = str(answer.taskArn) ?? '';
    return { where: 'task', taskId: taskId(arn), ...(str(answer.logUrl) ? { logUrl: str(answer.logUrl) } : {}) };
  }

  async listBackups(count: number): Promise<BackupList> {
    const answer = await this.ask({ action: 'list', limit: count });
    const rows: BackupRow[] = (Array.isArray(answer.backups) ? answer.backups : []).map((raw) => {
      const b = obj(raw);
      const check = b.lastCheck ? (obj(b.lastCheck) as unknown as BackupCheck) : undefined;
      return {
        key: str(b.key) ?? '?',
        takenAt: new Date(str(b.takenAt) ?? 0),
        sizeBytes: num(b.sizeBytes),
        sizeCheck: (str(b.sizeCheck) ?? 'no-manifest') as SizeCheck,
        ...(check ? { lastCheck: { kind: check.kind, ok: check.ok, at: check.at, ...(check.cannotTest ? { cannotTest: true } : {}) } } : {}),
      };
    });
    return { where: `s3://${str(answer.bucket) ?? '?'}/${str(answer.prefix) ?? DEFAULT_PREFIX}`, rows };
  }

  async status(): Promise<string[]> {
    const answer = await this.ask({ action: 'status' });
    return (str(answer.summary) ?? 'no status').split('\n');
  }

  async restorePlan(ref: string): Promise<RestorePlan> {
    const answer = await this.ask({ action: 'restore', key: ref });
    const plan = obj(answer.plan);
    return {
      key: str(plan.key) ?? ref,
      takenAt: new Date(str(plan.takenAt) ?? 0),
      sizeBytes: num(plan.sizeBytes),
      sha256: str(plan.sha256) ?? '',
      target: str(plan.target) ?? '?',
      ...(str(plan.webService) ? { stops: `web service ${str(plan.webService)}` } : {}),
      blockedBy: (Array.isArray(plan.blockedBy) ? plan.blockedBy : []).map((t) => `a ${str(obj(t).kind) ?? ''} task is running (${taskId(str(obj(t).taskArn) ?? '')}); wait until it stops`),
      howToRun: `the ops function's console test event {"action":"restore","key":"${str(plan.key) ?? ref}","confirm":true} or \`meatbackup restore\`; never from Discord`,
    };
  }
}
