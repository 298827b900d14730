/**
 * Whether a restore-test target can load a backup's extensions. A dump recreates each extension with CREATE
 * EXTENSION, which works only where the server has the extension's files installed; a target without them fails the
 * load for a reason that says nothing about the backup. So the test checks the extensions the backup recorded
 * (catalog summary, from pg_extension) against what the target offers (pg_available_extensions) before it loads, and
 * reports a backup it cannot load here as "cannot test here", apart from a failed test.
 *
 * Backups recorded before extensions were have no list: for them psql's own complaint about a missing extension is
 * recognised after the fact ({@link missingExtensionInError}).
 */
import type { Client } from 'pg';
import type { Extension } from '../contract';
import type { RestoreTestMode } from './ephemeral-target';

/** An extension the backup needs that the target does not offer; the version is unknown for older backups. */
export interface MissingExtension {
  name: string;
  version?: string;
}

export interface AvailableExtension {
  name: string;
  defaultVersion: string;
}

export async function readAvailableExtensions(client: Client): Promise<AvailableExtension[]> {
  const { rows } = await client.query<{ name: string; default_version: string | null }>('select name, default_version from pg_available_extensions order by name');
  return rows.map((r) => ({ name: r.name, defaultVersion: r.default_version ?? '' }));
}

export interface ExtensionCheck {
  missing: MissingExtension[];
  /**
   * Extensions offered at another default version than the backup recorded: pg_dump writes CREATE EXTENSION without
   * a version, so the copy gets the target's default. Worth a note, not a failure.
   */
  otherVersions: string[];
}

export function checkExtensions(needed: readonly Extension[], available: readonly AvailableExtension[]): ExtensionCheck {
  const offered = new Map(available.map((a) => [a.name, a]));
  const missing: MissingExtension[] = [];
  const otherVersions: string[] = [];
  for (const e of needed) {
    const a = offered.get(e.name);
    if (!a) missing.push({ name: e.name, version: e.version });
    else if (a.defaultVersion !== e.version) otherVersions.push(`extension ${e.name} ${e.version} recorded; the target creates ${a.defaultVersion}, its default`);
  }
  return { missing, otherVersions };
}

/**
 * The extension psql's failed CREATE EXTENSION names: current releases say `extension "<name>" is not available`,
 * older ones `could not open extension control file ".../<name>.control"`. Undefined for any other failure.
 */
export function missingExtensionInError(message: string): string | undefined {
  const available = /extension "((?:[^"]|"")+)" is not available/.exec(message);
  if (available) return available[1].replace(/""/g, '"');
  const control = /could not open extension control file "(?:[^"]*\/)?([^/"]+)\.control"/.exec(message);
  return control?.[1];
}

function named(e: MissingExtension): string {
  return e.version ? `${e.name} (${e.version})` : e.name;
}

/** The one line a result and the exit message carry; what to do depends on where the test ran. */
export function cannotTestMessage(missing: readonly MissingExtension[], mode: RestoreTestMode, where: string): string {
  const what = `${missing.length === 1 ? 'extension' : 'extensions'} ${missing.map(named).join(', ')}`;
  const todo =
    mode === 'cluster'
      ? 'use scratch mode (--mode scratch, on a server that has it) or add it to the image (README: extensions in restore tests)'
      : "install it on that server, or use cluster mode with an image that has it (README: extensions in restore tests)";
  return `cannot test here: needs ${what}, which the ${where} does not offer: ${todo}; this says nothing against the backup`;
}
