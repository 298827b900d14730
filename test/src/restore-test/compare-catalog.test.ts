import type { CatalogSummary } from '../../../src/contract';
import { type RestoredCatalog, compareCatalog, rowsWithinTolerance, tableKey } from '../../../src/restore-test/compare-catalog';

const counts = { tables: 2, indexes: 3, sequences: 1, views: 1, materializedViews: 0, functions: 2 };

function summary(tables: [string, string, number][], over: Partial<CatalogSummary['counts']> = {}): CatalogSummary {
  return {
    tables: tables.map(([schema, name, estimatedRows]) => ({ schema, name, estimatedRows, sizeBytes: 8192 })),
    counts: { ...counts, ...over },
    totalBytes: 1 << 20,
  };
}

function restored(tables: [string, string, number][], over: Partial<CatalogSummary['counts']> = {}): RestoredCatalog {
  return {
    summary: summary(tables.map(([s, n]) => [s, n, 0]), over),
    rowCounts: new Map(tables.map(([s, n, rows]) => [tableKey(s, n), rows])),
  };
}

describe('GIVEN the row tolerance: max(20% of the larger, 1000 rows)', () => {
  test.each([
    [0, 1000, true],
    [0, 1001, false],
    [100_000, 80_000, true],
    [100_000, 79_999, false],
    [80_000, 100_000, true],
    [1_000_000, 0, false],
  ])('WHEN %i rows are recorded and %i restored THEN within is %s', (estimated, actual, within) => {
    expect(rowsWithinTolerance(estimated, actual)).toBe(within);
  });
});

describe('GIVEN a recorded summary and a restored copy', () => {
  const recorded = summary([['public', 'users', 50_000], ['public', 'messages', -1]]);

  test('WHEN they agree (estimates within tolerance, never-analyzed tables unchecked) THEN there is no difference', () => {
    expect(compareCatalog(recorded, restored([['public', 'users', 48_000], ['public', 'messages', 7_000_000]]))).toEqual([]);
  });

  test('WHEN counts, tables and rows differ THEN each difference is named', () => {
    const copy = restored([['public', 'users', 3], ['Odd Schema', 'x', 1]], { indexes: 2, functions: 3 });
    expect(compareCatalog(recorded, copy)).toEqual([
      'indexes: 3 recorded, 2 restored',
      'functions: 2 recorded, 3 restored',
      'table public.messages is recorded but missing from the restored copy',
      'table "Odd Schema".x is in the restored copy but not recorded',
      'rows of public.users: about 50000 recorded (planner estimate), 3 restored, more apart than 20% or 1000 rows',
    ]);
  });

  test('WHEN a recorded extension is missing from the copy THEN it is named; another version, or a summary without the list, is no difference', () => {
    const copy = restored([['public', 'users', 50_000], ['public', 'messages', 1]]);
    copy.summary.extensions = [{ name: 'citext', version: '1.6' }];
    const withExtensions = { ...recorded, extensions: [{ name: 'citext', version: '1.5' }, { name: 'vector', version: '0.8.0' }] };
    expect(compareCatalog(withExtensions, copy)).toEqual(['extension vector is recorded but missing from the restored copy']);
    expect(compareCatalog(recorded, copy)).toEqual([]);
  });

  test('WHEN the backup came from PostgreSQL 13 and a table recorded 0 rows THEN it is not checked (0 meant "never analyzed" there)', () => {
    const old = summary([['public', 'users', 0], ['public', 'messages', -1]]);
    const copy = restored([['public', 'users', 5000], ['public', 'messages', 1]]);
    expect(compareCatalog(old, copy, { sourceMajor: 13 })).toEqual([]);
    expect(compareCatalog(old, copy, { sourceMajor: 15 })).toEqual([expect.stringMatching(/^rows of public\.users: about 0 recorded/)]);
  });
});
