/**
 * `restore --with-globals`: the roles a backup's objects are owned by and granted to, created on the target server
 * before the load so a restore onto a brand-new server works. The backup stored
 * `pg_dumpall --globals-only --no-role-passwords` beside it (`<key>.globals.sql.gz`, sha256 in the manifest).
 *
 * Applied idempotently, in one transaction (all of it or none of it), statement by statement with node-postgres:
 *
 * - roles: a role missing on the server is created with the backup's attributes, settings, comment and security
 *   labels. A role that already exists is kept exactly as it is: its CREATE, ALTER (attributes, settings), COMMENT
 *   and SECURITY LABEL are skipped. So the role we are connected as and the bootstrap superuser (both always exist)
 *   are never altered, and running it twice changes nothing the second time;
 * - memberships (`GRANT role TO member`): granted when the role or the member was created by this run, skipped when
 *   both already existed (their memberships are the server's business);
 * - parameter privileges (`GRANT SET ON PARAMETER …`, PostgreSQL 15+): applied for roles created by this run only;
 * - tablespaces: never created. CREATE TABLESPACE needs a directory, owned by the server's OS user, that a new server
 *   lacks and that a restore cannot make for it (and it cannot run in a transaction). A tablespace missing on the
 *   server is skipped with a note naming its location; the load then fails at the first object stored in it, with
 *   psql's own `tablespace "…" does not exist` line. An existing tablespace is kept as it is;
 * - session settings (`SET …`) are applied, except client_encoding: node-postgres speaks UTF-8;
 * - anything else is refused before anything is applied: replaying an unknown statement blindly is how a restore
 *   changes a server in ways nobody asked for.
 *
 * Every error is an error: nothing is ignored, the transaction is rolled back and the restore stops.
 */
import { gunzipSync } from 'node:zlib';
import { createHash } from 'node:crypto';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { Client } from 'pg';
import type { Manifest } from '../contract';
import { UserError, oneLine } from '../core/errors';
import { formatBytes } from '../core/format';
import { isNotFound } from '../storage/aws-errors';
import { describeS3Error } from '../storage/s3';
import { type GlobalsStatement, classify, splitSql } from './globals-sql';

/** Globals of a few thousand roles are kilobytes; anything this large is not what the backup wrote. */
const MAX_GLOBALS_BYTES = 64 * 1024 * 1024;

export type ManifestGlobals = NonNullable<Manifest['globals']>;

export function requireGlobals(manifest: Manifest, key: string): ManifestGlobals {
  if (!manifest.globals) {
    throw new UserError(
      `backup ${key} has no globals recorded in its manifest (it was taken before backups stored roles): nothing was changed; create its roles on the server by hand, then restore without --with-globals`,
    );
  }
  return manifest.globals;
}

/** Reads the globals object, checks its size and sha256 against the manifest, and returns its SQL text. */
export async function fetchVerifiedGlobals(s3: S3Client, bucket: string, globals: ManifestGlobals, signal?: AbortSignal): Promise<string> {
  if (globals.sizeBytes > MAX_GLOBALS_BYTES) {
    throw new UserError(`globals ${globals.key} are recorded as ${formatBytes(globals.sizeBytes)}, more than roles ever take: refused`);
  }
  let bytes: Buffer;
  try {
    const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: globals.key }), signal ? { abortSignal: signal } : {});
    bytes = Buffer.from(await res.Body!.transformToByteArray());
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    if (isNotFound(err)) {
      throw new UserError(`the backup's globals ${globals.key} are gone from bucket ${bucket}: nothing was changed; restore without --with-globals after creating its roles by hand`);
    }
    throw describeS3Error(err, `read ${globals.key} from bucket ${bucket}`, bucket);
  }
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  if (bytes.length !== globals.sizeBytes || sha256 !== globals.sha256) {
    throw new UserError(
      `globals ${globals.key} do not match the manifest (${bytes.length} bytes, sha256 ${sha256.slice(0, 12)}…; recorded ${globals.sizeBytes} bytes, ${globals.sha256.slice(0, 12)}…): altered after upload, refused; nothing was changed`,
    );
  }
  try {
    return gunzipSync(bytes).toString('utf8');
  } catch (err) {
    throw new UserError(`globals ${globals.key} match the manifest but are not valid gzip (${(err as Error).message}): refused`, 1, { cause: err });
  }
}

export interface GlobalsPlan {
  /** Statements to run, in order, in one transaction. */
  run: string[];
  createdRoles: string[];
  keptRoles: string[];
  memberships: { role: string; member: string }[];
  /** Tablespaces the backup's server had and this one does not: not created. */
  missingTablespaces: { name: string; location: string }[];
  notes: string[];
}

export interface ServerGlobals {
  roles: ReadonlySet<string>;
  tablespaces: ReadonlySet<string>;
}

const UTF8_NAMES = /^'?(utf-?8|unicode)'?$/i;

/** Decides, from what the server already has, which statements to run. Throws on a statement it cannot judge. */
export function planGlobals(sql: string, server: ServerGlobals): GlobalsPlan {
  let statements: GlobalsStatement[];
  try {
    statements = splitSql(sql).map(classify);
  } catch (err) {
    throw new UserError(`the backup's globals cannot be read as pg_dumpall output (${(err as Error).message}): refused; nothing was changed`);
  }
  const unknown = statements.find((s) => s.kind === 'unknown');
  if (unknown) {
    throw new UserError(
      `the backup's globals hold a statement meatbackup does not apply (${JSON.stringify(oneLine(unknown.sql).slice(0, 80))}): nothing was changed; apply them by hand (gunzip -c … | psql) and restore without --with-globals`,
    );
  }
  const created = new Set<string>();
  const plan: GlobalsPlan = { run: [], createdRoles: [], keptRoles: [], memberships: [], missingTablespaces: [], notes: [] };
  const newRole = (role: string): boolean => created.has(role);
  for (const s of statements) {
    switch (s.kind) {
      case 'set':
        if (s.name === 'client_encoding') {
          if (!UTF8_NAMES.test(s.value) && /[^\p{ASCII}]/u.test(sql)) {
            throw new UserError(`the backup's globals are written in client encoding ${s.value}, not UTF-8: apply them by hand with psql and restore without --with-globals`);
          }
          break;
        }
        plan.run.push(s.sql);
        break;
      case 'create-role':
        if (server.roles.has(s.role)) {
          if (!plan.keptRoles.includes(s.role)) plan.keptRoles.push(s.role);
        } else if (!created.has(s.role)) {
          created.add(s.role);
          plan.createdRoles.push(s.role);
          plan.run.push(s.sql);
        }
        break;
      case 'role-detail':
        if (newRole(s.role)) plan.run.push(s.sql);
        else if (!server.roles.has(s.role)) throw new UserError(`the backup's globals alter role ${s.role} without creating it: refused; nothing was changed`);
        break;
      case 'membership':
        if (newRole(s.role) || newRole(s.member)) {
          plan.run.push(s.sql);
          plan.memberships.push({ role: s.role, member: s.member });
        }
        break;
      case 'parameter-privilege':
        if (s.grantee !== undefined && newRole(s.grantee)) plan.run.push(s.sql);
        break;
      case 'create-tablespace':
        if (!server.tablespaces.has(s.tablespace)) {
          plan.missingTablespaces.push({ name: s.tablespace, location: s.location });
          plan.notes.push(
            `tablespace ${s.tablespace} (at ${s.location} on the backup's server) does not exist here and was not created: objects stored in it will fail to load; create it (CREATE TABLESPACE … LOCATION '…') and restore again if they do`,
          );
        }
        break;
      case 'tablespace-detail':
        // Kept as it is when it exists, skipped with its CREATE when it does not.
        break;
      case 'unknown':
        break;
    }
  }
  if (plan.createdRoles.length > 0) {
    plan.notes.push(`created role(s) ${plan.createdRoles.join(', ')} without passwords (backups store none): set them with ALTER ROLE … PASSWORD before anything logs in as them`);
  }
  return plan;
}

export interface GlobalsApplied {
  createdRoles: string[];
  keptRoles: string[];
  memberships: { role: string; member: string }[];
  missingTablespaces: { name: string; location: string }[];
  notes: string[];
  statements: number;
}

async function serverGlobals(client: Client): Promise<ServerGlobals> {
  const roles = await client.query<{ name: string }>('select rolname as name from pg_roles');
  const tablespaces = await client.query<{ name: string }>('select spcname as name from pg_tablespace');
  return { roles: new Set(roles.rows.map((r) => r.name)), tablespaces: new Set(tablespaces.rows.map((r) => r.name)) };
}

/**
 * Applies the globals on the server `client` is connected to, in one transaction: what is missing is created,
 * what exists is kept. On any error the transaction is rolled back and a UserError names the statement.
 */
export async function applyGlobals(client: Client, sql: string): Promise<GlobalsApplied> {
  await client.query('BEGIN');
  try {
    const plan = planGlobals(sql, await serverGlobals(client));
    for (const statement of plan.run) {
      try {
        await client.query(statement);
      } catch (err) {
        const e = err as { message?: string; code?: string };
        const hint = e.code === '42501' ? ' (the restore needs a superuser, or a role with CREATEROLE, to create roles)' : '';
        throw new UserError(`could not apply the backup's globals: ${e.message ?? String(err)}${hint}, at ${JSON.stringify(oneLine(statement).slice(0, 120))}; none of them were applied`, 1, { cause: err });
      }
    }
    await client.query('COMMIT');
    return {
      createdRoles: plan.createdRoles,
      keptRoles: plan.keptRoles,
      memberships: plan.memberships,
      missingTablespaces: plan.missingTablespaces,
      notes: plan.notes,
      statements: plan.run.length,
    };
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}
