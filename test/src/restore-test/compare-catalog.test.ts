import type { CatalogSummary } from '../../../src/contract';
import { type RestoredCatalog, compareCatalog, expectedRows, rowsWithinTolerance, tableKey } from '../../../src/restore-test/compare-catalog';

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
      'rows of public.users: 3 restored, fewer than the 50000 the backup recorded (planner estimate), by more than 20% or 1000 rows',
    ]);
  });

  test('WHEN a recorded extension is missing from the copy THEN it is named; another version, or a summary without the list, is no difference', () => {
    const copy = restored([['public', 'users', 50_000], ['public', 'messages', 1]]);
    copy.summary.extensions = [{ name: 'citext', version: '1.6' }];
    const withExtensions = { ...recorded, extensions: [{ name: 'citext', version: '1.5' }, { name: 'vector', version: '0.8.0' }] };
    expect(compareCatalog(withExtensions, copy)).toEqual(['extension vector is recorded but missing from the restored copy']);
    expect(compareCatalog(recorded, copy)).toEqual([]);
  });

  test('WHEN a table comes back with more rows than a stale estimate recorded THEN it is no difference: a restore cannot add rows', () => {
    const old = summary([['public', 'users', 0], ['public', 'messages', -1]]);
    const copy = restored([['public', 'users', 5000], ['public', 'messages', 1]]);
    expect(compareCatalog(old, copy, { sourceMajor: 13 })).toEqual([]);
    expect(compareCatalog(old, copy, { sourceMajor: 15 })).toEqual([]);
  });
});

describe('GIVEN the statistics a backup records for a table (reltuples over relpages, its pages at dump time, n_live_tup)', () => {
  const table = (t: Partial<CatalogSummary['tables'][number]>): CatalogSummary['tables'][number] => ({ schema: 'public', name: 't', estimatedRows: 0, sizeBytes: 8192, ...t });

  test.each([
    ['never analyzed', { estimatedRows: -1, relpages: 0, pages: 100 }, undefined],
    ['refilled after a VACUUM with autovacuum off (0 over 0 pages, 100 pages now)', { estimatedRows: 0, relpages: 0, pages: 100 }, undefined],
    ['the same, with its live rows counted', { estimatedRows: 0, relpages: 0, pages: 100, liveRows: 20_000 }, 20_000],
    ['grown since its last ANALYZE: the density scaled to its pages, as the planner does', { estimatedRows: 1_000, relpages: 10, pages: 40 }, 4_000],
    ['an estimate set by hand above what its pages can hold', { estimatedRows: 1e6, relpages: 10, pages: 10 }, undefined],
    ['an estimate set by hand below the truth (join_hash: 2 rows over 100 pages) with its live rows counted', { estimatedRows: 2, relpages: 100, pages: 100, liveRows: 20_000 }, 2],
    ['mass-deleted since its last ANALYZE: the live-row count is the smaller', { estimatedRows: 100_000, relpages: 1_000, pages: 1_000, liveRows: 10_000 }, 10_000],
    ['recorded before pages were (older manifests)', { estimatedRows: 5_000 }, 5_000],
    ['empty at dump time', { estimatedRows: 5_000, relpages: 50, pages: 0 }, 0],
  ])('WHEN %s THEN the rows it supports are %s', (_what, stats, expected) => {
    expect(expectedRows(table(stats))).toBe(expected);
  });

  test('WHEN a table comes back with a fraction of the rows its live-row count recorded THEN that is a difference', () => {
    const rec: CatalogSummary = { ...summary([]), counts: { ...counts, tables: 1 }, tables: [table({ estimatedRows: 2, relpages: 100, pages: 100, liveRows: 20_000 }), table({ name: 'u', estimatedRows: 0, relpages: 0, pages: 100, liveRows: 20_000 })] };
    expect(compareCatalog(rec, restored([['public', 't', 20_000], ['public', 'u', 300]], { tables: 1 }))).toEqual([
      'rows of public.u: 300 restored, fewer than the 20000 the backup recorded (live rows counted), by more than 20% or 1000 rows',
    ]);
  });
});
