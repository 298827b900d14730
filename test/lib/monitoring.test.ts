/**
 * Issue 7's stack part: the weekly restore test (task definition, role, network, schedule), the metric alarms on the
 * alarm topic, the hourly status schedule that reports the backup ages, and the dashboard.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { ENV, METRICS, TASK_CONTAINER_NAME } from '../../src/contract';
import { type AppConfigInput, ConfigError, parseConfig } from '../../lib/config';
import { RESTORE_TEST_COMMAND, RESTORE_TEST_SCRATCH_PATH } from '../../lib/constructs/restore-test-schedule';
import { REPO_ROOT, type SynthesizedTemplates, TEST_CONFIG, imageTargetOf, logicalIdOf, synthesize } from './fixture';

const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:meatdb/backup-AbC123';
const PRIMARY_BUCKET = 'meatlizard-backup-123456789012-eu-west-1';
const REPLICA_BUCKET = 'meatlizard-backup-replica-123456789012-eu-central-1';
const TOPIC = { Ref: Match.stringLikeRegexp('^FailureAlarmTopic') };

/** A resource as the Template returns it: its properties are untyped JSON. */
type Resource = ReturnType<Template['findResources']>[string];
type Json = Resource['Properties'];

function resource(template: Template, id: string): Resource {
  return (template.toJSON().Resources as Record<string, Resource>)[id];
}

function withConfig(changes: Partial<AppConfigInput>): Template {
  return synthesize({ ...TEST_CONFIG, ...changes }).primary;
}

/** The restore test's task definition, container, task role statements and execution role statements. */
function restoreTestSide(template: Template) {
  const id = logicalIdOf(template, 'AWS::ECS::TaskDefinition', { Family: 'meatlizard-backup-restore-test' });
  const definition = resource(template, id).Properties;
  const policiesOf = (roleId: string) =>
    Object.values(template.findResources('AWS::IAM::Policy', { Properties: { Roles: Match.arrayWith([{ Ref: roleId }]) } })).flatMap(
      (p) => p.Properties.PolicyDocument.Statement as Array<Record<string, unknown>>,
    );
  return {
    id,
    definition,
    container: definition.ContainerDefinitions[0] as Json,
    taskRole: definition.TaskRoleArn['Fn::GetAtt'][0] as string,
    executionRole: definition.ExecutionRoleArn['Fn::GetAtt'][0] as string,
    taskStatements: policiesOf(definition.TaskRoleArn['Fn::GetAtt'][0]),
    executionStatements: policiesOf(definition.ExecutionRoleArn['Fn::GetAtt'][0]),
  };
}

/** A CloudFormation `Fn::Join` of the dashboard body, with every token replaced by a readable placeholder, parsed. */
function dashboardBody(template: Template): { start: string; widgets: Array<{ type: string; width: number; properties: Json }> } {
  const [body] = Object.values(template.findResources('AWS::CloudWatch::Dashboard')).map((d) => d.Properties.DashboardBody);
  const [separator, parts] = body['Fn::Join'] as [string, unknown[]];
  const text = parts
    .map((part) => {
      if (typeof part === 'string') return part;
      const o = part as Record<string, unknown>;
      if (typeof o.Ref === 'string') return `{Ref ${o.Ref}}`;
      if (Array.isArray(o['Fn::GetAtt'])) return `{GetAtt ${(o['Fn::GetAtt'] as string[]).join('.')}}`;
      throw new Error(`unexpected token in the dashboard body: ${JSON.stringify(part)}`);
    })
    .join(separator);
  return JSON.parse(text);
}

describe('restore test', () => {
  // GIVEN the test configuration (restore test defaults: cluster mode, no assertions), synthesized once
  let synthesized: SynthesizedTemplates;
  let template: Template;
  let side: ReturnType<typeof restoreTestSide>;
  beforeAll(() => {
    synthesized = synthesize();
    template = synthesized.primary;
    side = restoreTestSide(template);
  });

  describe('task definition', () => {
    test('THEN it runs `restore-test latest --json` in the restore-test image (the server on top of the backup\'s), in its own family, read-only, sized for a throwaway cluster', () => {
      const backup = resource(template, logicalIdOf(template, 'AWS::ECS::TaskDefinition', { Family: 'meatlizard-backup-backup' })).Properties;
      expect(side.definition).toMatchObject({
        Family: 'meatlizard-backup-restore-test',
        Cpu: '2048',
        Memory: '8192',
        EphemeralStorage: { SizeInGiB: 50 },
        NetworkMode: 'awsvpc',
        RequiresCompatibilities: ['FARGATE'],
        Volumes: [{ Name: 'scratch' }],
      });
      expect(side.container).toMatchObject({
        Name: TASK_CONTAINER_NAME,
        Command: ['restore-test', 'latest', '--json'],
        Essential: true,
        ReadonlyRootFilesystem: true,
        StopTimeout: 120,
        MountPoints: [{ ContainerPath: '/scratch', ReadOnly: false, SourceVolume: 'scratch' }],
      });
      expect(side.container.Command).toEqual(RESTORE_TEST_COMMAND);
      expect(imageTargetOf(synthesized.app, 'meatlizard-backup-primary', side.container.Image)).toBe('restore-test');
      expect(imageTargetOf(synthesized.app, 'meatlizard-backup-primary', backup.ContainerDefinitions[0].Image)).toBe('runtime');
    });

    test('THEN in cluster mode it gets the bucket and the test settings, and nothing to reach the database with', () => {
      expect(side.container.Environment).toEqual([
        { Name: ENV.bucket, Value: { Ref: expect.stringMatching(/^BackupBucket/) } },
        { Name: ENV.prefix, Value: 'backups/' },
        { Name: ENV.restoreTestMode, Value: 'cluster' },
        { Name: ENV.restoreTestAssertions, Value: '[]' },
        // Only the name, for the metric's Database dimension: no host, user or password.
        { Name: 'PGDATABASE', Value: 'meatdb' },
        { Name: 'TMPDIR', Value: RESTORE_TEST_SCRATCH_PATH },
      ]);
      expect(side.container.Secrets).toBeUndefined();
      expect(JSON.stringify(side.executionStatements)).not.toContain('secretsmanager');
    });

    test('THEN it logs to the tasks\' log group under the restore-test prefix (the ops Lambda\'s log links use it)', () => {
      expect(side.container.LogConfiguration).toEqual({
        LogDriver: 'awslogs',
        Options: { 'awslogs-group': { Ref: expect.stringMatching(/^TasksLogs/) }, 'awslogs-stream-prefix': 'restore-test', 'awslogs-region': 'eu-west-1', mode: 'blocking' },
      });
    });

    test('THEN its role may list and read backups/, use the bucket\'s key through S3, and write only restore-test results; nothing else', () => {
      const bucketArn = { 'Fn::GetAtt': [expect.stringMatching(/^BackupBucket/), 'Arn'] };
      const throughS3 = {
        StringEquals: { 'kms:ViaService': 's3.eu-west-1.amazonaws.com' },
        StringLike: { 'kms:EncryptionContext:aws:s3:arn': [`arn:aws:s3:::${PRIMARY_BUCKET}`, `arn:aws:s3:::${PRIMARY_BUCKET}/*`] },
      };
      expect(side.taskStatements).toEqual([
        {
          Sid: 'ListBackups',
          Action: 's3:ListBucket',
          Effect: 'Allow',
          Resource: bucketArn,
          Condition: { StringLike: { 's3:prefix': ['backups/', 'backups/*'] } },
        },
        { Sid: 'ReadBackups', Action: ['s3:GetObject', 's3:GetObjectVersion'], Effect: 'Allow', Resource: { 'Fn::Join': ['', [bucketArn, '/backups/*']] } },
        // decrypt the backup, encrypt the result
        {
          Sid: 'RestoreTestUsesKey',
          Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
          Effect: 'Allow',
          Resource: { 'Fn::GetAtt': [expect.stringMatching(/^BackupKey/), 'Arn'] },
          Condition: throughS3,
        },
        { Sid: 'WriteRestoreTestResults', Action: ['s3:PutObject', 's3:PutObjectTagging'], Effect: 'Allow', Resource: { 'Fn::Join': ['', [bucketArn, '/backups/*.restore-test.json']] } },
      ]);
      // and the key's policy names the role, for the same use
      template.hasResourceProperties('AWS::KMS::Key', {
        KeyPolicy: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Sid: 'RestoreTestUsesKey',
              Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
              Condition: Match.objectLike({ ArnEquals: { 'aws:PrincipalArn': { 'Fn::GetAtt': [side.taskRole, 'Arn'] } } }),
            }),
          ]),
        },
      });
    });

    test('GIVEN SSE-S3 WHEN synthesized THEN its role has no key statement', () => {
      const s = restoreTestSide(withConfig({ encryption: 's3' }));
      expect(s.taskStatements.map((st) => st.Sid)).toEqual(['ListBackups', 'ReadBackups', 'WriteRestoreTestResults']);
    });

    test('THEN its own security group lets out HTTPS only: no PostgreSQL to the database', () => {
      template.hasResourceProperties('AWS::EC2::SecurityGroup', {
        GroupDescription: Match.stringLikeRegexp('^meatbackup restore test \\(cluster mode\\)'),
        SecurityGroupIngress: Match.absent(),
        SecurityGroupEgress: [{ CidrIp: '0.0.0.0/0', IpProtocol: 'tcp', FromPort: 443, ToPort: 443, Description: Match.anyValue() }],
      });
    });

    test('THEN the image declares the scratch path as a volume and installs a PostgreSQL server as new as every client', () => {
      // GIVEN the Dockerfile the image is built from
      const dockerfile = readFileSync(join(REPO_ROOT, 'container', 'Dockerfile'), 'utf8');
      // THEN
      expect(dockerfile).toContain(`VOLUME ["${RESTORE_TEST_SCRATCH_PATH}"]`);
      expect(dockerfile).toContain(`install -d -o node -g node -m 0700 ${RESTORE_TEST_SCRATCH_PATH}`);
      const majors = (name: string) => (new RegExp(`^ARG ${name}="([0-9 ]+)"$`, 'm').exec(dockerfile)?.[1] ?? '').split(' ').map(Number);
      // a dump loads into its own major or newer: the newest server must be at least the newest pg_dump the image has
      expect(Math.max(...majors('PG_SERVER_MAJORS'))).toBeGreaterThanOrEqual(Math.max(...majors('PG_MAJORS')));
      expect(dockerfile).toMatch(/packages="\$packages postgresql-\$major"/);
      expect(dockerfile).toContain('create_main_cluster = false');
      // extensions outside contrib that a restore test's cluster can load: pgvector at least, for every server major
      expect(/^ARG PG_SERVER_EXTENSIONS="([a-z0-9 -]+)"$/m.exec(dockerfile)?.[1].split(' ')).toContain('pgvector');
      expect(dockerfile).toMatch(/for ext in \$PG_SERVER_EXTENSIONS; do packages="\$packages postgresql-\$major-\$ext"/);
    });
  });

  describe('schedule', () => {
    test('THEN EventBridge Scheduler runs the restore-test task on Fargate on Sundays 05:00 UTC, in its own security group', () => {
      template.hasResourceProperties('AWS::Scheduler::Schedule', {
        ScheduleExpression: 'cron(0 5 ? * SUN *)',
        ScheduleExpressionTimezone: 'UTC',
        State: 'ENABLED',
        FlexibleTimeWindow: { Mode: 'OFF' },
        Target: {
          Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^TasksCluster'), 'Arn'] },
          RoleArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^RestoreTestScheduleRole'), 'Arn'] },
          EcsParameters: Match.objectLike({
            TaskDefinitionArn: { Ref: side.id },
            LaunchType: 'FARGATE',
            NetworkConfiguration: {
              AwsvpcConfiguration: {
                AssignPublicIp: 'DISABLED',
                SecurityGroups: [{ 'Fn::GetAtt': [Match.stringLikeRegexp('^RestoreTestSecurityGroup'), 'GroupId'] }],
                Subnets: Match.anyValue(),
              },
            },
          }),
          // the command is the task definition's: no overrides
          Input: Match.absent(),
        },
      });
    });

    test('THEN the scheduler\'s role may only run the restore-test task and pass its roles', () => {
      template.hasResourceProperties('AWS::IAM::Policy', {
        Roles: [{ Ref: Match.stringLikeRegexp('^RestoreTestScheduleRole') }],
        PolicyDocument: {
          Statement: [
            {
              Action: 'iam:PassRole',
              Effect: 'Allow',
              Condition: { StringLike: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
              Resource: [{ 'Fn::GetAtt': [side.executionRole, 'Arn'] }, { 'Fn::GetAtt': [side.taskRole, 'Arn'] }],
            },
            { Action: 'ecs:RunTask', Effect: 'Allow', Resource: { Ref: side.id } },
            { Action: 'ecs:TagResource', Effect: 'Allow', Resource: Match.anyValue() },
          ],
        },
      });
    });

    test('THEN the ops Lambda knows the restore-test task definition, for status', () => {
      template.hasResourceProperties('AWS::Lambda::Function', {
        Runtime: 'nodejs22.x',
        Environment: { Variables: Match.objectLike({ [ENV.restoreTestTaskDefinition]: { Ref: side.id } }) },
      });
      template.hasOutput('RestoreTestTaskDefinitionArn', { Value: { Ref: side.id } });
    });
  });

  test('GIVEN scratch mode WHEN synthesized THEN it connects like the backup (libpq settings, password secret, the tasks\' security group, the backup\'s image) and needs no scratch storage', () => {
    // WHEN
    const synthesizedScratch = synthesize({ ...TEST_CONFIG, restoreTest: { mode: 'scratch' } });
    const scratch = synthesizedScratch.primary;
    // THEN
    const s = restoreTestSide(scratch);
    // the backup's image: it restores into the database server with the same clients, and no server image is built
    expect(imageTargetOf(synthesizedScratch.app, 'meatlizard-backup-primary', s.container.Image)).toBe('runtime');
    const assets = JSON.parse(readFileSync(join(synthesizedScratch.app.outdir, 'meatlizard-backup-primary.assets.json'), 'utf8'));
    expect(Object.values(assets.dockerImages).map((a) => (a as { source: { dockerBuildTarget: string } }).source.dockerBuildTarget)).toEqual(['runtime']);
    expect(s.container.Environment).toEqual(
      expect.arrayContaining([
        { Name: 'PGHOST', Value: 'meatdb.cluster-abc.eu-west-1.rds.amazonaws.com' },
        { Name: 'PGDATABASE', Value: 'meatdb' },
        { Name: ENV.restoreTestMode, Value: 'scratch' },
      ]),
    );
    expect(s.container.Environment.map((e: { Name: string }) => e.Name)).not.toContain('TMPDIR');
    expect(s.container.Secrets).toEqual([{ Name: 'PGPASSWORD', ValueFrom: `${SECRET_ARN}:password::` }]);
    expect(s.definition.EphemeralStorage).toBeUndefined();
    expect(s.definition.Volumes).toBeUndefined();
    scratch.resourcePropertiesCountIs('AWS::EC2::SecurityGroup', { GroupDescription: Match.stringLikeRegexp('^meatbackup restore test') }, 0);
    scratch.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(0 5 ? * SUN *)',
      Target: {
        EcsParameters: Match.objectLike({
          NetworkConfiguration: { AwsvpcConfiguration: Match.objectLike({ SecurityGroups: [{ 'Fn::GetAtt': [Match.stringLikeRegexp('^TasksSecurityGroup'), 'GroupId'] }] }) },
        }),
      },
    });
  });

  test('GIVEN assertions, a schedule and a size WHEN synthesized THEN the task and schedule carry them', () => {
    // WHEN
    const custom = withConfig({
      restoreTest: {
        assertions: ['select count(*) > 0 from users', "select exists (select 1 from sessions where created_at > now() - interval '2 days')"],
        schedule: { expression: 'cron(30 4 ? * SAT *)', timeZone: 'Europe/Berlin', enabled: false },
        cpu: 4096,
        memoryMiB: 16384,
        ephemeralStorageGiB: 120,
      },
    });
    // THEN
    const s = restoreTestSide(custom);
    expect(JSON.parse(s.container.Environment.find((e: { Name: string }) => e.Name === ENV.restoreTestAssertions).Value)).toEqual([
      'select count(*) > 0 from users',
      "select exists (select 1 from sessions where created_at > now() - interval '2 days')",
    ]);
    expect(s.definition).toMatchObject({ Cpu: '4096', Memory: '16384', EphemeralStorage: { SizeInGiB: 120 } });
    custom.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(30 4 ? * SAT *)',
      ScheduleExpressionTimezone: 'Europe/Berlin',
      State: 'DISABLED',
      Target: { EcsParameters: Match.objectLike({ TaskDefinitionArn: { Ref: s.id } }) },
    });
  });
});

describe('alarms', () => {
  // GIVEN the test configuration (alarm defaults), synthesized once
  let template: Template;
  let alarms: Record<string, Json>;
  beforeAll(() => {
    template = synthesize().primary;
    alarms = Object.fromEntries(
      Object.values(template.findResources('AWS::CloudWatch::Alarm')).map((a) => [a.Properties.AlarmName as string, a.Properties as Json]),
    );
  });

  const database = [{ Name: METRICS.dimensionDatabase, Value: 'meatdb' }];

  test('THEN there are exactly the six alarms, each publishing to the alarm topic on ALARM and on OK', () => {
    expect(Object.keys(alarms).sort()).toEqual([
      'meatlizard-backup-no-recent-restore-test',
      'meatlizard-backup-no-successful-backup',
      'meatlizard-backup-replication-failed-replicate-everything',
      'meatlizard-backup-replication-latency-replicate-everything',
      'meatlizard-backup-restore-test-cannot-run',
      'meatlizard-backup-restore-test-failed',
    ]);
    const topic = [{ Ref: expect.stringMatching(/^FailureAlarmTopic/) }];
    for (const [name, a] of Object.entries(alarms)) {
      expect({ name, AlarmActions: a.AlarmActions, OKActions: a.OKActions }).toEqual({ name, AlarmActions: topic, OKActions: topic });
      expect(a.AlarmDescription.length).toBeGreaterThan(60);
    }
  });

  test('THEN no successful backup in 26 hours: BackupSuccess Sum per hour below 1 in all 26 hours, missing data breaching', () => {
    expect(alarms['meatlizard-backup-no-successful-backup']).toMatchObject({
      Namespace: 'MeatLizard/Backup',
      MetricName: METRICS.backupSuccess,
      Dimensions: database,
      Statistic: 'Sum',
      Period: 3600,
      Threshold: 1,
      ComparisonOperator: 'LessThanThreshold',
      EvaluationPeriods: 26,
      DatapointsToAlarm: 26,
      TreatMissingData: 'breaching',
    });
  });

  test('THEN a failed restore test: RestoreTestSuccess Minimum per day below 1, missing data not breaching', () => {
    expect(alarms['meatlizard-backup-restore-test-failed']).toMatchObject({
      Namespace: 'MeatLizard/Backup',
      MetricName: METRICS.restoreTestSuccess,
      Dimensions: database,
      Statistic: 'Minimum',
      Period: 86400,
      Threshold: 1,
      ComparisonOperator: 'LessThanThreshold',
      EvaluationPeriods: 1,
      DatapointsToAlarm: 1,
      TreatMissingData: 'notBreaching',
    });
  });

  test('THEN a restore test that cannot run here: RestoreTestCannotTest Maximum per day at least 1, apart from the failed-test alarm', () => {
    expect(alarms['meatlizard-backup-restore-test-cannot-run']).toMatchObject({
      Namespace: 'MeatLizard/Backup',
      MetricName: METRICS.restoreTestCannotTest,
      Dimensions: database,
      Statistic: 'Maximum',
      Period: 86400,
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      EvaluationPeriods: 1,
      DatapointsToAlarm: 1,
      TreatMissingData: 'notBreaching',
    });
    expect(alarms['meatlizard-backup-restore-test-cannot-run'].AlarmDescription).toMatch(/says nothing against the backup/);
  });

  test('THEN no restore test in 8 days: RestoreTestAgeSeconds Maximum per hour above 8 days in 2 of 2 hours, missing data breaching', () => {
    expect(alarms['meatlizard-backup-no-recent-restore-test']).toMatchObject({
      Namespace: 'MeatLizard/Backup',
      MetricName: METRICS.restoreTestAgeSeconds,
      Dimensions: database,
      Statistic: 'Maximum',
      Period: 3600,
      Threshold: 8 * 86_400,
      ComparisonOperator: 'GreaterThanThreshold',
      EvaluationPeriods: 2,
      DatapointsToAlarm: 2,
      TreatMissingData: 'breaching',
    });
  });

  test('THEN S3 replication: failed operations above 0 and latency above 900 s per 5 minutes, for the rule the bucket replicates with', () => {
    // GIVEN the replication rule id the primary bucket renders
    const [bucket] = Object.values(template.findResources('AWS::S3::Bucket', { Properties: { ReplicationConfiguration: Match.anyValue() } }));
    const ruleIds = (bucket.Properties.ReplicationConfiguration.Rules as Array<{ Id: string }>).map((r) => r.Id);
    expect(ruleIds).toEqual(['replicate-everything']);
    const dimensions = [
      { Name: 'DestinationBucket', Value: REPLICA_BUCKET },
      { Name: 'RuleId', Value: ruleIds[0] },
      { Name: 'SourceBucket', Value: { Ref: expect.stringMatching(/^BackupBucket/) } },
    ];
    // THEN
    expect(alarms['meatlizard-backup-replication-failed-replicate-everything']).toMatchObject({
      Namespace: 'AWS/S3',
      MetricName: 'OperationsFailedReplication',
      Statistic: 'Sum',
      Period: 300,
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
      EvaluationPeriods: 1,
      DatapointsToAlarm: 1,
      TreatMissingData: 'notBreaching',
    });
    expect(alarms['meatlizard-backup-replication-failed-replicate-everything'].Dimensions).toEqual(dimensions);
    expect(alarms['meatlizard-backup-replication-latency-replicate-everything']).toMatchObject({
      Namespace: 'AWS/S3',
      MetricName: 'ReplicationLatency',
      Statistic: 'Maximum',
      Period: 300,
      Threshold: 900,
      ComparisonOperator: 'GreaterThanThreshold',
      EvaluationPeriods: 1,
      DatapointsToAlarm: 1,
      TreatMissingData: 'notBreaching',
    });
    expect(alarms['meatlizard-backup-replication-latency-replicate-everything'].Dimensions).toEqual(dimensions);
  });

  test('THEN every alarm stays within what PutMetricAlarm accepts: at most 7 days of periods, 1 day for periods under an hour', () => {
    for (const [name, a] of Object.entries(alarms)) {
      const range = a.Period * a.EvaluationPeriods;
      expect({ name, withinLimit: range <= (a.Period < 3600 ? 86_400 : 604_800) }).toEqual({ name, withinLimit: true });
      expect({ name, datapoints: a.DatapointsToAlarm <= a.EvaluationPeriods }).toEqual({ name, datapoints: true });
    }
  });

  test('THEN CloudWatch may publish to the topic for this account\'s meatbackup alarms only, and use its key', () => {
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          {
            Sid: 'CloudWatchAlarmsPublish',
            Effect: 'Allow',
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: 'sns:Publish',
            Resource: TOPIC,
            Condition: {
              StringEquals: { 'aws:SourceAccount': '123456789012' },
              ArnLike: { 'aws:SourceArn': 'arn:aws:cloudwatch:eu-west-1:123456789012:alarm:meatlizard-backup-*' },
            },
          },
        ]),
      },
    });
    template.hasResourceProperties('AWS::KMS::Key', {
      KeyPolicy: {
        Statement: Match.arrayWith([
          { Sid: 'CloudWatchAlarmsUseKey', Effect: 'Allow', Principal: { Service: 'cloudwatch.amazonaws.com' }, Action: ['kms:Decrypt', 'kms:GenerateDataKey*'], Resource: '*' },
        ]),
      },
    });
  });

  test('GIVEN other thresholds and no OK notifications WHEN synthesized THEN the alarms use them', () => {
    // WHEN
    const custom = withConfig({ alarms: { backupMaxAgeHours: 50, restoreTestMaxAgeDays: 15, replicationLatencySeconds: 1800, notifyOnOk: false } });
    // THEN
    const byName: Record<string, Record<string, unknown>> = Object.fromEntries(
      Object.values(custom.findResources('AWS::CloudWatch::Alarm')).map((a) => [a.Properties.AlarmName, a.Properties]),
    );
    expect(byName['meatlizard-backup-no-successful-backup']).toMatchObject({ EvaluationPeriods: 50, DatapointsToAlarm: 50, Period: 3600 });
    expect(byName['meatlizard-backup-no-recent-restore-test']).toMatchObject({ Threshold: 15 * 86_400 });
    expect(byName['meatlizard-backup-replication-latency-replicate-everything']).toMatchObject({ Threshold: 1800 });
    for (const a of Object.values(byName)) expect(a.OKActions).toBeUndefined();
  });
});

describe('hourly status', () => {
  test('THEN EventBridge Scheduler invokes the ops Lambda with {"action": "status"} every hour, with a role that may invoke only it', () => {
    // GIVEN
    const template = synthesize().primary;
    const fn = logicalIdOf(template, 'AWS::Lambda::Function', { Runtime: 'nodejs22.x' });
    // THEN
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'rate(1 hour)',
      State: 'ENABLED',
      Target: {
        Arn: { 'Fn::GetAtt': [fn, 'Arn'] },
        Input: JSON.stringify({ action: 'status' }),
        RoleArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^StatusScheduleRole'), 'Arn'] },
        RetryPolicy: Match.anyValue(),
      },
    });
    template.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: Match.stringLikeRegexp('^StatusScheduleRole') }],
      PolicyDocument: {
        Statement: [
          {
            Action: 'lambda:InvokeFunction',
            Effect: 'Allow',
            Resource: [{ 'Fn::GetAtt': [fn, 'Arn'] }, { 'Fn::Join': ['', [{ 'Fn::GetAtt': [fn, 'Arn'] }, ':*']] }],
          },
        ],
      },
    });
  });
});

describe('dashboard', () => {
  // GIVEN the dashboard body, tokens replaced by placeholders
  let template: Template;
  let body: ReturnType<typeof dashboardBody>;
  beforeAll(() => {
    template = synthesize().primary;
    body = dashboardBody(template);
  });

  /** The metric rows of the widget titled `title`. */
  function metricsOf(title: string): unknown[][] {
    const widget = body.widgets.find((w) => w.properties.title === title);
    if (!widget) throw new Error(`no widget titled ${title}`);
    return widget.properties.metrics;
  }

  test('THEN it is named after the configuration, shows two weeks, and has these widgets in this order', () => {
    template.hasResourceProperties('AWS::CloudWatch::Dashboard', { DashboardName: 'meatlizard-backup' });
    expect(body.start).toBe('-P14D');
    expect(body.widgets.map((w) => [w.type, w.properties.title ?? '(text)'])).toEqual([
      ['text', '(text)'],
      ['alarm', 'Alarms'],
      ['metric', 'Newest backup age (hours)'],
      ['log', 'Newest successful backups (task log)'],
      ['metric', 'Backup size (bytes stored)'],
      ['metric', 'Backup duration (seconds)'],
      ['metric', 'Backups per day'],
      ['metric', 'Restore test results (1 = passed, 0 = failed)'],
      ['metric', 'Days since the newest restore test'],
      ['metric', 'S3 replication latency (seconds)'],
      ['metric', 'S3 replication: failed operations'],
    ]);
  });

  test('THEN the alarm widget shows every alarm', () => {
    const alarmIds = Object.keys(template.findResources('AWS::CloudWatch::Alarm')).sort();
    const widget = body.widgets.find((w) => w.type === 'alarm')!;
    expect((widget.properties.alarms as string[]).map((a) => /^\{GetAtt (.*)\.Arn\}$/.exec(a)?.[1]).sort()).toEqual(alarmIds);
  });

  test('THEN backup size and duration are the runners\' BackupBytes and BackupSeconds per day, and failures are runs minus successes', () => {
    expect(metricsOf('Backup size (bytes stored)')).toEqual([['MeatLizard/Backup', 'BackupBytes', 'Database', 'meatdb', expect.objectContaining({ stat: 'Maximum', period: 86400 })]]);
    expect(metricsOf('Backup duration (seconds)')).toEqual([['MeatLizard/Backup', 'BackupSeconds', 'Database', 'meatdb', expect.objectContaining({ stat: 'Maximum', period: 86400 })]]);
    expect(metricsOf('Backups per day')).toEqual([
      ['MeatLizard/Backup', 'BackupSuccess', 'Database', 'meatdb', expect.objectContaining({ id: 'succeeded', stat: 'Sum' })],
      [expect.objectContaining({ expression: 'runs - succeeded', label: 'failed' })],
      ['MeatLizard/Backup', 'BackupSuccess', 'Database', 'meatdb', expect.objectContaining({ id: 'runs', stat: 'SampleCount', visible: false })],
    ]);
  });

  test('THEN the newest backup\'s age is the status metric in hours, and the task log shows the newest successful backups', () => {
    expect(metricsOf('Newest backup age (hours)')).toEqual([
      [expect.objectContaining({ expression: 'age / 3600' })],
      ['MeatLizard/Backup', METRICS.newestBackupAgeSeconds, 'Database', 'meatdb', expect.objectContaining({ id: 'age', stat: 'Maximum', period: 3600 })],
    ]);
    // the tasks' log group, where the backup task's EMF records land
    const backupTask = resource(template, logicalIdOf(template, 'AWS::ECS::TaskDefinition', { Family: 'meatlizard-backup-backup' })).Properties;
    const logGroup = backupTask.ContainerDefinitions[0].LogConfiguration.Options['awslogs-group'].Ref;
    const log = body.widgets.find((w) => w.type === 'log')!;
    expect(log.properties.view).toBe('table');
    expect(log.properties.query).toBe(
      `SOURCE '{Ref ${logGroup}}' | fields @timestamp, Database, BackupBytes, BackupSeconds\n` +
        '| filter event = "backup" and BackupSuccess = 1 and Database = "meatdb"\n| sort @timestamp desc\n| limit 5',
    );
  });

  test('THEN restore tests show their result, duration and age against the alarm threshold', () => {
    expect(metricsOf('Restore test results (1 = passed, 0 = failed)')).toEqual([
      ['MeatLizard/Backup', METRICS.restoreTestSuccess, 'Database', 'meatdb', expect.objectContaining({ stat: 'Minimum', period: 86400 })],
      ['MeatLizard/Backup', METRICS.restoreTestSeconds, 'Database', 'meatdb', expect.objectContaining({ stat: 'Maximum', yAxis: 'right' })],
    ]);
    expect(metricsOf('Days since the newest restore test')).toEqual([
      [expect.objectContaining({ expression: 'age / 86400' })],
      ['MeatLizard/Backup', METRICS.restoreTestAgeSeconds, 'Database', 'meatdb', expect.objectContaining({ id: 'age', stat: 'Maximum' })],
    ]);
    const age = body.widgets.find((w) => w.properties.title === 'Days since the newest restore test')!;
    expect(age.properties.annotations.horizontal).toEqual([expect.objectContaining({ value: 8, label: 'alarm' })]);
  });

  test('THEN replication latency and failed operations are S3\'s metrics for the replication rule', () => {
    const dims = ['DestinationBucket', REPLICA_BUCKET, 'RuleId', 'replicate-everything', 'SourceBucket', expect.stringMatching(/^\{Ref BackupBucket/)];
    // (no period: the dashboard's default, 5 minutes, as the alarms)
    expect(metricsOf('S3 replication latency (seconds)')).toEqual([['AWS/S3', 'ReplicationLatency', ...dims, { label: 'latency (replicate-everything)', stat: 'Maximum' }]]);
    expect(metricsOf('S3 replication: failed operations')).toEqual([['AWS/S3', 'OperationsFailedReplication', ...dims, { label: 'failed operations (replicate-everything)', stat: 'Sum' }]]);
    const latency = body.widgets.find((w) => w.properties.title === 'S3 replication latency (seconds)')!;
    expect(latency.properties.annotations.horizontal).toEqual([expect.objectContaining({ value: 900, label: 'alarm' })]);
  });
});

describe('configuration of the restore test and the alarms', () => {
  function configError(changes: Record<string, unknown>): string {
    try {
      parseConfig({ ...TEST_CONFIG, ...changes }, 'test');
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return (err as Error).message;
    }
    throw new Error(`configuration was accepted: ${JSON.stringify(changes)}`);
  }

  test.each([
    [{ restoreTest: { mode: 'live' } }, 'config.restoreTest.mode:'],
    [{ restoreTest: { assertions: ['  '] } }, 'config.restoreTest.assertions.0: must not be empty'],
    [{ restoreTest: { assertions: 'select 1' } }, 'config.restoreTest.assertions:'],
    [{ restoreTest: { cpu: 2048, memoryMiB: 2048 } }, 'config.restoreTest.memoryMiB: Fargate with cpu 2048 allows 4096-16384 MiB in steps of 1024, got 2048'],
    [{ restoreTest: { ephemeralStorageGiB: 20 } }, 'config.restoreTest.ephemeralStorageGiB:'],
    [{ restoreTest: { schedule: { expression: 'weekly' } } }, 'config.restoreTest.schedule.expression:'],
    [{ alarms: { backupMaxAgeHours: 169 } }, 'config.alarms.backupMaxAgeHours:'],
    [{ alarms: { restoreTestMaxAgeDays: 1 } }, 'config.alarms.restoreTestMaxAgeDays:'],
    [{ alarms: { replicationLatency: 900 } }, 'config.alarms.replicationLatency: is not a known setting'],
  ])('GIVEN %j WHEN parsed THEN it is refused naming the field', (changes, message) => {
    expect(configError(changes)).toContain(message);
  });
});
