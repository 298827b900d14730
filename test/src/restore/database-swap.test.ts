import { derivedName, freshName, keptName, nameStamp, setClause, splitGucList } from '../../../src/restore/database-swap';

const quote = (v: string): string => `'${v.replace(/'/g, "''")}'`;

describe('GIVEN the names a restore creates', () => {
  const stamp = nameStamp(new Date('2025-09-17T10:30:00.123Z'));

  test('WHEN made for meatdb THEN they carry the UTC stamp of the run', () => {
    expect(stamp).toBe('20250917T103000Z');
    expect(freshName('meatdb', stamp)).toBe('meatdb_restore_20250917T103000Z');
    expect(keptName('meatdb', stamp)).toBe('meatdb_pre_restore_20250917T103000Z');
  });

  test('WHEN the database name is long or multi-byte THEN the name is shortened to 63 bytes on a character boundary and keeps its suffix', () => {
    const long = 'ü'.repeat(40); // 80 bytes
    const kept = keptName(long, stamp);
    expect(Buffer.byteLength(kept)).toBeLessThanOrEqual(63);
    expect(kept.endsWith('_pre_restore_20250917T103000Z')).toBe(true);
    expect(kept).not.toContain('\ufffd');
    expect(derivedName('x'.repeat(70), '_2')).toBe(`${'x'.repeat(61)}_2`);
  });

  test('WHEN the target is itself a kept copy (meatdb_pre_restore_<stamp>) THEN its names keep both stamps whole and shorten the name instead, at the 63-byte limit', () => {
    const stamp2 = nameStamp(new Date('2026-12-07T02:03:21Z'));
    // 35 + 29 bytes: one over the limit; the name part gives the byte, not the old stamp (once `…T20321_pre_restore_…`).
    const target = 'meatdb_pre_restore_20250917T203212Z';
    const kept = keptName(target, stamp2);
    expect(kept).toBe('meatd_pre_restore_20250917T203212Z_pre_restore_20261207T020321Z');
    expect(Buffer.byteLength(kept)).toBe(63);
    expect(keptName(target, `${stamp2}_2`)).toBe('mea_pre_restore_20250917T203212Z_pre_restore_20261207T020321Z_2');
    expect(freshName(target, stamp2)).toBe('meatdb_pre_restore_20250917T203212Z_restore_20261207T020321Z');
    // Exactly at the limit nothing is cut; a multi-byte name is cut on a character boundary.
    expect(keptName('meatd_pre_restore_20250917T203212Z', stamp2)).toBe('meatd_pre_restore_20250917T203212Z_pre_restore_20261207T020321Z');
    expect(keptName('ü'.repeat(10) + '_pre_restore_20250917T203212Z', stamp2)).toBe(`${'ü'.repeat(2)}_pre_restore_20250917T203212Z_pre_restore_20261207T020321Z`);
    // Stamps alone longer than the limit: the suffix's stamp still stays whole.
    const stacked = 'db_pre_restore_20250917T203212Z_pre_restore_20250918T203212Z';
    expect(keptName(stacked, stamp2).endsWith('_pre_restore_20261207T020321Z')).toBe(true);
    expect(Buffer.byteLength(keptName(stacked, stamp2))).toBeLessThanOrEqual(63);
  });
});

describe('GIVEN database settings as pg_db_role_setting stores them', () => {
  test.each([
    ['work_mem=8MB', "SET work_mem = '8MB'"],
    ["application_name=it's", "SET application_name = 'it''s'"],
    ['search_path="$user", public, "we ird"', "SET search_path = '$user', 'public', 'we ird'"],
    ['search_path=""', "SET search_path = ''"],
    ['search_path="a""b",c', "SET search_path = 'a\"b', 'c'"],
    ['myapp.tenant=acme=1', "SET myapp.tenant = 'acme=1'"],
  ])('WHEN %s is copied THEN it is re-applied as %s', (entry, clause) => {
    expect(setClause(entry, quote)).toBe(clause);
  });

  test('WHEN a list value is split THEN quoted names keep their commas and spaces', () => {
    expect(splitGucList('"a, b" , c,"d""e"')).toEqual(['a, b', 'c', 'd"e']);
    expect(splitGucList('')).toEqual([]);
  });

  test('WHEN an entry has no valid name THEN it is refused rather than spliced into SQL', () => {
    expect(() => setClause('bad name; drop database x=1', quote)).toThrow(/unexpected setting/);
  });
});
