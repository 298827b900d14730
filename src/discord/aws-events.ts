/**
 * What reaches the AWS notifier (lambda/discord/notify.ts) and which {@link Notification} each is:
 *
 * - SNS records from the alarm topic: CloudWatch alarm state changes (a JSON message:
 *   https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html), told apart by the alarm
 *   names the stacks give (lib/constructs/backup-alarms.ts), and the task-failure rule's plain text
 *   (lib/constructs/backup-failure-alarm.ts), told apart by the task family;
 * - ECS task state changes of the restore task sent by EventBridge directly (running; stopped with exit code 0: a
 *   failed one already arrives through the topic): https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs_task_events.html
 */
import type { Links, Notification } from './notifications';

export interface AwsNotice {
  notification: Notification;
  links: Links;
}

const obj = (v: unknown): Record<string, unknown> => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {});
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

function alarmLink(alarmArn: string | undefined, name: string): Links {
  const region = alarmArn?.split(':')[3];
  return region ? { console: `https://${region}.console.aws.amazon.com/cloudwatch/home?region=${region}#alarmsV2:alarm/${encodeURIComponent(name)}` } : {};
}

function taskLink(taskArn: string | undefined): Links {
  // arn:aws:ecs:REGION:ACCOUNT:task/CLUSTER/ID
  const m = /^arn:[^:]+:ecs:([^:]+):\d+:task\/([^/]+)\/([0-9a-f]+)$/.exec(taskArn ?? '');
  return m ? { console: `https://${m[1]}.console.aws.amazon.com/ecs/v2/clusters/${m[2]}/tasks/${m[3]}?region=${m[1]}` } : {};
}

/** A CloudWatch alarm message, by the suffix of its name. */
function fromAlarm(alarm: Record<string, unknown>, database: string): AwsNotice | undefined {
  const name = str(alarm.AlarmName);
  const state = str(alarm.NewStateValue);
  if (!name || !state) return undefined;
  const links = alarmLink(str(alarm.AlarmArn), name);
  const reason = str(alarm.NewStateReason) ?? '';
  const since = str(alarm.StateChangeTime);
  const detail = `${name}: ${reason}${since ? ` (since ${since.slice(0, 19)}Z)` : ''}`;
  if (state === 'OK') return { notification: { kind: 'recovered', what: name, detail: reason }, links };
  if (state !== 'ALARM') return undefined;
  if (name.endsWith('-no-successful-backup')) return { notification: { kind: 'backup-stale', database, detail }, links };
  if (name.endsWith('-restore-test-failed')) return { notification: { kind: 'restore-test-failed', database, detail }, links };
  if (name.endsWith('-restore-test-cannot-run')) return { notification: { kind: 'restore-test-cannot-run', database, detail }, links };
  if (name.endsWith('-no-recent-restore-test')) return { notification: { kind: 'restore-test-stale', database, detail }, links };
  if (/-replication-(latency|failed)-/.test(name)) return { notification: { kind: 'replication-lagging', detail }, links };
  return { notification: { kind: 'other', title: `Alarm ${name}`, detail: reason }, links };
}

/** The task-failure rule's text: `meatbackup task failed: family:NAME task ARN stopped (…): reason. Logs: …`. */
function fromTaskFailure(text: string, database: string): AwsNotice | undefined {
  const m = /^meatbackup task failed: family:(\S+) task (\S+) stopped (.*)$/s.exec(text.trim());
  if (!m) return undefined;
  const [, family, taskArn, rest] = m;
  const detail = `task ${taskArn.slice(taskArn.lastIndexOf('/') + 1)} stopped ${rest.replace(/\s*Logs: .*$/s, '')}`;
  const links = taskLink(taskArn);
  if (family.endsWith('-restore-test')) return { notification: { kind: 'restore-test-failed', database, detail }, links };
  if (family.endsWith('-restore')) return { notification: { kind: 'restore-finished', database, ok: false, detail }, links };
  return { notification: { kind: 'backup-failed', database, detail }, links };
}

/** One SNS message from the alarm topic. */
export function noticeFromSnsMessage(message: string, database: string): AwsNotice {
  let parsed: unknown;
  try {
    parsed = JSON.parse(message);
  } catch {
    parsed = undefined;
  }
  const notice = parsed !== undefined ? fromAlarm(obj(parsed), database) : fromTaskFailure(message, database);
  // Anything else on the topic still reaches the channel, shortened, rather than vanishing.
  return notice ?? { notification: { kind: 'other', title: 'meatbackup alarm topic', detail: message.slice(0, 600) }, links: {} };
}

/** An ECS Task State Change of the restore task (the rule sends only RUNNING and a clean STOPPED). */
export function noticeFromTaskEvent(event: Record<string, unknown>, database: string): AwsNotice | undefined {
  const detail = obj(event.detail);
  const taskArn = str(detail.taskArn);
  const status = str(detail.lastStatus);
  const id = taskArn ? taskArn.slice(taskArn.lastIndexOf('/') + 1) : '?';
  const links = taskLink(taskArn);
  if (status === 'RUNNING') return { notification: { kind: 'restore-started', database, detail: `task ${id} is running` }, links };
  if (status === 'STOPPED') {
    const exit = (Array.isArray(detail.containers) ? detail.containers : []).map((c) => obj(c).exitCode)[0];
    const ok = exit === 0;
    return { notification: { kind: 'restore-finished', database, ok, detail: `task ${id} stopped with exit code ${String(exit ?? 'none')}${ok ? '' : `: ${str(detail.stoppedReason) ?? ''}`}` }, links };
  }
  return undefined;
}
