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
