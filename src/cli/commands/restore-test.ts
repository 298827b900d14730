/** `meatbackup restore-test [<key>|latest]`: restore a backup into an ephemeral database, check it, drop it (what the weekly task runs). */
import { type Command, Option } from 'commander';
import { DEFAULT_PREFIX, ENV, RESTORE_TEST_MODES, type RestoreTestMode } from '../../contract';
import { resolveConnection } from '../../postgres/connection';
import { assertionsFrom } from '../../restore-test/assertions';
import { EXIT_CANNOT_TEST, NO_CATALOG_NOTE, type RestoreTestOutcome, runRestoreTest, throwIfFailed } from '../../restore-test/restore-test';
import { createS3Client, resolveBucket } from '../../storage/s3';
import { usageError } from '../../core/errors';
import { createLogger } from '../../core/log';
import { formatBytes, formatDuration } from '../../core/format';
import { shutdownSignal } from '../../core/signals';
import { stallSeconds } from '../../core/watchdog';
import { stallTimeoutOption } from '../stall-timeout';
import { spaceAvailableOption } from '../space-available';
import { DATABASE_HINT, configuredDatabase, databaseOption } from '../database';
import { type Settings, pgPrograms, prefixFrom } from '../../settings';
import { findPsql } from '../../restore/psql-load';
import { readingDecompressor } from '../decompressor';
import { jobsOption, restoreJobs } from '../jobs';

interface RestoreTestFlags {
  spaceAvailable?: number;
  database?: string;
  bucket?: string;
  prefix?: string;
  mode?: string;
  assert?: string[];
  databaseUrl?: string;
  json?: boolean;
  stallTimeout?: string;
  jobs?: string;
}

function resolveMode(flag: string | undefined, configured: RestoreTestMode): RestoreTestMode {
  if (flag === undefined) return configured;
  if (!(RESTORE_TEST_MODES as readonly string[]).includes(flag)) throw usageError(`--mode is ${JSON.stringify(flag)}: use scratch or cluster`);
  return flag as RestoreTestMode;
}

function humanResult(o: RestoreTestOutcome): string {
  const r = o.result;
  const verdict = r.ok ? 'passed    ' : r.cannotTest ? 'CANNOT TEST HERE ' : 'FAILED    ';
  const lines = [`${verdict}s3://${o.bucket}/${r.key}`];
  if (o.target) lines.push(`into      ${o.target} (${r.mode} mode), removed afterwards`);
  if (o.sqlBytes !== undefined) lines.push(`loaded    ${formatBytes(o.sqlBytes)} of SQL, sha256 checked`);
  if (o.tables) {
    const differing = r.differences.filter((d) => d !== NO_CATALOG_NOTE).length;
    const verdict = r.differences.includes(NO_CATALOG_NOTE)
      ? 'not checked: the backup recorded no catalog summary'
      : differing === 0
        ? `counts, tables and ${o.tables.checked} row estimate(s) match the recorded summary`
        : `${differing} difference(s) from the recorded summary`;
    lines.push(`catalog   ${o.tables.restored} table(s); ${verdict}`);
  }
  for (const d of r.differences) if (d !== NO_CATALOG_NOTE) lines.push(`differs   ${d}`);
  for (const a of r.assertions) lines.push(`assert    ${a.ok ? 'ok  ' : 'FAIL'} ${a.sql}${a.error ? `: ${a.error}` : ''}`);
  if (r.error) lines.push(`error     ${r.error}`);
  for (const note of o.notes) lines.push(`note      ${note}`);
  lines.push(`recorded  s3://${o.bucket}/${o.resultKey}`);
  lines.push(`took      ${formatDuration(r.seconds)}`);
  return `${lines.join('\n')}\n`;
}

export function registerRestoreTest(program: Command, settings: Settings): void {
  program
    .command('restore-test')
    .description(`prove a backup restores: load it into an ephemeral database (never the live one), check its catalog against the summary recorded at backup time and run SQL assertions, record the result beside the backup, then drop it. Exit 0 passed, 1 failed (the backup did not restore or did not match), ${EXIT_CANNOT_TEST} cannot test here (the target lacks an extension the backup needs, or cannot be reached or used; nothing against the backup)`)
    .argument('[key]', '"latest" (the newest backup of --database), a file name (meatdb-2025-09-17T10:30:00.sql.gz) or a full key (backups/…)', 'latest')
    .addOption(new Option('--bucket <name>', `bucket holding the backup (default: $${ENV.bucket})`))
    .addOption(new Option('--prefix <prefix>', `key prefix (default: $${ENV.prefix} or ${DEFAULT_PREFIX})`))
    .addOption(
      new Option('--mode <mode>', `scratch: a scratch database <db>_restore_test_<UTC time> on the server (the role needs CREATEDB); cluster: a throwaway cluster started in this process (needs the PostgreSQL server installed) (default: $${ENV.restoreTestMode} or scratch)`),
    )
    .addOption(
      new Option('--assert <sql>', `SQL that must return one row with a single true, e.g. "select count(*) > 0 from users"; repeatable (default: $${ENV.restoreTestAssertions}, a JSON array)`).argParser(
        (value: string, previous: string[] | undefined) => [...(previous ?? []), value],
      ),
    )
    .addOption(databaseOption('whose newest backup "latest" is'))
    .addOption(new Option('--database-url <url>', `scratch mode's server: postgresql://USER@HOST:PORT/DATABASE (default: $${ENV.databaseUrl}, else libpq's PGHOST/PGPORT/PGUSER/PGPASSWORD/PGDATABASE)`))
    .addOption(stallTimeoutOption('the listing, the manifest and every byte of the download from S3 (psql busy is not a stall); the ephemeral database is removed'))
    .addOption(spaceAvailableOption('the scratch copy (scratch mode)'))
    .addOption(jobsOption())
    .addOption(new Option('--json', 'print the result (as recorded) as one JSON document'))
    .action(async (ref: string, flags: RestoreTestFlags, command: Command) => {
      const bucket = resolveBucket(flags.bucket, settings.bucket);
      const prefix = prefixFrom(flags.prefix, settings);
      const mode = resolveMode(flags.mode, settings.restoreTest.mode);
      const assertions = assertionsFrom(flags.assert, settings.restoreTest.assertions);
      const database = configuredDatabase(flags.database, settings, flags.databaseUrl);
      const stall = stallSeconds(flags.stallTimeout, settings.stallSeconds);
      const logger = createLogger();
      const outcome = await runRestoreTest({
        ...(database !== undefined ? { database } : {}),
        databaseHint: DATABASE_HINT,
        s3: createS3Client({ ...settings.aws, stallSeconds: stall }),
        bucket,
        prefix,
        ref,
        mode,
        assertions,
        conn: resolveConnection(flags.databaseUrl, settings.env),
        psqlPath: findPsql(pgPrograms(settings)),
        logger,
        decompressor: readingDecompressor(settings, command),
        signal: shutdownSignal(),
        stallSeconds: stall,
        ...((flags.spaceAvailable ?? settings.restoreSpaceAvailable) !== undefined ? { spaceAvailable: flags.spaceAvailable ?? settings.restoreSpaceAvailable } : {}),
        jobs: restoreJobs(flags.jobs, settings.restoreJobs),
      });
      process.stdout.write(flags.json ? `${JSON.stringify({ ...outcome.result, resultKey: outcome.resultKey, notes: outcome.notes })}\n` : humanResult(outcome));
      throwIfFailed(outcome);
    });
}
