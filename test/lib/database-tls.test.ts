/**
 * database.sslMode verify-ca / verify-full: every task that connects to the database gets PGSSLROOTCERT (libpq's
 * own name, which the runtime also hands node-postgres), pointing at a CA file the image really holds.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RDS_CA_BUNDLE_PATH } from '../../src/contract';
import { parseConfig } from '../../lib/config';
import { sslRootCertOf } from '../../lib/constructs/task-platform';
import { tempDir } from '../support/temp-dir';
import { TEST_CONFIG, synthesize } from './fixture';

const withDb = (database: Record<string, unknown>) => ({ ...TEST_CONFIG, database: { ...TEST_CONFIG.database, ...database } });

describe('GIVEN database.sslMode verify-full and no sslRootCert', () => {
  const { primary } = synthesize(withDb({ sslMode: 'verify-full' }));

  test('WHEN synthesized THEN the backup and restore tasks carry PGSSLMODE and PGSSLROOTCERT = the RDS bundle in the image; the cluster-mode restore test, which never connects, neither', () => {
    const tasks = Object.values(primary.findResources('AWS::ECS::TaskDefinition')).map((r) => {
      const props = r.Properties as { Family: string; ContainerDefinitions: Array<{ Environment: Array<{ Name: string; Value: unknown }> }> };
      const env = Object.fromEntries(props.ContainerDefinitions[0].Environment.map((e) => [e.Name, e.Value]));
      return { family: props.Family, PGSSLMODE: env.PGSSLMODE, PGSSLROOTCERT: env.PGSSLROOTCERT };
    });
    expect(tasks.map((t) => t.family).sort()).toEqual(['meatlizard-backup-backup', 'meatlizard-backup-restore', 'meatlizard-backup-restore-test']);
    for (const t of tasks) {
      const connects = t.family !== 'meatlizard-backup-restore-test';
      expect(t).toEqual({ family: t.family, PGSSLMODE: connects ? 'verify-full' : undefined, PGSSLROOTCERT: connects ? RDS_CA_BUNDLE_PATH : undefined });
    }
  });
});

describe('GIVEN the CA settings', () => {
  const db = (database: Record<string, unknown>) => parseConfig(withDb(database), 'test').database;

  test('WHEN sslMode is require THEN no PGSSLROOTCERT is set (with a CA file, libpq would check the CA, which require does not ask)', () => {
    expect(sslRootCertOf(db({ sslMode: 'require' }))).toBeUndefined();
  });

  test('WHEN verify-ca names a CA put in container/certs/ THEN that file in the image is the task\'s PGSSLROOTCERT; a name not there fails the synth', () => {
    const repo = tempDir('meatbackup-certs-');
    mkdirSync(join(repo, 'container', 'certs'), { recursive: true });
    writeFileSync(join(repo, 'container', 'certs', 'corp-ca.pem'), '-----BEGIN CERTIFICATE-----\n');
    expect(sslRootCertOf(db({ sslMode: 'verify-ca', sslRootCert: '/etc/ssl/meatbackup/corp-ca.pem' }), repo)).toBe('/etc/ssl/meatbackup/corp-ca.pem');
    expect(() => sslRootCertOf(db({ sslMode: 'verify-ca', sslRootCert: '/etc/ssl/meatbackup/other.pem' }), repo)).toThrow(
      'database.sslRootCert is /etc/ssl/meatbackup/other.pem, but container/certs/other.pem does not exist: put the CA\'s PEM file there',
    );
    expect(sslRootCertOf(db({ sslMode: 'verify-full', sslRootCert: 'system' }), repo)).toBe('system');
  });

  test.each([
    [{ sslMode: 'require', sslRootCert: '/etc/ssl/meatbackup/corp-ca.pem' }, /sslRootCert: is used with sslMode verify-ca or verify-full \(sslMode is require\)/],
    [{ sslMode: 'verify-ca', sslRootCert: 'system' }, /sslRootCert: system \(the public roots\) needs sslMode verify-full/],
    [{ sslMode: 'verify-full', sslRootCert: 'corp-ca.pem' }, /sslRootCert: must be an absolute path in the image/],
  ])('WHEN the configuration says %j THEN it is refused naming the key', (database, message) => {
    expect(() => parseConfig(withDb(database), 'test')).toThrow(message);
  });
});
