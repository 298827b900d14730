/**
 * "Cannot test here" for a target the restore test could not get (docs/architecture.md, "Weekly restore test (`src/restore-test`)"): a
 * server that does not answer, refuses the login, is a read-only hot standby, is full of connections or will not let
 * the role create a database says nothing about the backup, so it must not be recorded as a failed backup (the
 * failed-test alarm) but as a test that could not run (exit 5 and its own metric).
 */

/** Codes of a server or network that cannot host the test: libpq/Node network errors and SQLSTATEs. */
const UNAVAILABLE: Record<string, string> = {
  ECONNREFUSED: 'the server is not reachable',
  ENOTFOUND: 'the server is not reachable',
  EAI_AGAIN: 'the server is not reachable',
  ETIMEDOUT: 'the server is not reachable',
  EHOSTUNREACH: 'the server is not reachable',
  ECONNRESET: 'the server is not reachable',
  ENOENT: 'the server is not reachable',
  '28P01': 'the server refused the login',
  '28000': 'the server refused the login',
  '3D000': 'the maintenance database does not exist on the server',
  '57P03': 'the server is not accepting connections yet',
  '53300': 'the server has no free connection slot',
  '25006': 'the server is read-only (a hot standby): run the restore test against the primary, or use --mode cluster',
  '42501': 'the role may not create the scratch database',
};

/** The error and its causes, outermost first. */
function causes(err: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let e = err; e !== undefined && e !== null && chain.length < 8; e = (e as { cause?: unknown }).cause) chain.push(e);
  return chain;
}

/** Why the target is unavailable, when `err` says it is; undefined for any other failure. */
export function targetUnavailable(err: unknown): string | undefined {
  for (const e of causes(err)) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && code in UNAVAILABLE) return UNAVAILABLE[code];
  }
  return undefined;
}
