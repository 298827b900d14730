/**
 * The one typed parameter file of the CDK app (BLEA style): every setting the stacks read, validated with zod.
 *
 * ## Where the configuration comes from
 *
 * One CDK context key, `config`, holds the whole configuration:
 *
 * - `cdk deploy --all -c config=config/prod.json`: a path to a JSON file (relative to the working directory);
 * - `cdk synth -c config='{"primaryRegion":"eu-west-1","replicaRegion":"eu-central-1", …}'`: inline JSON;
 * - `"context": { "config": { … } }` in cdk.json or cdk.context.json: a JSON object.
 *
 * Without a `config` key the app synthesizes {@link EXAMPLE_CONFIG}: no AWS credentials and no context lookups are
 * needed, so `npx cdk synth` works on a fresh machine. Its database host is a placeholder: deploy with your own file.
 *
 * A given configuration replaces the example as a whole (it is not merged into it): `primaryRegion`,
 * `replicaRegion`, `database.host` and `database.passwordSecretArn` are required, everything else has the documented
 * default. Unknown keys are rejected, so a typo fails synth instead of being ignored. Every error names the field,
 * e.g. `config.replicaRegion: must differ from primaryRegion (both are eu-west-1)`.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { RegionInfo } from 'aws-cdk-lib/region-info';
import type { Node } from 'constructs';
import { z } from 'zod';
import { DEFAULT_LOCK_DAYS, DEFAULT_RETENTION_DAYS, ECS_CLUSTER_ARN_PATTERN, ECS_NAME_PATTERN, MAX_LOCK_DAYS, RETENTION_CLASSES, SSL_MODES, RESTORE_TEST_MODES, bucketNameProblem } from '../src/contract';

/** The context key that holds the configuration (a file path, inline JSON, or an object). */
export const CONFIG_CONTEXT_KEY = 'config';

/** How many single-character edits (insert, delete, replace, swap two neighbours) turn `a` into `b`. */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i += 1) {
    for (let j = 1; j <= b.length; j += 1) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/**
 * A region the CDK knows (aws-cdk-lib/region-info: its fact table, which grows with each aws-cdk-lib release), so a
 * typo such as `eu-west-9` fails synth naming the nearest region instead of failing the deploy.
 */
export function regionProblem(region: string): string | undefined {
  const known = RegionInfo.regions.map((r) => r.name);
  if (known.includes(region)) return undefined;
  const distances = known.map((name) => ({ name, distance: editDistance(region, name) }));
  const best = Math.min(...distances.map((d) => d.distance));
  const nearest = distances.filter((d) => d.distance === best).map((d) => d.name);
  const named = nearest.length === 1 ? nearest[0] : `${nearest.slice(0, -1).join(', ')} or ${nearest[nearest.length - 1]}`;
  return `must be an AWS region code that aws-cdk-lib knows: ${JSON.stringify(region)} is not one (nearest: ${named}; a region newer than this aws-cdk-lib needs an upgrade)`;
}

const REGION = z.string().superRefine((region, ctx) => {
  const problem = regionProblem(region);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

const ACCOUNT = z.string().regex(/^\d{12}$/, 'must be a 12-digit AWS account id');

/**
 * An IAM role of the stacks' account, by ARN (with its path, e.g. IAM Identity Center's
 * `role/aws-reserved/sso.amazonaws.com/…`). `*` may stand for the random suffix such roles carry, never for the whole name.
 */
const OPERATOR_ROLE_ARN = z
  .string()
  .regex(
    /^arn:aws[a-z-]*:iam::\d{12}:role\/([\w+=,.@-]+\/)*[\w+=,.@-][\w+=,.@*-]*$/,
    'must be an IAM role ARN such as arn:aws:iam::111122223333:role/break-glass (a * may stand for a suffix, not the whole name)',
  );

const BUCKET_NAME = z.string().superRefine((name, ctx) => {
  const problem = bucketNameProblem(name);
  if (problem) ctx.addIssue({ code: 'custom', message: `${JSON.stringify(name)} is not a valid S3 bucket name: ${problem}` });
});

/**
 * EventBridge Scheduler expressions: `cron(minutes hours day-of-month month day-of-week year)` with `?` in exactly one
 * of day-of-month and day-of-week, or `rate(N minutes|hours|days)`.
 */
export function scheduleExpressionProblem(expression: string): string | undefined {
  const rate = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/.exec(expression);
  if (rate) return Number(rate[1]) >= 1 ? undefined : 'rate(…) needs a positive value';
  const cron = /^cron\((.*)\)$/.exec(expression);
  if (!cron) return 'must be cron(minutes hours day-of-month month day-of-week year) or rate(N minutes|hours|days)';
  const fields = cron[1].trim().split(/\s+/);
  if (fields.length !== 6) {
    return `cron(…) needs 6 fields (minutes hours day-of-month month day-of-week year), got ${fields.length}`;
  }
  if (!fields.every((f) => /^[0-9A-Za-z*?,/#LW-]+$/.test(f))) return 'cron(…) fields contain characters a cron field cannot have';
  const [minutes, hours, dayOfMonth, , dayOfWeek] = fields;
  if (/^\d+$/.test(minutes) && Number(minutes) > 59) return 'cron(…) minutes must be 0-59';
  if (/^\d+$/.test(hours) && Number(hours) > 23) return 'cron(…) hours must be 0-23';
  if ((dayOfMonth === '?') === (dayOfWeek === '?')) return 'cron(…) needs ? in exactly one of day-of-month and day-of-week';
  return undefined;
}

const SCHEDULE_EXPRESSION = z.string().superRefine((expression, ctx) => {
  const problem = scheduleExpressionProblem(expression);
  if (problem) ctx.addIssue({ code: 'custom', message: `${JSON.stringify(expression)}: ${problem}` });
});

const TIME_ZONE = z.string().refine(
  (tz) => {
    try {
      new Intl.DateTimeFormat('en', { timeZone: tz });
      return true;
    } catch {
      return false;
    }
  },
  { message: 'must be an IANA time zone such as UTC or Europe/Berlin' },
);

const LOG_RETENTION_DAYS = z
  .number()
  .int()
  .refine((d) => (Object.values(RetentionDays) as unknown[]).includes(d) && d !== RetentionDays.INFINITE, {
    message: 'must be a CloudWatch Logs retention in days (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, …)',
  });

/** Storage classes a backup may move to and still be read at once by a restore (no Glacier Flexible/Deep Archive). */
export const TRANSITION_STORAGE_CLASSES = ['STANDARD_IA', 'ONEZONE_IA', 'INTELLIGENT_TIERING', 'GLACIER_IR'] as const;

/** Storage classes S3 moves an object to only once it is at least 30 days old. */
const THIRTY_DAY_MINIMUM: ReadonlySet<string> = new Set(['STANDARD_IA', 'ONEZONE_IA']);

const DAYS = z.number().int().min(1).max(36500);

/** Moving one retention class to a colder (still instantly readable) storage class; null: it stays in STANDARD. */
const TRANSITION = z
  .strictObject({
    storageClass: z.enum(TRANSITION_STORAGE_CLASSES),
    /** Days after the backup was written; before the class expires it. */
    afterDays: DAYS,
  })
  .nullable();

/**
 * Grandfather-father-son retention (the backup tags each object `retention=daily|weekly|monthly`, see RETENTION_TAG in
 * src/contract.ts) and Object Lock. Untagged backups/ objects (written before tagging) expire after monthlyDays: S3
 * lifecycle rules cannot match "no tag", so the catch-all matches every backup and must not be shorter than a class.
 */
const RETENTION = z
  .strictObject({
    /** Days a daily backup (and its sidecars) is kept. @default 14 */
    dailyDays: DAYS.default(DEFAULT_RETENTION_DAYS.daily),
    /** Days a weekly backup (the first of an ISO week) is kept. @default 56 (8 weeks) */
    weeklyDays: DAYS.default(DEFAULT_RETENTION_DAYS.weekly),
    /** Days a monthly backup (the first of a month) is kept; also every untagged backup. @default 365 (12 months) */
    monthlyDays: DAYS.default(DEFAULT_RETENTION_DAYS.monthly),
    /**
     * Colder storage for each class. @default daily: none (it expires first);
     * weekly: STANDARD_IA after 30 days; monthly: GLACIER_IR after 30 days
     */
    transitions: z
      .strictObject({
        daily: TRANSITION.default(null),
        weekly: TRANSITION.default({ storageClass: 'STANDARD_IA', afterDays: 30 }),
        monthly: TRANSITION.default({ storageClass: 'GLACIER_IR', afterDays: 30 }),
      })
      .prefault({}),
    /**
     * Object Lock (governance mode) days each backup is written with (BACKUP_LOCK_DAYS); 0: none. The buckets have
     * Object Lock enabled either way. @default 35
     */
    lockDays: z.number().int().min(0).max(MAX_LOCK_DAYS).default(DEFAULT_LOCK_DAYS),
    /** Days a noncurrent (overwritten or deleted) object version is kept. @default 30 */
    noncurrentVersionDays: DAYS.default(30),
    /** CloudWatch Logs retention of the task and Lambda logs. @default 90 */
    logDays: LOG_RETENTION_DAYS.default(90),
    /** Days S3 server access logs are kept. @default 365 */
    accessLogDays: DAYS.default(365),
  })
  .superRefine((r, ctx) => {
    if (r.weeklyDays < r.dailyDays) {
      ctx.addIssue({ code: 'custom', path: ['weeklyDays'], message: `must be at least dailyDays (${r.dailyDays}): a weekly backup is kept at least as long as a daily one` });
    }
    if (r.monthlyDays < r.weeklyDays) {
      ctx.addIssue({ code: 'custom', path: ['monthlyDays'], message: `must be at least weeklyDays (${r.weeklyDays}): a monthly backup is kept at least as long as a weekly one` });
    }
    if (r.lockDays > r.monthlyDays) {
      ctx.addIssue({
        code: 'custom',
        path: ['lockDays'],
        message: `must not exceed monthlyDays (${r.monthlyDays}): no backup is kept longer, a longer lock only keeps expired versions`,
      });
    }
    for (const cls of RETENTION_CLASSES) {
      const transition = r.transitions[cls];
      if (transition === null) continue;
      const expiry = r[`${cls}Days`];
      if (transition.afterDays >= expiry) {
        ctx.addIssue({
          code: 'custom',
          path: ['transitions', cls, 'afterDays'],
          message: `must be less than ${cls}Days (${expiry}): a ${cls} backup moves before it expires, or set transitions.${cls} to null`,
        });
      }
      if (THIRTY_DAY_MINIMUM.has(transition.storageClass) && transition.afterDays < 30) {
        ctx.addIssue({
          code: 'custom',
          path: ['transitions', cls, 'afterDays'],
          message: `S3 moves objects to ${transition.storageClass} only after at least 30 days`,
        });
      }
    }
  });

/**
 * ECS resolves a Secrets Manager secret only by its complete ARN (with the 6-character suffix Secrets Manager adds);
 * a name or a partial ARN fails when the task starts, so the configuration asks for the complete one.
 */
const SECRET_ARN = z
  .string()
  .regex(
    /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+-[A-Za-z0-9]{6}$/,
    'must be the complete secret ARN, ending in the 6-character suffix Secrets Manager adds (ECS cannot use a name or partial ARN): ' +
      'aws secretsmanager describe-secret --secret-id NAME --query ARN',
  );

/**
 * A KMS key by its key ARN (an alias ARN grants nothing in an IAM policy: IAM matches the key ARN), single- or
 * multi-Region (`mrk-…`).
 */
const KMS_KEY_ARN = z
  .string()
  .regex(
    /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/(mrk-[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/,
    'must be a KMS key ARN such as arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab (not an alias): ' +
      'aws secretsmanager describe-secret --secret-id ARN --query KmsKeyId',
  );

/** A role of its own for one job, with its password's secret (see docs/deploying-aws.md#database-roles). */
const LOGIN = z.strictObject({
  /** The role (PGUSER). */
  user: z.string().min(1).max(63),
  /** Complete ARN of the Secrets Manager secret holding its password (PGPASSWORD). */
  passwordSecretArn: SECRET_ARN,
  /** JSON key inside the secret; unset: the whole secret string. */
  passwordSecretField: z.string().min(1).optional(),
  /** The customer-managed KMS key of that secret, if any (as database.passwordSecretKmsKeyArn). */
  passwordSecretKmsKeyArn: KMS_KEY_ARN.optional(),
});

/** The jobs that connect to the database, each of which may log in as its own role (`database.logins`). */
export const DATABASE_JOBS = ['backup', 'restore', 'restoreTest'] as const;
export type DatabaseJob = (typeof DATABASE_JOBS)[number];

const DATABASE = z.strictObject({
  /** Host name or IP address of the PostgreSQL server (libpq PGHOST). */
  host: z.string().regex(/^[A-Za-z0-9.:_-]{1,253}$/, 'must be a host name or IP address'),
  /** @default 5432 */
  port: z.number().int().min(1).max(65535).default(5432),
  /** Database to back up (PGDATABASE). @default meatdb */
  name: z.string().min(1).max(63).default('meatdb'),
  /** Role the task connects as (PGUSER). @default meatbackup */
  user: z.string().min(1).max(63).default('meatbackup'),
  /**
   * libpq sslmode (PGSSLMODE): `require` encrypts without checking the server's certificate; `verify-ca` checks that
   * it is signed by the CA in {@link sslRootCert}; `verify-full` also checks that it names `host`. @default require
   */
  sslMode: z.enum(SSL_MODES).default('require'),
  /**
   * With sslMode verify-ca or verify-full: the CA file (PEM) in the image that the server's certificate must chain
   * to, set as PGSSLROOTCERT for pg_dump, psql and node-postgres alike. Another CA: put its PEM file in
   * container/certs/ (the image copies that directory to /etc/ssl/meatbackup/) and name it here, or `system` for the
   * image's public roots (verify-full only).
   * @default /etc/ssl/meatbackup/rds-global-bundle.pem (the Amazon RDS CA bundle, fetched when the image is built)
   */
  sslRootCert: z
    .string()
    .regex(/^(system|\/[A-Za-z0-9._/-]+)$/, 'must be an absolute path in the image, such as /etc/ssl/meatbackup/my-ca.pem, or system')
    .optional(),
  /** Complete ARN of the Secrets Manager secret holding the password (injected as PGPASSWORD). */
  passwordSecretArn: SECRET_ARN,
  /** JSON key inside the secret (`password` for RDS-managed secrets); unset: the whole secret string. */
  passwordSecretField: z.string().min(1).optional(),
  /**
   * The customer-managed KMS key the password secret is encrypted with: the task execution roles that read the secret
   * get kms:Decrypt on it, through Secrets Manager only. @default none (the secret uses the AWS managed key
   * aws/secretsmanager, which needs no grant)
   */
  passwordSecretKmsKeyArn: KMS_KEY_ARN.optional(),
  /**
   * A role per job instead of `user` for all (the least-privilege roles of docs/deploying-aws.md#database-roles):
   * the backup task, the restore task and the restore test in scratch mode each log in with their own, and each task's
   * execution role reads only its own secret. A job left out uses `user` and `passwordSecretArn`. @default {}
   */
  logins: z.strictObject({ backup: LOGIN.optional(), restore: LOGIN.optional(), restoreTest: LOGIN.optional() }).default({}),
}).superRefine((db, ctx) => {
  const verifying = db.sslMode === 'verify-ca' || db.sslMode === 'verify-full';
  if (db.sslRootCert !== undefined && !verifying) {
    // libpq would quietly turn `require` into verify-ca with a CA file; say what is meant instead.
    ctx.addIssue({ code: 'custom', path: ['sslRootCert'], message: `is used with sslMode verify-ca or verify-full (sslMode is ${db.sslMode}): set sslMode to one of them, or remove sslRootCert` });
  }
  if (db.sslRootCert === 'system' && db.sslMode !== 'verify-full') {
    ctx.addIssue({ code: 'custom', path: ['sslRootCert'], message: 'system (the public roots) needs sslMode verify-full: libpq refuses it with verify-ca' });
  }
});

const SUBNET_ID = z.string().regex(/^subnet-[0-9a-f]{8,17}$/, 'must be a subnet id such as subnet-0123456789abcdef0');

const NEW_NETWORK = z.strictObject({
  /** A small VPC created for a greenfield deploy: public and private subnets in two AZs, NAT, S3 gateway endpoint. */
  mode: z.literal('new'),
  /** @default 10.80.0.0/20 */
  cidr: z
    .string()
    .regex(/^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(1[6-9]|2[0-2])$/, 'must be an IPv4 CIDR block from /16 to /22 (it holds four /24 subnets)')
    .default('10.80.0.0/20'),
  /** @default 1 */
  natGateways: z.number().int().min(1).max(2).default(1),
});

const EXISTING_NETWORK = z
  .strictObject({
    /** Import an existing VPC by attributes (no lookup). */
    mode: z.literal('existing'),
    vpcId: z.string().regex(/^vpc-[0-9a-f]{8,17}$/, 'must be a VPC id such as vpc-0123456789abcdef0'),
    /** The availability zone of each subnet, in the same order as subnetIds. */
    availabilityZones: z.array(z.string().regex(/^[a-z]{2}(-gov)?-[a-z]+-\d[a-z]$/, 'must be an availability zone such as eu-west-1a')).min(1),
    /** Subnets the tasks run in; they need a route to S3, ECR, Secrets Manager, CloudWatch Logs and the database. */
    subnetIds: z.array(SUBNET_ID).min(1).max(16),
    /** Give tasks a public IP (only for public subnets without NAT). @default false */
    assignPublicIp: z.boolean().default(false),
  })
  .superRefine((n, ctx) => {
    if (n.availabilityZones.length !== n.subnetIds.length) {
      ctx.addIssue({
        code: 'custom',
        path: ['availabilityZones'],
        message: `needs one entry per subnet in subnetIds (${n.subnetIds.length}), got ${n.availabilityZones.length}`,
      });
    }
  });

/** Fargate CPU units and the memory (MiB) each allows. */
const FARGATE_MEMORY: Record<number, [number, number, number]> = {
  256: [512, 2048, 512],
  512: [1024, 4096, 1024],
  1024: [2048, 8192, 1024],
  2048: [4096, 16384, 1024],
  4096: [8192, 30720, 1024],
  8192: [16384, 61440, 4096],
  16384: [32768, 122880, 8192],
};

/**
 * The build arguments of container/Dockerfile (its `ARG`s; a test keeps the two lists equal), for what the deploying
 * machine's network cannot reach: a TLS-inspecting proxy's CA, mirrors of Docker Hub, PGDG or the RDS trust store.
 */
export const DOCKERFILE_BUILD_ARGS = [
  'BASE_IMAGE',
  'BUILD_CA_CERTS',
  'PGDG_REPO',
  'PGDG_KEY_URL',
  'PG_MAJORS',
  'PG_SERVER_MAJORS',
  'PG_SERVER_EXTENSIONS',
  'RDS_CA_BUNDLE_URL',
] as const;

const IMAGE = z.strictObject({
  /**
   * Build arguments `cdk deploy` passes to both image builds (docs/container-image.md#build-arguments); unset ones
   * keep the Dockerfile's defaults, which are production's build. @default {}
   */
  buildArgs: z.partialRecord(z.enum(DOCKERFILE_BUILD_ARGS), z.string()).default({}),
  /**
   * `host`: the builds use the host's network (`docker build --network host`), for an engine without a bridge
   * network. @default 'default'
   */
  buildNetwork: z.enum(['default', 'host']).default('default'),
});

const TASK = z
  .strictObject({
    /** Fargate CPU units: pg_dump and the compressor each want a core. @default 2048 */
    cpu: z.union([z.literal(256), z.literal(512), z.literal(1024), z.literal(2048), z.literal(4096)]).default(2048),
    /** @default 4096 */
    memoryMiB: z.number().int().default(4096),
  })
  .superRefine((t, ctx) => {
    const [min, max, step] = FARGATE_MEMORY[t.cpu];
    const ok = t.memoryMiB >= min && t.memoryMiB <= max && (t.memoryMiB === 512 || t.memoryMiB % step === 0);
    if (!ok) {
      ctx.addIssue({
        code: 'custom',
        path: ['memoryMiB'],
        message: `Fargate with cpu ${t.cpu} allows ${min}-${max} MiB in steps of ${step}, got ${t.memoryMiB}`,
      });
    }
  });

/**
 * The restore task (`meatbackup restore`, started by the ops function). The load runs over `jobs` sessions of the
 * database server (docs/parallel-restore.md); the task itself decompresses and routes the SQL, so its CPUs set the
 * default number of sessions and need not grow with the server.
 */
const RESTORE_TASK = z
  .strictObject({
    /** Fargate CPU units; without `jobs` the load uses this many vCPUs' worth of sessions (at least 2). @default 2048 */
    cpu: z.union([z.literal(1024), z.literal(2048), z.literal(4096), z.literal(8192), z.literal(16384)]).default(2048),
    /** @default 4096 */
    memoryMiB: z.number().int().default(4096),
    /** Sessions to load over (RESTORE_JOBS); 1 is one psql stream. @default the task's vCPUs */
    jobs: z.number().int().min(1).max(64).optional(),
  })
  .superRefine((t, ctx) => {
    const [min, max, step] = FARGATE_MEMORY[t.cpu];
    if (t.memoryMiB < min || t.memoryMiB > max || t.memoryMiB % step !== 0) {
      ctx.addIssue({ code: 'custom', path: ['memoryMiB'], message: `Fargate with cpu ${t.cpu} allows ${min}-${max} MiB in steps of ${step}, got ${t.memoryMiB}` });
    }
  });

/**
 * The scheduled restore test (`meatbackup restore-test latest`): where it restores, what it asserts, how big its task is.
 * In `cluster` mode (the default) it restores into a throwaway PostgreSQL server inside its own task: the production
 * server is never connected to (no libpq settings, no password, no egress to the database port), needs no CREATEDB,
 * and carries none of the load. `scratch` restores into a scratch database on the production server instead.
 */
const RESTORE_TEST = z
  .strictObject({
    schedule: z
      .strictObject({
        /** @default cron(0 5 ? * SUN *) (Sundays 05:00, two hours after the default daily backup) */
        expression: SCHEDULE_EXPRESSION.default('cron(0 5 ? * SUN *)'),
        /** @default UTC */
        timeZone: TIME_ZONE.default('UTC'),
        /** false creates the schedule disabled. @default true */
        enabled: z.boolean().default(true),
      })
      .prefault({}),
    /** `cluster`: a throwaway server in the task; `scratch`: a scratch database on the production server. @default cluster */
    mode: z.enum(RESTORE_TEST_MODES).default('cluster'),
    /**
     * SQL statements that must each return true on the restored copy, e.g. `select count(*) > 0 from users`.
     * @default [] (the catalog check alone: valid for any database)
     */
    assertions: z.array(z.string().trim().min(1, 'must not be empty').max(4096)).max(50).default([]),
    /** Fargate CPU units: the server loading the dump and gunzip/psql feeding it each keep a core busy. @default 2048 */
    cpu: z.union([z.literal(1024), z.literal(2048), z.literal(4096)]).default(2048),
    /** Memory for the throwaway server's caches and index builds besides the CLI. @default 8192 */
    memoryMiB: z.number().int().default(8192),
    /**
     * Fargate ephemeral storage (21-200 GiB, cluster mode only) for the image and the restored cluster: allow about
     * twice the database's size (data, WAL and index-build temporary files) plus 5 GiB. @default 50
     */
    ephemeralStorageGiB: z.number().int().min(21).max(200).default(50),
  })
  .superRefine((t, ctx) => {
    const [min, max, step] = FARGATE_MEMORY[t.cpu];
    if (t.memoryMiB < min || t.memoryMiB > max || t.memoryMiB % step !== 0) {
      ctx.addIssue({ code: 'custom', path: ['memoryMiB'], message: `Fargate with cpu ${t.cpu} allows ${min}-${max} MiB in steps of ${step}, got ${t.memoryMiB}` });
    }
  });

/** Thresholds of the CloudWatch alarms that publish to the alarm topic (lib/constructs/backup-alarms.ts). */
const ALARMS = z.strictObject({
  /** No successful backup for this many hours (evaluated in 1-hour periods, so at most 168). @default 26 */
  backupMaxAgeHours: z.number().int().min(2).max(168).default(26),
  /** No restore test for this many days; keep it longer than the restore test's schedule interval. @default 8 */
  restoreTestMaxAgeDays: z.number().int().min(2).max(365).default(8),
  /** S3 replication slower than this many seconds (Replication Time Control promises 900). @default 900 */
  replicationLatencySeconds: z.number().int().min(60).max(86400).default(900),
  /** Also notify the topic when an alarm returns to OK. @default true */
  notifyOnOk: z.boolean().default(true),
});

/**
 * The team's chat channel (AWS Chatbot, now "Amazon Q Developer in chat applications"): alarms and failed tasks
 * arrive there, and a few command aliases invoke the ops function. Exactly one of `slack` and `teams`. The workspace
 * (Slack) or team (Teams) must have been authorized once in the console first; see docs/chat.md.
 */
const CHAT = z
  .strictObject({
    slack: z
      .strictObject({
        /** The workspace id the Chatbot console shows after authorizing the workspace, e.g. T0123ABCD. */
        workspaceId: z.string().regex(/^[0-9A-Z]{1,255}$/, 'must be the Slack workspace id from the Chatbot console, e.g. T0123ABCD'),
        /** The channel id (the end of the channel's link), e.g. C0123ABCDEF. */
        channelId: z.string().regex(/^[A-Za-z0-9]{1,255}$/, 'must be a Slack channel id, e.g. C0123ABCDEF (the end of the channel link)'),
      })
      .optional(),
    teams: z
      .strictObject({
        /** The team id the Chatbot console shows after authorizing the team. */
        teamId: z.uuid('must be the Microsoft Teams team id (a UUID) from the Chatbot console'),
        tenantId: z.uuid('must be the Microsoft Teams tenant id (a UUID)'),
        /** From the channel's link: the URL-encoded `19:…@thread.tacv2` part. */
        channelId: z
          .string()
          .regex(/^[A-Za-z0-9\-_=+/.,]*%3[aA][A-Za-z0-9\-_=+/.,]*%40[A-Za-z0-9\-_=+/.,]*$/, 'must be the URL-encoded channel id from the channel link, e.g. 19%3Aabc%40thread.tacv2'),
      })
      .optional(),
    /** Channel members must map their own IAM role before running anything (the channel role alone is not enough). @default false */
    userRoleRequired: z.boolean().default(false),
    /**
     * Let the channel carry out a restore (`"confirm": true`); off: the channel only gets the plan. @default false
     */
    allowRestore: z.boolean().default(false),
    /**
     * Where the README of this deployment is published (e.g. https://github.com/acme/meatlizard-backup/blob/main/README.md);
     * alarm and task-failure messages link its sections. @default none (messages name the section instead)
     */
    runbookUrl: z.url({ protocol: /^https$/, message: 'must be an https:// URL of the README' }).optional(),
    /**
     * Prefix of the command aliases (`<prefix>backup-now`, …): aliases are per AWS account, so two deployments in
     * one account need different prefixes. @default none
     */
    aliasPrefix: z.string().regex(/^[A-Za-z0-9_-]{0,15}$/, 'must be at most 15 letters, digits, - or _').default(''),
    /** What Chatbot itself logs to CloudWatch Logs about this channel. @default ERROR */
    loggingLevel: z.enum(['NONE', 'ERROR', 'INFO']).default('ERROR'),
  })
  .superRefine((c, ctx) => {
    if ((c.slack === undefined) === (c.teams === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'needs exactly one of slack ({workspaceId, channelId}) and teams ({teamId, tenantId, channelId})' });
    }
  });

/** A Discord id (a snowflake): Developer Mode on, then right-click, Copy ID. */
const DISCORD_ID = z.string().regex(/^\d{15,21}$/, 'must be a Discord id (a number; turn on Developer Mode, then right-click, Copy ID)');

/**
 * The operators' Discord server (docs/discord.md): slash commands through an interactions endpoint (a Lambda
 * function URL), and alarms and results posted to a channel webhook. Each part only when configured.
 */
const DISCORD = z
  .strictObject({
    /** The slash commands' endpoint: a Lambda function URL that Discord calls. @default none */
    interactions: z
      .strictObject({
        /** The application's Public Key (General Information in the Developer Portal): every request's signature is checked with it. */
        publicKey: z.string().regex(/^[0-9a-fA-F]{64}$/, "must be the application's Public Key: 64 hex digits (General Information in the Developer Portal)"),
        /** The server the commands are registered in; interactions from elsewhere are refused. */
        guildId: DISCORD_ID,
        /** Roles whose members may run the commands (any one of them). */
        roleIds: z.array(DISCORD_ID).min(1, 'name at least one role: nobody else may run the commands'),
      })
      .optional(),
    /**
     * Complete ARN of the Secrets Manager secret holding the channel webhook's URL (plain text): every alarm, failed
     * task and restore start and end is posted there. @default none
     */
    webhookSecretArn: z
      .string()
      .regex(/^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[\w/+=.@-]+$/, 'must be the complete ARN of a Secrets Manager secret (aws secretsmanager describe-secret --secret-id NAME --query ARN)')
      .optional(),
  })
  .superRefine((d, ctx) => {
    if (!d.interactions && !d.webhookSecretArn) ctx.addIssue({ code: 'custom', message: 'give interactions (slash commands), webhookSecretArn (channel messages), or both' });
  });

export const configSchema = z
  .strictObject({
    /** Prefix of stack names and derived bucket names: lowercase, digits, hyphens. @default meatlizard-backup */
    name: z
      .string()
      .regex(/^[a-z][a-z0-9-]{1,22}[a-z0-9]$/, 'must be 3-24 lowercase letters, digits or hyphens, starting with a letter')
      .default('meatlizard-backup'),
    /** Account the stacks must deploy to; unset: the account of the deploying credentials. */
    account: ACCOUNT.optional(),
    /** Region of the primary bucket, the ECS task, the schedule and the ops Lambda. */
    primaryRegion: REGION,
    /** Region of the replica bucket; must differ from primaryRegion. */
    replicaRegion: REGION,
    buckets: z
      .strictObject({
        /** @default `<name>-<account>-<primaryRegion>` */
        primary: BUCKET_NAME.optional(),
        /** @default `<name>-replica-<account>-<replicaRegion>` */
        replica: BUCKET_NAME.optional(),
      })
      .prefault({}),
    schedule: z
      .strictObject({
        /** @default cron(0 3 * * ? *) (daily 03:00) */
        expression: SCHEDULE_EXPRESSION.default('cron(0 3 * * ? *)'),
        /** @default UTC */
        timeZone: TIME_ZONE.default('UTC'),
        /** false creates the schedule disabled. @default true */
        enabled: z.boolean().default(true),
      })
      .prefault({}),
    retention: RETENTION.prefault({}),
    /**
     * Encryption at rest of both backup buckets: `kms`, a customer-managed key per region (alias `<name>-backup`, rotated
     * yearly) that only the project's roles may use; `s3`, S3-managed keys (SSE-S3). @default kms
     */
    encryption: z.enum(['kms', 's3']).default('kms'),
    /**
     * The people's roles (e.g. a break-glass role) that may use both backup keys, through S3, for their buckets: read
     * backups (list, verify, restore, the manual `aws s3 cp`), and write for `promote`. Only these roles and the
     * project's own may ever use the keys: the account's IAM policies alone cannot grant it (lib/constructs/backup-key.ts).
     * Roles of the stacks' account. @default [] (no person can read a backup from outside AWS: synth warns)
     */
    operatorRoleArns: z.array(OPERATOR_ROLE_ARN).max(20).default([]),
    database: DATABASE,
    /** @default { mode: 'new' } */
    network: z.discriminatedUnion('mode', [NEW_NETWORK, EXISTING_NETWORK]).prefault({ mode: 'new' }),
    task: TASK.prefault({}),
    /** How `cdk deploy` builds the images from container/Dockerfile. */
    image: IMAGE.prefault({}),
    /** The restore task's size and how many sessions it loads over. */
    restoreTask: RESTORE_TASK.prefault({}),
    /** The platform's web ECS service that a restore stops and starts again. */
    webService: z
      .strictObject({
        cluster: z.string().refine((c) => ECS_NAME_PATTERN.test(c) || ECS_CLUSTER_ARN_PATTERN.test(c), 'must be an ECS cluster name or cluster ARN'),
        service: z.string().regex(ECS_NAME_PATTERN, 'must be an ECS service name (letters, digits, - and _)'),
      })
      .optional(),
    /** The weekly restore test of the newest backup. */
    restoreTest: RESTORE_TEST.prefault({}),
    /** Alarm thresholds. */
    alarms: ALARMS.prefault({}),
    /** Address subscribed to the alarm topic (the subscription must be confirmed from the e-mail). */
    alarmEmail: z.email('must be an e-mail address').optional(),
    /** Alarms, failed tasks and ops commands in a Slack or Microsoft Teams channel. @default none */
    chat: CHAT.optional(),
    /** Slash commands and channel messages in the operators' Discord server. @default none */
    discord: DISCORD.optional(),
    /** Tags added to every resource, on top of Project=<name>. */
    tags: z.record(z.string().min(1).max(128), z.string().max(256)).default({}),
  })
  .superRefine((c, ctx) => {
    if (c.primaryRegion === c.replicaRegion) {
      ctx.addIssue({
        code: 'custom',
        path: ['replicaRegion'],
        message: `must differ from primaryRegion (both are ${c.primaryRegion}): replication needs a second region`,
      });
    }
    c.operatorRoleArns.forEach((arn, i) => {
      const roleAccount = arn.split(':')[4];
      if (c.account !== undefined && roleAccount !== c.account) {
        ctx.addIssue({
          code: 'custom',
          path: ['operatorRoleArns', i],
          message: `must be a role of the stacks' account ${c.account}, not ${roleAccount}: the key policies name roles of their own account`,
        });
      }
    });
    const secretKeys: Array<[string | undefined, PropertyKey[]]> = [
      [c.database.passwordSecretKmsKeyArn, ['database', 'passwordSecretKmsKeyArn']],
      ...DATABASE_JOBS.map((job): [string | undefined, PropertyKey[]] => [c.database.logins[job]?.passwordSecretKmsKeyArn, ['database', 'logins', job, 'passwordSecretKmsKeyArn']]),
    ];
    for (const [keyArn, keyPath] of secretKeys) {
      if (keyArn === undefined) continue;
      const [, , , keyRegion, keyAccount] = keyArn.split(':');
      // Secrets Manager encrypts a secret only with a key of the secret's own region, which is where the tasks run.
      if (keyRegion !== c.primaryRegion) {
        ctx.addIssue({
          code: 'custom',
          path: keyPath,
          message: `must be a key in primaryRegion ${c.primaryRegion}, not ${keyRegion}: Secrets Manager uses a key of the secret's own region`,
        });
      }
      if (c.account !== undefined && keyAccount !== c.account) {
        ctx.addIssue({
          code: 'custom',
          path: keyPath,
          message: `must be a key of the stacks' account ${c.account}, not ${keyAccount}`,
        });
      }
    }
    if (c.buckets.primary !== undefined && c.buckets.primary === c.buckets.replica) {
      ctx.addIssue({ code: 'custom', path: ['buckets', 'replica'], message: 'must differ from buckets.primary' });
    }
  });

/** The configuration as the stacks see it: validated, defaults filled in. */
export type AppConfig = z.infer<typeof configSchema>;
/** What an operator writes: every defaulted field optional. */
export type AppConfigInput = z.input<typeof configSchema>;
export type RetentionConfig = AppConfig['retention'];
export type DatabaseConfig = AppConfig['database'];
export type ImageConfig = AppConfig['image'];
export type NetworkConfig = AppConfig['network'];
export type RestoreTestConfig = AppConfig['restoreTest'];
export type AlarmsConfig = AppConfig['alarms'];
export type ChatConfig = NonNullable<AppConfig['chat']>;
export type DiscordConfig = NonNullable<AppConfig['discord']>;

/** Synthesized when no `config` context is given: two EU regions, a new VPC, a placeholder database host. */
export const EXAMPLE_CONFIG: AppConfigInput = {
  primaryRegion: 'eu-west-1',
  replicaRegion: 'eu-central-1',
  // Placeholder: the role people assume to read backups by hand (README, "Who may read backups").
  operatorRoleArns: ['arn:aws:iam::123456789012:role/meatlizard-break-glass'],
  database: {
    host: 'meatdb.example.internal',
    // Placeholders, like the host: the example synthesizes but is not meant to be deployed.
    passwordSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:meatlizard/meatdb/backup-AbCdEf',
  },
};

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

function issuePath(path: readonly PropertyKey[]): string {
  return ['config', ...path.map(String)].join('.');
}

/** Settings an earlier version had, and what replaced them: an old configuration file fails with directions. */
const RETIRED_SETTINGS: Record<string, string> = {
  'config.retention.backupDays': 'was replaced by retention.dailyDays, weeklyDays and monthlyDays (grandfather-father-son; monthlyDays also expires untagged backups)',
  'config.retention.transitionAfterDays': 'was replaced by retention.transitions.daily, weekly and monthly ({ "storageClass": …, "afterDays": … } or null)',
  'config.retention.transitionStorageClass': 'was replaced by retention.transitions.daily, weekly and monthly ({ "storageClass": …, "afterDays": … } or null)',
};

function unknownSetting(path: string): string {
  if (path.startsWith('config.image.buildArgs.')) return `  - ${path}: must be one of container/Dockerfile's build arguments: ${DOCKERFILE_BUILD_ARGS.join(', ')}`;
  return `  - ${path}: ${RETIRED_SETTINGS[path] ?? 'is not a known setting (check its spelling and nesting)'}`;
}

/** Validates a configuration object; throws a {@link ConfigError} listing every problem with its field. */
export function parseConfig(input: unknown, source = 'context key "config"'): AppConfig {
  const result = configSchema.safeParse(input, {
    error: (issue) => (issue.code === 'invalid_type' && issue.input === undefined ? 'is required' : undefined),
  });
  if (result.success) return result.data;
  const lines = result.error.issues.flatMap((issue) =>
    issue.code === 'unrecognized_keys'
      ? issue.keys.map((key) => unknownSetting(issuePath([...issue.path, key])))
      : [`  - ${issuePath(issue.path)}: ${issue.message}`],
  );
  throw new ConfigError(`invalid configuration (from ${source}):\n${lines.join('\n')}`);
}

/** Turns the raw context value into an object: a JSON object as is, a string as inline JSON or a JSON file path. */
export function readConfigInput(raw: unknown, cwd: string = process.cwd()): { input: unknown; source: string } {
  if (typeof raw !== 'string') return { input: raw, source: 'context key "config"' };
  const text = raw.trim();
  if (text.startsWith('{')) {
    try {
      return { input: JSON.parse(text), source: 'inline JSON in -c config=…' };
    } catch (err) {
      throw new ConfigError(`invalid configuration: -c config=… is not valid JSON: ${(err as Error).message}`);
    }
  }
  const file = resolve(cwd, text);
  let content: string;
  try {
    content = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`invalid configuration: cannot read config file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  try {
    return { input: JSON.parse(content), source: file };
  } catch (err) {
    throw new ConfigError(`invalid configuration: ${file} is not valid JSON: ${(err as Error).message}`);
  }
}

/** Reads and validates the configuration from the `config` context key, or the example when there is none. */
export function loadConfig(node: Node): { config: AppConfig; example: boolean } {
  const raw: unknown = node.tryGetContext(CONFIG_CONTEXT_KEY);
  if (raw === undefined) return { config: parseConfig(EXAMPLE_CONFIG, 'the built-in example configuration'), example: true };
  const { input, source } = readConfigInput(raw);
  return { config: parseConfig(input, source), example: false };
}
