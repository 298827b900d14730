import { Annotations, Aws, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import { RegionInfo } from 'aws-cdk-lib/region-info';
import { Construct } from 'constructs';
import type { AppConfig } from '../config';

/**
 * What a role does with a backup key, always through S3: read (GetObject, HeadObject of SSE-KMS objects, a copy
 * source), write (PutObject and multipart uploads: a data key, and Decrypt for the parts), and what S3 Replication
 * does with the destination's key (encrypt the replica; Decrypt to check the S3 Bucket Key; a data key for replicas of
 * objects the source did not encrypt with KMS).
 */
export const KEY_USE = {
  read: ['kms:Decrypt'],
  write: ['kms:Decrypt', 'kms:GenerateDataKey'],
  replicate: ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey'],
} as const satisfies Record<string, readonly string[]>;

/** `alias/<name>-backup`: the same alias in both regions, so each stack can name the other region's key. */
export function backupKeyAlias(config: AppConfig): string {
  return `alias/${config.name}-backup`;
}

function account(config: AppConfig): string {
  return config.account ?? Aws.ACCOUNT_ID;
}

/**
 * Roles a key policy in the other region names before they exist (the replica stack deploys first, and the primary
 * stack cannot reference it across regions), so they carry fixed names: `<name>-<role>-<region>` (IAM is global; the
 * region keeps two deployments of one name in one account apart).
 */
export function keyUserRoleNames(config: AppConfig): { replication: string; ops: string; promote: string } {
  return {
    replication: `${config.name}-replication-${config.primaryRegion}`,
    ops: `${config.name}-ops-${config.primaryRegion}`,
    promote: `${config.name}-promote-${config.replicaRegion}`,
  };
}

/** The ARN of a role of this project by its fixed name (see {@link keyUserRoleNames}). */
export function roleArnByName(scope: Construct, config: AppConfig, roleName: string): string {
  return `arn:${Stack.of(scope).partition}:iam::${account(config)}:role/${roleName}`;
}

/** S3's endpoint in `region` as `kms:ViaService` names it (`s3.eu-west-1.amazonaws.com`). */
export function s3ViaService(region: string): string {
  return `s3.${region}.${RegionInfo.get(region).domainSuffix ?? 'amazonaws.com'}`;
}

/**
 * The key is used by S3 in `region`, for objects of `bucketArn`: the encryption context is the bucket's ARN when the
 * object was written with an S3 Bucket Key, the object's ARN otherwise.
 */
function throughS3For(region: string, bucketArn: string): Record<string, Record<string, unknown>> {
  return {
    StringEquals: { 'kms:ViaService': s3ViaService(region) },
    StringLike: { 'kms:EncryptionContext:aws:s3:arn': [bucketArn, `${bucketArn}/*`] },
  };
}

/** Another region's backup key, known only by its alias (a deterministic ARN: no cross-region reference). */
export interface OtherRegionKey {
  readonly region: string;
  /** `alias/<name>-backup`. */
  readonly aliasName: string;
  /** `arn:aws:kms:<region>:<account>:alias/<name>-backup`: what S3 Replication's ReplicaKmsKeyID takes. */
  readonly aliasArn: string;
  /** The key's ARN pattern for identity policies (`…:key/*`; the alias condition narrows it to the one key). */
  readonly keyArnPattern: string;
  /** ARN of the bucket it encrypts. */
  readonly bucketArn: string;
}

export function otherRegionKey(scope: Construct, config: AppConfig, region: string, bucketName: string): OtherRegionKey {
  const partition = Stack.of(scope).partition;
  const aliasName = backupKeyAlias(config);
  return {
    region,
    aliasName,
    aliasArn: `arn:${partition}:kms:${region}:${account(config)}:${aliasName}`,
    keyArnPattern: `arn:${partition}:kms:${region}:${account(config)}:key/*`,
    bucketArn: `arn:${partition}:s3:::${bucketName}`,
  };
}

/**
 * The identity half of a grant on another region's key: `actions` through S3 for that key's bucket, on the key that
 * carries the project's alias. (Key policies in the other region name the role; both must allow.)
 */
export function otherRegionKeyStatement(sid: string, key: OtherRegionKey, actions: readonly string[]): iam.PolicyStatement {
  const conditions = throughS3For(key.region, key.bucketArn);
  return new iam.PolicyStatement({
    sid,
    actions: [...actions],
    resources: [key.keyArnPattern],
    conditions: { ...conditions, 'ForAnyValue:StringEquals': { 'kms:ResourceAliases': [key.aliasName] } },
  });
}

export interface BackupKeyProps {
  readonly config: AppConfig;
  /** The bucket the key encrypts (deterministic name): every use is limited to S3 and that bucket's objects. */
  readonly bucketName: string;
}

/**
 * The customer-managed KMS key of one backup bucket (one per region): rotated yearly, aliased `alias/<name>-backup`,
 * retained with the bucket (objects outlive the stack, so must their key).
 *
 * Who may use it. AWS's default key policy lets the account's IAM policies grant key use to any principal
 * (https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html#key-policy-default-allow-root-enable-iam).
 * This one does not: the account administers the key (administration only, no cryptographic action), and each use is
 * a statement of its own that delegates to IAM for named roles only (`aws:PrincipalArn`), through S3 only, for this
 * bucket's objects only (https://docs.aws.amazon.com/kms/latest/developerguide/key-policies.html). The named roles
 * are the project's own (a role of the other region's stack is named before it exists) and the configured
 * `operatorRoleArns`, the people's way in (e.g. a break-glass role); an administrator outside that list is denied even
 * with AdministratorAccess, so a leaked admin credential does not read the database. A named role also needs the
 * identity half (its own IAM policy allowing the kms and s3 actions: {@link grant} adds both for a role of this
 * stack; AdministratorAccess has it for an operator role). The last resort stays: the account's key administrators
 * may change this policy (kms:PutKeyPolicy), and the next deploy puts it back.
 */
export class BackupKey extends Construct {
  readonly key: kms.Key;
  readonly region: string;
  readonly bucketArn: string;

  constructor(scope: Construct, id: string, props: BackupKeyProps) {
    super(scope, id);
    const stack = Stack.of(this);
    this.region = stack.region;
    this.bucketArn = `arn:${stack.partition}:s3:::${props.bucketName}`;
    this.key = new kms.Key(this, 'Key', {
      description: `meatbackup: bucket ${props.bucketName} (SSE-KMS)`,
      alias: backupKeyAlias(props.config),
      enableKeyRotation: true,
      // An explicit policy instead of the default `kms:*` for the account: administration only, uses added one by one.
      policy: new iam.PolicyDocument(),
      admins: [new iam.AccountRootPrincipal()],
      removalPolicy: RemovalPolicy.RETAIN,
      pendingWindow: Duration.days(30),
    });
    this.denyGrants();
    this.allowOperators(props.config.operatorRoleArns);
  }

  /**
   * Key policy: nobody creates a grant on this key, except an AWS service for a resource it integrates (kms:GrantIsForAWSResource).
   * CDK's admin statement gives the account kms:Create*, which includes kms:CreateGrant, and a grant lets its grantee
   * Decrypt without any key policy statement naming it ("Grants in AWS KMS":
   * https://docs.aws.amazon.com/kms/latest/developerguide/grants.html): an administrator could grant themselves every
   * backup. S3 uses the key with the caller's own permissions and creates no grant. BoolIfExists: a request that does
   * not carry the key counts as not for an AWS resource.
   */
  private denyGrants(): void {
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'NoGrantsExceptForAwsServices',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['kms:CreateGrant'],
        resources: ['*'],
        conditions: { BoolIfExists: { 'kms:GrantIsForAWSResource': 'false' } },
      }),
    );
  }

  /**
   * Key policy: the operator roles read backups through S3 (list, verify, restore, the manual `aws s3 cp`) and write
   * with the key (promote back under the original name into a bucket that encrypts with it). ArnLike: an IAM Identity
   * Center role is named with `*` for its random suffix.
   */
  private allowOperators(roleArns: readonly string[]): void {
    if (roleArns.length === 0) {
      Annotations.of(this).addWarning(
        'operatorRoleArns is empty: no person can read a backup of this bucket from outside AWS (the ops and promotion functions still can). ' +
          'Name a break-glass role in operatorRoleArns (README, "Who may read backups").',
      );
      return;
    }
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'OperatorsUseThroughS3',
        principals: [new iam.AccountRootPrincipal()],
        actions: [...KEY_USE.write],
        resources: ['*'],
        conditions: { ArnLike: { 'aws:PrincipalArn': [...roleArns] }, ...throughS3For(this.region, this.bucketArn) },
      }),
    );
  }

  /** The key of the bucket `bucketName` when the configuration encrypts with KMS (`id` BackupKey); none with `s3`. */
  static forBucket(scope: Construct, config: AppConfig, bucketName: string): BackupKey | undefined {
    return config.encryption === 'kms' ? new BackupKey(scope, 'BackupKey', { config, bucketName }) : undefined;
  }

  /** Key policy: the role `roleArn` may do `actions` with the key, through S3, for this bucket's objects. */
  allow(sid: string, roleArn: string, actions: readonly string[]): void {
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid,
        principals: [new iam.AccountRootPrincipal()],
        actions: [...actions],
        resources: ['*'],
        conditions: { ArnEquals: { 'aws:PrincipalArn': roleArn }, ...throughS3For(this.region, this.bucketArn) },
      }),
    );
  }

  /** Both halves for a role of this stack: the key policy statement and the role's own statement on this key. */
  grant(sid: string, role: iam.IRole, actions: readonly string[]): void {
    this.allow(sid, role.roleArn, actions);
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({ sid, actions: [...actions], resources: [this.key.keyArn], conditions: throughS3For(this.region, this.bucketArn) }),
    );
  }
}
