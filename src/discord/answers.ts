/**
 * How the commands' results read in Discord: a few short lines, the key fact first, in Discord's markdown. A message
 * holds at most 2,000 characters (https://discord.com/developers/docs/resources/webhook#execute-webhook), so a longer
 * answer is cut at a line with a note.
 */
import { formatAge, formatBytes, formatDuration } from '../core/format';
import type { BackupList, BackupOutcome, BackupRow, BackupStarted, RestorePlan } from './backend';

export const MAX_CONTENT = 2000;

/** Joins lines into one message within Discord's limit, cutting whole lines. */
export function message(lines: readonly string[]): string {
  const out: string[] = [];
  let length = 0;
  for (const [i, line] of lines.entries()) {
    const note = `… ${lines.length - i} more line${lines.length - i === 1 ? '' : 's'}`;
    const clipped = line.length > 400 ? `${line.slice(0, 399)}…` : line;
    if (length + clipped.length + 1 + note.length + 1 > MAX_CONTENT) {
      out.push(note);
      break;
    }
    out.push(clipped);
    length += clipped.length + 1;
  }
  return out.join('\n');
}

/** `backups/meatdb-2025-09-17T03:00:00.sql.gz` → `meatdb-2025-09-17T03:00:00.sql.gz`. */
export function fileName(key: string): string {
  return key.slice(key.lastIndexOf('/') + 1);
}

/** Text the member typed or a server returned, shown as code so that it cannot format or mention anything. */
export function code(text: string): string {
  return `\`${text.replace(/`/g, "'")}\``;
}

export function backupStartedLines(started: BackupStarted, by: string): string[] {
  if (started.where === 'task') {
    return [`**Backup started** by ${by}: task ${code(started.taskId)}`, ...(started.logUrl ? [`log: <${started.logUrl}>`] : []), 'progress and exit code: `/status`'];
  }
  return [`**Backup started** by ${by}: ${code(started.database)} to ${code(`s3://${started.bucket}`)}`, 'the result follows here when it ends; `/backups` lists it'];
}

export function backupOutcomeLines(outcome: BackupOutcome): string[] {
  if (!outcome.ok) return [`**Backup FAILED**: ${outcome.error ?? 'see the scheduler log'}`, 'nothing was stored; fix what it names, then `/backup` again'];
  const size = outcome.sizeBytes !== undefined ? `, ${formatBytes(outcome.sizeBytes)}` : '';
  const took = outcome.seconds !== undefined ? ` in ${formatDuration(outcome.seconds)}` : '';
  return [`**Backup done**: ${code(fileName(outcome.key ?? '?'))}${size}${took}`];
}

function checkText(row: BackupRow): string {
  const sizeNote = row.sizeCheck === 'differs-from-manifest' ? 'SIZE DIFFERS from its manifest · ' : row.sizeCheck === 'manifest-unreadable' ? 'MANIFEST UNREADABLE · ' : row.sizeCheck === 'no-manifest' ? 'no manifest · ' : '';
  const c = row.lastCheck;
  if (!c) return `${sizeNote}never checked`;
  const what = c.kind === 'verify' ? 'verified' : 'restore-tested';
  const verdict = c.ok ? 'ok' : c.cannotTest ? 'could not run' : 'FAILED';
  return `${sizeNote}${what} ${verdict} ${c.at.slice(0, 10)}`;
}

export function backupListLines(list: BackupList, now: Date): string[] {
  if (list.rows.length === 0) return [`no backups in ${code(list.where)}`, 'start one: `/backup`'];
  return [
    `**${list.rows.length} newest backup${list.rows.length === 1 ? '' : 's'}** in ${code(list.where)}`,
    ...list.rows.map((r) => `${code(fileName(r.key))} · ${formatBytes(r.sizeBytes)} · ${formatAge(r.takenAt, now)} ago · ${checkText(r)}`),
  ];
}

export function restorePlanLines(plan: RestorePlan, now: Date): string[] {
  return [
    `**Restore plan** (nothing started): ${code(fileName(plan.key))}`,
    `taken ${plan.takenAt.toISOString().slice(0, 19)}Z (${formatAge(plan.takenAt, now)} ago), ${formatBytes(plan.sizeBytes)}, sha256 ${code(plan.sha256.slice(0, 12))}…`,
    `into ${code(plan.target)}: checked (sha256) and loaded into a fresh database first; the current ${code(plan.target)} is renamed and kept, never dropped`,
    ...(plan.stops ? [`${plan.stops} is stopped for the swap only, then started again`] : []),
    ...plan.blockedBy.map((b) => `blocked now: ${b}`),
    `to carry it out: ${plan.howToRun}`,
  ];
}
