/** The one logger's line shape, and how sizes, rates and ages read: pure formatting, no server. */
import { Writable } from 'node:stream';
import { createLogger } from '../../../src/core/log';
import { formatBytes, formatListedAge } from '../../../src/core/format';

function captured(): { stream: Writable; lines: () => Array<Record<string, unknown>> } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      text += chunk.toString();
      done();
    },
  });
  return { stream, lines: () => text.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('GIVEN the JSON logger (no TTY)', () => {
  test('WHEN a field is named like the line\'s own keys (the backup\'s compression level) THEN the level stays a word and the field is kept beside it', () => {
    const out = captured();
    const logger = createLogger({ tty: false, stderr: out.stream, now: () => Date.parse('2026-12-07T01:00:00Z') });

    logger.info('backing up meatdb', { level: 1, message: 'x', time: 0, compressionLevel: 1 });
    logger.warn('careful');

    expect(out.lines()).toEqual([
      { time: '2026-12-07T01:00:00.000Z', level: 'info', message: 'backing up meatdb', 'field.level': 1, 'field.message': 'x', 'field.time': 0, compressionLevel: 1 },
      { time: '2026-12-07T01:00:00.000Z', level: 'warn', message: 'careful' },
    ]);
  });
});

describe('GIVEN sizes, rates and ages', () => {
  test('WHEN a rate under 1 KiB/s is a fraction THEN it is whole bytes, like every other size', () => {
    expect(`${formatBytes(201.9995455578278)}/s`).toBe('202 B/s');
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
  });

  test('WHEN a backup is stamped later than now THEN its listed age says FUTURE, never 0s', () => {
    const now = new Date('2026-12-07T01:00:00Z');
    expect(formatListedAge(new Date('2026-12-07T00:55:00Z'), now)).toBe('5m00s');
    expect(formatListedAge(new Date('2026-12-07T01:05:00Z'), now)).toBe('FUTURE (+5m00s)');
    expect(formatListedAge(new Date('2099-01-01T00:00:00Z'), now)).toMatch(/^FUTURE \(\+\d+d\)$/);
  });
});
