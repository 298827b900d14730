/** The pure pieces of promotion: CopySource encoding, part layout, identity, the TLS-only policy, sizes. */
import { choosePartSize, copySource, GiB, MiB, partRanges } from '../../../src/promote/copy-object';
import { checksumOf, compareByRecord, compareChecksums, compareListed, isMultipartEtag, SOURCE_ETAG_METADATA } from '../../../src/promote/identity';
import { tlsOnlyStatement, withTlsOnly } from '../../../src/promote/target-bucket';
import { describeResult, parseSize } from '../../../src/cli/commands/promote';
import type { PromotionResult } from '../../../src/promote/promote';

describe('CopySource', () => {
  test('GIVEN keys with spaces, plus signs, unicode and slashes WHEN encoded THEN each segment is percent-encoded and slashes stay', () => {
    expect(copySource('b', 'a b/c+d/ü.txt')).toBe('b/a%20b/c%2Bd/%C3%BC.txt');
    expect(copySource('b', '100%?#&=')).toBe('b/100%25%3F%23%26%3D');
    expect(copySource('b', 'k', 'v/1+')).toBe('b/k?versionId=v%2F1%2B');
  });
});

describe('multipart layout', () => {
  test('GIVEN a 12 MiB object and 5 MiB parts WHEN split THEN three inclusive ranges cover every byte once', () => {
    expect(partRanges(12 * MiB, 5 * MiB)).toEqual([
      { partNumber: 1, start: 0, end: 5 * MiB - 1 },
      { partNumber: 2, start: 5 * MiB, end: 10 * MiB - 1 },
      { partNumber: 3, start: 10 * MiB, end: 12 * MiB - 1 },
    ]);
  });

  test('GIVEN a 5 TiB object WHEN the part size is chosen THEN it stays within 10,000 parts and never under 5 MiB', () => {
    const size = 5 * 1024 * GiB;
    const part = choosePartSize(size, 512 * MiB);
    expect(Math.ceil(size / part)).toBeLessThanOrEqual(10_000);
    expect(choosePartSize(10 * MiB, 1)).toBe(5 * MiB);
    expect(choosePartSize(6 * GiB)).toBe(512 * MiB);
  });
});

describe('identity of a copy, by content', () => {
  const source = { key: 'k', size: 10, etag: 'abc-2' };
  const crc = (value: string, type = 'FULL_OBJECT') => ({ algorithm: 'CRC32' as const, value, type });

  test('GIVEN listings WHEN compared THEN only equal single-part ETags prove a copy; anything else needs its head', () => {
    expect(isMultipartEtag('abc-2')).toBe(true);
    expect(isMultipartEtag('d41d8cd98f00b204e9800998ecf8427e')).toBe(false);
    const plain = { key: 'k', size: 10, etag: 'd41d8cd98f00b204e9800998ecf8427e' };
    expect(compareListed(plain, { ...plain })).toEqual({ kind: 'same', proof: 'etag' });
    expect(compareListed(source, { ...source })).toBeUndefined();
    expect(compareListed(plain, { ...plain, etag: 'fff' })).toBeUndefined();
  });

  test('GIVEN a target head WHEN it carries our record THEN the record decides: same when it names the current ETag, stale otherwise', () => {
    expect(compareByRecord(source, { etag: 'x', size: 10, metadata: { [SOURCE_ETAG_METADATA]: 'abc-2' } })).toEqual({ kind: 'same', proof: 'record' });
    expect(compareByRecord(source, { etag: 'x', size: 10, metadata: { [SOURCE_ETAG_METADATA]: 'abc-3' } })).toEqual({ kind: 'stale' });
    expect(compareByRecord(source, { etag: 'x', size: 99, metadata: { [SOURCE_ETAG_METADATA]: 'abc-2' } })).toEqual({ kind: 'stale' });
    expect(compareByRecord(source, { etag: 'x', size: 11 })).toMatchObject({ kind: 'different' });
    expect(compareByRecord(source, { etag: 'x', size: 10 })).toBeUndefined();
  });

  test('GIVEN both heads without a record WHEN compared THEN equal S3 checksums of one algorithm and type prove it; none is unproven', () => {
    const facts = (checksum?: ReturnType<typeof crc>) => ({ etag: 'x', size: 10, ...(checksum ? { checksum } : {}) });
    expect(compareChecksums(facts(crc('AAAA')), facts(crc('AAAA')))).toEqual({ kind: 'same', proof: 'checksum' });
    expect(compareChecksums(facts(crc('AAAA')), facts(crc('BBBB')))).toMatchObject({ kind: 'different' });
    expect(compareChecksums(facts(crc('AAAA')), facts(crc('AAAA', 'COMPOSITE')))).toEqual({ kind: 'unproven' });
    expect(compareChecksums(facts(crc('AAAA')), facts())).toEqual({ kind: 'unproven' });
    expect(checksumOf({ ChecksumCRC64NVME: 'n', ChecksumCRC32: 'c', ChecksumType: 'FULL_OBJECT' })).toEqual({ algorithm: 'CRC64NVME', value: 'n', type: 'FULL_OBJECT' });
  });
});

describe('TLS-only policy', () => {
  test('GIVEN no policy WHEN hardened THEN the policy is the enforceSSL deny on the bucket and its objects', () => {
    const policy = JSON.parse(withTlsOnly(undefined, 'meat', 'eu-west-1')!);
    expect(policy).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'MeatbackupDenyInsecureTransport',
          Effect: 'Deny',
          Principal: { AWS: '*' },
          Action: 's3:*',
          Resource: ['arn:aws:s3:::meat', 'arn:aws:s3:::meat/*'],
          Condition: { Bool: { 'aws:SecureTransport': 'false' } },
        },
      ],
    });
    expect(tlsOnlyStatement('meat', 'cn-north-1').Resource[0]).toBe('arn:aws-cn:s3:::meat');
  });

  test('GIVEN an existing policy WHEN hardened THEN its statements are kept and the deny added once', () => {
    const existing = JSON.stringify({ Version: '2012-10-17', Statement: { Sid: 'Read', Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::1:root' }, Action: 's3:GetObject', Resource: '*' } });
    const merged = JSON.parse(withTlsOnly(existing, 'meat')!);
    expect(merged.Statement.map((s: { Sid: string }) => s.Sid)).toEqual(['Read', 'MeatbackupDenyInsecureTransport']);
    expect(withTlsOnly(JSON.stringify(merged), 'meat')).toBeUndefined();
  });
});

describe('--multipart-threshold sizes', () => {
  test('GIVEN sizes with units WHEN parsed THEN they are bytes', () => {
    expect(parseSize('5GiB')).toBe(5 * GiB);
    expect(parseSize('8 MiB')).toBe(8 * MiB);
    expect(parseSize('8MB')).toBe(8_000_000);
    expect(parseSize('1048576')).toBe(MiB);
    expect(() => parseSize('lots')).toThrow('must be a size');
  });
});

describe('the result line', () => {
  const result = (copied: number, copySeconds: number): PromotionResult => ({
    plan: { from: 'r', to: 't', engine: 'copy', targetExists: true, source: { objects: 5, bytes: 50 }, alreadyCopied: { objects: 5 - copied, bytes: 0 }, toCopy: { objects: copied, bytes: 0 }, recopy: { objects: 0, bytes: 0 }, multipart: { objects: 0, bytes: 0 }, conflicts: { count: 0, keys: [] } },
    created: false,
    hardening: { versioning: 'already', publicAccessBlocked: true, encryption: 'already', tlsOnlyPolicy: 'already' },
    copied: { objects: copied, bytes: copied * 10, single: copied, multipart: 0 },
    skipped: { objects: 5 - copied, bytes: 0 },
    vanished: [],
    verification: { ok: true, objects: 5, bytes: 50, proofs: { record: 5, checksum: 0, etag: 0 }, missing: [], different: [], extra: [] },
    copySeconds,
    totalSeconds: 1.5,
    objectsPerSecond: copied / Math.max(copySeconds, 0.001),
    bytesPerSecond: 0,
    ok: true,
  });

  test('GIVEN a resumed run that copied nothing, or copied in milliseconds WHEN described THEN no rate "over 0.0s" is printed', () => {
    expect(describeResult(result(0, 0))).toContain('time:     1.5s in all (nothing needed copying)');
    expect(describeResult(result(2, 0.004))).toContain('copying took under 0.1s');
    expect(describeResult(result(0, 0))).not.toContain('over 0.0s');
    expect(describeResult(result(5, 2))).toContain('objects/s');
    expect(describeResult(result(5, 2))).toContain('5 by copy record');
  });

  test('GIVEN a slow copy of a few bytes WHEN described THEN the rate reads like every other size, not 201.9995455578278 B/s', () => {
    const slow = { ...result(5, 0.2475), bytesPerSecond: 201.9995455578278 };
    expect(describeResult(slow)).toContain('20 objects/s, 202 B/s over 0.2s of copying');
    expect(describeResult({ ...slow, bytesPerSecond: 2_500_000.123 })).toContain(', 2.4 MiB/s over');
  });
});
