/**
 * The Discord notifier (AWS): subscribed to the alarm topic, and the target of the restore task's start and clean
 * stop (EventBridge), it posts each as one short message to the channel webhook. The webhook URL lives in Secrets
 * Manager (DISCORD_WEBHOOK_SECRET_ARN) and is read once per instance; it is never logged. A post that fails throws, so
 * that Lambda retries the asynchronous event (SNS and EventBridge invoke asynchronously).
 */
import { UserError, oneLine } from '../../src/core/errors';
import { functionLogger } from '../../src/core/log';
import { DiscordApi } from '../../src/discord/api';
import { type AwsNotice, noticeFromSnsMessage, noticeFromTaskEvent } from '../../src/discord/aws-events';
import { WebhookNotifier } from '../../src/discord/notifications';
import { ENV } from '../../src/contract';
import { readSettings, webhookUrlProblem } from '../../src/settings';
import { createSecretsClient, readSecretString } from '../../src/storage/secrets';

export interface NotifyContext {
  database: string;
  notifier: () => Promise<WebhookNotifier>;
}

/** The notices one invocation carries: SNS records, or one EventBridge event. */
export function noticesOf(event: unknown, database: string): AwsNotice[] {
  const e = (event ?? {}) as Record<string, unknown>;
  if (Array.isArray(e.Records)) {
    return e.Records.flatMap((r) => {
      const message = (r as { Sns?: { Message?: unknown } }).Sns?.Message;
      return typeof message === 'string' ? [noticeFromSnsMessage(message, database)] : [];
    });
  }
  if (e.source === 'aws.ecs') {
    const notice = noticeFromTaskEvent(e, database);
    return notice ? [notice] : [];
  }
  return [];
}

export async function notify(event: unknown, ctx: NotifyContext): Promise<{ posted: number }> {
  const notices = noticesOf(event, ctx.database);
  if (notices.length === 0) {
    functionLogger().info('discord notifier: nothing to post in this event');
    return { posted: 0 };
  }
  const notifier = await ctx.notifier();
  for (const notice of notices) {
    await notifier.post(notice.notification, notice.links);
    functionLogger().info('discord notification posted', { kind: notice.notification.kind });
  }
  return { posted: notices.length };
}

export function contextFrom(env: Readonly<Record<string, string | undefined>>): NotifyContext {
  const settings = readSettings(env);
  const arn = settings.discord.webhookSecretArn;
  if (!arn) throw new UserError(`this deployment of the Discord notifier has no ${ENV.discordWebhookSecretArn}: redeploy the stacks`);
  let cached: WebhookNotifier | undefined;
  return {
    database: settings.database ?? 'the database',
    notifier: async () => {
      if (!cached) {
        const url = await readSecretString(createSecretsClient(settings.aws.region ? { region: settings.aws.region } : {}), arn, 'url');
        const problem = webhookUrlProblem(url);
        if (problem) throw new UserError(`the value of secret ${arn} ${problem}: store the channel webhook's URL (Copy Webhook URL) in it`);
        cached = new WebhookNotifier(new DiscordApi({ apiUrl: settings.discord.apiUrl }), url);
      }
      return cached;
    },
  };
}

let defaultContext: NotifyContext | undefined;

export async function handler(event: unknown): Promise<{ posted: number }> {
  try {
    defaultContext ??= contextFrom(process.env);
    return await notify(event, defaultContext);
  } catch (err) {
    // One line, no URL (src/discord/api.ts never puts it in a message); thrown again so Lambda retries.
    functionLogger().warn('discord notification failed', { error: oneLine(err instanceof Error ? err.message : String(err)) });
    throw err;
  }
}
