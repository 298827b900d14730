/**
 * Where the runtime reports what it is doing. On a TTY: a progress line that rewrites itself on stderr.
 * Otherwise (the Fargate container, CI): one JSON object per line on stderr, which CloudWatch Logs indexes.
 * Results go to stdout (human text, or one JSON document with --json); logs never do.
 */
import { METRICS } from '../contract';

export type Fields = Record<string, unknown>;

export interface Logger {
  info(message: string, fields?: Fields): void;
  warn(message: string, fields?: Fields): void;
  /** A throttled progress report for a long transfer. */
  progress(label: string, bytes: number, totalBytes?: number): void;
  /** Ends a progress line on a TTY so the next output starts cleanly. */
  progressDone(): void;
  /**
   * A CloudWatch Embedded Metric Format record. Written as one JSON line on stderr when not on a TTY: the awslogs
   * driver ships stderr to CloudWatch Logs, which extracts the metric, and stdout stays free for --json results.
   */
  metric(name: string, dimensions: Record<string, string>, values: Record<string, { value: number; unit: string }>): void;
}

export interface LoggerOptions {
  tty?: boolean;
  quiet?: boolean;
  stderr?: NodeJS.WritableStream;
  now?: () => number;
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

export function formatDuration(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  const m = Math.floor(seconds / 60);
  const s = Math.round(seconds % 60);
  if (m < 60) return `${m}m${String(s).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/** Age of something taken at `from`: "3m", "2h05m", "4d". */
export function formatAge(from: Date, now: Date = new Date()): string {
  const seconds = Math.max(0, (now.getTime() - from.getTime()) / 1000);
  if (seconds < 48 * 3600) return formatDuration(Math.round(seconds)).replace(/\.0s$/, 's');
  return `${Math.floor(seconds / 86400)}d`;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const stderr = options.stderr ?? process.stderr;
  const tty = options.tty ?? Boolean((stderr as NodeJS.WriteStream).isTTY);
  const now = options.now ?? Date.now;
  const quiet = options.quiet ?? false;
  let progressStarted: number | undefined;
  let lastProgress = 0;
  let progressShown = false;

  const line = (level: string, message: string, fields?: Fields): void => {
    if (quiet && level === 'info') return;
    if (tty) {
      if (progressShown) stderr.write('\r\x1b[K');
      progressShown = false;
      stderr.write(`${level === 'warn' ? 'warning: ' : ''}${message}\n`);
    } else {
      stderr.write(`${JSON.stringify({ time: new Date(now()).toISOString(), level, message, ...fields })}\n`);
    }
  };

  return {
    info: (message, fields) => line('info', message, fields),
    warn: (message, fields) => line('warn', message, fields),
    progress(label, bytes, totalBytes) {
      const t = now();
      if (progressStarted === undefined) {
        // The first call only starts the clock: a rate over the first millisecond means nothing.
        progressStarted = t;
        lastProgress = t;
        return;
      }
      // A TTY redraws a few times a second; logs get a line every 10 s so they stay readable.
      if (t - lastProgress < (tty ? 200 : 10_000)) return;
      lastProgress = t;
      const seconds = Math.max((t - progressStarted) / 1000, 0.001);
      const rate = bytes / seconds;
      if (tty) {
        const pct = totalBytes ? ` (${((100 * bytes) / totalBytes).toFixed(0)}%)` : '';
        stderr.write(`\r\x1b[K${label}: ${formatBytes(bytes)}${pct} at ${formatBytes(rate)}/s`);
        progressShown = true;
      } else if (!quiet) {
        line('info', label, { bytes, totalBytes, bytesPerSecond: Math.round(rate) });
      }
    },
    progressDone() {
      if (progressShown) stderr.write('\r\x1b[K');
      progressShown = false;
      progressStarted = undefined;
      lastProgress = 0;
    },
    metric(name, dimensions, values) {
      if (tty) return;
      const record: Record<string, unknown> = {
        _aws: {
          Timestamp: now(),
          CloudWatchMetrics: [
            {
              Namespace: METRICS.namespace,
              Dimensions: [Object.keys(dimensions)],
              Metrics: Object.entries(values).map(([Name, v]) => ({ Name, Unit: v.unit })),
            },
          ],
        },
        event: name,
        ...dimensions,
      };
      for (const [k, v] of Object.entries(values)) record[k] = v.value;
      stderr.write(`${JSON.stringify(record)}\n`);
    },
  };
}

/**
 * Columns padded to their widest cell, two spaces apart; the columns in `alignRight` (numbers) are right-aligned.
 * Trailing spaces are trimmed so the last column can be long without padding every row.
 */
export function formatTable(rows: readonly (readonly string[])[], options: { alignRight?: readonly number[] } = {}): string {
  if (rows.length === 0) return '';
  const right = new Set(options.alignRight ?? []);
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((cell, i) => (right.has(i) ? cell.padStart(widths[i]) : cell.padEnd(widths[i]))).join('  ').trimEnd()).join('\n');
}
