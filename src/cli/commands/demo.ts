/**
 * `meatbackup demo` (what `npm start` runs): the whole backup & restore runbook on a throwaway PostgreSQL cluster
 * and the moto S3 emulator. Narration on stderr, the summary table on stdout.
 */
import { type Command, Option } from 'commander';
import { type Settings } from '../../settings';

export function registerDemo(program: Command, settings: Settings): void {
  program
    .command('demo')
    .description('run the backup & restore runbook end to end on a local PostgreSQL cluster and an S3 emulator')
    .addOption(new Option('--keep', 'leave the database and the emulator running afterwards and print how to connect'))
    .addOption(new Option('--json', 'print the summary as one JSON document'))
    .action(async (flags: { keep?: boolean; json?: boolean }) => {
      // Loaded here, not at start: the demo runs every command, and with them every client.
      const { runDemo } = await import('../../demo/demo.js');
      await runDemo({
        env: settings.env,
        keep: flags.keep === true,
        onFinished: (result) =>
          process.stdout.write(
            flags.json ? `${JSON.stringify({ ok: true, steps: result.steps })}\n` : `\n${result.table}\n\nEvery step of the runbook ran for real and checked its result.\n`,
          ),
      });
    });
}
