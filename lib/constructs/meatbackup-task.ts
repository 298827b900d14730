import { Duration, Stack, Validations } from 'aws-cdk-lib';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { TASK_CONTAINER_NAME } from '../../src/contract';
import { acknowledgeWildcardResource, defaultPolicyOf } from '../nag';
import type { DatabaseJob } from '../config';
import type { TaskPlatform } from './task-platform';

export interface MeatbackupTaskProps {
  readonly platform: TaskPlatform;
  /** Task definition family, e.g. `meatlizard-backup-backup`. */
  readonly family: string;
  /** The image the task runs. @default the platform's runtime image (`platform.image`) */
  readonly image?: ecs.ContainerImage;
  /** The CLI arguments the container runs by default, e.g. `['backup']`; callers may override them per RunTask. */
  readonly command: string[];
  /** Fargate CPU units. */
  readonly cpu: number;
  readonly memoryMiB: number;
  /** Environment on top of the database connection (names from ENV in src/contract.ts). */
  readonly environment: Record<string, string>;
  /** CloudWatch Logs stream prefix. */
  readonly streamPrefix: string;
  /**
   * false: no libpq environment and no password secret, so the task cannot reach the database even by mistake (the
   * restore test in cluster mode, which starts its own server). @default true
   */
  readonly connectsToDatabase?: boolean;
  /** Which job's login the task uses (`database.logins`, else the shared user). */
  readonly databaseJob: DatabaseJob;
  /**
   * A writable directory on the task's ephemeral storage at `path` (also TMPDIR; the root filesystem stays read-only),
   * and the task's total ephemeral storage. The image must declare `path` as a VOLUME owned by its user.
   * @default - none: the task streams and writes nothing to disk
   */
  readonly scratch?: { readonly path: string; readonly ephemeralStorageGiB: number };
}

/**
 * One Fargate task definition running the meatbackup CLI in its container ({@link TASK_CONTAINER_NAME}), on the
 * shared {@link TaskPlatform}. The root filesystem is read-only: the runtime streams, it never writes to disk.
 * Grant what the command needs on `taskDefinition.taskRole`.
 */
export class MeatbackupTask extends Construct {
  readonly taskDefinition: ecs.FargateTaskDefinition;
  readonly container: ecs.ContainerDefinition;

  constructor(scope: Construct, id: string, props: MeatbackupTaskProps) {
    super(scope, id);
    const platform = props.platform;
    const connectsToDatabase = props.connectsToDatabase ?? true;
    const login = connectsToDatabase ? platform.loginFor(props.databaseJob) : undefined;

    this.taskDefinition = new ecs.FargateTaskDefinition(this, 'TaskDefinition', {
      family: props.family,
      cpu: props.cpu,
      memoryLimitMiB: props.memoryMiB,
      ephemeralStorageGiB: props.scratch?.ephemeralStorageGiB,
      runtimePlatform: { cpuArchitecture: ecs.CpuArchitecture.X86_64, operatingSystemFamily: ecs.OperatingSystemFamily.LINUX },
    });

    this.container = this.taskDefinition.addContainer('Container', {
      containerName: TASK_CONTAINER_NAME,
      image: props.image ?? platform.image,
      command: props.command,
      essential: true,
      readonlyRootFilesystem: true,
      // SIGTERM, then up to 2 minutes to abort a multipart upload or drop a half-restored database (Fargate's maximum).
      stopTimeout: Duration.seconds(120),
      environment: {
        ...(login ? { ...platform.databaseEnvironment, PGUSER: login.user } : {}),
        ...props.environment,
        ...(props.scratch ? { TMPDIR: props.scratch.path } : {}),
      },
      secrets: login?.secrets,
      logging: ecs.LogDrivers.awsLogs({
        logGroup: platform.logGroup,
        streamPrefix: props.streamPrefix,
        // Blocking: a log line (or an EMF metric in it) is never dropped; the CLI logs little.
        mode: ecs.AwsLogDriverMode.BLOCKING,
      }),
    });
    if (props.scratch) {
      this.taskDefinition.addVolume({ name: 'scratch' });
      this.container.addMountPoints({ sourceVolume: 'scratch', containerPath: props.scratch.path, readOnly: false });
    }
    if (login?.secretKeyArn !== undefined) {
      // ECS reads PGPASSWORD with the execution role, and Secrets Manager decrypts the secret with the caller's
      // permissions on its customer-managed key; kms:ViaService keeps the grant to decryption through Secrets Manager
      // (https://docs.aws.amazon.com/secretsmanager/latest/userguide/security-encryption.html). Passing the key to the
      // imported secret instead adds no statement to the role: its grant goes to an imported key's (absent) policy.
      this.taskDefinition.obtainExecutionRole().addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'DecryptPasswordSecret',
          actions: ['kms:Decrypt'],
          resources: [login.secretKeyArn],
          conditions: { StringEquals: { 'kms:ViaService': `secretsmanager.${Stack.of(this).region}.amazonaws.com` } },
        }),
      );
    }
    acknowledgeWildcardResource(
      defaultPolicyOf(this.taskDefinition.obtainExecutionRole()),
      '*',
      'ecr:GetAuthorizationToken (image pull) supports no resource-level permissions; every other statement names its resource.',
    );
    Validations.of(this.taskDefinition).acknowledge({
      id: 'AwsSolutions-ECS2',
      reason:
        'The environment holds only non-secret settings (bucket names, libpq host/port/user/database, sslmode); the database password is an ECS secret from Secrets Manager.',
    });
  }
}
