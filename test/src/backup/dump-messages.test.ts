import { DUMP_COMPLETE_LINE, endsWithCompletionLine } from '../../../src/backup/verify';
import { describeDumpFailure, dumpMessages } from '../../../src/backup/dump-process';
import { metadataValue } from '../../../src/backup/backup';

describe('what verify and the pipeline read from pg_dump', () => {
  test.each([
    ['a dump from before the 2025 point releases', `COPY t FROM stdin;\n1\n\\.\n\n\n--\n${DUMP_COMPLETE_LINE}\n--\n\n`],
    ['a dump with the \\unrestrict trailer (CVE-2025-8714 fix)', `\\.\n\n--\n${DUMP_COMPLETE_LINE}\n--\n\n\\unrestrict 27TuntoWMeApjt8Y4JZgE\n\n`],
  ])('GIVEN %s WHEN its end is checked THEN it is complete', (_name, tail) => {
    expect(endsWithCompletionLine(tail)).toBe(true);
  });

  test.each([
    ['a dump cut in the middle of a COPY', 'COPY t FROM stdin;\n1\n2\n'],
    ['SQL after the completion line', `--\n${DUMP_COMPLETE_LINE}\n--\n\nDROP TABLE users;\n`],
    ['nothing at all', ''],
  ])('GIVEN %s WHEN its end is checked THEN it is not complete', (_name, tail) => {
    expect(endsWithCompletionLine(tail)).toBe(false);
  });

  test('GIVEN pg_dump messages over several lines WHEN reported THEN they fold into one line without the pg_dump: prefixes', () => {
    const stderr = 'pg_dump: error: Dumping the contents of table "big" failed: PQgetCopyData() failed.\npg_dump: detail: Error message from server: FATAL:  terminating connection due to administrator command\npg_dump: detail: Command was: COPY public.big (id) TO stdout;\n';
    expect(describeDumpFailure({ code: 1, signal: null, stderr }, '/usr/lib/postgresql/15/bin/pg_dump')).toBe(
      'pg_dump exited with code 1: error: Dumping the contents of table "big" failed: PQgetCopyData() failed; detail: Error message from server: FATAL:  terminating connection due to administrator command; detail: Command was: COPY public.big (id) TO stdout;',
    );
    expect(describeDumpFailure({ code: null, signal: 'SIGKILL', stderr: '' }, 'pg_dump')).toBe('pg_dump was killed by SIGKILL without saying why');
    expect(dumpMessages('')).toBe('');
  });

  test('GIVEN names that are not plain ASCII WHEN stored as S3 metadata THEN they are percent-encoded, plain ones are kept', () => {
    expect(metadataValue('meatdb')).toBe('meatdb');
    expect(metadataValue('15.18 (Debian 15.18-0+deb12u1)')).toBe('15.18 (Debian 15.18-0+deb12u1)');
    expect(metadataValue('méat')).toBe('m%C3%A9at');
  });
});
