/**
 * A backup of another database than the one a restore is for: the one refusal, and how to mean it on purpose, for
 * every place a restore is asked for (the CLI's `--from-database`, the ops function's `"fromDatabase"`). The words
 * differ by caller; the rule and the sentence live here.
 */
import { UserError } from '../core/errors';

/** How the caller's operator names the source database, and what "nothing happened" means there. */
export interface SourceDatabaseWords {
  /** The option's name as typed: `--from-database`, `"fromDatabase"`. */
  option: string;
  /** The option with a value: `--from-database postgres`, `"fromDatabase": "postgres"`. */
  withValue: (database: string) => string;
  /** e.g. `nothing was changed`. */
  unchanged: string;
  /** Said after the target's name, e.g. ` (the database this deployment restores)`. @default '' */
  targetNote?: string;
}

export const CLI_SOURCE_WORDS: SourceDatabaseWords = {
  option: '--from-database',
  withValue: (database) => `--from-database ${database}`,
  unchanged: 'nothing was changed',
};

/** How to restore a backup of `source` (`what`: "it", "its newest backup") into `target` on purpose. */
export function fromDatabaseHint(source: string, target: string, words: SourceDatabaseWords, what = 'it'): string {
  return `to restore ${what} into ${target} anyway, add ${words.withValue(source)}`;
}

/** The hint when `latest` finds no backup of the target but of `others` (newest first). */
export function latestOfOtherHint(others: readonly string[], target: string, words: SourceDatabaseWords): string {
  if (others.length === 1) return fromDatabaseHint(others[0], target, words, `the newest backup of ${others[0]}`);
  return `to restore the newest backup of one of them into ${target} anyway, add ${words.option} with its name (e.g. ${words.withValue(others[0])})`;
}

/**
 * The refusal of backup `name` (of database `backupDatabase`) for a restore into `target`, or undefined when it may
 * be restored: it is of the target, or of the database `fromDatabase` names.
 */
export function otherDatabaseRefusal(
  name: string,
  backupDatabase: string,
  target: string,
  fromDatabase: string | undefined,
  words: SourceDatabaseWords,
): UserError | undefined {
  const source = fromDatabase ?? target;
  if (backupDatabase === source) return undefined;
  if (fromDatabase === undefined) {
    return new UserError(
      `${name} is a backup of database ${backupDatabase}, not of ${target}${words.targetNote ?? ''}: ${fromDatabaseHint(backupDatabase, target, words)}; ${words.unchanged}`,
      2,
    );
  }
  return new UserError(`${name} is a backup of database ${backupDatabase}, but ${words.option} says ${fromDatabase}; ${words.unchanged}`, 2);
}
