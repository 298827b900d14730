/**
 * The database a command's `latest` is for, when the command does not restore into one: `--database`, else the
 * database of `--database-url` / DATABASE_URL, else libpq's PGDATABASE. Unset when none is given (libpq's fallback
 * to the user's name is no statement of intent): `latest` then works only while the bucket holds one database's
 * backups.
 */
import { Option } from 'commander';
import { ENV } from '../contract';
import { usageError } from '../core/errors';
import { parseDatabaseUrl } from '../postgres/connection';
import type { Settings } from '../settings';

export const DATABASE_HINT = 'say which with --database NAME (or PGDATABASE)';

export function databaseOption(what: string): Option {
  return new Option('--database <name>', `${what} (default: the database of $${ENV.databaseUrl}, else $PGDATABASE; unset: the only database with backups)`);
}

export function configuredDatabase(flag: string | undefined, settings: Pick<Settings, 'postgres'>, databaseUrl?: string): string | undefined {
  if (flag !== undefined) {
    if (flag.trim() === '') throw usageError('--database needs a database name');
    return flag;
  }
  const url = databaseUrl ?? settings.postgres.databaseUrl;
  if (url) return parseDatabaseUrl(url).database;
  return settings.postgres.pgDatabase;
}
