/**
 * Alarms and results as messages in the operators' Discord channel, through a channel webhook: what happened and the
 * first thing to do, in two or three short lines. The events are named once here; the AWS notifier turns CloudWatch
 * alarms and ECS task events into them (./aws-events.ts), the Compose scheduler posts them as they happen.
 *
 * Links: only the AWS deployment's messages link the AWS console (its operators have it); Compose messages link
 * nothing and name the commands to type instead.
 */
import { DiscordApi, messageBody } from './api';
import { code, fileName, message } from './answers';

export type Notification =
  | { kind: 'backup-failed'; database: string; detail: string }
  | { kind: 'backup-stale'; database: string; detail: string }
  | { kind: 'backup-succeeded'; database: string; key: string; detail: string }
  | { kind: 'restore-test-failed'; database: string; detail: string }
  | { kind: 'restore-test-cannot-run'; database: string; detail: string }
  | { kind: 'restore-test-stale'; database: string; detail: string }
  | { kind: 'restore-started'; database: string; detail: string }
  | { kind: 'restore-finished'; database: string; ok: boolean; detail: string }
  | { kind: 'replication-lagging'; detail: string }
  | { kind: 'recovered'; what: string; detail: string }
  | { kind: 'other'; title: string; detail: string };

/** A link for the AWS deployment's messages (a console page); none in Compose. */
export interface Links {
  console?: string;
}

function lines(n: Notification): [string, string, string?] {
  switch (n.kind) {
    case 'backup-failed':
      return [`:rotating_light: **Backup of ${code(n.database)} FAILED**`, n.detail, 'Do: `/status` for the reason, fix it, then `/backup`. Nothing was stored by the failed run.'];
    case 'backup-stale':
      return [`:rotating_light: **No recent backup of ${code(n.database)}**`, n.detail, 'Do: `/status` (did the last backup run? its exit code?), fix what it names, then `/backup`.'];
    case 'backup-succeeded':
      return [`:white_check_mark: Backup of ${code(n.database)} stored: ${code(fileName(n.key))}`, n.detail];
    case 'restore-test-failed':
      return [`:rotating_light: **Restore test of ${code(n.database)} FAILED**`, n.detail, 'Do: `/status` names the backup and the difference; restore it into a scratch database to look. Take a fresh `/backup`.'];
    case 'restore-test-cannot-run':
      return [`:warning: **Restore test of ${code(n.database)} could not run**`, n.detail, 'Not a bad backup: the test target lacks an extension. Add it to the image or use scratch mode (README, extensions in restore tests).'];
    case 'restore-test-stale':
      return [`:warning: **No recent restore test of ${code(n.database)}**`, n.detail, 'Do: `/status`: is the restore-test schedule on, did its last run start?'];
    case 'restore-started':
      return [`:arrows_counterclockwise: **Restore of ${code(n.database)} started**`, n.detail, 'The web service stops for the swap only; the replaced database is kept.'];
    case 'restore-finished':
      return n.ok
        ? [`:white_check_mark: **Restore of ${code(n.database)} finished**`, n.detail]
        : [`:rotating_light: **Restore of ${code(n.database)} FAILED**`, n.detail, `Do: \`/status\`. A failed restore leaves ${code(n.database)} as it was.`];
    case 'replication-lagging':
      return [':warning: **Replication to the replica region is lagging or failing**', n.detail, 'Do: wait past 15 minutes, then check that the newest backup reached the replica (replication-check).'];
    case 'recovered':
      return [`:white_check_mark: Recovered: ${n.what}`, n.detail];
    case 'other':
      return [`**${n.title}**`, n.detail];
  }
}

/** The message for one notification: a title line, what happened, what to do, and (AWS) a console link. */
export function notificationText(n: Notification, links: Links = {}): string {
  const [title, detail, todo] = lines(n);
  return message([title, detail, ...(todo ? [todo] : []), ...(links.console ? [`<${links.console}>`] : [])].filter((l) => l !== ''));
}

/**
 * Posts notifications to one channel webhook. The URL is a secret: it is held here and never printed; a failed post
 * says what Discord answered (./api.ts).
 */
export class WebhookNotifier {
  constructor(
    private readonly api: DiscordApi,
    private readonly webhookUrl: string,
  ) {}

  async post(n: Notification, links: Links = {}): Promise<void> {
    await this.api.executeWebhook(this.webhookUrl, messageBody(notificationText(n, links)));
  }
}
