/**
 * Acknowledging cdk-nag (v3) findings with a reason, without hard-coding logical ids: IAM5 findings are named after
 * the statement's resource as cdk-nag prints it (`<Logical.Arn>/backups/*`), which this module derives from the token.
 */
import { Stack, Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/** A resolved CloudFormation value as cdk-nag renders it in a finding id. */
function nagText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value !== null && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    if (typeof o.Ref === 'string') return `<${o.Ref}>`;
    if (Array.isArray(o['Fn::GetAtt'])) {
      const [id, attribute] = o['Fn::GetAtt'] as string[];
      return `<${id}.${attribute}>`;
    }
    if (Array.isArray(o['Fn::Join'])) {
      const [separator, parts] = o['Fn::Join'] as [string, unknown[]];
      return parts.map(nagText).join(separator);
    }
  }
  throw new Error(`cannot name the cdk-nag finding for ${JSON.stringify(value)}`);
}

/** The id of the AwsSolutions-IAM5 finding for a wildcard `resource` (a string that may hold tokens). */
export function iam5ResourceFinding(scope: IConstruct, resource: string): string {
  return `AwsSolutions-IAM5[Resource::${nagText(Stack.of(scope).resolve(resource))}]`;
}

/** Acknowledges the IAM5 finding of a wildcard resource in `policy` (a role's DefaultPolicy, or the role). */
export function acknowledgeWildcardResource(policy: IConstruct, resource: string, reason: string): void {
  Validations.of(policy).acknowledge({ id: iam5ResourceFinding(policy, resource), reason });
}

/** The DefaultPolicy a grant created on a role; the role itself when there is none yet. */
export function defaultPolicyOf(role: IConstruct): IConstruct {
  return role.node.tryFindChild('DefaultPolicy') ?? role;
}
