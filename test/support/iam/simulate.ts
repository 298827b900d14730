/**
 * Evaluates what a principal needs against the synthesized policies with @cloud-copilot/iam-simulate: the
 * principal's identity policies, and the resource's own policy (the bucket policy for S3, the key policy for KMS,
 * where KMS trusts IAM only as far as its key policy says).
 */
import { type RequestDenial, getDenialReasons, runSimulation } from '@cloud-copilot/iam-simulate';
import type { ContextValues, Need } from './authorizations';
import type { BucketModel, KeyModel, PolicyDocument, TopicModel } from './templates';

export interface Principal {
  /** How the test names it, e.g. "backup task role". */
  readonly name: string;
  readonly arn: string;
  readonly policies: ReadonlyArray<{ name: string; policy: PolicyDocument }>;
}

export interface PolicyWorld {
  readonly account: string;
  readonly buckets: readonly BucketModel[];
  readonly keys: readonly KeyModel[];
  /** SNS topics with their topic policies (for sns: actions); none when the test publishes to no topic. */
  readonly topics?: readonly TopicModel[];
}

export interface Verdict {
  allowed: boolean;
  result: string;
  /** Which policy said no (explicit deny) or that nothing allowed it. */
  reasons: string;
}

function bucketOfArn(resource: string): string | undefined {
  const m = /^arn:aws:s3:::([^/]+)/.exec(resource);
  return m?.[1];
}

function resourcePolicyFor(world: PolicyWorld, need: Need): PolicyDocument | undefined {
  if (need.action.startsWith('s3:')) {
    const bucket = bucketOfArn(need.resource);
    return bucket ? world.buckets.find((b) => b.name === bucket)?.policy : undefined;
  }
  if (need.action.startsWith('sns:')) {
    const topic = world.topics?.find((t) => t.arn === need.resource);
    if (!topic) throw new Error(`no topic ${need.resource} in the synthesized stacks`);
    return topic.policy;
  }
  if (need.action.startsWith('kms:')) {
    const key = world.keys.find((k) => k.arn === need.resource);
    if (!key) throw new Error(`no key ${need.resource} in the synthesized stacks`);
    return key.policy;
  }
  return undefined;
}

function describeDenials(denials: RequestDenial[]): string {
  return denials
    .map((d) =>
      d.denialType === 'Explicit'
        ? `explicitly denied by ${d.policyType} policy ${d.policyIdentifier ?? ''} statement ${d.statementId ?? `#${d.statementIndex}`}`.replace(/\s+/g, ' ')
        : `no ${d.policyType} policy allows it${d.identifier ? ` (${d.identifier})` : ''}`,
    )
    .join('; ');
}

/**
 * iam-simulate (0.1.x) matches a variable condition key only in its `prefix/name` form, so it drops
 * `kms:EncryptionContext:aws:s3:arn` (the variable part follows a colon) from the request and the condition then
 * fails as missing. The simulation evaluates that condition under a stand-in key the stacks' policies never use,
 * renamed the same way in the policies and in the request.
 */
const RENAMED_KEYS: Record<string, string> = { 'kms:encryptioncontext:aws:s3:arn': 'kms:RequestAlias' };

function renameKeys<T>(value: T): T {
  if (Array.isArray(value)) return value.map(renameKeys) as T;
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value as Record<string, unknown>).map(([k, v]) => [RENAMED_KEYS[k.toLowerCase()] ?? k, renameKeys(v)]),
  ) as T;
}

function withRenamedKeys(policy: PolicyDocument): PolicyDocument {
  const text = JSON.stringify(policy);
  for (const standIn of Object.values(RENAMED_KEYS)) {
    if (text.toLowerCase().includes(standIn.toLowerCase())) throw new Error(`a policy uses ${standIn}, the simulation's stand-in key: pick another in test/support/iam/simulate.ts`);
  }
  return { ...policy, Statement: policy.Statement.map((s) => (s.Condition ? { ...s, Condition: renameKeys(s.Condition) } : s)) };
}

export async function simulate(world: PolicyWorld, principal: Principal, need: Need): Promise<Verdict> {
  const context: ContextValues = {
    // An AWS service (events.amazonaws.com…) acting for the account has no principal ARN of its own.
    ...(principal.arn.startsWith('arn:') ? { 'aws:PrincipalArn': principal.arn, 'aws:PrincipalAccount': world.account } : { 'aws:PrincipalServiceName': principal.arn }),
    'aws:SecureTransport': 'true',
    ...(need.action.startsWith('s3:') ? { 's3:TlsVersion': '1.3', 's3:ResourceAccount': world.account } : {}),
    ...(need.action.startsWith('kms:') ? { 'kms:ResourceAliases': world.keys.find((k) => k.arn === need.resource)?.aliases ?? [] } : {}),
    ...need.context,
  };
  const rp = resourcePolicyFor(world, need);
  const resourcePolicy = rp ? withRenamedKeys(rp) : undefined;
  const response = await runSimulation(
    {
      request: { principal: principal.arn, action: need.action, resource: { resource: need.resource, accountId: world.account }, contextVariables: renameKeys(context) },
      identityPolicies: principal.policies.map((p) => ({ name: p.name, policy: withRenamedKeys(p.policy) })),
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      ...(resourcePolicy ? { resourcePolicy } : {}),
    },
    { simulationMode: 'Strict' },
  );
  if (response.resultType === 'error') {
    throw new Error(`iam-simulate refused the simulation of ${need.action} on ${need.resource}: ${JSON.stringify(response.errors)}`);
  }
  const analysis = response.resultType === 'single' ? response.result.analysis : response.results[0]?.analysis;
  const allowed = response.overallResult === 'Allowed';
  return { allowed, result: response.overallResult, reasons: allowed || !analysis ? '' : describeDenials(getDenialReasons(analysis)) };
}

/** An administrator's identity policy (AdministratorAccess): what IAM alone would let an operator do. */
export const ADMINISTRATOR_ACCESS: PolicyDocument = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] };
