import { existsSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { IgnoreMode, RemovalPolicy } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { DockerImageAsset, NetworkMode, Platform } from 'aws-cdk-lib/aws-ecr-assets';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { IMAGE_CA_DIR, RDS_CA_BUNDLE_PATH } from '../../src/contract';
import type { DatabaseConfig, DatabaseJob, ImageConfig } from '../config';

/** The repository root: the image's build context (the Dockerfile bundles the CLI from src/). */
export const REPO_ROOT = resolve(__dirname, '..', '..');
export const DOCKERFILE = 'container/Dockerfile';

/** Where a CA of the operator's own goes in the repository: the image copies it to {@link IMAGE_CA_DIR}. */
export const CA_SOURCE_DIR = 'container/certs';

/**
 * PGSSLROOTCERT of the tasks: only with verify-ca and verify-full (with `require`, a CA file would make libpq check the
 * CA too, which `require` does not promise). The default is the Amazon RDS CA bundle in the image; a CA file of the
 * image's CA directory must be in container/certs/, or the tasks would fail on every run.
 */
export function sslRootCertOf(db: DatabaseConfig, repoRoot: string = REPO_ROOT): string | undefined {
  if (db.sslMode !== 'verify-ca' && db.sslMode !== 'verify-full') return undefined;
  const file = db.sslRootCert ?? RDS_CA_BUNDLE_PATH;
  if (file.startsWith(`${IMAGE_CA_DIR}/`) && file !== RDS_CA_BUNDLE_PATH && !existsSync(join(repoRoot, CA_SOURCE_DIR, basename(file)))) {
    throw new Error(`database.sslRootCert is ${file}, but ${CA_SOURCE_DIR}/${basename(file)} does not exist: put the CA's PEM file there (the image copies ${CA_SOURCE_DIR}/ to ${IMAGE_CA_DIR}/)`);
  }
  return file;
}

/**
 * The Dockerfile's targets (container/Dockerfile): the backup and restore tasks run `runtime` (the CLI, the PostgreSQL
 * clients, igzip); the restore test runs `restore-test`, which adds the PostgreSQL server its cluster mode starts.
 */
export const IMAGE_TARGETS = { runtime: 'runtime', restoreTest: 'restore-test' } as const;

/**
 * One target of container/Dockerfile as an image asset. The build context is the repository root, filtered by the
 * root .dockerignore (an allow-list, which the CDK reads itself and the classic builder also reads in the staged
 * copy): the staged asset holds the few files the build needs, its hash changes only with them, and node_modules,
 * cdk.out, dist and .git never get copied. Build arguments only as configured (`image.buildArgs`): the Dockerfile's
 * defaults are production's build.
 */
function imageAsset(scope: Construct, id: string, target: string, displayName: string, image: ImageConfig): DockerImageAsset {
  return new DockerImageAsset(scope, id, {
    directory: REPO_ROOT,
    file: DOCKERFILE,
    target,
    ignoreMode: IgnoreMode.DOCKER,
    platform: Platform.LINUX_AMD64,
    displayName,
    ...(Object.keys(image.buildArgs).length > 0 ? { buildArgs: image.buildArgs as Record<string, string> } : {}),
    ...(image.buildNetwork === 'host' ? { networkMode: NetworkMode.HOST } : {}),
  });
}

/** The role a task logs in as, and the ECS secret of its password. */
export interface DatabaseLogin {
  readonly user: string;
  readonly secrets: Record<string, ecs.Secret>;
  /** The customer-managed KMS key of the password's secret, if any. */
  readonly secretKeyArn?: string;
}

export interface TaskPlatformProps {
  readonly vpc: ec2.IVpc;
  /** Subnets the tasks run in. */
  readonly subnets: ec2.SubnetSelection;
  readonly assignPublicIp: boolean;
  readonly database: DatabaseConfig;
  readonly logRetention: logs.RetentionDays;
  /** How the images are built (build arguments, network). */
  readonly image: ImageConfig;
}

/**
 * What every meatbackup task shares: the ECS cluster, the images built from container/, the log group, the security
 * group and the database connection (libpq environment plus the password from Secrets Manager).
 * Task definitions are {@link MeatbackupTask}s on top of it: the scheduled backup now, the restore later.
 */
export class TaskPlatform extends Construct {
  readonly cluster: ecs.Cluster;
  /** The `runtime` target: what the backup and restore tasks run. */
  readonly image: ecs.ContainerImage;
  readonly imageAsset: DockerImageAsset;
  private restoreTestAsset?: DockerImageAsset;
  private readonly imageConfig: ImageConfig;
  readonly logGroup: logs.LogGroup;
  readonly securityGroup: ec2.SecurityGroup;
  readonly passwordSecret: secretsmanager.ISecret;
  /** The customer-managed KMS key the password secret is encrypted with, when the configuration names one. */
  readonly passwordSecretKeyArn?: string;
  readonly subnets: ec2.SubnetSelection;
  readonly subnetIds: string[];
  readonly assignPublicIp: boolean;
  /** libpq environment of the database connection (never the password). */
  readonly databaseEnvironment: Record<string, string>;
  /** ECS secrets of the database connection: PGPASSWORD. */
  readonly databaseSecrets: Record<string, ecs.Secret>;
  private readonly database: DatabaseConfig;
  private readonly logins = new Map<DatabaseJob, DatabaseLogin>();

  constructor(scope: Construct, id: string, props: TaskPlatformProps) {
    super(scope, id);
    const db = props.database;

    this.cluster = new ecs.Cluster(this, 'Cluster', {
      vpc: props.vpc,
      containerInsightsV2: ecs.ContainerInsights.ENABLED,
    });

    this.imageConfig = props.image;
    this.imageAsset = imageAsset(this, 'Image', IMAGE_TARGETS.runtime, 'meatbackup image', props.image);
    this.image = ecs.ContainerImage.fromDockerImageAsset(this.imageAsset);

    this.logGroup = new logs.LogGroup(this, 'Logs', { retention: props.logRetention, removalPolicy: RemovalPolicy.RETAIN });

    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description: 'meatbackup tasks: no inbound; HTTPS to AWS APIs and PostgreSQL to the database',
      allowAllOutbound: false,
    });
    this.securityGroup.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'HTTPS to S3, ECR, Secrets Manager, CloudWatch Logs');
    this.securityGroup.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(db.port), 'PostgreSQL');

    this.passwordSecret = secretsmanager.Secret.fromSecretCompleteArn(this, 'PasswordSecret', db.passwordSecretArn);
    this.passwordSecretKeyArn = db.passwordSecretKmsKeyArn;

    this.subnets = props.subnets;
    this.subnetIds = props.vpc.selectSubnets(props.subnets).subnetIds;
    this.assignPublicIp = props.assignPublicIp;
    const rootCert = sslRootCertOf(db);
    this.databaseEnvironment = {
      PGHOST: db.host,
      PGPORT: String(db.port),
      PGDATABASE: db.name,
      PGUSER: db.user,
      PGSSLMODE: db.sslMode,
      ...(rootCert ? { PGSSLROOTCERT: rootCert } : {}),
    };
    this.databaseSecrets = { PGPASSWORD: ecs.Secret.fromSecretsManager(this.passwordSecret, db.passwordSecretField) };
    this.database = db;
  }

  /**
   * How `job` logs in: its own role and secret when `database.logins` names one, else the shared `user` and secret.
   * One imported secret per job, so each task's execution role is granted only the secret it reads.
   */
  loginFor(job: DatabaseJob): DatabaseLogin {
    let login = this.logins.get(job);
    if (!login) {
      const own = this.database.logins[job];
      login = own
        ? {
            user: own.user,
            secrets: { PGPASSWORD: ecs.Secret.fromSecretsManager(secretsmanager.Secret.fromSecretCompleteArn(this, `${job}PasswordSecret`, own.passwordSecretArn), own.passwordSecretField) },
            ...(own.passwordSecretKmsKeyArn ? { secretKeyArn: own.passwordSecretKmsKeyArn } : {}),
          }
        : { user: this.database.user, secrets: this.databaseSecrets, ...(this.passwordSecretKeyArn ? { secretKeyArn: this.passwordSecretKeyArn } : {}) };
      this.logins.set(job, login);
    }
    return login;
  }

  /**
   * The `restore-test` target (the runtime plus a PostgreSQL server), made on first use: only a restore test in
   * cluster mode needs it, and a deployment without one builds and pushes no such image.
   */
  get restoreTestImageAsset(): DockerImageAsset {
    this.restoreTestAsset ??= imageAsset(this, 'RestoreTestImage', IMAGE_TARGETS.restoreTest, 'meatbackup restore-test image', this.imageConfig);
    return this.restoreTestAsset;
  }

  get restoreTestImage(): ecs.ContainerImage {
    return ecs.ContainerImage.fromDockerImageAsset(this.restoreTestImageAsset);
  }
}
