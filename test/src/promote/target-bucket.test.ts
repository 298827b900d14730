/**
 * What S3 answers about a bucket name, as the operator reads it. These answers come from real S3 (another account's
 * bucket, a name S3 has not freed yet) and cannot be produced on moto: the client is mocked.
 */
import { CreateBucketCommand, HeadBucketCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { createBucket, inspectBucket } from '../../../src/promote/target-bucket';

const s3 = new S3Client({ region: 'eu-west-1' });
const mock = mockClient(s3);
afterEach(() => mock.reset());

function s3Error(name: string, status: number, message = name, headers: Record<string, string> = {}): S3ServiceException {
  const err = new S3ServiceException({ name, $fault: 'client', $metadata: { httpStatusCode: status }, message });
  return Object.assign(err, { $response: { statusCode: status, headers } });
}

describe('the target bucket name', () => {
  test('GIVEN a bucket owned by another account (HeadBucket 403) WHEN inspected THEN the error says so and suggests another --to', async () => {
    mock.on(HeadBucketCommand).rejects(s3Error('Forbidden', 403));
    await expect(inspectBucket(s3, 'taken-name', 'target', '--to')).rejects.toThrow(
      'bucket taken-name already exists and belongs to another account (or this role may not use it): pass --to with another name',
    );
  });

  test('GIVEN a bucket in another region (301) WHEN inspected THEN the error names the region', async () => {
    mock.on(HeadBucketCommand).rejects(s3Error('PermanentRedirect', 301, 'moved', { 'x-amz-bucket-region': 'eu-central-1' }));
    await expect(inspectBucket(s3, 'meat', 'target', '--to')).rejects.toThrow('the target bucket meat is in eu-central-1: pass the matching region option');
  });

  test('GIVEN a missing bucket (404) WHEN inspected THEN it does not exist', async () => {
    mock.on(HeadBucketCommand).rejects(s3Error('NotFound', 404));
    await expect(inspectBucket(s3, 'meat', 'target', '--to')).resolves.toEqual({ exists: false });
  });

  test('GIVEN BucketAlreadyExists WHEN creating THEN the error says the name is taken or not freed yet and suggests another --to', async () => {
    mock.on(CreateBucketCommand).rejects(s3Error('BucketAlreadyExists', 409));
    await expect(createBucket(s3, 'meat', 'eu-west-1', '--to')).rejects.toThrow(
      'bucket name meat is taken: another account owns it, or it was deleted recently and S3 has not freed the name yet (that can take a while): pass --to with another name',
    );
  });

  test('GIVEN a name just deleted (409 OperationAborted) WHEN creating THEN the error says S3 takes time to free names and suggests another --to', async () => {
    mock.on(CreateBucketCommand).rejects(s3Error('OperationAborted', 409, 'A conflicting conditional operation is currently in progress against this resource. Please try again.'));
    const error = (await createBucket(s3, 'meat', 'eu-west-1', '--to').catch((e: unknown) => e)) as Error;
    expect(error.message).toMatch(/^S3 has not freed the name meat yet after its deletion \(OperationAborted: .*\): S3 can take time to free a name; pass --to with another name, or retry later$/);
  });

  test('GIVEN a name we already own WHEN creating THEN it is reused, and outside us-east-1 the region is the location constraint', async () => {
    mock.on(CreateBucketCommand).rejects(s3Error('BucketAlreadyOwnedByYou', 409));
    await expect(createBucket(s3, 'meat', 'eu-west-1', '--to')).resolves.toBe('already-yours');
    expect(mock.commandCalls(CreateBucketCommand)[0].args[0].input).toEqual({
      Bucket: 'meat',
      ObjectOwnership: 'BucketOwnerEnforced',
      CreateBucketConfiguration: { LocationConstraint: 'eu-west-1' },
    });
  });
});
