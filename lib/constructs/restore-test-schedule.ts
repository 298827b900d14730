import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { DEFAULT_PREFIX, ENV } from '../../src/contract';
import type { RestoreTestConfig } from '../config';
import { BackupSchedule } from './backup-schedule';
import { MeatbackupTask } from './meatbackup-task';
import type { TaskPlatform } from './task-platform';

/**
 * Where a cluster-mode restore test keeps its throwaway PostgreSQL cluster: a bind mount on the task's ephemeral
 * storage, also TMPDIR; the root filesystem stays read-only. container/Dockerfile declares it as a VOLUME owned by the
 * image's user: ECS fills a bind mount from the image's VOLUME of the same path (documented), and the owner carrying
 * over with it is what users of Fargate report, not something these tests can show. If the first deployed run's initdb
 * says "Permission denied" on /scratch, that is why.
 */
export const RESTORE_TEST_SCRATCH_PATH = '/scratch';

/** The restore test's container command: test the newest backup, answer in JSON (the result also goes to S3). */
export const RESTORE_TEST_COMMAND = ['restore-test', 'latest', '--json'];

export interface RestoreTestScheduleProps {
  readonly platform: TaskPlatform;
  /** The bucket holding backups/. */
  readonly bucket: s3.IBucket;
  /** Task definition family, `<name>-restore-test`; the failure alarm matches on it. */
  readonly family: string;
  readonly config: RestoreTestConfig;
}

/**
 * The weekly restore test (`meatbackup restore-test latest --json`): its own Fargate task definition on the shared
 * platform (the image's restore-test target) and an EventBridge Scheduler schedule that runs it.
 *
 * - `cluster` mode: the task starts a throwaway PostgreSQL server on its ephemeral storage. It gets no libpq settings
 *   and no password, and its own security group lets out HTTPS only: it cannot reach the production database.
 * - `scratch` mode: it connects like the backup (libpq environment, password secret, the platform's security group)
 *   and restores into a scratch database there (its role needs CREATEDB on the server).
 *
 * The stack grants its role what it does in S3 (read backups/, write `backups/*.restore-test.json`), like the backup's
 * and the restore's.
 */
export class RestoreTestSchedule extends Construct {
  readonly task: MeatbackupTask;
  readonly schedule: BackupSchedule;
  /** The task's security group: HTTPS only in cluster mode, the platform's (with the database port) in scratch mode. */
  readonly securityGroup: ec2.ISecurityGroup;

  constructor(scope: Construct, id: string, props: RestoreTestScheduleProps) {
    super(scope, id);
    const { platform, config } = props;
    const cluster = config.mode === 'cluster';

    this.task = new MeatbackupTask(this, 'Task', {
      platform,
      family: props.family,
      databaseJob: 'restoreTest',
      // Cluster mode starts a server of its own: the image with one. Scratch mode restores into the database server,
      // with the clients the backup uses.
      image: cluster ? platform.restoreTestImage : platform.image,
      command: RESTORE_TEST_COMMAND,
      cpu: config.cpu,
      memoryMiB: config.memoryMiB,
      streamPrefix: 'restore-test',
      connectsToDatabase: !cluster,
      ...(cluster ? { scratch: { path: RESTORE_TEST_SCRATCH_PATH, ephemeralStorageGiB: config.ephemeralStorageGiB } } : {}),
      environment: {
        [ENV.bucket]: props.bucket.bucketName,
        [ENV.prefix]: DEFAULT_PREFIX,
        [ENV.restoreTestMode]: config.mode,
        [ENV.restoreTestAssertions]: JSON.stringify(config.assertions),
        // Cluster mode never connects to the database, but its metric must still carry the Database dimension the
        // alarms watch, even when the run fails before a backup names it.
        ...(cluster ? { PGDATABASE: platform.databaseEnvironment.PGDATABASE } : {}),
      },
    });

    if (cluster) {
      const securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
        vpc: platform.cluster.vpc,
        description: 'meatbackup restore test (cluster mode): no inbound; HTTPS to AWS APIs only, never the database',
        allowAllOutbound: false,
      });
      securityGroup.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'HTTPS to S3, ECR, CloudWatch Logs');
      this.securityGroup = securityGroup;
    } else {
      this.securityGroup = platform.securityGroup;
    }

    this.schedule = new BackupSchedule(this, 'Schedule', {
      platform,
      task: this.task,
      taskName: 'restore test',
      description: `meatbackup restore test (${config.mode} mode): restore the newest backup and check it`,
      securityGroups: [this.securityGroup],
      expression: config.schedule.expression,
      timeZone: config.schedule.timeZone,
      enabled: config.schedule.enabled,
    });
  }
}
