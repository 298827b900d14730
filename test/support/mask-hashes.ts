/**
 * Jest snapshot serializer that masks asset hashes (64 hex characters: S3 keys of Lambda code, container image tags)
 * so that CloudFormation snapshots are the same on every machine and do not change with every source edit.
 * Use: `expect.addSnapshotSerializer(maskHashes)`.
 */
const HASH = /[0-9a-f]{64}/g;
const MASK = '[HASH REMOVED]';

function mask(value: unknown): unknown {
  if (typeof value === 'string') return value.replace(HASH, MASK);
  if (Array.isArray(value)) return value.map(mask);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k.replace(HASH, MASK), mask(v)]));
  }
  return value;
}

function containsHash(value: unknown): boolean {
  if (typeof value === 'string') return new RegExp(HASH.source).test(value);
  if (Array.isArray(value)) return value.some(containsHash);
  if (value !== null && typeof value === 'object') {
    return Object.entries(value as Record<string, unknown>).some(([k, v]) => new RegExp(HASH.source).test(k) || containsHash(v));
  }
  return false;
}

export const maskHashes: jest.SnapshotSerializerPlugin = {
  test: (value: unknown) => value !== null && typeof value === 'object' && containsHash(value),
  serialize: (value, config, indentation, depth, refs, printer) => printer(mask(value), config, indentation, depth, refs),
};
