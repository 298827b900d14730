/** How sizes, durations, ages and tables read in human output: one place for the CLI, the Lambda and the bench. */

/** Sizes and rates (`${formatBytes(rate)}/s`): whole bytes under 1 KiB, one decimal above. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${Math.round(bytes)} B` : `${value.toFixed(1)} ${units[unit]}`;
}

export function formatDuration(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  const m = Math.floor(seconds / 60);
  const s = Math.round(seconds % 60);
  if (m < 60) return `${m}m${String(s).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/** "1 table", "3 tables": a count with its noun, plural unless it is one. */
export function plural(count: number, noun: string, pluralNoun = `${noun}s`): string {
  return `${count} ${count === 1 ? noun : pluralNoun}`;
}

/** Age of something taken at `from`: "3m", "2h05m", "4d". */
export function formatAge(from: Date, now: Date = new Date()): string {
  const seconds = Math.max(0, (now.getTime() - from.getTime()) / 1000);
  if (seconds < 48 * 3600) return formatDuration(Math.round(seconds)).replace(/\.0s$/, 's');
  return `${Math.floor(seconds / 86400)}d`;
}

/**
 * The AGE a listing shows: the age, or for a backup whose name is stamped later than now (a wrong clock, or an object
 * named by hand) `FUTURE (+26690d)`, never a reassuring `0s`.
 */
export function formatListedAge(from: Date, now: Date = new Date()): string {
  return from.getTime() > now.getTime() ? `FUTURE (+${formatAge(now, from)})` : formatAge(from, now);
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

/** The extensions a backup recorded, for a detail line: "citext 1.6, plpgsql 1.0"; undefined: recorded before they were. */
export function formatExtensions(extensions: ReadonlyArray<{ name: string; version: string }> | undefined): string {
  if (!extensions) return 'extensions not recorded (a backup from before they were)';
  if (extensions.length === 0) return 'no extensions';
  return `extensions ${extensions.map((e) => `${e.name} ${e.version}`).join(', ')}`;
}

/** Bytes with an optional unit (5GiB, 64MiB, 8MB, 1048576); undefined when `value` is not such a size. */
export function parseSize(value: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*(B|KB|KiB|MB|MiB|GB|GiB|TB|TiB)?$/i.exec(value.trim());
  if (!m) return undefined;
  const factor: Record<string, number> = { b: 1, kb: 1e3, kib: 1024, mb: 1e6, mib: 1024 ** 2, gb: 1e9, gib: 1024 ** 3, tb: 1e12, tib: 1024 ** 4 };
  return Math.round(Number(m[1]) * factor[(m[2] ?? 'B').toLowerCase()]);
}

export function secondsSince(start: number): number {
  return Math.round((Date.now() - start) / 10) / 100;
}

/** The file name of a key, for progress lines. */
export function fileNameOf(key: string): string {
  return key.slice(key.lastIndexOf('/') + 1);
}
