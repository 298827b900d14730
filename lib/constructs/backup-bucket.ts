import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { DEFAULT_PREFIX } from '../../src/contract';
import type { RetentionConfig } from '../config';
import { acknowledgeWildcardResource, defaultPolicyOf } from '../nag';

export interface BackupBucketReplication {
  /** The replica bucket (in another region); it must exist and be versioned before this bucket is deployed. */
  readonly destination: s3.IBucket;
}

export interface BackupBucketProps {
  /** Physical bucket name (deterministic, see lib/naming.ts). */
  readonly bucketName: string;
  readonly retention: RetentionConfig;
  /**
   * Replicate every object (and delete markers) to this destination with S3 Replication Time Control.
   * @default - no replication (the replica bucket itself)
   */
  readonly replication?: BackupBucketReplication;
}

/** S3 lifecycle storage classes by configuration name. */
const STORAGE_CLASS: Record<RetentionConfig['transitionStorageClass'], s3.StorageClass> = {
  STANDARD_IA: s3.StorageClass.INFREQUENT_ACCESS,
  ONEZONE_IA: s3.StorageClass.ONE_ZONE_INFREQUENT_ACCESS,
  INTELLIGENT_TIERING: s3.StorageClass.INTELLIGENT_TIERING,
  GLACIER_IR: s3.StorageClass.GLACIER_INSTANT_RETRIEVAL,
};

/** The lifecycle both buckets share; a lifecycle expiry in the primary is not replicated, so the replica has its own. */
export function backupLifecycleRules(retention: RetentionConfig): s3.LifecycleRule[] {
  return [
    { id: 'abort-incomplete-multipart-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
    {
      id: 'backups-tiering-and-expiry',
      prefix: DEFAULT_PREFIX,
      transitions:
        retention.transitionAfterDays === null
          ? undefined
          : [{ storageClass: STORAGE_CLASS[retention.transitionStorageClass], transitionAfter: Duration.days(retention.transitionAfterDays) }],
      expiration: Duration.days(retention.backupDays),
    },
    {
      id: 'noncurrent-versions-expiry',
      noncurrentVersionExpiration: Duration.days(retention.noncurrentVersionDays),
      expiredObjectDeleteMarker: true,
    },
  ];
}

/**
 * A versioned, encrypted, private, TLS-only bucket for backups (and the platform's transcripts), with server access
 * logs in a sibling bucket and, for the primary, S3 Replication to the replica bucket in the other region.
 * Both buckets are retained when the stack is deleted: backups outlive their infrastructure.
 */
export class BackupBucket extends Construct {
  readonly bucket: s3.Bucket;
  /** Target of the bucket's server access logs. */
  readonly accessLogsBucket: s3.Bucket;
  /** The role S3 assumes to replicate; only with `replication`. */
  readonly replicationRole?: iam.Role;

  constructor(scope: Construct, id: string, props: BackupBucketProps) {
    super(scope, id);

    this.accessLogsBucket = new s3.Bucket(this, 'AccessLogs', {
      // Log delivery writes with SSE-S3 only; KMS default encryption is not supported for access-log targets.
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      lifecycleRules: [
        { id: 'access-logs-expiry', expiration: Duration.days(props.retention.accessLogDays) },
        { id: 'abort-incomplete-multipart-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Validations.of(this.accessLogsBucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'This bucket is the server access log target of the backup bucket; logging it into itself would loop and a third bucket only moves the problem.',
    });

    if (props.replication) {
      this.replicationRole = new iam.Role(this, 'ReplicationRole', {
        assumedBy: new iam.ServicePrincipal('s3.amazonaws.com'),
        description: `S3 Replication of ${props.bucketName} to the replica bucket`,
      });
    }

    this.bucket = new s3.Bucket(this, 'Bucket', {
      bucketName: props.bucketName,
      versioned: true,
      encryption: s3.BucketEncryption.S3_MANAGED,
      bucketKeyEnabled: false,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      serverAccessLogsBucket: this.accessLogsBucket,
      serverAccessLogsPrefix: 'access-logs/',
      lifecycleRules: backupLifecycleRules(props.retention),
      removalPolicy: RemovalPolicy.RETAIN,
      replicationRole: this.replicationRole,
      replicationRules: props.replication
        ? [
            {
              id: 'replicate-everything',
              destination: props.replication.destination,
              priority: 1,
              filter: { prefix: '' },
              replicationTimeControl: s3.ReplicationTimeValue.FIFTEEN_MINUTES,
              metrics: s3.ReplicationTimeValue.FIFTEEN_MINUTES,
              deleteMarkerReplication: true,
            },
          ]
        : undefined,
    });

    if (props.replication && this.replicationRole) {
      this.bucket.grantReplicationPermission(this.replicationRole, { destinations: [{ bucket: props.replication.destination }] });
      const policy = defaultPolicyOf(this.replicationRole);
      acknowledgeWildcardResource(
        policy,
        this.bucket.arnForObjects('*'),
        'S3 Replication copies every object version of this bucket (the whole bucket is replicated): object-level read actions need bucket/*.',
      );
      acknowledgeWildcardResource(
        policy,
        props.replication.destination.arnForObjects('*'),
        'S3 Replication writes the replica of every key (and delete marker) into the replica bucket: object-level write actions need replica/*.',
      );
    }
  }
}
