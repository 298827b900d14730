/**
 * The runtime's settings: every environment variable the runtime reads (names from ENV in src/contract.ts), read
 * once where a process enters (the CLI's `main`, which is also the Fargate tasks' command, and the ops Lambda's
 * handler), checked with zod, and passed down as one typed object. A module takes the setting it needs as a
 * parameter: the compressor and decompressor (found on the settings' PATH), the restore lock's note of where it runs
 * (thisProcess(settings.env)). One thing below the entries still defaults to `process.env`, and reads none of our
 * variables: the environment the started programs inherit (libpqEnv, startChild), as any Unix program's children
 * inherit it, with the connection's own libpq variables set over it.
 *
 * Only the shape of a value is checked here. Whether a setting must be present depends on what runs: a backup needs
 * a bucket, the promotion function has no ECS cluster. Those checks stay with the command or action (for the ops
 * functions {@link requireSettings}: one message for every missing variable).
 */
import * as z from 'zod/mini';
import { COMPRESSORS, DEFAULT_LOCK_DAYS, ENV, MAX_LOCK_DAYS, RESTORE_TEST_MODES, RETENTION_CLASSES, type RestoreTestMode, type RetentionClass, SECRET_ENV, TASK_CONTAINER_NAME, normalizePrefix, resolvePrefix } from './contract';
import { UserError } from './core/errors';
import { parseSize } from './core/format';
import { DEFAULT_PG_LIB_DIR, type PgPrograms } from './postgres/tools';
import { type ServiceRef, parseServiceList, parseServiceRef } from './restore/service-ref';


/** The environment as a process was given it. */
export type Environment = Readonly<Record<string, string | undefined>>;

export interface Settings {
  /** BACKUP_BUCKET: the bucket of backups/ (and the transcripts). */
  bucket?: string;
  /** BACKUP_PREFIX, normalised; {@link DEFAULT_PREFIX} when unset or empty. A `--prefix` flag overrides it: {@link prefixFrom}. */
  prefix: string;
  replica: { bucket?: string; region?: string };
  /** PRIMARY_REGION: where the primary bucket lives (the promotion function's target for the original name). */
  primaryRegion?: string;
  /**
   * What every AWS client is made with (src/storage/s3.ts): AWS_REGION, else AWS_DEFAULT_REGION (which the SDK itself
   * does not read), and the S3 endpoint override AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL (emulators; path-style
   * addressing follows from it). Credentials stay with the SDK's own chain.
   */
  aws: { region?: string; endpoint?: string };
  /** BACKUP_DATABASE: the database the ops functions back up and restore. */
  database?: string;
  postgres: {
    /** DATABASE_URL (parsed where a connection is resolved, with libpq's PG* variables). */
    databaseUrl?: string;
    /** PGDATABASE: libpq's database, the CLI's `latest` when nothing else names one. */
    pgDatabase?: string;
    /** PG_DUMP_PATH: one pg_dump for every server, instead of the per-major lookup. */
    pgDumpPath?: string;
    /** PG_LIB_DIR: where the per-major installations are. @default /usr/lib/postgresql */
    libDir: string;
  };
  /**
   * The environment as the process was given it: what libpq reads its own variables from (PGHOST, PGPASSWORD,
   * PGSSLMODE, …) when a connection is resolved, and what the programs the runtime starts inherit. Not interpreted here.
   */
  env: Environment;
  /** PATH: where programs (pg_dump, psql, igzip) are looked up when no directory names them. */
  path: string;
  /** WEB_SERVICE: the ECS service stopped while a restore swaps the databases. */
  webService?: ServiceRef;
  /** On Docker Compose, what a restore stops instead (src/cli/stopped-services.ts chooses). */
  compose: {
    /** STOP_COMPOSE_SERVICES: the services stopped while a restore swaps the databases. */
    services?: string[];
    /** COMPOSE_PROJECT_NAME: their project; unset, the one project that has them. */
    project?: string;
  };
  backup: {
    /** BACKUP_LOCK_DAYS: Object Lock (governance) days; 0 writes without a lock. */
    lockDays: number;
    /** BACKUP_RETENTION_DAYS: days each retention class is kept; a backup is locked at least until its class expires. */
    retentionDays?: Partial<Record<RetentionClass, number>>;
    /** BACKUP_COMPRESSOR: forced compressor; unset, igzip where installed, else zlib. */
    compressor?: (typeof COMPRESSORS)[number];
  };
  /** STALL_TIMEOUT_SECONDS, when set; a `--stall-timeout` flag overrides it, else the default (src/core/watchdog.ts). */
  stallSeconds?: number;
  /** RESTORE_SPACE_AVAILABLE in bytes, when set; a `--space-available` flag overrides it (src/restore/disk-space.ts). */
  restoreSpaceAvailable?: number;
  /** RESTORE_JOBS, when set; a `--jobs` flag overrides it, else the CPUs here (src/cli/jobs.ts). */
  restoreJobs?: number;
  restoreTest: {
    /** RESTORE_TEST_MODE. @default scratch */
    mode: RestoreTestMode;
    /** RESTORE_TEST_ASSERTIONS: SQL statements that must each return one true. */
    assertions: string[];
  };
  /** What the ops function needs to start and watch the tasks. */
  ecs: {
    cluster?: string;
    taskDefinitions: { backup?: string; restore?: string; 'restore-test'?: string };
    containerName: string;
    subnets: string[];
    securityGroups: string[];
    assignPublicIp: boolean;
    /** The tasks' awslogs group, for log links. */
    logGroup?: string;
  };
  promotion: {
    /** BATCH_OPERATIONS_ROLE_ARN: the role an S3 Batch Operations copy job assumes. */
    batchOperationsRole?: string;
    /** AWS_ACCOUNT_ID: the account S3 Control calls name. */
    accountId?: string;
    /** PROMOTE_FUNCTION_NAME: the promotion function in the replica region, which the primary's ops function points to. */
    functionName?: string;
    /** PROMOTE_TARGETS: the buckets the promotion function may create and write (names, or `prefix*` patterns). */
    targets?: string[];
  };
  /** `meatbackup schedule`: each job's cron expression as given (checked by the command, which knows the jobs). */
  schedule: {
    /** SCHEDULE_BACKUP, SCHEDULE_RESTORE_TEST, SCHEDULE_STATUS, SCHEDULE_RETENTION; unset: the job's default. */
    cron: { backup?: string; 'restore-test'?: string; status?: string; retention?: string };
    /** BACKUP_MAX_AGE in seconds: the health check fails when the newest backup with a manifest is older. */
    maxBackupAgeSeconds?: number;
    /** HTTP_LISTEN: the scheduler's HTTP listener; null for `off`. @default 127.0.0.1:8787 */
    listen: { host: string; port: number } | null;
  };
  chat: {
    /** CHAT_RESTORE_ENABLED=true: the chat channel may carry out a restore. */
    restoreEnabled: boolean;
    /** CHAT_COMMAND_PREFIX: the channel's command aliases begin with it. */
    commandPrefix: string;
  };
  /** The Discord application (docs/discord.md); every field absent unless set. */
  discord: {
    /** DISCORD_PUBLIC_KEY: 64 hex digits. */
    publicKey?: string;
    applicationId?: string;
    guildId?: string;
    /** DISCORD_ROLE_IDS: members holding any of these roles may run the commands. */
    roleIds: string[];
    /** DISCORD_WEBHOOK_URL: a secret; never printed. */
    webhookUrl?: string;
    webhookSecretArn?: string;
    /** DISCORD_BOT_TOKEN: a secret; never printed. */
    botToken?: string;
    /** DISCORD_API_URL, without a trailing slash. */
    apiUrl: string;
    /** DISCORD_LISTEN: where the interactions listener listens. */
    listen?: { host: string; port: number };
    /** OPS_FUNCTION_NAME: the ops function the interactions function asks (AWS). */
    opsFunctionName?: string;
  };
}

/** Discord's HTTP API, version 10 (https://discord.com/developers/docs/reference#api-versioning). */
export const DISCORD_API_URL = 'https://discord.com/api/v10';

/** Discord ids are snowflakes: decimal 64-bit numbers (https://discord.com/developers/docs/reference#snowflakes). */
export const SNOWFLAKE = /^\d{15,21}$/;

/**
 * What is wrong with a channel webhook URL, or undefined: `https://discord.com/api/webhooks/ID/TOKEN` as Discord's
 * "Copy Webhook URL" gives it (any host, so a test can point it at a loopback server). Never quotes the URL.
 */
export function webhookUrlProblem(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'is not a URL';
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname))) return 'must be an https:// URL';
  if (!/^\/api(\/v\d+)?\/webhooks\/\d{15,21}\/[\w-]+\/?$/.test(url.pathname)) return 'is not a channel webhook URL (…/api/webhooks/ID/TOKEN)';
  return undefined;
}

/** A value given but empty counts as unset: an unfilled template or a cleared variable is not a statement of intent. */
const text = z.pipe(
  z.optional(z.string()),
  z.transform((v: string | undefined) => (v === undefined || v.trim() === '' ? undefined : v)),
);

/** `text`, then `check` (a message when it fails), then `to`: one variable's whole rule. */
function textThen<T>(check: (v: string | undefined) => boolean, hint: string, to: (v: string | undefined) => T) {
  return z.pipe(text.check(z.refine(check, hint)), z.transform(to));
}

function list(value: string | undefined): string[] {
  return (value ?? '').split(',').map((s) => s.trim()).filter(Boolean);
}

/** A whole number from `min` to `max`; `hint` says what to give. */
function wholeNumber(min: number, max: number, hint: string) {
  return textThen((v) => v === undefined || (/^\s*\d+\s*$/.test(v) && Number(v) >= min && Number(v) <= max), hint, (v) => (v === undefined ? undefined : Number(v)));
}

/** `daily:14,weekly:56,monthly:365` (any subset, each class once) → days by class; undefined when malformed. */
function parseRetentionDays(raw: string): Partial<Record<RetentionClass, number>> | undefined {
  const out: Partial<Record<RetentionClass, number>> = {};
  for (const part of raw.split(',').map((p) => p.trim()).filter(Boolean)) {
    const m = /^(\w+)\s*:\s*(\d+)$/.exec(part);
    const cls = m?.[1] as RetentionClass | undefined;
    if (!m || !cls || !(RETENTION_CLASSES as readonly string[]).includes(cls) || out[cls] !== undefined) return undefined;
    const days = Number(m[2]);
    if (days < 1 || days > MAX_LOCK_DAYS) return undefined;
    out[cls] = days;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

function oneOf<T extends string>(values: readonly T[], hint: string) {
  return textThen((v) => v === undefined || (values as readonly string[]).includes(v), hint, (v) => v as T | undefined);
}

const ASSERTIONS_HINT = 'give a JSON array of SQL strings, each returning one true, e.g. ["select count(*) > 0 from users"]';

function parseAssertions(raw: string | undefined, ctx: z.core.ParsePayload): string[] {
  if (raw === undefined) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    parsed = undefined;
  }
  if (!Array.isArray(parsed) || !parsed.every((s) => typeof s === 'string' && s.trim() !== '')) {
    ctx.issues.push({ code: 'custom', message: ASSERTIONS_HINT, input: raw });
    return [];
  }
  return parsed.map((s: string) => s.trim());
}

function parseWebService(raw: string | undefined, ctx: z.core.ParsePayload): ServiceRef | undefined {
  if (raw === undefined) return undefined;
  try {
    return parseServiceRef(raw);
  } catch {
    ctx.issues.push({ code: 'custom', message: 'give CLUSTER/SERVICE (names, or a cluster ARN/SERVICE, or a service ARN)', input: raw });
    return undefined;
  }
}

const DURATION_UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** `26h`, `90m`, `2d`, `45s` in seconds. */
export function parseDuration(value: string): number | undefined {
  const m = /^\s*(\d+)\s*([smhd])\s*$/.exec(value);
  return m && Number(m[1]) > 0 ? Number(m[1]) * DURATION_UNITS[m[2]] : undefined;
}

export const DEFAULT_HTTP_LISTEN = { host: '127.0.0.1', port: 8787 } as const;

function parseHttpListen(raw: string | undefined, ctx: z.core.ParsePayload): { host: string; port: number } | null {
  if (raw === undefined) return { ...DEFAULT_HTTP_LISTEN };
  if (raw.trim() === 'off') return null;
  const m = /^\s*(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})\s*$/.exec(raw);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) {
    ctx.issues.push({ code: 'custom', message: 'give HOST:PORT (e.g. 127.0.0.1:8787) or off', input: raw });
    return null;
  }
  return { host: m[1].replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

function parseComposeServices(raw: string | undefined, ctx: z.core.ParsePayload): string[] | undefined {
  if (raw === undefined) return undefined;
  try {
    return parseServiceList(raw, ENV.stopComposeServices);
  } catch {
    ctx.issues.push({ code: 'custom', message: 'give the Compose service names, comma-separated (web,server_bot,import_worker)', input: raw });
    return undefined;
  }
}

/** Each variable's own check, keyed by its name; the message says what to give. */
const variables = z.object({
  [ENV.bucket]: text,
  [ENV.prefix]: z.optional(z.string()),
  [ENV.replicaBucket]: text,
  [ENV.replicaRegion]: text,
  [ENV.primaryRegion]: text,
  AWS_REGION: text,
  AWS_DEFAULT_REGION: text,
  AWS_ENDPOINT_URL_S3: text,
  AWS_ENDPOINT_URL: text,
  [ENV.database]: text,
  [ENV.databaseUrl]: text,
  PGDATABASE: text,
  [ENV.pgDumpPath]: text,
  [ENV.pgLibDir]: text,
  PATH: z.optional(z.string()),
  [ENV.webService]: z.pipe(text, z.transform(parseWebService)),
  [ENV.stopComposeServices]: z.pipe(text, z.transform(parseComposeServices)),
  [ENV.composeProject]: text,
  [ENV.lockDays]: wholeNumber(0, MAX_LOCK_DAYS, 'give a whole number of days (0 writes backups without Object Lock)'),
  [ENV.retentionDays]: textThen(
    (v) => v === undefined || parseRetentionDays(v) !== undefined,
    `give each class's days as daily:14,weekly:56,monthly:365 (whole days, at most ${MAX_LOCK_DAYS})`,
    (v) => (v === undefined ? undefined : parseRetentionDays(v)),
  ),
  [ENV.compressor]: oneOf(COMPRESSORS, "give isal (ISA-L's igzip, the fastest) or zlib (built in)"),
  [ENV.stallSeconds]: textThen(
    (v) => v === undefined || (Number.isFinite(Number(v)) && Number(v) >= 0),
    'give the seconds without progress after which to give up (0 never gives up)',
    (v) => (v === undefined ? undefined : Number(v)),
  ),
  [ENV.restoreSpaceAvailable]: textThen(
    (v) => v === undefined || parseSize(v) !== undefined,
    'give a size such as 50GiB, 800MiB or 1048576',
    (v) => (v === undefined ? undefined : parseSize(v)),
  ),
  [ENV.restoreJobs]: wholeNumber(1, 64, 'give the number of sessions to restore over, 1 to 64 (1: one psql stream)'),
  [ENV.restoreTestMode]: oneOf(RESTORE_TEST_MODES, 'use scratch or cluster'),
  [ENV.restoreTestAssertions]: z.pipe(text, z.transform(parseAssertions)),
  [ENV.ecsCluster]: text,
  [ENV.backupTaskDefinition]: text,
  [ENV.restoreTaskDefinition]: text,
  [ENV.restoreTestTaskDefinition]: text,
  [ENV.taskContainerName]: text,
  [ENV.taskSubnets]: text,
  [ENV.taskSecurityGroups]: text,
  [ENV.taskAssignPublicIp]: z
    .pipe(text, z.transform((v) => v?.toLowerCase()))
    .check(z.refine((v) => v === undefined || ['true', 'false', 'enabled', 'disabled'].includes(v), 'use true or false')),
  [ENV.taskLogGroup]: text,
  [ENV.batchOperationsRole]: text,
  [ENV.accountId]: text,
  [ENV.promoteFunctionName]: text,
  [ENV.promoteTargets]: text,
  [ENV.chatRestoreEnabled]: text,
  [ENV.chatCommandPrefix]: z.optional(z.string()),
  [ENV.discordPublicKey]: textThen((v) => v === undefined || /^[0-9a-fA-F]{64}$/.test(v.trim()), "give the application's Public Key (64 hex digits, General Information in Discord's Developer Portal)", (v) => v?.trim().toLowerCase()),
  [ENV.discordApplicationId]: textThen((v) => v === undefined || SNOWFLAKE.test(v.trim()), 'give the Application ID (a number, General Information in the Developer Portal)', (v) => v?.trim()),
  [ENV.discordGuildId]: textThen((v) => v === undefined || SNOWFLAKE.test(v.trim()), 'give the server id (a number: right-click the server, Copy Server ID, with Developer Mode on)', (v) => v?.trim()),
  [ENV.discordRoleIds]: textThen((v) => list(v).every((id) => SNOWFLAKE.test(id)), 'give role ids separated by commas (right-click the role, Copy Role ID)', (v) => list(v)),
  [ENV.discordWebhookUrl]: textThen((v) => v === undefined || webhookUrlProblem(v.trim()) === undefined, "give the channel webhook's URL, https://discord.com/api/webhooks/ID/TOKEN (channel settings, Integrations, Webhooks, Copy Webhook URL)", (v) => v?.trim()),
  [ENV.discordWebhookSecretArn]: text,
  [ENV.discordBotToken]: text,
  [ENV.discordApiUrl]: textThen((v) => v === undefined || /^https?:\/\/[^/]+/.test(v), 'give an http(s) URL such as https://discord.com/api/v10', (v) => v?.replace(/\/+$/, '')),
  [ENV.discordListen]: textThen((v) => v === undefined || parseListen(v) !== undefined, 'give HOST:PORT, e.g. 127.0.0.1:8787 (behind the reverse proxy) or 0.0.0.0:8787', (v) => (v === undefined ? undefined : parseListen(v))),
  [ENV.opsFunctionName]: text,
  [ENV.scheduleBackup]: text,
  [ENV.scheduleRestoreTest]: text,
  [ENV.scheduleStatus]: text,
  [ENV.scheduleRetention]: text,
  [ENV.backupMaxAge]: textThen((v) => v === undefined || parseDuration(v) !== undefined, 'give a duration such as 26h, 90m or 2d', (v) => (v === undefined ? undefined : parseDuration(v))),
  [ENV.httpListen]: z.pipe(text, z.transform(parseHttpListen)),
});

/** `HOST:PORT` → its parts (port 0: any free port, which the listener's log names); undefined when it is not that. */
export function parseListen(value: string): { host: string; port: number } | undefined {
  const m = /^\s*(\[[0-9a-fA-F:]+\]|[^:\s]+):(\d{1,5})\s*$/.exec(value);
  if (!m || Number(m[2]) > 65535) return undefined;
  return { host: m[1].replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

/**
 * Reads and checks the settings from `env`. A value that cannot be used is a usage error (exit 2) naming the variable,
 * what it holds and what to give, before anything has started.
 */
export function readSettings(env: Environment): Settings {
  const parsed = variables.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const name = String(issue.path[0]);
    // A secret's value is never repeated, not even to say it is wrong.
    const shown = SECRET_ENV.includes(name) ? '(value hidden)' : env[name] ?? '';
    throw new UserError(`${name}=${shown}: ${issue.message}`, 2);
  }
  const v = parsed.data;
  const publicIp = v[ENV.taskAssignPublicIp];
  return {
    ...(v[ENV.bucket] !== undefined ? { bucket: v[ENV.bucket] } : {}),
    prefix: resolvePrefix(undefined, v[ENV.prefix]),
    replica: { ...(v[ENV.replicaBucket] ? { bucket: v[ENV.replicaBucket] } : {}), ...(v[ENV.replicaRegion] ? { region: v[ENV.replicaRegion] } : {}) },
    ...(v[ENV.primaryRegion] ? { primaryRegion: v[ENV.primaryRegion] } : {}),
    aws: {
      ...((v.AWS_REGION ?? v.AWS_DEFAULT_REGION) ? { region: v.AWS_REGION ?? v.AWS_DEFAULT_REGION } : {}),
      ...((v.AWS_ENDPOINT_URL_S3 ?? v.AWS_ENDPOINT_URL) ? { endpoint: v.AWS_ENDPOINT_URL_S3 ?? v.AWS_ENDPOINT_URL } : {}),
    },
    ...(v[ENV.database] ? { database: v[ENV.database] } : {}),
    postgres: {
      ...(v[ENV.databaseUrl] ? { databaseUrl: v[ENV.databaseUrl] } : {}),
      ...(v.PGDATABASE ? { pgDatabase: v.PGDATABASE } : {}),
      ...(v[ENV.pgDumpPath] ? { pgDumpPath: v[ENV.pgDumpPath] } : {}),
      libDir: v[ENV.pgLibDir] ?? DEFAULT_PG_LIB_DIR,
    },
    env,
    path: v.PATH ?? '',
    ...(v[ENV.webService] ? { webService: v[ENV.webService] } : {}),
    compose: {
      ...(v[ENV.stopComposeServices] ? { services: v[ENV.stopComposeServices] } : {}),
      ...(v[ENV.composeProject] ? { project: v[ENV.composeProject] } : {}),
    },
    backup: {
      lockDays: v[ENV.lockDays] ?? DEFAULT_LOCK_DAYS,
      ...(v[ENV.retentionDays] ? { retentionDays: v[ENV.retentionDays] } : {}),
      ...(v[ENV.compressor] ? { compressor: v[ENV.compressor] } : {}),
    },
    ...(v[ENV.stallSeconds] !== undefined ? { stallSeconds: v[ENV.stallSeconds] } : {}),
    ...(v[ENV.restoreSpaceAvailable] !== undefined ? { restoreSpaceAvailable: v[ENV.restoreSpaceAvailable] } : {}),
    ...(v[ENV.restoreJobs] !== undefined ? { restoreJobs: v[ENV.restoreJobs] } : {}),
    restoreTest: { mode: v[ENV.restoreTestMode] ?? 'scratch', assertions: v[ENV.restoreTestAssertions] },
    ecs: {
      ...(v[ENV.ecsCluster] ? { cluster: v[ENV.ecsCluster] } : {}),
      taskDefinitions: {
        ...(v[ENV.backupTaskDefinition] ? { backup: v[ENV.backupTaskDefinition] } : {}),
        ...(v[ENV.restoreTaskDefinition] ? { restore: v[ENV.restoreTaskDefinition] } : {}),
        ...(v[ENV.restoreTestTaskDefinition] ? { 'restore-test': v[ENV.restoreTestTaskDefinition] } : {}),
      },
      containerName: v[ENV.taskContainerName] ?? TASK_CONTAINER_NAME,
      subnets: list(v[ENV.taskSubnets]),
      securityGroups: list(v[ENV.taskSecurityGroups]),
      assignPublicIp: publicIp === 'true' || publicIp === 'enabled',
      ...(v[ENV.taskLogGroup] ? { logGroup: v[ENV.taskLogGroup] } : {}),
    },
    promotion: {
      ...(v[ENV.batchOperationsRole] ? { batchOperationsRole: v[ENV.batchOperationsRole] } : {}),
      ...(v[ENV.accountId] ? { accountId: v[ENV.accountId] } : {}),
      ...(v[ENV.promoteFunctionName] ? { functionName: v[ENV.promoteFunctionName] } : {}),
      ...(v[ENV.promoteTargets] ? { targets: list(v[ENV.promoteTargets]) } : {}),
    },
    chat: { restoreEnabled: v[ENV.chatRestoreEnabled] === 'true', commandPrefix: v[ENV.chatCommandPrefix] ?? '' },
    discord: {
      ...(v[ENV.discordPublicKey] ? { publicKey: v[ENV.discordPublicKey] } : {}),
      ...(v[ENV.discordApplicationId] ? { applicationId: v[ENV.discordApplicationId] } : {}),
      ...(v[ENV.discordGuildId] ? { guildId: v[ENV.discordGuildId] } : {}),
      roleIds: v[ENV.discordRoleIds],
      ...(v[ENV.discordWebhookUrl] ? { webhookUrl: v[ENV.discordWebhookUrl] } : {}),
      ...(v[ENV.discordWebhookSecretArn] ? { webhookSecretArn: v[ENV.discordWebhookSecretArn] } : {}),
      ...(v[ENV.discordBotToken] ? { botToken: v[ENV.discordBotToken] } : {}),
      apiUrl: v[ENV.discordApiUrl] ?? DISCORD_API_URL,
      ...(v[ENV.discordListen] ? { listen: v[ENV.discordListen] } : {}),
      ...(v[ENV.opsFunctionName] ? { opsFunctionName: v[ENV.opsFunctionName] } : {}),
    },
    schedule: {
      cron: {
        ...(v[ENV.scheduleBackup] ? { backup: v[ENV.scheduleBackup] } : {}),
        ...(v[ENV.scheduleRestoreTest] ? { 'restore-test': v[ENV.scheduleRestoreTest] } : {}),
        ...(v[ENV.scheduleStatus] ? { status: v[ENV.scheduleStatus] } : {}),
        ...(v[ENV.scheduleRetention] ? { retention: v[ENV.scheduleRetention] } : {}),
      },
      ...(v[ENV.backupMaxAge] !== undefined ? { maxBackupAgeSeconds: v[ENV.backupMaxAge] } : {}),
      listen: v[ENV.httpListen],
    },
  };
}

/** Where the PostgreSQL programs are looked for: PG_DUMP_PATH, PG_LIB_DIR, PATH. */
export function pgPrograms(settings: Pick<Settings, 'postgres' | 'path'>): PgPrograms {
  return { ...(settings.postgres.pgDumpPath ? { pgDumpPath: settings.postgres.pgDumpPath } : {}), libDir: settings.postgres.libDir, path: settings.path };
}

/** The prefix a command works under: its `--prefix` flag (an explicit `''` is the bucket root), else the setting. */
export function prefixFrom(flag: string | undefined, settings: Pick<Settings, 'prefix'>): string {
  return flag !== undefined ? normalizePrefix(flag) : settings.prefix;
}

/**
 * The ops functions' check that their deployment set what an action needs: every variable missing is named in one
 * error, since a missing setting is a deployment problem and the fix is the same for all.
 */
export function requireSettings(missing: readonly string[]): void {
  if (missing.length > 0) {
    throw new UserError(`this deployment of the ops function has no ${missing.join(', ')} in its environment: redeploy the stacks; nothing was started`);
  }
}

/** One setting the ops function needs; its absence answers with {@link requireSettings}'s message. */
export function required<T>(value: T | undefined, name: string): T {
  if (value === undefined) requireSettings([name]);
  return value as T;
}
