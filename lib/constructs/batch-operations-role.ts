import { Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { acknowledgeWildcardResource, defaultPolicyOf } from '../nag';

/** ARN of a bucket (or of a name pattern), in the stack's partition. */
export function bucketArn(scope: Construct, name: string): string {
  return `arn:${Stack.of(scope).partition}:s3:::${name}`;
}

export interface BatchOperationsRoleProps {
  /** The replica bucket: the job's source, listed by its manifest generator and read, never written. */
  readonly source: s3.IBucket;
  /**
   * Names of the buckets a promotion may copy into, `*` allowed (see promotionTargetNames in promote-function.ts): the target is named
   * by the operator at recovery time (the original name once S3 frees it, or a new one), so it cannot be a resource
   * of this stack.
   */
  readonly targetBucketNames: string[];
}

/**
 * The role S3 Batch Operations assumes to run a promotion copy job (`meatbackup promote --engine batch`, or the
 * promotion function with `"engine": "batch"`): S3PutObjectCopy of every current replica object into the target,
 * with a report of failed tasks under the target's `meatbackup-promote/` prefix (src/promote/batch-job.ts).
 *
 * - source (replica): s3:ListBucket for the manifest generator; GetObject, GetObjectTagging and their version
 *   counterparts, because a manifest generated from a versioned bucket names each object's version;
 * - target: s3:PutObject (the copies and the report, which lands in the target too) and s3:PutObjectTagging (tags are
 *   copied), only in buckets of this account (s3:ResourceAccount);
 * - s3:GetBucketLocation on both; no ACL actions (every bucket here has ACLs disabled: BucketOwnerEnforced);
 * - an explicit deny of writes into the replica, which the target name pattern would otherwise include: during a
 *   recovery the replica is the only good copy.
 */
export class BatchOperationsRole extends Construct {
  readonly role: iam.Role;

  constructor(scope: Construct, id: string, props: BatchOperationsRoleProps) {
    super(scope, id);
    const stack = Stack.of(this);
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('batchoperations.s3.amazonaws.com'),
      description: 'S3 Batch Operations: copy the replica bucket into a promotion target (meatbackup promote --engine batch)',
    });

    const sourceObjects = props.source.arnForObjects('*');
    const targetBuckets = props.targetBucketNames.map((name) => bucketArn(stack, name));
    const targetObjects = targetBuckets.map((arn) => `${arn}/*`);
    const statements = [
      new iam.PolicyStatement({ sid: 'ListReplica', actions: ['s3:ListBucket', 's3:GetBucketLocation'], resources: [props.source.bucketArn] }),
      new iam.PolicyStatement({
        sid: 'ReadReplica',
        actions: ['s3:GetObject', 's3:GetObjectVersion', 's3:GetObjectTagging', 's3:GetObjectVersionTagging'],
        resources: [sourceObjects],
      }),
      new iam.PolicyStatement({ sid: 'LocateTarget', actions: ['s3:GetBucketLocation'], resources: targetBuckets }),
      new iam.PolicyStatement({
        sid: 'WriteTarget',
        actions: ['s3:PutObject', 's3:PutObjectTagging'],
        resources: targetObjects,
        conditions: { StringEquals: { 's3:ResourceAccount': stack.account } },
      }),
      new iam.PolicyStatement({
        sid: 'NeverWriteReplica',
        effect: iam.Effect.DENY,
        actions: ['s3:PutObject', 's3:PutObjectTagging'],
        resources: [sourceObjects],
      }),
    ];
    for (const statement of statements) this.role.addToPrincipalPolicy(statement);

    const policy = defaultPolicyOf(this.role);
    acknowledgeWildcardResource(
      policy,
      sourceObjects,
      'The copy job reads every current object of the replica (the whole bucket is promoted): object reads need replica/*.',
    );
    props.targetBucketNames.forEach((name, i) => {
      if (name.includes('*')) {
        acknowledgeWildcardResource(
          policy,
          targetBuckets[i],
          `Batch Operations looks up the region of the target the operator names at recovery time (${name}); GetBucketLocation only.`,
        );
      }
      acknowledgeWildcardResource(
        policy,
        targetObjects[i],
        `The copy job writes every key and its failure report into the target named at recovery time (${name}), in this account only.`,
      );
    });
  }
}
