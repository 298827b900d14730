/**
 * Where the runtime reports what it is doing. On a TTY: a progress line that rewrites itself on stderr.
 * Otherwise (the Fargate container, CI): one JSON object per line on stderr, which CloudWatch Logs indexes.
 * Results go to stdout (human text, or one JSON document with --json); logs never do.
 */
import { METRICS } from '../contract';
import { formatBytes } from './format';

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

/** The keys every JSON line starts with; a field of the same name never replaces them (`"level": 1` once did). */
const OWN_KEYS = new Set(['time', 'level', 'message']);

function record(level: string, message: string, fields: Fields | undefined, at: number): Fields {
  const out: Fields = { time: new Date(at).toISOString(), level, message };
  for (const [k, v] of Object.entries(fields ?? {})) out[OWN_KEYS.has(k) ? `field.${k}` : k] = v;
  return out;
}

/**
 * A Lambda function's log (the ops, promotion and Discord functions): the same logger, JSON lines on stdout, which
 * Lambda passes to CloudWatch Logs unchanged, as the CLI, the tasks and the scheduler write theirs on stderr.
 */
export function functionLogger(): Logger {
  return createLogger({ tty: false, stderr: process.stdout });
}

/** For code that logs whole records (`{ message, ...fields }`, the Discord handlers): each one an info line of `logger`. */
export function recordLog(logger: Pick<Logger, 'info'>): (record: Record<string, unknown>) => void {
  return ({ message, ...fields }) => logger.info(typeof message === 'string' ? message : JSON.stringify(message ?? null), fields);
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
      stderr.write(`${JSON.stringify(record(level, message, fields, now()))}\n`);
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
        // The percentage is of bytes and says so, beside the byte counts: a label may count something else (objects).
        const of = totalBytes ? ` of ${formatBytes(totalBytes)} (${((100 * bytes) / totalBytes).toFixed(0)}%)` : '';
        stderr.write(`\r\x1b[K${label}: ${formatBytes(bytes)}${of} at ${formatBytes(rate)}/s`);
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
