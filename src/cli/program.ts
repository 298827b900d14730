/**
 * The `meatbackup` command line: one commander program, one module per command under ./commands.
 * Every failure ends as one line on stderr (`meatbackup: …`) and a non-zero exit; --debug adds the stack.
 */
import { Command, CommanderError, Option } from 'commander';
import { EXIT, UserError, oneLine } from '../core/errors';
import { Interrupted, installSignalHandlers } from '../core/signals';
import { type Environment, type Settings, readSettings } from '../settings';
import { commands } from './commands';
import { zlibFallbackNote } from './decompressor';

export interface GlobalOptions {
  debug?: boolean;
}

export function buildProgram(settings: Settings): Command {
  const program = new Command('meatbackup')
    .description('Backup, restore and disaster recovery for the MeatLizard platform: PostgreSQL to S3 and back.')
    .addOption(new Option('--debug', 'print stack traces on errors'))
    .showHelpAfterError(false)
    .exitOverride()
    .configureOutput({
      // Commander's own usage errors become our one-line format.
      outputError: () => undefined,
    });
  for (const register of commands) register(program, settings);
  const fallback = zlibFallbackNote(settings);
  if (fallback) program.addHelpText('after', `\n${fallback}`);
  for (const cmd of program.commands) cmd.exitOverride().configureOutput({ outputError: () => undefined });
  return program;
}

function commanderMessage(err: CommanderError, argv: string[], known: readonly string[]): string {
  const sub = argv.find((a) => !a.startsWith('-'));
  // Only a command that exists has help of its own: `meatbackup bakcup --help` would fail again.
  const help = sub && known.includes(sub) ? `meatbackup ${sub} --help` : 'meatbackup --help';
  const text = err.message.replace(/^error: /, '');
  return `${text}: see ${help}`;
}

/**
 * Runs the CLI with `argv` in the environment `env`, which is read here, once, into the settings every command gets
 * (src/settings.ts): a value that cannot be used ends the run before any command starts.
 */
export async function main(argv: string[], env: Environment = process.env): Promise<number> {
  installSignalHandlers();
  const debug = argv.includes('--debug');
  let known: string[] = [];
  try {
    const program = buildProgram(readSettings(env));
    known = program.commands.map((c) => c.name());
    await program.parseAsync(argv, { from: 'user' });
    return process.exitCode !== undefined ? Number(process.exitCode) : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.exitCode === 0) return 0;
      if (err.code === 'commander.help' || err.code === 'commander.executeSubCommandAsync') return err.exitCode;
      process.stderr.write(`meatbackup: ${oneLine(commanderMessage(err, argv, known))}\n`);
      return EXIT.usage;
    }
    if (debug && err instanceof Error) process.stderr.write(`${err.stack}\n`);
    if (err instanceof UserError) {
      process.stderr.write(`meatbackup: ${oneLine(err.message)}\n`);
      return err.exitCode;
    }
    if (err instanceof Interrupted) {
      process.stderr.write(`meatbackup: ${err.message}; nothing was left half-done\n`);
      return err.signal === 'SIGINT' ? EXIT.interrupted : EXIT.terminated;
    }
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`meatbackup: unexpected error: ${oneLine(message)}${debug ? '' : ' (rerun with --debug for details)'}\n`);
    return EXIT.failed;
  }
}
