import { planGlobals } from '../../../src/restore/apply-globals';
import { classify, identName, splitSql } from '../../../src/restore/globals-sql';

/** What pg_dumpall 15 --globals-only --no-role-passwords writes (with the \restrict lines of recent minor releases). */
const PG_DUMPALL_15 = `--
-- PostgreSQL database cluster dump
--

\\restrict A76KMtEeJuwhTPRjbImoLY1bCzo5dGmPxVlhMYgQNqsOdLqszfIp7EDa5GjzlOu

SET default_transaction_read_only = off;

SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;

--
-- Roles
--

CREATE ROLE "meat app";
ALTER ROLE "meat app" WITH NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB LOGIN NOREPLICATION NOBYPASSRLS CONNECTION LIMIT 5 VALID UNTIL '2030-01-01 00:00:00+00';
CREATE ROLE meat_owner;
ALTER ROLE meat_owner WITH NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB NOLOGIN NOREPLICATION NOBYPASSRLS;
COMMENT ON ROLE meat_owner IS 'owns; stuff
-- not a comment';
CREATE ROLE postgres;
ALTER ROLE postgres WITH SUPERUSER INHERIT CREATEROLE CREATEDB LOGIN REPLICATION BYPASSRLS;

--
-- User Config "meat app"
--

ALTER ROLE "meat app" SET search_path TO 'a', 'b c';

--
-- Role memberships
--

GRANT meat_owner TO "meat app" WITH ADMIN OPTION GRANTED BY postgres;
GRANT pg_read_all_data TO postgres GRANTED BY postgres;

--
-- Role privileges on configuration parameters
--

GRANT SET ON PARAMETER work_mem TO meat_owner;

--
-- Tablespaces
--

CREATE TABLESPACE fast OWNER postgres LOCATION '/mnt/fast''s disk';
GRANT ALL ON TABLESPACE fast TO meat_owner;
CREATE TABLESPACE kept_ts OWNER postgres LOCATION '/srv/kept';
COMMENT ON TABLESPACE kept_ts IS 'already here';

\\unrestrict A76KMtEeJuwhTPRjbImoLY1bCzo5dGmPxVlhMYgQNqsOdLqszfIp7EDa5GjzlOu

--
-- PostgreSQL database cluster dump complete
--
`;

describe('GIVEN pg_dumpall --globals-only output', () => {
  test('WHEN it is split THEN each statement comes out whole, quotes and comments respected, \\restrict lines dropped', () => {
    const statements = splitSql(PG_DUMPALL_15);
    expect(statements).toHaveLength(18);
    expect(statements).toContain("COMMENT ON ROLE meat_owner IS 'owns; stuff\n-- not a comment'");
    expect(statements.some((s) => s.includes('restrict'))).toBe(false);
  });

  test('WHEN it is classified THEN roles, details, memberships, parameter privileges and tablespaces are told apart', () => {
    const kinds = splitSql(PG_DUMPALL_15).map(classify);
    expect(kinds.map((k) => k.kind)).toEqual([
      'set', 'set', 'set',
      'create-role', 'role-detail', 'create-role', 'role-detail', 'role-detail', 'create-role', 'role-detail',
      'role-detail',
      'membership', 'membership',
      'parameter-privilege',
      'create-tablespace', 'tablespace-detail', 'create-tablespace', 'tablespace-detail',
    ]);
    expect(kinds).toContainEqual(expect.objectContaining({ kind: 'membership', role: 'meat_owner', member: 'meat app' }));
    expect(kinds).toContainEqual(expect.objectContaining({ kind: 'create-tablespace', tablespace: 'fast', location: "/mnt/fast's disk" }));
    expect(kinds).toContainEqual(expect.objectContaining({ kind: 'parameter-privilege', grantee: 'meat_owner' }));
    expect(classify('DROP ROLE meat_owner')).toEqual({ kind: 'unknown', sql: 'DROP ROLE meat_owner' });
  });

  test('WHEN identifiers are quoted or bare THEN their names are what PostgreSQL stores', () => {
    expect(identName('"Meat ""App"""')).toBe('Meat "App"');
    expect(identName('MEAT_owner')).toBe('meat_owner');
  });

  test('WHEN the text holds another meta-command or ends inside a statement THEN it is refused', () => {
    expect(() => splitSql('\\! rm -rf /\n')).toThrow(/unexpected psql meta-command/);
    expect(() => splitSql("CREATE ROLE x;\nALTER ROLE x WITH LOGIN")).toThrow(/ends inside a statement/);
    expect(() => splitSql("COMMENT ON ROLE x IS 'open;\n")).toThrow(/unterminated string literal/);
  });
});

describe('GIVEN a server that has some of the roles and tablespaces', () => {
  const server = { roles: new Set(['postgres', 'meat_owner']), tablespaces: new Set(['pg_default', 'pg_global', 'kept_ts']) };

  test('WHEN the globals are planned THEN missing roles are created with their details, existing ones are kept untouched', () => {
    const plan = planGlobals(PG_DUMPALL_15, server);
    expect(plan.createdRoles).toEqual(['meat app']);
    expect(plan.keptRoles).toEqual(['meat_owner', 'postgres']);
    expect(plan.run).toEqual([
      'SET default_transaction_read_only = off',
      'SET standard_conforming_strings = on',
      'CREATE ROLE "meat app"',
      expect.stringMatching(/^ALTER ROLE "meat app" WITH .*CONNECTION LIMIT 5/),
      "ALTER ROLE \"meat app\" SET search_path TO 'a', 'b c'",
      'GRANT meat_owner TO "meat app" WITH ADMIN OPTION GRANTED BY postgres',
    ]);
    // Between two roles that both existed: the server's business. The connected role and the superuser: never altered.
    expect(plan.run.join('\n')).not.toMatch(/pg_read_all_data|ALTER ROLE postgres|ALTER ROLE meat_owner|ON PARAMETER|TABLESPACE/);
    expect(plan.memberships).toEqual([{ role: 'meat_owner', member: 'meat app' }]);
  });

  test('WHEN a tablespace is missing THEN it is not created and a note names it and its location', () => {
    const plan = planGlobals(PG_DUMPALL_15, server);
    expect(plan.missingTablespaces).toEqual([{ name: 'fast', location: "/mnt/fast's disk" }]);
    expect(plan.notes).toEqual([
      expect.stringMatching(/^tablespace fast \(at \/mnt\/fast's disk on the backup's server\) does not exist here and was not created/),
      expect.stringMatching(/^created role\(s\) meat app without passwords/),
    ]);
  });

  test('WHEN every role already exists THEN nothing but session settings runs: applying twice changes nothing', () => {
    const plan = planGlobals(PG_DUMPALL_15, { ...server, roles: new Set(['postgres', 'meat_owner', 'meat app']) });
    expect(plan.run).toEqual(['SET default_transaction_read_only = off', 'SET standard_conforming_strings = on']);
    expect(plan.createdRoles).toEqual([]);
  });

  test('WHEN the globals hold a statement it does not know THEN the whole plan is refused', () => {
    expect(() => planGlobals(`${PG_DUMPALL_15}\nDROP ROLE meat_owner;\n`, server)).toThrow(/hold a statement meatbackup does not apply \("DROP ROLE meat_owner"\): nothing was changed/);
  });
});
