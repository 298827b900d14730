/**
 * The slash commands, as they are registered with Discord and as they arrive. Shapes from
 * https://discord.com/developers/docs/interactions/application-commands#application-command-object (CHAT_INPUT type 1;
 * option types STRING 3 and INTEGER 4; names lowercase, 1-32 characters; descriptions 1-100 characters).
 */
import * as z from 'zod/mini';
import { backupRefSchema } from '../contract';

/** Application command option types used here. */
export const OPTION_TYPE = { string: 3, integer: 4 } as const;

/** How many backups `/backups` shows without a count, and at most. */
export const BACKUPS_DEFAULT = 5;
export const BACKUPS_MAX = 20;

export interface CommandOption {
  type: number;
  name: string;
  description: string;
  required?: boolean;
  min_value?: number;
  max_value?: number;
  max_length?: number;
}

/** A command as registered (the JSON params of Create Guild Application Command). */
export interface CommandDefinition {
  name: string;
  type: 1;
  description: string;
  options?: CommandOption[];
}

export const COMMANDS: readonly CommandDefinition[] = [
  { name: 'backup', type: 1, description: 'Start a backup of the database now' },
  {
    name: 'backups',
    type: 1,
    description: 'The newest backups: size, age and last check',
    options: [{ type: OPTION_TYPE.integer, name: 'count', description: `How many (default ${BACKUPS_DEFAULT})`, required: false, min_value: 1, max_value: BACKUPS_MAX }],
  },
  { name: 'status', type: 1, description: 'Health of the backups: newest backup, restore test, tasks' },
  {
    name: 'restore-plan',
    type: 1,
    description: 'What a restore of a backup would do (never restores)',
    options: [{ type: OPTION_TYPE.string, name: 'backup', description: 'latest, or a backup name such as meatdb-2025-09-17T03:00:00.sql.gz', required: true, max_length: 1024 }],
  },
];

export type CommandName = 'backup' | 'backups' | 'status' | 'restore-plan';

/** A command with its options checked: what the follow-up runs. */
export type CommandRequest =
  | { name: 'backup' }
  | { name: 'backups'; count: number }
  | { name: 'status' }
  | { name: 'restore-plan'; backup: string };

export const commandRequestSchema = z.discriminatedUnion('name', [
  z.object({ name: z.literal('backup') }),
  z.object({ name: z.literal('backups'), count: z.int().check(z.gte(1), z.lte(BACKUPS_MAX)) }),
  z.object({ name: z.literal('status') }),
  z.object({ name: z.literal('restore-plan'), backup: backupRefSchema }),
]);

/** An option as an interaction carries it: https://discord.com/developers/docs/interactions/receiving-and-responding#interaction-object-application-command-interaction-data-option-structure */
export interface InteractionOption {
  name: string;
  type: number;
  value?: string | number | boolean;
}

/**
 * The command an interaction asks for, or what is wrong with it (a line for the member). A backup name may be given
 * without the prefix: `restore-plan` resolves it as `restore` does.
 */
export function commandRequest(name: string, options: readonly InteractionOption[] = []): CommandRequest | { problem: string } {
  const option = (n: string) => options.find((o) => o.name === n)?.value;
  const candidate =
    name === 'backups'
      ? { name, count: option('count') ?? BACKUPS_DEFAULT }
      : name === 'restore-plan'
        ? { name, backup: typeof option('backup') === 'string' ? String(option('backup')).trim() : option('backup') }
        : { name };
  const parsed = commandRequestSchema.safeParse(candidate);
  if (parsed.success) return parsed.data;
  if (!COMMANDS.some((c) => c.name === name)) return { problem: `unknown command /${name}: run \`meatbackup discord register\` again to update the commands` };
  return { problem: `/${name}: ${parsed.error.issues.map((i) => i.message).join('; ')}` };
}
