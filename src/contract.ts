/**
 * The one module shared by the infrastructure (lib/) and the runtime (src/, lambda/, container/):
 * environment variable names, the backup object naming scheme, the manifest stored beside each backup,
 * the metric names the stacks alarm on, and the ops Lambda's event shapes.
 *
 * Keep it free of I/O and of aws-cdk-lib: both sides import it.
 */
import * as z from 'zod/mini';
import { en } from 'zod/locales';

// zod/mini, not the full zod: the CLI and the Lambda load this module at every start, and the full package put 815 KB
// (every locale, every chainable method) into the CLI's bundle and 6 MB into its RSS; mini puts 70 KB (measured with
// esbuild's metafile and `meatbackup --help`). Mini speaks no language until told: English, as the full package does.
z.config(en());

/** Environment variables the runtime reads; the stacks set them on the task definitions and the Lambda. */
export const ENV = {
  /** Bucket holding backups/ (and chat transcripts). */
  bucket: 'BACKUP_BUCKET',
  /** Key prefix for backups; defaults to {@link DEFAULT_PREFIX}. */
  prefix: 'BACKUP_PREFIX',
  /** Replica bucket (second region), for replication checks and promotion. */
  replicaBucket: 'REPLICA_BUCKET',
  /** Region of the replica bucket. */
  replicaRegion: 'REPLICA_REGION',
  /** Region of the primary bucket (the promotion function's default region for copying back under the original name). */
  primaryRegion: 'PRIMARY_REGION',
  /** Full connection URL; when unset, libpq's own PGHOST/PGPORT/PGUSER/PGPASSWORD/PGDATABASE/PGSSLMODE apply. */
  databaseUrl: 'DATABASE_URL',
  /** Explicit pg_dump binary, overriding the per-server-major lookup. */
  pgDumpPath: 'PG_DUMP_PATH',
  /** Directory holding /usr/lib/postgresql/<major>/bin, for the per-major lookup. */
  pgLibDir: 'PG_LIB_DIR',
  /**
   * The database this deployment backs up and restores (config `database.name`), for the ops functions, which do not
   * connect to it: `latest` there is the newest backup of this database, and a restore goes into it. The tasks read
   * libpq's PGDATABASE instead.
   */
  database: 'BACKUP_DATABASE',
  /** Web service stopped during a restore, as CLUSTER/SERVICE (ECS). */
  webService: 'WEB_SERVICE',
  /** On Docker Compose: the services stopped during a restore, comma-separated (web,server_bot,import_worker). */
  stopComposeServices: 'STOP_COMPOSE_SERVICES',
  /** Docker Compose's own variable: the project whose services are stopped (default: the one that has them). */
  composeProject: 'COMPOSE_PROJECT_NAME',
  /** ECS wiring the ops Lambda needs to run tasks. */
  ecsCluster: 'ECS_CLUSTER_ARN',
  backupTaskDefinition: 'BACKUP_TASK_DEFINITION_ARN',
  restoreTaskDefinition: 'RESTORE_TASK_DEFINITION_ARN',
  taskContainerName: 'TASK_CONTAINER_NAME',
  taskSubnets: 'TASK_SUBNET_IDS',
  taskSecurityGroups: 'TASK_SECURITY_GROUP_IDS',
  taskAssignPublicIp: 'TASK_ASSIGN_PUBLIC_IP',
  taskLogGroup: 'TASK_LOG_GROUP',
  /** Role S3 Batch Operations assumes for a promotion copy job. */
  batchOperationsRole: 'BATCH_OPERATIONS_ROLE_ARN',
  /** Name of the promotion function in the replica region, which the primary region's ops Lambda points to. */
  promoteFunctionName: 'PROMOTE_FUNCTION_NAME',
  /**
   * The buckets the promotion function (and the Batch role it passes) may create and write, comma-separated: the
   * original primary name and `<name>-promoted-*` (see {@link promotedBucketPattern}).
   */
  promoteTargets: 'PROMOTE_TARGETS',
  /** Account id, needed by S3 Control calls. */
  accountId: 'AWS_ACCOUNT_ID',
  /** Days of Object Lock (governance) retention each backup is written with when the bucket has Object Lock; default 35, 0 writes without a lock. */
  lockDays: 'BACKUP_LOCK_DAYS',
  /**
   * How long each retention class is kept (the stacks' lifecycle rules), `daily:14,weekly:56,monthly:365`: a backup
   * is then locked until its class expires (at least BACKUP_LOCK_DAYS), so no role without
   * s3:BypassGovernanceRetention, the backup task's included, can delete a finished backup before it would expire.
   */
  retentionDays: 'BACKUP_RETENTION_DAYS',
  /** Restore test: `scratch` (a scratch database on the server) or `cluster` (a throwaway cluster in the task). */
  restoreTestMode: 'RESTORE_TEST_MODE',
  /** Restore test: JSON array of SQL statements that must each return true, e.g. ["select count(*) > 0 from users"]. */
  restoreTestAssertions: 'RESTORE_TEST_ASSERTIONS',
  /** Backup compressor: `isal` (ISA-L's igzip, the default where installed) or `zlib` (Node's, the fallback). */
  compressor: 'BACKUP_COMPRESSOR',
  /** Seconds without progress after which a backup, restore, verify, restore test or promotion copy is aborted as stalled; default 120. */
  stallSeconds: 'STALL_TIMEOUT_SECONDS',
  /** Restore: disk space the database server has for it (5GiB, 800MiB), where the restore cannot see the server's filesystem. */
  restoreSpaceAvailable: 'RESTORE_SPACE_AVAILABLE',
  /** Sessions a restore or restore test loads over (1: one psql stream); default: the task's CPUs. */
  restoreJobs: 'RESTORE_JOBS',
  /** Task definition of the restore test, for the ops Lambda's status. */
  restoreTestTaskDefinition: 'RESTORE_TEST_TASK_DEFINITION_ARN',
  /** `true` only when the configuration lets the chat channel carry out a restore (chat.allowRestore). */
  chatRestoreEnabled: 'CHAT_RESTORE_ENABLED',
  /** The configuration's chat.aliasPrefix, so chat answers name the commands as the channel knows them. */
  chatCommandPrefix: 'CHAT_COMMAND_PREFIX',
  /** Discord application's public key (hex, General Information in the Developer Portal): every interaction's signature is checked with it. */
  discordPublicKey: 'DISCORD_PUBLIC_KEY',
  /** Discord application id, for command registration. */
  discordApplicationId: 'DISCORD_APPLICATION_ID',
  /** The Discord server (guild) the commands are registered in and answered from. */
  discordGuildId: 'DISCORD_GUILD_ID',
  /** Comma-separated Discord role ids whose members may run the commands. */
  discordRoleIds: 'DISCORD_ROLE_IDS',
  /** A channel webhook's URL (a secret: it alone lets anyone post there): alarms and results go to that channel. */
  discordWebhookUrl: 'DISCORD_WEBHOOK_URL',
  /** The Secrets Manager secret holding the webhook URL (AWS: the notifier function reads it). */
  discordWebhookSecretArn: 'DISCORD_WEBHOOK_SECRET_ARN',
  /** The application's bot token, for `meatbackup discord register` only (a secret). */
  discordBotToken: 'DISCORD_BOT_TOKEN',
  /** Discord's HTTP API base. @default https://discord.com/api/v10 */
  discordApiUrl: 'DISCORD_API_URL',
  /** Where the Compose deployment's interactions listener listens, HOST:PORT. */
  discordListen: 'DISCORD_LISTEN',
  /** The ops function the Discord interactions function asks (AWS). */
  opsFunctionName: 'OPS_FUNCTION_NAME',
  /**
   * `meatbackup schedule` (the Compose deployment's long-lived service): a cron expression per job (5 fields,
   * minute hour day-of-month month day-of-week, UTC; `off` disables the job).
   */
  scheduleBackup: 'SCHEDULE_BACKUP',
  scheduleRestoreTest: 'SCHEDULE_RESTORE_TEST',
  scheduleStatus: 'SCHEDULE_STATUS',
  scheduleRetention: 'SCHEDULE_RETENTION',
  /** How old the newest backup with a manifest may be before the scheduler's health check fails, e.g. `26h`, `90m`, `2d`. */
  backupMaxAge: 'BACKUP_MAX_AGE',
  /** Where the scheduler's HTTP listener (GET /health) listens, HOST:PORT; `off` for none. @default 127.0.0.1:8787 */
  httpListen: 'HTTP_LISTEN',
} as const;

/**
 * Variables holding secrets: a message about a value that cannot be used names the variable, never its value.
 */
export const SECRET_ENV: readonly string[] = [ENV.discordWebhookUrl, ENV.discordBotToken];

export const DEFAULT_PREFIX = 'backups/';

/**
 * Where the image keeps the Amazon RDS CA bundle (every RDS region's root and intermediate CAs, fetched when the
 * image is built: container/Dockerfile): the default PGSSLROOTCERT of the tasks when `database.sslMode` is verify-ca
 * or verify-full.
 */
export const RDS_CA_BUNDLE_PATH = '/etc/ssl/meatbackup/rds-global-bundle.pem';

/**
 * The tag every promotion's S3 Batch Operations job is created with (CreateJob's Tags): the promotion role may set
 * this tag and no other (s3:PutJobTagging, lib/constructs/promote-function.ts).
 */
export const BATCH_JOB_TAG = { key: 'meatbackup', value: 'promote' } as const;

/** The image's directory of CA files: the RDS bundle and whatever container/certs/ holds. */
export const IMAGE_CA_DIR = '/etc/ssl/meatbackup';

/**
 * Defaults and rules the stacks (lib/config.ts) and the runtime (src/settings.ts) both apply, written once here so
 * the configuration a stack accepts is the one the runtime accepts.
 */
/** Days of Object Lock (governance) retention a backup is written with (BACKUP_LOCK_DAYS, config `retention.lockDays`). */
export const DEFAULT_LOCK_DAYS = 35;
/** The longest retention either side accepts: a hundred years. */
export const MAX_LOCK_DAYS = 36500;
/** libpq's sslmode values (PGSSLMODE, `sslmode=` in a URL, config `database.sslMode`). */
export const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;
export type SslMode = (typeof SSL_MODES)[number];

/**
 * What is wrong with an S3 bucket name (general purpose buckets), or undefined when nothing is:
 * https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
 */
export function bucketNameProblem(name: string): string | undefined {
  if (name.length < 3 || name.length > 63) return 'must be 3 to 63 characters long';
  if (!/^[a-z0-9][a-z0-9.-]*[a-z0-9]$/.test(name)) {
    return 'may contain only lowercase letters, digits, dots and hyphens, and must start and end with a letter or digit';
  }
  if (name.includes('..')) return 'must not contain two adjacent dots';
  if (/^\d+\.\d+\.\d+\.\d+$/.test(name)) return 'must not look like an IP address';
  if (/^(xn--|sthree-|amzn-s3-demo-)/.test(name)) return 'must not start with xn--, sthree- or amzn-s3-demo-';
  if (/(-s3alias|--ol-s3|\.mrap|--x-s3|--table-s3)$/.test(name)) return 'must not end with a suffix S3 reserves (-s3alias, --ol-s3, …)';
  return undefined;
}

/**
 * The Lambda alias of the ops function that the chat channel (AWS Chatbot) may invoke, and nothing else. The handler
 * tells a chat request by the alias it was invoked through (the ARN Lambda hands it), never by a field of the event:
 * anyone in the channel can type their own `lambda invoke` payload, but not change what their role may invoke.
 */
export const CHAT_ALIAS = 'chat';

/** The chat channel's command aliases (each after the configuration's chat.aliasPrefix): `@Amazon Q run backup-now`. */
export const CHAT_COMMANDS = {
  backup: 'backup-now',
  list: 'list-backups',
  status: 'backup-status',
  restorePlan: 'restore-plan',
  restoreRun: 'restore-run',
} as const;
export type ChatCommandKey = keyof typeof CHAT_COMMANDS;

/**
 * The ops event each chat command stands for; `key` is what the member gave for `$key` (restore-plan, restore-run).
 * The channel sends the short form `{"<command>": <argument>}` instead (chatCommandPayload), and the ops function
 * expands it here when it comes through the chat alias.
 */
export function chatCommandEvent(command: ChatCommandKey, key: string): OpsEvent {
  switch (command) {
    case 'backup':
      return { action: 'backup' };
    case 'list':
      return { action: 'list', limit: 5 };
    case 'status':
      return { action: 'status' };
    case 'restorePlan':
      return { action: 'restore', key };
    case 'restoreRun':
      return { action: 'restore', key, confirm: true };
  }
}

/** Whether a chat command takes the backup to restore (`$key`, which Chatbot asks the member for). */
export function chatCommandTakesKey(command: ChatCommandKey): boolean {
  return command === 'restorePlan' || command === 'restoreRun';
}

/**
 * What a chat command's custom action sends: `{"backup-now":true}`, `{"restore-plan":"$key"}`. Chatbot caps a custom
 * action's command text at 100 characters (https://docs.aws.amazon.com/chatbot/latest/APIReference/API_CustomActionDefinition.html),
 * and `lambda invoke --function-name <name>-ops:chat --payload ` alone takes up to 74 of them with the longest name
 * the configuration accepts, so the ops event itself (48 characters for a confirmed restore) cannot be the payload.
 * The command's name is its only field: no space (Chatbot splits the command line on spaces), at most 23 characters.
 */
export function chatCommandPayload(command: ChatCommandKey): string {
  return JSON.stringify({ [CHAT_COMMANDS[command]]: chatCommandTakesKey(command) ? '$key' : true });
}

/** ECS cluster and service names, as ECS accepts them; a cluster may also be given by its ARN. */
export const ECS_NAME_PATTERN = /^[A-Za-z0-9_-]{1,255}$/;
export const ECS_CLUSTER_ARN_PATTERN = /^arn:[^:]+:ecs:[^:]*:[^:]*:cluster\/[A-Za-z0-9_-]{1,255}$/;

/** Name of the container in every task definition; the Lambda overrides its command. */
export const TASK_CONTAINER_NAME = 'meatbackup';

/** CloudWatch Embedded Metric Format namespace and names the runners emit and the stacks alarm on. */
export const METRICS = {
  namespace: 'MeatLizard/Backup',
  dimensionDatabase: 'Database',
  backupSuccess: 'BackupSuccess',
  backupBytes: 'BackupBytes',
  backupSeconds: 'BackupSeconds',
  restoreSuccess: 'RestoreSuccess',
  restoreSeconds: 'RestoreSeconds',
  restoreTestSuccess: 'RestoreTestSuccess',
  restoreTestSeconds: 'RestoreTestSeconds',
  /**
   * 1 when a restore test could not run here (the target lacks an extension the backup needs): emitted instead of
   * RestoreTestSuccess, so that "the backup is bad" and "this target cannot prove it" alarm apart.
   */
  restoreTestCannotTest: 'RestoreTestCannotTest',
  /**
   * Emitted by the ops Lambda's `status` action (scheduled hourly) from what is in S3: how old the newest backup is,
   * and how long since the newest restore test (or, before the first one, since the oldest backup): CloudWatch cannot
   * compute "time since the last datapoint", and the restore-test alarm's 8 days exceed an alarm's 7-day window.
   */
  newestBackupAgeSeconds: 'NewestBackupAgeSeconds',
  restoreTestAgeSeconds: 'RestoreTestAgeSeconds',
} as const;

// ---------------------------------------------------------------------------------------------------------------
// Backup object names: backups/<database>-YYYY-MM-DDTHH:MM:SS.sql.gz, UTC, the runbook's exact shape.
// ---------------------------------------------------------------------------------------------------------------

/** PostgreSQL identifiers as they may appear in a key: no slash, no control characters. */
const DATABASE_IN_KEY = '[^/\\x00-\\x1f]+';
const STAMP = '(\\d{4})-(\\d{2})-(\\d{2})T(\\d{2}):(\\d{2}):(\\d{2})';
const BACKUP_FILE = new RegExp(`^(${DATABASE_IN_KEY})-${STAMP}\\.sql\\.gz$`);

/** Files stored next to a backup share its key plus one of these suffixes. */
export const SIDECAR_SUFFIX = {
  manifest: '.manifest.json',
  globals: '.globals.sql.gz',
  restoreTest: '.restore-test.json',
  /** The latest `meatbackup verify` result; like the restore-test result, never locked, tagged like its backup. */
  verify: '.verify.json',
} as const;

export interface BackupName {
  /** Full object key, prefix included. */
  key: string;
  prefix: string;
  /** File name: `<database>-<stamp>.sql.gz`. */
  fileName: string;
  database: string;
  /** When the backup started, UTC, to the second. */
  takenAt: Date;
}

/** Formats a Date as the runbook's UTC stamp, `2025-09-17T10:30:00`. */
export function formatStamp(date: Date): string {
  return date.toISOString().slice(0, 19);
}

/**
 * The backup prefix from a flag, else BACKUP_PREFIX, else {@link DEFAULT_PREFIX}, normalised; the one resolution for
 * the CLI, the tasks and the Lambda. An empty BACKUP_PREFIX means unset: the CLI used to read it as the bucket root
 * while the Lambda read it as backups/, so a task definition or a shell with `BACKUP_PREFIX=` (an unfilled template,
 * a cleared variable) listed, restored and wrote where the Lambda did not look, at the root beside the transcripts.
 * The root stays reachable on purpose with an explicit `--prefix ''`.
 */
export function resolvePrefix(flag: string | undefined, fromEnv: string | undefined): string {
  return normalizePrefix(flag ?? (fromEnv || DEFAULT_PREFIX));
}

/** Normalises a prefix so it is empty or ends in exactly one slash. */
export function normalizePrefix(prefix: string): string {
  const trimmed = prefix.replace(/^\/+/, '');
  if (trimmed === '') return '';
  return trimmed.endsWith('/') ? trimmed : `${trimmed}/`;
}

export function backupKey(database: string, takenAt: Date, prefix: string = DEFAULT_PREFIX): string {
  if (!new RegExp(`^${DATABASE_IN_KEY}$`).test(database)) {
    throw new Error(`database name ${JSON.stringify(database)} cannot be used in a backup key`);
  }
  return `${normalizePrefix(prefix)}${database}-${formatStamp(takenAt)}.sql.gz`;
}

/** Parses a key of the backup shape (`<prefix><database>-<stamp>.sql.gz`); undefined for anything else. */
export function parseBackupKey(key: string): BackupName | undefined {
  const slash = key.lastIndexOf('/');
  const prefix = key.slice(0, slash + 1);
  const fileName = key.slice(slash + 1);
  const m = BACKUP_FILE.exec(fileName);
  if (!m) return undefined;
  const [, database, y, mo, d, h, mi, s] = m;
  const takenAt = new Date(Date.UTC(+y, +mo - 1, +d, +h, +mi, +s));
  // Reject stamps that Date silently rolls over (2025-02-30 and the like).
  if (formatStamp(takenAt) !== `${y}-${mo}-${d}T${h}:${mi}:${s}`) return undefined;
  return { key, prefix, fileName, database, takenAt };
}

export function sidecarKey(backup: string, kind: keyof typeof SIDECAR_SUFFIX): string {
  return `${backup}${SIDECAR_SUFFIX[kind]}`;
}

// ---------------------------------------------------------------------------------------------------------------
// The manifest written next to each backup once every byte is stored: what `verify` and `restore` check against.
// ---------------------------------------------------------------------------------------------------------------

/**
 * What the database looked like when it was dumped, recorded at backup time so a restore test can check the
 * restored copy against it (issue: prove every backup restores).
 */
/** An extension as pg_extension names it. */
export const extensionSchema = z.object({ name: z.string().check(z.minLength(1)), version: z.string() });
export type Extension = z.infer<typeof extensionSchema>;

export const catalogSummarySchema = z.object({
  /** Ordinary and partitioned tables outside pg_catalog/information_schema, with the planner's row estimate. */
  tables: z.array(
    z.object({
      schema: z.string(),
      name: z.string(),
      /** pg_class.reltuples: the planner's estimate as of the last VACUUM/ANALYZE (-1: never). */
      estimatedRows: z.number(),
      sizeBytes: z.int().check(z.nonnegative()),
      /** pg_class.relpages: the heap pages reltuples was measured over (summaries before it have none). */
      relpages: z.optional(z.int()),
      /** The heap's pages at dump time (pg_relation_size / block_size), over which the planner scales reltuples. */
      pages: z.optional(z.int().check(z.nonnegative())),
      /** pg_stat_all_tables.n_live_tup at dump time: the statistics system's count of live rows. */
      liveRows: z.optional(z.number()),
    }),
  ),
  counts: z.object({
    tables: z.int().check(z.nonnegative()),
    indexes: z.int().check(z.nonnegative()),
    sequences: z.int().check(z.nonnegative()),
    views: z.int().check(z.nonnegative()),
    materializedViews: z.int().check(z.nonnegative()),
    functions: z.int().check(z.nonnegative()),
  }),
  /** pg_database_size() at dump time. */
  totalBytes: z.int().check(z.nonnegative()),
  /**
   * The extensions installed in the database (pg_extension: name and version), which the dump's CREATE EXTENSION
   * statements need on the server that loads it. Summaries recorded before extensions were have none: unknown, not
   * "no extensions".
   */
  extensions: z.optional(z.array(extensionSchema)),
});
export type CatalogSummary = z.infer<typeof catalogSummarySchema>;

/** Grandfather-father-son retention: the tag each backup carries, which the stacks' lifecycle rules expire. */
export const RETENTION_TAG = 'retention';
export const RETENTION_CLASSES = ['daily', 'weekly', 'monthly'] as const;
export type RetentionClass = (typeof RETENTION_CLASSES)[number];
/** Days each class is kept unless configured (config `retention.<class>Days`, BACKUP_RETENTION_DAYS). */
export const DEFAULT_RETENTION_DAYS: Readonly<Record<RetentionClass, number>> = { daily: 14, weekly: 56, monthly: 365 };

/** ID of the lifecycle rule that expires backups/ objects tagged `retention=<cls>`. */
export function retentionRuleId(cls: RetentionClass): string {
  return `backups-${cls}`;
}
/** ID of the catch-all rule that expires backups/ objects without a class after the monthly period. */
export const UNTAGGED_RULE_ID = 'backups-untagged';

/** The gzip implementations a backup may be written with (src/gzip/choice.ts). */
export const COMPRESSORS = ['isal', 'zlib'] as const;

/**
 * What a plain pg_dump leaves out about the database itself, recorded at backup time (src/postgres/database-properties.ts)
 * so that a restore with no database to copy them from (dropped, a new server) can apply them
 * (src/restore/database-properties.ts).
 */
export const databasePropertiesSchema = z.object({
  owner: z.string(),
  comment: z.nullable(z.string()),
  /** -1: no limit. */
  connectionLimit: z.int(),
  /** The database's GRANTs (aclexplode of datacl); null: the built-in default privileges. */
  grants: z.nullable(z.array(z.object({ grantee: z.nullable(z.string()), privilege: z.string(), grantable: z.boolean() }))),
  /** `ALTER DATABASE … SET` (role null) and `ALTER ROLE … IN DATABASE … SET` entries, as `name=value`. */
  settings: z.array(z.object({ role: z.nullable(z.string()), entries: z.array(z.string()) })),
});
export type DatabaseProperties = z.infer<typeof databasePropertiesSchema>;

export const manifestSchema = z.object({
  format: z.literal('meatbackup/manifest@1'),
  key: z.string(),
  database: z.string(),
  /** Start of the dump, ISO 8601 UTC; the key's stamp. */
  takenAt: z.string(),
  /** End of the upload, ISO 8601 UTC. */
  completedAt: z.string(),
  /** Size and sha256 (hex) of the stored (compressed) bytes. */
  sizeBytes: z.int().check(z.nonnegative()),
  sha256: z.string().check(z.regex(/^[0-9a-f]{64}$/)),
  /** Uncompressed SQL size. */
  sqlBytes: z.int().check(z.nonnegative()),
  /** S3 version id of the backup object, when the bucket is versioned. */
  versionId: z.optional(z.string()),
  serverVersion: z.string(),
  pgDumpVersion: z.string(),
  /**
   * How the SQL was compressed: always standard gzip (`gunzip -c | psql` restores it). `compressor` is `isal` (ISA-L's
   * igzip, one gzip member) or `zlib` (Node's, in `memberBytes` members); manifests written before it was recorded
   * have none and were zlib.
   */
  compression: z.object({
    format: z.literal('gzip'),
    compressor: z.optional(z.enum(COMPRESSORS)),
    level: z.int(),
    memberBytes: z.optional(z.int()),
  }),
  durationSeconds: z.number().check(z.nonnegative()),
  /** Catalog summary recorded at backup time so a restore test can check against it. */
  catalog: z.optional(catalogSummarySchema),
  /** The database's owner, grants, comment, connection limit and settings; absent in backups taken before they were recorded. */
  databaseProperties: z.optional(databasePropertiesSchema),
  /** `pg_dumpall --globals-only --no-role-passwords`, stored at sidecarKey(key, 'globals'). */
  globals: z.optional(z.object({ key: z.string(), sizeBytes: z.int().check(z.nonnegative()), sha256: z.string().check(z.regex(/^[0-9a-f]{64}$/)) })),
  /** The retention class tagged on the object, and the Object Lock (governance) retain-until date if any. */
  retention: z.optional(z.object({ class: z.enum(RETENTION_CLASSES), lockedUntil: z.optional(z.string()) })),
});
export type Manifest = z.infer<typeof manifestSchema>;

/** User metadata (x-amz-meta-*) set on the backup object itself when the upload starts. */
export const OBJECT_METADATA = {
  database: 'meatbackup-database',
  serverVersion: 'meatbackup-server-version',
  pgDumpVersion: 'meatbackup-pg-dump-version',
  takenAt: 'meatbackup-taken-at',
} as const;

/** Where a restore test restores: a scratch database on the server, or a throwaway cluster inside the task. */
export const RESTORE_TEST_MODES = ['scratch', 'cluster'] as const;
export type RestoreTestMode = (typeof RESTORE_TEST_MODES)[number];

/** The result of a restore test, stored at sidecarKey(key, 'restoreTest'); the newest run overwrites it. */
export const restoreTestResultSchema = z.object({
  format: z.literal('meatbackup/restore-test@1'),
  key: z.string(),
  ok: z.boolean(),
  testedAt: z.string(),
  seconds: z.number().check(z.nonnegative()),
  /** Where it restored: a scratch database on the server, or a throwaway cluster inside the task. */
  mode: z.enum(RESTORE_TEST_MODES),
  /** Human-readable differences between the recorded catalog summary and the restored copy. */
  differences: z.array(z.string()),
  assertions: z.array(z.object({ sql: z.string(), ok: z.boolean(), error: z.optional(z.string()) })),
  /** Set when the test could not complete (verification or restore failed). */
  error: z.optional(z.string()),
  /**
   * Set when the backup could not be tested here, which says nothing against the backup: the target lacks extensions
   * the backup needs, or could not be reached or used (`ok` is false, `error` says which and what to do). Absent in results written before it existed.
   */
  cannotTest: z.optional(
    z.object({
      missingExtensions: z.array(z.object({ name: z.string(), version: z.optional(z.string()) })),
      /** Why, when it is not a missing extension: the target server could not be reached or used (empty missingExtensions). */
      reason: z.optional(z.string()),
    }),
  ),
});
export type RestoreTestResult = z.infer<typeof restoreTestResultSchema>;

/** The result of `meatbackup verify`, stored at sidecarKey(key, 'verify'); the newest run overwrites it. */
export const verifyRecordSchema = z.object({
  format: z.literal('meatbackup/verify@1'),
  key: z.string(),
  ok: z.boolean(),
  verifiedAt: z.string(),
  /** The version that was read: the one the manifest pinned when the bucket still has it. */
  versionId: z.optional(z.string()),
  seconds: z.number().check(z.nonnegative()),
  /** What differed from the manifest, when it failed. */
  error: z.optional(z.string()),
});
export type VerifyRecord = z.infer<typeof verifyRecordSchema>;

// ---------------------------------------------------------------------------------------------------------------
// The ops Lambda's events: what an operator types as a console test event, or the chat bot sends.
// Destructive actions return a plan unless `confirm: true` is present.
// ---------------------------------------------------------------------------------------------------------------

/** A key as an operator may name it: `latest`, a file name, or a full key. Resolved against the bucket later. */
export const backupRefSchema = z.string().check(
  z.minLength(1, 'key must not be empty'),
  z.maxLength(1024, 'key is longer than S3 allows'),
  z.refine((ref) => ref === 'latest' || parseBackupKey(ref) !== undefined, {
    message: 'key must be "latest" or a backup name like backups/meatdb-2025-09-17T10:30:00.sql.gz',
  }),
);

/** A database name as an event may give it: what fits in a backup key and in PostgreSQL's 63 bytes. */
const databaseName = z.string().check(
  z.minLength(1, 'database name must not be empty'),
  z.refine((name) => new TextEncoder().encode(name).length <= 63 && new RegExp(`^${DATABASE_IN_KEY}$`).test(name), { message: 'not a database name a backup can have' }),
);

const confirm = z.optional(z.literal(true, { message: 'confirm must be exactly true to carry out the plan' }));
const bucketName = z.string().check(z.refine((name) => bucketNameProblem(name) === undefined, 'not a valid S3 bucket name'));

export const opsEventSchema = z.discriminatedUnion('action', [
  z.strictObject({ action: z.literal('backup') }),
  z.strictObject({ action: z.literal('list'), limit: z.optional(z.int().check(z.gte(1), z.lte(1000))) }),
  /**
   * `fromDatabase`: the database the backup is of, when it is not the configured one. Without it `latest` is the
   * configured database's newest backup and a backup of any other database is refused.
   */
  z.strictObject({ action: z.literal('restore'), key: backupRefSchema, fromDatabase: z.optional(databaseName), confirm }),
  z.strictObject({ action: z.literal('status'), taskArn: z.optional(z.string().check(z.startsWith('arn:'))) }),
  z.strictObject({
    action: z.literal('promote'),
    from: z.optional(bucketName),
    to: z.optional(bucketName),
    region: z.optional(z.string().check(z.regex(/^[a-z]{2}(-[a-z]+)+-\d+$/, 'not an AWS region name such as eu-west-1'))),
    engine: z.optional(z.enum(['copy', 'batch'])),
    confirm,
  }),
  z.strictObject({ action: z.literal('replication-check') }),
]);
export type OpsEvent = z.infer<typeof opsEventSchema>;
export type OpsAction = OpsEvent['action'];
export const OPS_ACTIONS: readonly OpsAction[] = ['backup', 'list', 'restore', 'status', 'promote', 'replication-check'];

/**
 * The name pattern of a bucket a promotion may create under a new name: `<name>-promoted-*`. Narrower than `<name>-*`,
 * which also matches the replica and the access-log buckets CloudFormation names after the stacks
 * (`<name>-primary-…`, `<name>-replica-…`): none of those may be written by a promotion.
 */
export function promotedBucketPattern(projectName: string): string {
  return `${projectName}-promoted-*`;
}

/** Whether `bucket` is one of `targets`: an exact name, or a pattern ending in `*` that it starts with. */
export function isPromotionTarget(bucket: string, targets: readonly string[]): boolean {
  return targets.some((t) => (t.endsWith('*') ? bucket.startsWith(t.slice(0, -1)) : bucket === t));
}

/** `daily:14,weekly:56,monthly:365` (BACKUP_RETENTION_DAYS): the days each class is kept, as the stacks set it. */
export function formatRetentionDays(days: Readonly<Record<RetentionClass, number>>): string {
  return RETENTION_CLASSES.map((c) => `${c}:${days[c]}`).join(',');
}
