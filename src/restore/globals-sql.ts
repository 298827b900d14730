/**
 * Reading `pg_dumpall --globals-only --no-role-passwords` output statement by statement, so the restore can apply
 * it idempotently instead of replaying it blindly with psql.
 *
 * `splitSql` cuts the text into statements the way psql would (quotes, identifiers, dollar quotes and comments
 * respected; `\restrict`/`\unrestrict`, the only meta-commands pg_dumpall writes, dropped). `classify` says what
 * each statement is about: a role, a membership, a tablespace, a session setting. Anything else is `unknown` and
 * the caller refuses it rather than guess whether replaying it is safe.
 */

export type GlobalsStatement =
  | { kind: 'set'; sql: string; name: string; value: string }
  | { kind: 'create-role'; sql: string; role: string }
  /** ALTER ROLE, COMMENT ON ROLE, SECURITY LABEL ON ROLE: the role's attributes, settings and description. */
  | { kind: 'role-detail'; sql: string; role: string }
  /** `GRANT role TO member …`: one membership per statement, as pg_dumpall writes them. */
  | { kind: 'membership'; sql: string; role: string; member: string }
  /** GRANT/REVOKE … ON PARAMETER … TO/FROM grantee (PostgreSQL 15+); grantee undefined for PUBLIC. */
  | { kind: 'parameter-privilege'; sql: string; grantee?: string }
  | { kind: 'create-tablespace'; sql: string; tablespace: string; location: string }
  /** ALTER/COMMENT/SECURITY LABEL/GRANT/REVOKE on a tablespace. */
  | { kind: 'tablespace-detail'; sql: string; tablespace: string }
  | { kind: 'unknown'; sql: string };

/** psql meta-commands pg_dumpall writes: a per-dump key that stops other meta-commands inside the dump. */
const HARMLESS_META = /^\\(un)?restrict\b/;

/**
 * Splits SQL text into statements (without the trailing semicolon), skipping comments and pg_dumpall's
 * `\restrict`/`\unrestrict` lines. Throws on any other psql meta-command or an unterminated quote.
 */
export function splitSql(text: string): string[] {
  const statements: string[] = [];
  let current = '';
  let i = 0;
  const n = text.length;
  const identChar = (c: string | undefined): boolean => c !== undefined && /[A-Za-z0-9_$\u0080-\uffff]/.test(c);
  while (i < n) {
    const c = text[i];
    const atStart = current.trim() === '';
    if (atStart && c === '\\') {
      const end = text.indexOf('\n', i);
      const line = text.slice(i, end === -1 ? n : end).trim();
      if (!HARMLESS_META.test(line)) throw new Error(`unexpected psql meta-command ${JSON.stringify(line.slice(0, 60))}`);
      i = end === -1 ? n : end + 1;
      continue;
    }
    if (c === '-' && text[i + 1] === '-') {
      const end = text.indexOf('\n', i);
      i = end === -1 ? n : end + 1;
      current += ' ';
      continue;
    }
    if (c === '/' && text[i + 1] === '*') {
      let depth = 1;
      i += 2;
      while (i < n && depth > 0) {
        const pair = text.slice(i, i + 2);
        const step = pair === '/*' ? 1 : pair === '*/' ? -1 : 0;
        depth += step;
        i += step === 0 ? 1 : 2;
      }
      if (depth > 0) throw new Error('unterminated /* comment');
      current += ' ';
      continue;
    }
    if (c === "'" || c === '"') {
      // E'…' strings take backslash escapes; standard strings and identifiers only doubled quotes.
      const escapes = c === "'" && /[eE]/.test(text[i - 1] ?? '') && !identChar(text[i - 2]);
      let j = i + 1;
      for (;;) {
        if (j >= n) throw new Error(`unterminated ${c === '"' ? 'quoted identifier' : 'string literal'}`);
        if (escapes && text[j] === '\\') {
          j += 2;
          continue;
        }
        if (text[j] === c) {
          if (text[j + 1] === c) {
            j += 2;
            continue;
          }
          break;
        }
        j += 1;
      }
      current += text.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    if (c === '$' && !identChar(text[i - 1])) {
      const tag = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(text.slice(i, i + 64));
      if (tag) {
        const close = text.indexOf(tag[0], i + tag[0].length);
        if (close === -1) throw new Error(`unterminated dollar-quoted string ${tag[0]}`);
        current += text.slice(i, close + tag[0].length);
        i = close + tag[0].length;
        continue;
      }
    }
    if (c === ';') {
      if (current.trim()) statements.push(current.trim());
      current = '';
      i += 1;
      continue;
    }
    current += c;
    i += 1;
  }
  if (current.trim()) throw new Error(`the text ends inside a statement: ${JSON.stringify(current.trim().slice(0, 60))}`);
  return statements;
}

/** An identifier as pg_dumpall writes it (fmtId): "quoted" with doubled quotes, or a bare lower-case name. */
const IDENT = '(?:"(?:[^"]|"")+"|[A-Za-z_\\u0080-\\uffff][A-Za-z0-9_$\\u0080-\\uffff]*)';

/** The name an identifier denotes: quotes removed, or a bare name folded to lower case as PostgreSQL does. */
export function identName(ident: string): string {
  return ident.startsWith('"') ? ident.slice(1, -1).replace(/""/g, '"') : ident.toLowerCase();
}

function match(sql: string, pattern: string): string[] | undefined {
  const m = new RegExp(pattern, 'is').exec(sql);
  return m ? m.slice(1) : undefined;
}

/** What a statement of pg_dumpall's globals is about. */
export function classify(statement: string): GlobalsStatement {
  const sql = statement.replace(/^\s+/, '');
  let m: string[] | undefined;
  if ((m = match(sql, '^SET\\s+([A-Za-z_.]+)\\s*(?:=|TO)\\s*(.*)$'))) return { kind: 'set', sql, name: m[0].toLowerCase(), value: m[1].trim() };
  if ((m = match(sql, `^CREATE\\s+ROLE\\s+(${IDENT})$`))) return { kind: 'create-role', sql, role: identName(m[0]) };
  if ((m = match(sql, `^(?:ALTER\\s+ROLE|COMMENT\\s+ON\\s+ROLE|SECURITY\\s+LABEL\\s+(?:FOR\\s+${IDENT}\\s+)?ON\\s+ROLE)\\s+(${IDENT})\\s`))) {
    return { kind: 'role-detail', sql, role: identName(m[0]) };
  }
  if ((m = match(sql, `^CREATE\\s+TABLESPACE\\s+(${IDENT})\\s.*\\sLOCATION\\s+'((?:[^']|'')*)'$`))) {
    return { kind: 'create-tablespace', sql, tablespace: identName(m[0]), location: m[1].replace(/''/g, "'") };
  }
  if (
    (m = match(sql, `^(?:ALTER\\s+TABLESPACE|COMMENT\\s+ON\\s+TABLESPACE|SECURITY\\s+LABEL\\s+(?:FOR\\s+${IDENT}\\s+)?ON\\s+TABLESPACE)\\s+(${IDENT})\\s`)) ||
    (m = match(sql, `^(?:GRANT|REVOKE)\\s.*?\\sON\\s+TABLESPACE\\s+(${IDENT})\\s+(?:TO|FROM)\\s`))
  ) {
    return { kind: 'tablespace-detail', sql, tablespace: identName(m[0]) };
  }
  if ((m = match(sql, `^(?:GRANT|REVOKE)\\s.*?\\sON\\s+PARAMETER\\s.*?\\s(?:TO|FROM)\\s+(${IDENT})(?:\\s|$)`))) {
    const grantee = identName(m[0]);
    return m[0].toLowerCase() === 'public' ? { kind: 'parameter-privilege', sql } : { kind: 'parameter-privilege', sql, grantee };
  }
  if ((m = match(sql, `^GRANT\\s+(${IDENT})\\s+TO\\s+(${IDENT})(?:\\s|$)`))) {
    return { kind: 'membership', sql, role: identName(m[0]), member: identName(m[1]) };
  }
  return { kind: 'unknown', sql };
}
