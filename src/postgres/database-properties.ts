/**
 * Reading what a plain `pg_dump` (without `--create`) leaves out about the database itself: its owner, GRANTs,
 * comment, connection limit, `ALTER DATABASE … SET` and `ALTER ROLE … IN DATABASE … SET` settings. A backup records
 * them in its manifest (`databaseProperties`); a restore reads them from the database it replaces. Applying them is
 * the restore's (../restore/database-properties).
 */
import type { Client } from 'pg';
import type { DatabaseProperties } from '../contract';

/** Reads the properties of database `name` (the session may be on any database of the server). */
export async function readDatabaseProperties(client: Client, name: string): Promise<DatabaseProperties> {
  const { rows: db } = await client.query<{ owner: string; acl: string | null; comment: string | null; connlimit: number }>(
    `select pg_get_userbyid(d.datdba) as owner, d.datacl::text as acl, shobj_description(d.oid, 'pg_database') as comment,
            d.datconnlimit as connlimit
       from pg_database d where d.datname = $1`,
    [name],
  );
  if (db.length === 0) throw new Error(`database ${name} does not exist`);
  const { rows: settings } = await client.query<{ role: string | null; config: string[] }>(
    `select case when s.setrole = 0 then null else pg_get_userbyid(s.setrole) end as role, s.setconfig as config
       from pg_db_role_setting s join pg_database d on d.oid = s.setdatabase
      where d.datname = $1 order by s.setrole`,
    [name],
  );
  // A NULL datacl means the built-in defaults: no grant list to apply.
  const { rows: grants } = await client.query<{ grantee: string | null; privilege: string; grantable: boolean }>(
    `select case when a.grantee = 0 then null else pg_get_userbyid(a.grantee) end as grantee,
            a.privilege_type as privilege, a.is_grantable as grantable
       from pg_database d, aclexplode(d.datacl) a
      where d.datname = $1 order by a.grantee, a.privilege_type`,
    [name],
  );
  return {
    owner: db[0].owner,
    comment: db[0].comment,
    connectionLimit: Number(db[0].connlimit),
    grants: db[0].acl === null ? null : grants,
    settings: settings.map((s) => ({ role: s.role, entries: s.config })),
  };
}
