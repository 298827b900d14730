import { S3ServiceException } from '@aws-sdk/client-s3';
import { describeS3Error } from '../../../src/storage/s3';

/** An S3 error as the SDK raises it from an HTTP answer. */
function s3Error(name: string, status: number, message: string): S3ServiceException {
  return new S3ServiceException({ name, $fault: 'client', $metadata: { httpStatusCode: status }, message });
}

describe('describeS3Error', () => {
  test('GIVEN S3 refusing a read because the key policy does not name the caller WHEN described THEN it says to assume an operator role', () => {
    // GIVEN the answer AWS gives for GetObject of an SSE-KMS object when kms:Decrypt is denied
    const err = s3Error(
      'AccessDenied',
      403,
      'User: arn:aws:sts::111122223333:assumed-role/Admin/alice is not authorized to perform: kms:Decrypt on the resource associated with this ciphertext because no resource-based policies allow access',
    );
    // WHEN
    const described = describeS3Error(err, 'read backups/meatdb-2025-09-17T10:30:00.sql.gz', 'meatlizard-primary');
    // THEN
    expect(described.message).toBe(
      'could not read backups/meatdb-2025-09-17T10:30:00.sql.gz: access denied by the KMS key of bucket meatlizard-primary: ' +
        'assume one of the stacks\' operatorRoleArns (README, "Who may read backups")',
    );
  });

  test('GIVEN S3 refusing for an S3 permission WHEN described THEN it names the S3 permissions, not the key', () => {
    const described = describeS3Error(s3Error('AccessDenied', 403, 'Access Denied'), 'list backups', 'meatlizard-primary');
    expect(described.message).toBe('could not list backups: access denied to bucket meatlizard-primary: the role or user needs s3 permissions on it');
  });
});
