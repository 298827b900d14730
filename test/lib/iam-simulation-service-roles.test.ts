/**
 * IAM, simulated, for the roles AWS services use on the stacks' behalf, which no command of ours runs and so
 * iam-simulation.test.ts cannot record: EventBridge Scheduler starting the tasks and invoking the ops function, ECS
 * pulling the image, reading the password and shipping logs with the execution roles, S3 Replication with its role on
 * both keys, the chat channel's role and guardrail, and EventBridge and CloudWatch publishing to the KMS-encrypted
 * topics. The calls each service makes are read from the synthesized templates (which task definition a schedule
 * names, which secret a container reads, which topic a rule or alarm targets), mapped to what AWS authorizes as the
 * documentation pages cited beside each says, and simulated against the role's policies and the resource's own policy
 * (bucket, key, topic). Then what each must be denied, the access-log buckets among them.
 */
import { parseConfig } from '../../lib/config';
import { stackNames } from '../../lib/naming';
import { ENV, promotedBucketPattern } from '../../src/contract';
import type { Need } from '../support/iam/authorizations';
import { type PolicyWorld, type Principal, simulate } from '../support/iam/simulate';
import { type Json, type KeyModel, type StackModel, bucketsOf, functionOf, keysOf, resourcesOfType, roleModel, stackModel, taskDefinitions, topicsOf } from '../support/iam/templates';
import { TEST_CHAT_CONFIG, synthesize } from './fixture';

// The password secret encrypted with a customer-managed key, so the execution roles' key use is simulated too.
const SECRET_KEY_ARN = 'arn:aws:kms:eu-west-1:123456789012:key/0a1b2c3d-1111-2222-3333-444455556666';
const input = { ...TEST_CHAT_CONFIG, database: { ...TEST_CHAT_CONFIG.database!, passwordSecretKmsKeyArn: SECRET_KEY_ARN } };
const config = parseConfig(input, 'test');
const ACCOUNT = config.account!;
const templates = synthesize(input);
const names = stackNames(config);
const primary: StackModel = stackModel('primary', templates.primary.toJSON() as never, config.primaryRegion, ACCOUNT, names.primary);
const replica: StackModel = stackModel('replica', templates.replica.toJSON() as never, config.replicaRegion, ACCOUNT, names.replica);

/**
 * The secret's key is the operator's, outside the stacks: modelled with the default key policy (the account's IAM
 * policies decide, https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html).
 */
const secretKey: KeyModel = {
  stack: primary,
  arn: SECRET_KEY_ARN,
  aliases: [],
  policy: { Version: '2012-10-17', Statement: [{ Sid: 'Enable IAM User Permissions', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` }, Action: 'kms:*', Resource: '*' }] },
};
const world: PolicyWorld = {
  account: ACCOUNT,
  buckets: [...bucketsOf(primary), ...bucketsOf(replica)],
  keys: [...keysOf(primary), ...keysOf(replica), secretKey],
  topics: [...topicsOf(primary), ...topicsOf(replica)],
};

const props = (stack: StackModel, id: string) => stack.resolve(stack.resources[id].Properties as Json) as Record<string, Json>;
const roleByArn = (stack: StackModel, arn: string, name: string): Principal => {
  const id = resourcesOfType(stack, 'AWS::IAM::Role').find((r) => stack.getAtt(r, 'Arn') === arn);
  if (!id) throw new Error(`${stack.name}: no role ${arn}`);
  const model = roleModel(stack, id);
  return { name, arn: model.arn, policies: model.policies };
};
const service = (principal: string): Principal => ({ name: principal, arn: principal, policies: [] });

/** One line per need the principal is denied: what, on what, and why. */
async function denied(who: Principal, needs: Need[]): Promise<string[]> {
  const out: string[] = [];
  for (const need of needs) {
    const v = await simulate(world, who, need);
    if (!v.allowed) out.push(`${who.name}: ${need.action} on ${need.resource}${need.why ? ` (${need.why})` : ''}: ${v.result}${v.reasons ? `, ${v.reasons}` : ''}`);
  }
  return out;
}
/** One line per need the principal is allowed (for what must be denied). */
async function allowed(who: Principal, needs: Need[]): Promise<string[]> {
  const out: string[] = [];
  for (const need of needs) if ((await simulate(world, who, need)).allowed) out.push(`${who.name}: ${need.action} on ${need.resource}`);
  return out;
}

const tasks = taskDefinitions(primary);
const opsFunction = functionOf(primary, 'ops function', (p) => JSON.stringify(p.Environment ?? {}).includes(ENV.backupTaskDefinition));
const PRIMARY_BUCKET = opsFunction.environment[ENV.bucket];
const REPLICA_BUCKET = opsFunction.environment[ENV.replicaBucket];
const backupObject = (bucket: string) => `arn:aws:s3:::${bucket}/backups/meatdb-2025-09-17T10:30:00.sql.gz`;

describe('EventBridge Scheduler: each schedule\'s role starts its own target and nothing else', () => {
  const schedules = resourcesOfType(primary, 'AWS::Scheduler::Schedule').map((id) => ({ id, target: props(primary, id).Target as Record<string, Json> }));

  /**
   * An ECS target: RunTask of the task definition in the target's cluster, PassRole of its task and execution roles
   * to ECS, and TagResource of the task it creates when tags are propagated
   * (https://docs.aws.amazon.com/scheduler/latest/UserGuide/setting-up.html#setting-up-execution-role,
   * https://docs.aws.amazon.com/AmazonECS/latest/developerguide/supported-iam-actions-tagging.html).
   * A Lambda target: InvokeFunction of that function.
   */
  function scheduleNeeds(target: Record<string, Json>): Need[] {
    const ecs = target.EcsParameters as Record<string, Json> | undefined;
    if (!ecs) return [{ action: 'lambda:InvokeFunction', resource: String(target.Arn), context: {} }];
    const td = tasks.find((t) => t.arn === ecs.TaskDefinitionArn);
    if (!td) throw new Error(`schedule runs ${String(ecs.TaskDefinitionArn)}, which is no task definition of the stack`);
    const cluster = String(target.Arn);
    const needs: Need[] = [
      { action: 'ecs:RunTask', resource: td.arn, context: { 'ecs:cluster': cluster } },
      ...[td.taskRoleArn, td.executionRoleArn].map((role) => ({ action: 'iam:PassRole', resource: role, context: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } })),
    ];
    if (ecs.PropagateTags || ecs.Tags) {
      needs.push({ action: 'ecs:TagResource', resource: `${cluster.replace(':cluster/', ':task/')}/0123456789abcdef0123456789abcdef`, context: { 'ecs:CreateAction': 'RunTask' } });
    }
    return needs;
  }

  test('GIVEN the three schedules (backup, restore test, status) THEN each role may make every call its target needs', async () => {
    expect(schedules.map((s) => (s.target.EcsParameters ? 'ecs' : 'lambda')).sort()).toEqual(['ecs', 'ecs', 'lambda']);
    for (const s of schedules) {
      const role = roleByArn(primary, String(s.target.RoleArn), `schedule role of ${s.id}`);
      expect(await denied(role, scheduleNeeds(s.target))).toEqual([]);
    }
  });

  test('GIVEN a schedule\'s role THEN it may not start another task definition, pass another role or invoke another function', async () => {
    const others = (own: Record<string, Json>): Need[] => {
      const ownTd = (own.EcsParameters as Record<string, Json> | undefined)?.TaskDefinitionArn;
      return [
        ...tasks.filter((t) => t.arn !== ownTd).map((t) => ({ action: 'ecs:RunTask', resource: t.arn, context: { 'ecs:cluster': String(own.Arn) } })),
        { action: 'iam:PassRole', resource: opsFunction.role.arn, context: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
        { action: 'lambda:InvokeFunction', resource: `arn:aws:lambda:${config.primaryRegion}:${ACCOUNT}:function:${config.name}-promote`, context: {} },
        { action: 's3:GetObject', resource: backupObject(PRIMARY_BUCKET), context: {} },
      ];
    };
    for (const s of schedules) {
      const role = roleByArn(primary, String(s.target.RoleArn), `schedule role of ${s.id}`);
      expect(await allowed(role, others(s.target))).toEqual([]);
    }
  });
});

describe('ECS task execution roles: pull the image, read the password, ship the logs', () => {
  /**
   * What ECS does with the execution role before the container starts
   * (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_execution_IAM_role.html): an ECR token and the
   * image's layers from its repository, each Secrets Manager secret the container names (kms:Decrypt through Secrets
   * Manager when the secret has a customer-managed key,
   * https://docs.aws.amazon.com/AmazonECS/latest/developerguide/secrets-envvar-secrets-manager.html), and the awslogs
   * driver's stream in the log group.
   */
  function executionNeeds(tdId: string): Need[] {
    const td = props(primary, tdId);
    const container = (td.ContainerDefinitions as Array<Record<string, Json>>)[0];
    const image = /^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com\/([^:@]+)/.exec(String(container.Image));
    if (!image) throw new Error(`${tdId}: image ${String(container.Image)} is not in ECR`);
    const repository = `arn:aws:ecr:${image[2]}:${image[1]}:repository/${image[3]}`;
    const logs = (container.LogConfiguration as { Options: Record<string, string> }).Options;
    const stream = `arn:aws:logs:${logs['awslogs-region']}:${ACCOUNT}:log-group:${logs['awslogs-group']}:log-stream:${logs['awslogs-stream-prefix']}/${String(container.Name)}/0123456789abcdef`;
    const secrets = ((container.Secrets as Array<{ ValueFrom: string }> | undefined) ?? []).map((s) => s.ValueFrom.split(':').slice(0, 7).join(':'));
    return [
      { action: 'ecr:GetAuthorizationToken', resource: '*', context: {} },
      ...['ecr:BatchCheckLayerAvailability', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchGetImage'].map((action) => ({ action, resource: repository, context: {} })),
      ...['logs:CreateLogStream', 'logs:PutLogEvents'].map((action) => ({ action, resource: stream, context: {} })),
      ...secrets.map((secret) => ({ action: 'secretsmanager:GetSecretValue', resource: secret, context: {} })),
      ...(secrets.length > 0
        ? [{ action: 'kms:Decrypt', resource: SECRET_KEY_ARN, context: { 'kms:ViaService': `secretsmanager.${config.primaryRegion}.amazonaws.com` }, why: 'the secret is encrypted with a customer-managed key' }]
        : []),
    ];
  }

  const taskDefinitionIds = resourcesOfType(primary, 'AWS::ECS::TaskDefinition');

  test.each(taskDefinitionIds)('GIVEN task definition %s THEN its execution role may make every call ECS makes to start it', async (tdId) => {
    const role = roleByArn(primary, String(props(primary, tdId).ExecutionRoleArn), `execution role of ${tdId}`);
    expect(await denied(role, executionNeeds(tdId))).toEqual([]);
  });

  test.each(taskDefinitionIds)('GIVEN task definition %s THEN its execution role reads no backup, no other secret, and uses the key only through Secrets Manager', async (tdId) => {
    const role = roleByArn(primary, String(props(primary, tdId).ExecutionRoleArn), `execution role of ${tdId}`);
    expect(
      await allowed(role, [
        { action: 's3:GetObject', resource: backupObject(PRIMARY_BUCKET), context: {} },
        { action: 'secretsmanager:GetSecretValue', resource: `arn:aws:secretsmanager:${config.primaryRegion}:${ACCOUNT}:secret:other-AbC123`, context: {} },
        { action: 'kms:Decrypt', resource: SECRET_KEY_ARN, context: { 'kms:ViaService': `s3.${config.primaryRegion}.amazonaws.com` } },
      ]),
    ).toEqual([]);
  });
});

describe('S3 Replication: the replication role on both buckets and both keys', () => {
  const primaryBucket = world.buckets.find((b) => b.name === PRIMARY_BUCKET)!;
  const replicaBucket = world.buckets.find((b) => b.name === REPLICA_BUCKET)!;
  const replication = props(primary, resourcesOfType(primary, 'AWS::S3::Bucket', (p) => p.BucketName === PRIMARY_BUCKET)[0]).ReplicationConfiguration as { Role: string };
  const role = () => roleByArn(primary, replication.Role, 'replication role');
  const source = `${primaryBucket.arn}/backups/meatdb-2025-09-17T10:30:00.sql.gz`;
  const target = `${replicaBucket.arn}/backups/meatdb-2025-09-17T10:30:00.sql.gz`;

  /**
   * What S3 Replication does as the role, for SSE-KMS objects with Object Lock
   * (https://docs.aws.amazon.com/AmazonS3/latest/userguide/setting-repl-config-perm-overview.html,
   * https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-config-for-kms-objects.html,
   * https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lock-managing.html#object-lock-managing-replication):
   * the source's configuration and versions (with tags, ACL, retention and legal hold), the source key to decrypt
   * through S3 in the source region, the replica key to encrypt through S3 in the replica's region.
   */
  test('GIVEN a backup in the primary THEN the replication role may read it, decrypt it with the primary key and write it encrypted with the replica key', async () => {
    const primaryKey = primaryBucket.kmsKeyArn!;
    const replicaKey = replicaBucket.kmsKeyArn!;
    expect([primaryKey, replicaKey].every(Boolean)).toBe(true);
    const needs: Need[] = [
      ...['s3:GetReplicationConfiguration', 's3:ListBucket'].map((action) => ({ action, resource: primaryBucket.arn, context: {} })),
      ...['s3:GetObjectVersionForReplication', 's3:GetObjectVersionAcl', 's3:GetObjectVersionTagging', 's3:GetObjectRetention', 's3:GetObjectLegalHold'].map((action) => ({ action, resource: source, context: {} })),
      ...['s3:ReplicateObject', 's3:ReplicateDelete', 's3:ReplicateTags'].map((action) => ({ action, resource: target, context: {} })),
      { action: 'kms:Decrypt', resource: primaryKey, context: { 'kms:ViaService': `s3.${config.primaryRegion}.amazonaws.com`, 'kms:EncryptionContext:aws:s3:arn': source } },
      ...['kms:Encrypt', 'kms:GenerateDataKey'].map((action) => ({ action, resource: replicaKey, context: { 'kms:ViaService': `s3.${config.replicaRegion}.amazonaws.com`, 'kms:EncryptionContext:aws:s3:arn': target } })),
    ];
    expect(await denied(role(), needs)).toEqual([]);
  });

  test('GIVEN the replication role THEN it may not write the primary, delete a replica version, bypass a lock, or use either key outside S3 or for another bucket', async () => {
    const primaryKey = primaryBucket.kmsKeyArn!;
    const replicaKey = replicaBucket.kmsKeyArn!;
    expect(
      await allowed(role(), [
        { action: 's3:PutObject', resource: source, context: {} },
        { action: 's3:ReplicateObject', resource: source, context: {} },
        { action: 's3:DeleteObjectVersion', resource: target, context: {} },
        { action: 's3:BypassGovernanceRetention', resource: target, context: {} },
        { action: 'kms:Decrypt', resource: primaryKey, context: { 'kms:EncryptionContext:aws:s3:arn': source } },
        { action: 'kms:Decrypt', resource: replicaKey, context: { 'kms:ViaService': `s3.${config.replicaRegion}.amazonaws.com`, 'kms:EncryptionContext:aws:s3:arn': `arn:aws:s3:::elsewhere/x` } },
      ]),
    ).toEqual([]);
  });
});

describe('The chat channel: its role and guardrail allow the ops function\'s chat alias and nothing else', () => {
  const configId = resourcesOfType(primary, 'AWS::Chatbot::SlackChannelConfiguration')[0];
  const channel = () => props(primary, configId) as { IamRoleArn: string; GuardrailPolicies: string[] };
  const guardrailId = () => resourcesOfType(primary, 'AWS::IAM::ManagedPolicy').find((id) => primary.ref(id) === channel().GuardrailPolicies[0])!;
  const aliasArn = () => primary.ref(resourcesOfType(primary, 'AWS::Lambda::Alias')[0]);

  /**
   * A member may do what both the channel role (or their own role) and the guardrail allow
   * (https://docs.aws.amazon.com/chatbot/latest/adminguide/understanding-permissions.html): both are simulated.
   */
  test('GIVEN a channel member running a command THEN both the channel role and the guardrail allow invoking the chat alias', async () => {
    const role = roleByArn(primary, channel().IamRoleArn, 'chat channel role');
    const guardrail: Principal = { name: 'chat channel guardrail', arn: role.arn, policies: [{ name: 'guardrail', policy: props(primary, guardrailId()).PolicyDocument as never }] };
    const invoke: Need = { action: 'lambda:InvokeFunction', resource: aliasArn(), context: {} };
    expect(invoke.resource).toBe(`arn:aws:lambda:${config.primaryRegion}:${ACCOUNT}:function:${config.name}-ops:chat`);
    expect([...(await denied(role, [invoke])), ...(await denied(guardrail, [invoke]))]).toEqual([]);

    const beyond: Need[] = [
      { action: 'lambda:InvokeFunction', resource: aliasArn().replace(/:chat$/, ''), context: {} },
      { action: 'lambda:InvokeFunction', resource: `arn:aws:lambda:${config.primaryRegion}:${ACCOUNT}:function:${config.name}-promote`, context: {} },
      { action: 's3:GetObject', resource: backupObject(PRIMARY_BUCKET), context: {} },
      { action: 'ecs:RunTask', resource: tasks[0].arn, context: {} },
      { action: 'iam:PassRole', resource: tasks[0].taskRoleArn, context: {} },
    ];
    expect([...(await allowed(role, beyond)), ...(await allowed(guardrail, beyond))]).toEqual([]);
  });
});

describe('EventBridge and CloudWatch publish to the KMS-encrypted topics', () => {
  const topics = topicsOf(primary);
  const events = service('events.amazonaws.com');
  const cloudwatch = service('cloudwatch.amazonaws.com');

  /**
   * Publishing to a topic with SSE needs sns:Publish in the topic policy and, for the publishing service, Decrypt and
   * GenerateDataKey* in the key policy (https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#sns-what-permissions-for-sse).
   */
  const publishNeeds = (topic: { arn: string; kmsKeyArn?: string }, context: Record<string, string>): Need[] => [
    { action: 'sns:Publish', resource: topic.arn, context },
    ...['kms:GenerateDataKey', 'kms:Decrypt'].map((action) => ({ action, resource: topic.kmsKeyArn!, context })),
  ];

  test('GIVEN the failure rule\'s targets THEN EventBridge may publish to each, through its key', async () => {
    const ruleId = resourcesOfType(primary, 'AWS::Events::Rule')[0];
    const targets = (props(primary, ruleId).Targets as Array<{ Arn: string }>).map((t) => t.Arn);
    expect(targets.length).toBeGreaterThanOrEqual(2);
    for (const arn of targets) {
      const topic = topics.find((t) => t.arn === arn)!;
      expect(topic.kmsKeyArn).toBeDefined();
      const ruleArn = `arn:aws:events:${config.primaryRegion}:${ACCOUNT}:rule/${ruleId}`;
      expect(await denied(events, publishNeeds(topic, { 'aws:SourceArn': ruleArn, 'aws:SourceAccount': ACCOUNT }))).toEqual([]);
    }
  });

  test('GIVEN every alarm\'s actions THEN CloudWatch may publish to each topic for the stacks\' alarms, and not for another account\'s or another project\'s alarm', async () => {
    const alarms = resourcesOfType(primary, 'AWS::CloudWatch::Alarm').map((id) => props(primary, id) as { AlarmName: string; AlarmActions?: string[] });
    expect(alarms.length).toBeGreaterThan(0);
    for (const alarm of alarms) {
      for (const arn of alarm.AlarmActions ?? []) {
        const topic = topics.find((t) => t.arn === arn)!;
        const source = `arn:aws:cloudwatch:${config.primaryRegion}:${ACCOUNT}:alarm:${alarm.AlarmName}`;
        expect(await denied(cloudwatch, publishNeeds(topic, { 'aws:SourceArn': source, 'aws:SourceAccount': ACCOUNT }))).toEqual([]);
        const foreign = [
          { 'aws:SourceArn': `arn:aws:cloudwatch:${config.primaryRegion}:999999999999:alarm:${alarm.AlarmName}`, 'aws:SourceAccount': '999999999999' },
          { 'aws:SourceArn': `arn:aws:cloudwatch:${config.primaryRegion}:${ACCOUNT}:alarm:someone-elses-alarm`, 'aws:SourceAccount': ACCOUNT },
        ];
        for (const context of foreign) expect(await allowed(cloudwatch, [{ action: 'sns:Publish', resource: topic.arn, context }])).toEqual([]);
      }
    }
  });

  test('GIVEN a topic THEN publishing without TLS is refused by its own policy', async () => {
    for (const topic of topics) {
      const v = await simulate(world, events, { action: 'sns:Publish', resource: topic.arn, context: { 'aws:SecureTransport': 'false' } });
      expect({ topic: topic.arn, allowed: v.allowed }).toEqual({ topic: topic.arn, allowed: false });
    }
  });
});

describe('The VPC\'s own roles: flow-log delivery and the default security group\'s lock-down', () => {
  const flowLogId = resourcesOfType(primary, 'AWS::EC2::FlowLog')[0];
  const flowLog = () => props(primary, flowLogId) as { DeliverLogsPermissionArn: string; LogGroupName: string };
  const sgRoleId = () =>
    resourcesOfType(primary, 'AWS::IAM::Role').find((id) => JSON.stringify(primary.resources[id].Properties?.Policies ?? []).includes('ec2:RevokeSecurityGroupEgress'))!;

  /** VPC Flow Logs deliver into the log group as this role (https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-iam-role.html). */
  test('GIVEN the flow log THEN its role may create and write its streams in its own log group, and nothing else', async () => {
    const role = roleByArn(primary, flowLog().DeliverLogsPermissionArn, 'flow-log delivery role');
    const group = `arn:aws:logs:${config.primaryRegion}:${ACCOUNT}:log-group:${flowLog().LogGroupName}`;
    const stream = `${group}:log-stream:eni-0123456789abcdef0-all`;
    expect(
      await denied(role, [
        { action: 'logs:CreateLogStream', resource: stream, context: {} },
        { action: 'logs:PutLogEvents', resource: stream, context: {} },
        { action: 'logs:DescribeLogStreams', resource: `${group}:*`, context: {} },
      ]),
    ).toEqual([]);
    expect(
      await allowed(role, [
        { action: 'logs:PutLogEvents', resource: `arn:aws:logs:${config.primaryRegion}:${ACCOUNT}:log-group:another:log-stream:x`, context: {} },
        { action: 's3:GetObject', resource: backupObject(PRIMARY_BUCKET), context: {} },
      ]),
    ).toEqual([]);
  });

  test('GIVEN the custom resource that strips the VPC\'s default security group THEN its role may change that group\'s rules only', async () => {
    const id = sgRoleId();
    expect(id).toBeDefined();
    const model = roleModel(primary, id);
    const role: Principal = { name: 'default security group custom resource role', arn: model.arn, policies: model.policies };
    const vpcId = resourcesOfType(primary, 'AWS::EC2::VPC')[0];
    const defaultGroup = `arn:aws:ec2:${config.primaryRegion}:${ACCOUNT}:security-group/${primary.getAtt(vpcId, 'DefaultSecurityGroup')}`;
    const ruleChanges = ['ec2:AuthorizeSecurityGroupIngress', 'ec2:AuthorizeSecurityGroupEgress', 'ec2:RevokeSecurityGroupIngress', 'ec2:RevokeSecurityGroupEgress'];
    expect(await denied(role, ruleChanges.map((action) => ({ action, resource: defaultGroup, context: {} })))).toEqual([]);
    const tasksGroup = `arn:aws:ec2:${config.primaryRegion}:${ACCOUNT}:security-group/sg-0123456789abcdef0`;
    expect(await allowed(role, ruleChanges.map((action) => ({ action, resource: tasksGroup, context: {} })))).toEqual([]);
  });
});

describe('The access-log buckets: no role of the stacks may change or erase them', () => {
  const accessLogBuckets = world.buckets.filter((b) => b.name !== PRIMARY_BUCKET && b.name !== REPLICA_BUCKET);
  const promoteFunction = functionOf(replica, 'promotion function', (p) => p.FunctionName === `${config.name}-promote`);
  const batchRoleArn = promoteFunction.environment[ENV.batchOperationsRole];
  const everyRole = (): Principal[] => [
    ...[primary, replica].flatMap((stack) =>
      resourcesOfType(stack, 'AWS::IAM::Role').map((id) => {
        const m = roleModel(stack, id);
        return { name: `${stack.name} role ${id}`, arn: m.arn, policies: m.policies };
      }),
    ),
  ];

  test('GIVEN the access-log buckets THEN they carry the names CloudFormation derives from the stack names, outside the promotion\'s target names', () => {
    expect(accessLogBuckets.map((b) => b.name).sort()).toEqual([expect.stringMatching(new RegExp(`^${names.primary}-`)), expect.stringMatching(new RegExp(`^${names.replica}-`))]);
    expect(promoteFunction.environment[ENV.promoteTargets].split(',')).toEqual([PRIMARY_BUCKET, promotedBucketPattern(config.name)]);
    expect(batchRoleArn).toBeDefined();
  });

  test('GIVEN every role of both stacks THEN none may write, delete, reconfigure or re-create an access-log bucket', async () => {
    const roles = everyRole();
    expect(roles.length).toBeGreaterThan(15);
    const needs = accessLogBuckets.flatMap((b) => [
      ...['s3:CreateBucket', 's3:PutBucketPolicy', 's3:DeleteBucketPolicy', 's3:PutBucketVersioning', 's3:PutLifecycleConfiguration', 's3:PutEncryptionConfiguration', 's3:PutBucketPublicAccessBlock', 's3:PutBucketOwnershipControls', 's3:DeleteBucket'].map(
        (action) => ({ action, resource: b.arn, context: {} }),
      ),
      ...['s3:PutObject', 's3:DeleteObject', 's3:DeleteObjectVersion', 's3:PutObjectTagging'].map((action) => ({ action, resource: `${b.arn}/access-logs/2025-09-17-10-30-00-0123456789ABCDEF`, context: {} })),
    ]);
    const breaches: string[] = [];
    for (const role of roles) breaches.push(...(await allowed(role, needs)));
    expect(breaches).toEqual([]);
  });

  test('GIVEN the promotion and Batch roles THEN a name under <name>-promoted-* is still theirs to create and fill (the deny is the names, not the feature)', async () => {
    const target = `arn:aws:s3:::${config.name}-promoted-2025-09-17`;
    const promote = { name: 'promotion role', arn: promoteFunction.role.arn, policies: promoteFunction.role.policies };
    const batch = roleByArn(replica, batchRoleArn, 'Batch Operations role');
    expect([
      ...(await denied(promote, [{ action: 's3:CreateBucket', resource: target, context: {} }, { action: 's3:PutObject', resource: `${target}/backups/x`, context: {} }])),
      ...(await denied(batch, [{ action: 's3:PutObject', resource: `${target}/backups/x`, context: {} }])),
    ]).toEqual([]);
  });

});
