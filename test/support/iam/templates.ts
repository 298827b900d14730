/**
 * The synthesized stacks as IAM sees them once deployed: CloudFormation intrinsics (Ref, Fn::GetAtt, Fn::Join,
 * Fn::Sub, Fn::Select) resolved to the names and ARNs CloudFormation would give each resource, so that policies can be
 * evaluated against concrete request ARNs. Physical names the template leaves to CloudFormation become the logical
 * id, which is enough: every policy names them through the same intrinsics.
 */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

interface CfnResource {
  Type: string;
  Properties?: Record<string, Json>;
}

export interface PolicyDocument {
  Version?: string;
  Statement: Array<Record<string, Json>>;
}

export interface StackModel {
  readonly name: string;
  readonly region: string;
  readonly account: string;
  readonly resources: Record<string, CfnResource>;
  /** A template value with every intrinsic resolved. */
  resolve(value: Json): Json;
  /** `{ Ref }` of a resource. */
  ref(logicalId: string): string;
  /** `{ Fn::GetAtt: [id, attribute] }`. */
  getAtt(logicalId: string, attribute: string): string;
}

const PARTITION = 'aws';

/**
 * The name CloudFormation gives a resource the template leaves unnamed: the stack name, the logical id and a random
 * suffix, lowercased for a bucket ("Name type",
 * https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-name.html). The access-log buckets
 * are named this way, so a policy's name pattern is matched against what their names will really look like.
 */
function generatedName(stackName: string | undefined, type: string, id: string): string {
  if (!stackName) return type === 'AWS::S3::Bucket' ? id.toLowerCase() : id;
  const name = `${stackName}-${id}-1a2b3c4d5e6f`;
  return type === 'AWS::S3::Bucket' ? name.toLowerCase().slice(0, 63) : name;
}

function physicalName(type: string, id: string, props: Record<string, Json>, stackName?: string): string {
  const byType: Record<string, string> = {
    'AWS::IAM::Role': 'RoleName',
    'AWS::S3::Bucket': 'BucketName',
    'AWS::ECS::Cluster': 'ClusterName',
    'AWS::Lambda::Function': 'FunctionName',
    'AWS::Logs::LogGroup': 'LogGroupName',
    'AWS::ECS::TaskDefinition': 'Family',
  };
  const field = byType[type];
  const name = field ? props[field] : undefined;
  return typeof name === 'string' ? name : generatedName(stackName, type, id);
}

/**
 * `name` is how the tests call the stack; `cfnStackName`, when given, is its CloudFormation stack name, from which
 * unnamed resources get their names (see {@link generatedName}).
 */
export function stackModel(name: string, template: { Resources: Record<string, CfnResource> }, region: string, account: string, cfnStackName?: string): StackModel {
  const resources = template.Resources;
  const res = (id: string): CfnResource => {
    const r = resources[id];
    if (!r) throw new Error(`${name}: no resource ${id}`);
    return r;
  };
  const nameOf = (id: string) => physicalName(res(id).Type, id, res(id).Properties ?? {}, cfnStackName);
  const arnOf = (id: string): string => {
    const r = res(id);
    const n = nameOf(id);
    switch (r.Type) {
      case 'AWS::IAM::Role':
        return `arn:${PARTITION}:iam::${account}:role/${n}`;
      case 'AWS::S3::Bucket':
        return `arn:${PARTITION}:s3:::${n}`;
      case 'AWS::KMS::Key':
        return `arn:${PARTITION}:kms:${region}:${account}:key/${id}`;
      case 'AWS::ECS::Cluster':
        return `arn:${PARTITION}:ecs:${region}:${account}:cluster/${n}`;
      case 'AWS::ECS::TaskDefinition':
        return `arn:${PARTITION}:ecs:${region}:${account}:task-definition/${n}:1`;
      case 'AWS::Lambda::Function':
        return `arn:${PARTITION}:lambda:${region}:${account}:function:${n}`;
      case 'AWS::Logs::LogGroup':
        return `arn:${PARTITION}:logs:${region}:${account}:log-group:${n}:*`;
      case 'AWS::SNS::Topic':
        return `arn:${PARTITION}:sns:${region}:${account}:${id}`;
      case 'AWS::Lambda::Alias': {
        const props = r.Properties ?? {};
        const fn = props.FunctionName as { Ref?: string } | string;
        const fnName = typeof fn === 'string' ? fn : nameOf(String(fn.Ref));
        return `arn:${PARTITION}:lambda:${region}:${account}:function:${fnName}:${String(props.Name)}`;
      }
      default:
        return `arn:${PARTITION}:cloudformation:${region}:${account}:resource/${id}`;
    }
  };
  const pseudo: Record<string, string> = {
    'AWS::AccountId': account,
    'AWS::Region': region,
    'AWS::Partition': PARTITION,
    'AWS::URLSuffix': 'amazonaws.com',
    'AWS::StackName': name,
    'AWS::NoValue': '',
  };
  const ref = (id: string): string => {
    if (pseudo[id] !== undefined) return pseudo[id];
    const r = res(id);
    if (r.Type === 'AWS::ECS::TaskDefinition' || r.Type === 'AWS::SNS::Topic' || r.Type === 'AWS::Lambda::Alias') return arnOf(id);
    return nameOf(id);
  };
  const getAtt = (id: string, attribute: string): string => {
    if (attribute === 'Arn' || attribute === 'TaskDefinitionArn') return arnOf(id);
    if (attribute === 'GroupId') return `sg-${id.toLowerCase()}`;
    return `${id}.${attribute}`;
  };
  const resolve = (value: Json): Json => {
    if (Array.isArray(value)) return value.map(resolve);
    if (value === null || typeof value !== 'object') return value;
    const keys = Object.keys(value);
    if (keys.length === 1) {
      const [k] = keys;
      const arg = value[k];
      if (k === 'Ref') return ref(arg as string);
      if (k === 'Fn::GetAtt') {
        const [id, attribute] = Array.isArray(arg) ? (arg as string[]) : String(arg).split('.');
        return getAtt(id, attribute);
      }
      if (k === 'Fn::Join') {
        const [sep, parts] = arg as [string, Json[]];
        return (resolve(parts) as Json[]).map(String).join(sep);
      }
      if (k === 'Fn::Select') {
        const [index, list] = arg as [number, Json];
        return (resolve(list) as Json[])[Number(resolve(index as Json))];
      }
      if (k === 'Fn::Split') {
        const [sep, text] = arg as [string, Json];
        return String(resolve(text)).split(sep);
      }
      if (k === 'Fn::Sub') {
        const [text, vars] = Array.isArray(arg) ? (arg as [string, Record<string, Json>]) : [arg as string, {}];
        return text.replace(/\$\{([^}]+)\}/g, (_, expr: string) => {
          if (vars[expr] !== undefined) return String(resolve(vars[expr]));
          const [id, attribute] = expr.split('.');
          return attribute ? getAtt(id, attribute) : ref(id);
        });
      }
      if (k.startsWith('Fn::')) throw new Error(`${name}: intrinsic ${k} is not resolved by test/support/iam/templates.ts`);
    }
    return Object.fromEntries(keys.map((key) => [key, resolve(value[key])]));
  };
  return { name, region, account, resources, resolve, ref, getAtt };
}

/** Logical ids of the resources of `type` (optionally whose properties pass `where`). */
export function resourcesOfType(stack: StackModel, type: string, where: (props: Record<string, Json>) => boolean = () => true): string[] {
  return Object.entries(stack.resources)
    .filter(([, r]) => r.Type === type && where(r.Properties ?? {}))
    .map(([id]) => id);
}

function oneOf(stack: StackModel, type: string, what: string, where: (props: Record<string, Json>) => boolean): string {
  const ids = resourcesOfType(stack, type, where);
  if (ids.length !== 1) throw new Error(`${stack.name}: expected one ${type} (${what}), found ${ids.join(', ') || 'none'}`);
  return ids[0];
}

export interface RoleModel {
  readonly stack: StackModel;
  readonly logicalId: string;
  readonly arn: string;
  /** Inline policies and the AWS::IAM::Policy resources attached to it, resolved. */
  readonly policies: Array<{ name: string; policy: PolicyDocument }>;
}

export function roleModel(stack: StackModel, logicalId: string): RoleModel {
  const role = stack.resources[logicalId];
  if (role?.Type !== 'AWS::IAM::Role') throw new Error(`${stack.name}: ${logicalId} is not an IAM role`);
  const policies: RoleModel['policies'] = [];
  for (const p of (role.Properties?.Policies as Array<{ PolicyName: string; PolicyDocument: Json }> | undefined) ?? []) {
    policies.push({ name: p.PolicyName, policy: stack.resolve(p.PolicyDocument) as unknown as PolicyDocument });
  }
  for (const id of resourcesOfType(stack, 'AWS::IAM::Policy')) {
    const props = stack.resources[id].Properties ?? {};
    const roles = ((props.Roles as Json[] | undefined) ?? []).map((r) => stack.resolve(r));
    if (!roles.includes(stack.ref(logicalId))) continue;
    policies.push({ name: id, policy: stack.resolve(props.PolicyDocument) as unknown as PolicyDocument });
  }
  for (const managed of (role.Properties?.ManagedPolicyArns as Json[] | undefined) ?? []) {
    // A customer-managed policy of the stack (the chat channel's guardrail, attached to its role too).
    const refId = (managed as { Ref?: string } | null)?.Ref;
    const own = refId ? stack.resources[refId] : undefined;
    if (own?.Type === 'AWS::IAM::ManagedPolicy') {
      policies.push({ name: refId!, policy: stack.resolve(own.Properties?.PolicyDocument as Json) as unknown as PolicyDocument });
      continue;
    }
    const arn = String(stack.resolve(managed));
    // The only managed policy the stacks attach is for the custom resources' own logging; it grants no data access.
    if (!/:iam::aws:policy\/service-role\/AWSLambdaBasicExecutionRole$/.test(arn)) {
      throw new Error(`${stack.name}: role ${logicalId} has managed policy ${arn}, which this simulation does not model`);
    }
  }
  return { stack, logicalId, arn: String(stack.getAtt(logicalId, 'Arn')), policies };
}

/** The task role of the task definition whose family is `family`. */
export function taskRoleOf(stack: StackModel, family: string): RoleModel {
  const td = oneOf(stack, 'AWS::ECS::TaskDefinition', `family ${family}`, (p) => p.Family === family);
  const [roleId] = (stack.resources[td].Properties?.TaskRoleArn as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'];
  return roleModel(stack, roleId);
}

export interface TaskDefinitionModel {
  readonly arn: string;
  readonly taskRoleArn: string;
  readonly executionRoleArn: string;
  readonly command: string[];
  readonly environment: Record<string, string>;
}

export function taskDefinitions(stack: StackModel): TaskDefinitionModel[] {
  return resourcesOfType(stack, 'AWS::ECS::TaskDefinition').map((id) => {
    const props = stack.resolve(stack.resources[id].Properties as Json) as Record<string, Json>;
    const container = (props.ContainerDefinitions as Array<Record<string, Json>>)[0];
    const environment = Object.fromEntries(((container.Environment as Array<{ Name: string; Value: string }> | undefined) ?? []).map((e) => [e.Name, e.Value]));
    return {
      arn: stack.ref(id),
      taskRoleArn: String(props.TaskRoleArn),
      executionRoleArn: String(props.ExecutionRoleArn),
      command: (container.Command as string[] | undefined) ?? [],
      environment,
    };
  });
}

export interface FunctionModel {
  readonly role: RoleModel;
  readonly environment: Record<string, string>;
}

/** The Lambda function whose environment (or name) `where` picks. */
export function functionOf(stack: StackModel, what: string, where: (props: Record<string, Json>) => boolean): FunctionModel {
  const id = oneOf(stack, 'AWS::Lambda::Function', what, where);
  const props = stack.resolve(stack.resources[id].Properties as Json) as Record<string, Json>;
  const roleArn = String(props.Role);
  const roleId = resourcesOfType(stack, 'AWS::IAM::Role').find((r) => stack.getAtt(r, 'Arn') === roleArn);
  if (!roleId) throw new Error(`${stack.name}: no role ${roleArn} for function ${id}`);
  const environment = ((props.Environment as { Variables?: Record<string, string> } | undefined)?.Variables ?? {}) as Record<string, string>;
  return { role: roleModel(stack, roleId), environment };
}

export interface BucketModel {
  readonly stack: StackModel;
  readonly name: string;
  readonly arn: string;
  readonly policy?: PolicyDocument;
  /** The key of its default encryption (SSE-KMS), as an ARN; none for SSE-S3. */
  readonly kmsKeyArn?: string;
  /** S3 Bucket Key on: KMS sees the bucket's ARN as encryption context instead of the object's. */
  readonly bucketKey: boolean;
}

export function bucketsOf(stack: StackModel): BucketModel[] {
  return resourcesOfType(stack, 'AWS::S3::Bucket').map((id) => {
    const props = stack.resolve(stack.resources[id].Properties as Json) as Record<string, Json>;
    const name = stack.ref(id);
    const policyId = resourcesOfType(stack, 'AWS::S3::BucketPolicy', (p) => stack.resolve(p.Bucket) === name)[0];
    const rule = ((props.BucketEncryption as { ServerSideEncryptionConfiguration?: Array<Record<string, Json>> } | undefined)?.ServerSideEncryptionConfiguration ?? [])[0];
    const byDefault = rule?.ServerSideEncryptionByDefault as { SSEAlgorithm?: string; KMSMasterKeyID?: string } | undefined;
    return {
      stack,
      name,
      arn: `arn:${PARTITION}:s3:::${name}`,
      ...(policyId ? { policy: stack.resolve(stack.resources[policyId].Properties?.PolicyDocument as Json) as unknown as PolicyDocument } : {}),
      ...(byDefault?.SSEAlgorithm === 'aws:kms' && byDefault.KMSMasterKeyID ? { kmsKeyArn: byDefault.KMSMasterKeyID } : {}),
      bucketKey: rule?.BucketKeyEnabled === true,
    };
  });
}

export interface KeyModel {
  readonly stack: StackModel;
  readonly arn: string;
  readonly policy: PolicyDocument;
  /** Alias names (`alias/…`) pointing at it, for kms:ResourceAliases. */
  readonly aliases: string[];
}

export function keysOf(stack: StackModel): KeyModel[] {
  return resourcesOfType(stack, 'AWS::KMS::Key').map((id) => {
    const arn = stack.getAtt(id, 'Arn');
    const aliases = resourcesOfType(stack, 'AWS::KMS::Alias', (p) => {
      const target = stack.resolve(p.TargetKeyId);
      return target === arn || target === stack.ref(id);
    }).map((a) => String(stack.resolve(stack.resources[a].Properties?.AliasName as Json)));
    return { stack, arn, policy: stack.resolve(stack.resources[id].Properties?.KeyPolicy as Json) as unknown as PolicyDocument, aliases };
  });
}

export interface TopicModel {
  readonly arn: string;
  readonly kmsKeyArn?: string;
  /** Its AWS::SNS::TopicPolicy, resolved. */
  readonly policy?: PolicyDocument;
}

export function topicsOf(stack: StackModel): TopicModel[] {
  return resourcesOfType(stack, 'AWS::SNS::Topic').map((id) => {
    const arn = stack.ref(id);
    const props = stack.resolve(stack.resources[id].Properties as Json) as Record<string, Json>;
    const policyId = resourcesOfType(stack, 'AWS::SNS::TopicPolicy', (p) => ((stack.resolve(p.Topics as Json) as Json[]) ?? []).includes(arn))[0];
    return {
      arn,
      ...(typeof props.KmsMasterKeyId === 'string' ? { kmsKeyArn: props.KmsMasterKeyId } : {}),
      ...(policyId ? { policy: stack.resolve(stack.resources[policyId].Properties?.PolicyDocument as Json) as unknown as PolicyDocument } : {}),
    };
  });
}
