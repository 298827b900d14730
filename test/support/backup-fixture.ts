/**
 * Writes a backup object and its manifest exactly as the contract says (`backups/<db>-<stamp>.sql.gz`, gzip
 * members, object metadata, `<key>.manifest.json` with the sha256 and size of the stored bytes) from any SQL, so a
 * test can craft what `meatbackup backup` never writes: a correctly recorded object with broken SQL inside, or an
 * object altered after its manifest was written. It can also record a catalog summary (`manifest.catalog`) and a
 * globals sidecar (`<key>.globals.sql.gz`, `manifest.globals`), true or deliberately wrong.
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { type CatalogSummary, type Manifest, OBJECT_METADATA, backupKey, manifestSchema, sidecarKey } from '../../src/contract';
import { readCatalogSummary } from '../../src/postgres/catalog-summary';
import { withClient } from '../../src/postgres/client';
import type { Connection } from '../../src/postgres/connection';

export interface FixtureOptions {
  sql: string | Buffer;
  database: string;
  takenAt: Date;
  /** @default 'backups/' */
  prefix?: string;
  /** Uncompressed bytes per gzip member; several members, like the real backup writes. @default 64 KiB */
  memberBytes?: number;
  /** Write no manifest (a backup whose run never recorded its checksum). */
  withoutManifest?: boolean;
  /** Changes to the manifest (after the sha256/size were computed from the real bytes), e.g. `{ catalog }`. */
  manifest?: Partial<Manifest>;
  /** SQL stored as the globals sidecar (`<key>.globals.sql.gz`), recorded in `manifest.globals`. */
  globals?: string | Buffer;
}

export interface FixtureBackup {
  key: string;
  manifestKey: string;
  /** The stored (gzip) bytes. */
  bytes: Buffer;
  manifest: Manifest;
  versionId?: string;
}

/** Compresses `sql` as consecutive gzip members of `memberBytes` uncompressed bytes each. */
export function gzipMembers(sql: Buffer, memberBytes: number): Buffer {
  const members: Buffer[] = [];
  for (let i = 0; i < sql.length || i === 0; i += memberBytes) members.push(gzipSync(sql.subarray(i, i + memberBytes), { level: 1 }));
  return Buffer.concat(members);
}

export function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Stores `bytes` under `key` as the backup writes it (content type, metadata). Returns the new version id. */
export async function putBackupObject(s3: S3Client, bucket: string, key: string, bytes: Buffer, database: string, takenAt: Date): Promise<string | undefined> {
  const res = await s3.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: key,
      Body: bytes,
      ContentType: 'application/gzip',
      Metadata: {
        [OBJECT_METADATA.database]: encodeURIComponent(database),
        [OBJECT_METADATA.takenAt]: takenAt.toISOString(),
        [OBJECT_METADATA.serverVersion]: '15',
        [OBJECT_METADATA.pgDumpVersion]: '15',
      },
    }),
  );
  return res.VersionId && res.VersionId !== 'null' ? res.VersionId : undefined;
}

export async function writeBackupFixture(s3: S3Client, bucket: string, options: FixtureOptions): Promise<FixtureBackup> {
  const sql = Buffer.isBuffer(options.sql) ? options.sql : Buffer.from(options.sql, 'utf8');
  const bytes = gzipMembers(sql, options.memberBytes ?? 64 * 1024);
  const key = backupKey(options.database, options.takenAt, options.prefix);
  const versionId = await putBackupObject(s3, bucket, key, bytes, options.database, options.takenAt);
  const manifest = manifestSchema.parse({
    format: 'meatbackup/manifest@1',
    key,
    database: options.database,
    takenAt: options.takenAt.toISOString(),
    completedAt: new Date(options.takenAt.getTime() + 1000).toISOString(),
    sizeBytes: bytes.length,
    sha256: sha256(bytes),
    sqlBytes: sql.length,
    ...(versionId ? { versionId } : {}),
    serverVersion: '15',
    pgDumpVersion: '15',
    compression: { format: 'gzip', level: 1, memberBytes: options.memberBytes ?? 64 * 1024 },
    durationSeconds: 1,
    ...options.manifest,
  });
  if (options.globals !== undefined) manifest.globals = await putGlobals(s3, bucket, key, options.globals);
  const manifestKey = sidecarKey(key, 'manifest');
  if (!options.withoutManifest) {
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: manifestKey, Body: `${JSON.stringify(manifest, null, 2)}\n`, ContentType: 'application/json' }));
  }
  return { key, manifestKey, bytes, manifest, ...(versionId ? { versionId } : {}) };
}

/** Overwrites the backup object (not its manifest) with other bytes: "altered after upload". */
export async function alterBackupObject(s3: S3Client, bucket: string, backup: FixtureBackup, alter: (bytes: Buffer) => Buffer): Promise<Buffer> {
  const altered = alter(Buffer.from(backup.bytes));
  await putBackupObject(s3, bucket, backup.key, altered, backup.manifest.database, new Date(backup.manifest.takenAt));
  return altered;
}

/** Plain SQL of a database as pg_dump writes it: what a fixture usually wraps. */
export function pgDumpSql(env: NodeJS.ProcessEnv, database: string): string {
  return execFileSync('pg_dump', ['--no-password', '-d', database], { env: { ...process.env, ...env }, maxBuffer: 1 << 30 }).toString('utf8');
}

/** pg_dump of a database for comparing two of them: without the per-run `\restrict` key lines recent pg_dump releases add. */
export function comparableDump(env: NodeJS.ProcessEnv, database: string): string {
  return pgDumpSql(env, database)
    .split('\n')
    .filter((line) => !/^\\(un)?restrict /.test(line))
    .join('\n');
}

/** Stores `sql` gzipped at `<key>.globals.sql.gz` and returns what the manifest records of it. */
export async function putGlobals(s3: S3Client, bucket: string, key: string, sql: string | Buffer): Promise<NonNullable<Manifest['globals']>> {
  const bytes = gzipSync(Buffer.isBuffer(sql) ? sql : Buffer.from(sql, 'utf8'));
  const globalsKey = sidecarKey(key, 'globals');
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: globalsKey, Body: bytes, ContentType: 'application/gzip' }));
  return { key: globalsKey, sizeBytes: bytes.length, sha256: sha256(bytes) };
}

/** Reads a backup's manifest, applies `change` and writes it back (what a backup run recorded, amended by a test). */
export async function patchManifest(s3: S3Client, bucket: string, key: string, change: (manifest: Manifest) => Manifest): Promise<Manifest> {
  const manifestKey = sidecarKey(key, 'manifest');
  const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: manifestKey }));
  const manifest = manifestSchema.parse(change(manifestSchema.parse(JSON.parse(await res.Body!.transformToString('utf8')))));
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: manifestKey, Body: `${JSON.stringify(manifest, null, 2)}\n`, ContentType: 'application/json' }));
  return manifest;
}

/** The catalog summary of a database with the backup's own query; ANALYZEd first so row estimates exist. */
export async function catalogOf(conn: Connection, options: { analyze?: boolean } = { analyze: true }): Promise<CatalogSummary> {
  return withClient(conn, async (client) => {
    if (options.analyze) await client.query('ANALYZE');
    return readCatalogSummary(client);
  });
}

/** `pg_dumpall --globals-only --no-role-passwords` of a server, as the backup stores it. */
export function pgDumpallGlobals(env: NodeJS.ProcessEnv): string {
  return execFileSync('pg_dumpall', ['--globals-only', '--no-role-passwords', '--no-password'], { env: { ...process.env, ...env } }).toString('utf8');
}
