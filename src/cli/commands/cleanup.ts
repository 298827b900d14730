/**
 * `meatbackup cleanup`: finds what restores left behind on the server and are no longer running (their fresh
 * `<db>_restore_<UTC time>` databases: src/restore/leftovers.ts) and drops them. A fresh database in use by a running
 * restore is named and never touched; the databases restores replaced (`<db>_pre_restore_…`) are kept, as always.
 */
import { type Command, Option } from 'commander';
import { ENV } from '../../contract';
import { formatBytes } from '../../core/format';
import { resolveConnection, describeConnection } from '../../postgres/connection';
import { maintenance, onServer } from '../../restore/on-server';
import { dropLeftovers, findLeftovers } from '../../restore/leftovers';
import type { Settings } from '../../settings';
import { askYes, requireYesOrTerminal } from '../prompt';

interface CleanupFlags {
  databaseUrl?: string;
  yes?: boolean;
  dryRun?: boolean;
  json?: boolean;
}

export function registerCleanup(program: Command, settings: Settings): void {
  program
    .command('cleanup')
    .description('drop the fresh databases (<db>_restore_<UTC time>) that interrupted or failed restores left on the server and that no running restore uses; databases a restore replaced (<db>_pre_restore_…) are kept')
    .addOption(new Option('--database-url <url>', `postgresql://USER@HOST:PORT/DATABASE (default: $${ENV.databaseUrl}, else libpq's PGHOST/PGPORT/PGUSER/PGPASSWORD/PGDATABASE)`))
    .addOption(new Option('--dry-run', 'only list what would be dropped'))
    .addOption(new Option('--yes', 'drop without asking (required without a terminal)'))
    .addOption(new Option('--json', 'print the result as one JSON document'))
    .action(async (flags: CleanupFlags) => {
      const admin = maintenance(resolveConnection(flags.databaseUrl, settings.env), '');
      const server = describeConnection(admin);
      await onServer(admin, `clean up leftovers of restores on ${server}`, async (client) => {
        const found = await findLeftovers(client);
        const busy = found.inUse.map((d) => `${d.name} (in use by a running restore: ${d.heldBy}; not touched)`);
        const names = found.leftovers.map((l) => l.name);
        const listing = found.leftovers.map((l) => `${l.name} (${formatBytes(l.sizeBytes)})`);
        if (names.length === 0 || flags.dryRun) {
          if (flags.json) {
            process.stdout.write(`${JSON.stringify({ server, leftovers: found.leftovers, inUse: found.inUse, dropped: [] })}\n`);
            return;
          }
          const head = names.length === 0 ? `no leftovers of restores on ${server}` : `${names.length} leftover(s) of restores that are not running on ${server} (dry run, nothing dropped)`;
          process.stdout.write(`${[head, ...listing.map((l) => `leftover  ${l}`), ...busy.map((b) => `running   ${b}`)].join('\n')}\n`);
          return;
        }
        requireYesOrTerminal(flags.yes, `${names.length} leftover(s) of restores on ${server}: ${names.join(', ')}: pass --yes to drop them (or --dry-run to list them only); nothing was changed`);
        if (!flags.yes) {
          process.stderr.write(`${listing.map((l) => `leftover  ${l}`).join('\n')}\n`);
          if (!(await askYes(`Drop these ${names.length} database(s)? [y/N] `))) {
            process.stdout.write('nothing was dropped\n');
            return;
          }
        }
        const result = await dropLeftovers(client, names);
        const inUse = [...found.inUse, ...result.inUse];
        if (flags.json) {
          process.stdout.write(`${JSON.stringify({ server, leftovers: found.leftovers, inUse, dropped: result.dropped })}\n`);
          return;
        }
        process.stdout.write(
          `${[
            `dropped ${result.dropped.length} leftover(s) of restores on ${server}`,
            ...result.dropped.map((d) => `dropped   ${d}`),
            ...inUse.map((d) => `running   ${d.name} (in use by a running restore: ${d.heldBy}; not touched)`),
          ].join('\n')}\n`,
        );
      });
    });
}
