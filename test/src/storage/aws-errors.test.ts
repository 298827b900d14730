/** One meaning for each AWS failure, whichever command meets it. */
import { UserError } from '../../../src/core/errors';
import { ecsFailed, errorCode, isAccessDenied, isNoSuchBucket, isNotFound, isPreconditionFailed } from '../../../src/storage/aws-errors';
import { describeS3Error } from '../../../src/storage/s3';

const awsError = (name: string, status?: number, extra: Record<string, unknown> = {}) =>
  Object.assign(new Error(`${name} happened`), { name, ...(status ? { $metadata: { httpStatusCode: status } } : {}), ...extra });

describe('AWS error classification', () => {
  test('GIVEN the ways S3 says an object or a version is missing WHEN classified THEN each is "not found"', () => {
    expect(isNotFound(awsError('NoSuchKey', 404))).toBe(true);
    expect(isNotFound(awsError('NoSuchVersion', 404))).toBe(true);
    // A HEAD answer has no body: the SDK names it NotFound, or only the status is known.
    expect(isNotFound(awsError('NotFound', 404))).toBe(true);
    expect(isNotFound(awsError('UnknownError', 404))).toBe(true);
    expect(isNotFound(awsError('AccessDenied', 403))).toBe(false);
    expect(isNotFound(new Error('socket hang up'))).toBe(false);
  });

  test('GIVEN a missing bucket WHEN classified THEN it is not a missing object, and describing it names the bucket', () => {
    const gone = awsError('NoSuchBucket', 404);
    expect(isNotFound(gone)).toBe(false);
    expect(isNoSuchBucket(gone)).toBe(true);
    expect(describeS3Error(gone, 'read backups/x.sql.gz.manifest.json from bucket meat', 'meat').message).toBe(
      'could not read backups/x.sql.gz.manifest.json from bucket meat: bucket meat does not exist: check --bucket or BACKUP_BUCKET',
    );
  });

  test('GIVEN a failure already described for the operator WHEN classified THEN it answers for what S3 said', () => {
    const described = describeS3Error(awsError('NoSuchKey', 404), 'read k from bucket b', 'b');
    expect(described).toBeInstanceOf(UserError);
    expect(isNotFound(described)).toBe(true);
    expect(errorCode(described)).toBe('NoSuchKey');
    expect(isNotFound(new UserError('a plain operator message'))).toBe(false);
  });

  test('GIVEN conditions and refusals WHEN classified THEN the XML code, the SDK name and the bare status all count', () => {
    expect(isPreconditionFailed(awsError('PreconditionFailed', 412))).toBe(true);
    expect(isPreconditionFailed(awsError('Unknown', 412))).toBe(true);
    expect(isPreconditionFailed(Object.assign(new Error('x'), { Code: 'PreconditionFailed' }))).toBe(true);
    expect(isPreconditionFailed(awsError('NoSuchKey', 404))).toBe(false);
    expect(isAccessDenied(awsError('AccessDenied', 403))).toBe(true);
    expect(isAccessDenied(awsError('AccessDeniedException', 400))).toBe(true);
    expect(isAccessDenied(awsError('Forbidden', 403))).toBe(true);
    expect(isAccessDenied(awsError('NoSuchKey', 404))).toBe(false);
  });

  test('GIVEN an ECS refusal or another ECS failure WHEN reported THEN one line says what could not be done and, when denied, which permission', () => {
    const denied = ecsFailed(awsError('AccessDeniedException', 400), 'start the backup task', 'the role needs ecs:RunTask');
    expect(denied.message).toBe('could not start the backup task: access denied: the role needs ecs:RunTask');
    const other = ecsFailed(awsError('ClusterNotFoundException', 400), 'start the backup task', 'the role needs ecs:RunTask');
    expect(other.message).toBe('could not start the backup task: ClusterNotFoundException: ClusterNotFoundException happened');
    const already = new UserError('already said');
    expect(ecsFailed(already, 'x', 'y')).toBe(already);
  });
});
