/**
 * The operator's own checks of a restored copy: SQL statements that must each return exactly one row holding a
 * single `true` (e.g. `select count(*) > 0 from users`). They come from `--assert` flags, else from
 * RESTORE_TEST_ASSERTIONS (a JSON array of strings). Each runs in its own read-only transaction that is rolled back,
 * so one assertion cannot change what the next one sees. An error, `false`, NULL, or any other shape fails it.
 */
import type { Client } from 'pg';
import { oneLine, usageError } from '../core/errors';

export interface AssertionResult {
  sql: string;
  ok: boolean;
  error?: string;
}

/**
 * The assertions to run: the flags when any were given, else the configured ones (RESTORE_TEST_ASSERTIONS, read and
 * checked with the settings, src/settings.ts), else none.
 */
export function assertionsFrom(flags: string[] | undefined, configured: readonly string[]): string[] {
  if (!flags || flags.length === 0) return [...configured];
  const empty = flags.findIndex((s) => s.trim() === '');
  if (empty !== -1) throw usageError(`--assert: assertion ${empty + 1} is empty; give SQL that returns one true value`);
  return flags.map((s) => s.trim());
}

/** Why a result is not exactly one row with one `true`; undefined when it is. */
function shapeProblem(result: unknown): string | undefined {
  if (Array.isArray(result)) return `it is ${result.length} statements: give one`;
  const r = result as { rows: Record<string, unknown>[]; fields: unknown[] };
  if (!r.fields || r.fields.length === 0) return 'it returned no result set: give a query';
  if (r.rows.length !== 1) return `it returned ${r.rows.length} rows, not one`;
  if (r.fields.length !== 1) return `it returned ${r.fields.length} columns, not one`;
  const value = Object.values(r.rows[0])[0];
  if (value === true) return undefined;
  return `it returned ${value === null ? 'NULL' : JSON.stringify(value)}, not true`;
}

/** Runs each assertion on `client` (the restored copy) and says which held. */
export async function runAssertions(client: Client, assertions: readonly string[]): Promise<AssertionResult[]> {
  const results: AssertionResult[] = [];
  for (const sql of assertions) {
    try {
      await client.query('BEGIN READ ONLY');
      const problem = shapeProblem(await client.query(sql));
      results.push(problem ? { sql, ok: false, error: problem } : { sql, ok: true });
    } catch (err) {
      results.push({ sql, ok: false, error: oneLine((err as Error).message ?? String(err)) });
    } finally {
      await client.query('ROLLBACK').catch(() => undefined);
    }
  }
  return results;
}
