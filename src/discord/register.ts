/**
 * `meatbackup discord register`: puts the commands of ./commands.ts on the application as guild commands (guild
 * commands appear at once; global ones can take up to an hour), and says what it changed. Idempotent: it lists the
 * guild's commands first and creates only the missing, edits only the different, and deletes the application's
 * commands that are no longer ours, so a second run changes nothing and creates nothing (creates count against
 * Discord's daily limit of 200 per guild).
 * https://discord.com/developers/docs/interactions/application-commands#registering-a-command and the endpoints
 * after it (Get / Create / Edit / Delete Guild Application Command).
 */
import * as z from 'zod/mini';
import type { DiscordApi } from './api';
import { COMMANDS, type CommandDefinition } from './commands';

export interface RegistrationResult {
  created: string[];
  updated: string[];
  unchanged: string[];
  deleted: string[];
}

const registeredSchema = z.array(
  z.looseObject({
    id: z.string(),
    name: z.string(),
    type: z.optional(z.int()),
    description: z.optional(z.string()),
    options: z.optional(z.nullable(z.array(z.looseObject({ type: z.int(), name: z.string() })))),
    default_member_permissions: z.optional(z.nullable(z.string())),
    nsfw: z.optional(z.boolean()),
  }),
);

/** What decides whether a registered command is ours as defined: Discord fills in defaults, so they are filled here too. */
function comparable(c: { type?: number; description?: string; options?: readonly Record<string, unknown>[] | null; default_member_permissions?: string | null; nsfw?: boolean }): string {
  return JSON.stringify({
    type: c.type ?? 1,
    description: c.description ?? '',
    options: (c.options ?? []).map((o) => ({
      type: o.type,
      name: o.name,
      description: o.description,
      required: o.required ?? false,
      min_value: o.min_value ?? null,
      max_value: o.max_value ?? null,
      max_length: o.max_length ?? null,
    })),
    default_member_permissions: c.default_member_permissions ?? null,
    nsfw: c.nsfw ?? false,
  });
}

export async function registerCommands(
  api: DiscordApi,
  target: { applicationId: string; guildId: string; botToken: string },
  commands: readonly CommandDefinition[] = COMMANDS,
): Promise<RegistrationResult> {
  const calls = api.guildCommands(target.applicationId, target.guildId, target.botToken);
  const listed = registeredSchema.safeParse(await calls.list());
  if (!listed.success) throw new Error('Discord answered the command list with something that is not a list of commands');
  const existing = listed.data;
  const result: RegistrationResult = { created: [], updated: [], unchanged: [], deleted: [] };
  for (const command of commands) {
    const found = existing.find((e) => e.name === command.name && (e.type ?? 1) === command.type);
    if (!found) {
      await calls.create(command);
      result.created.push(command.name);
    } else if (comparable(found as Parameters<typeof comparable>[0]) !== comparable(command as unknown as Parameters<typeof comparable>[0])) {
      await calls.edit(found.id, command);
      result.updated.push(command.name);
    } else {
      result.unchanged.push(command.name);
    }
  }
  for (const e of existing) {
    if (!commands.some((c) => c.name === e.name && c.type === (e.type ?? 1))) {
      await calls.remove(e.id);
      result.deleted.push(e.name);
    }
  }
  return result;
}
