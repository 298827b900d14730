import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import {
  type AppConfigInput,
  ConfigError,
  EXAMPLE_CONFIG,
  loadConfig,
  parseConfig,
  readConfigInput,
  scheduleExpressionProblem,
} from '../../lib/config';
import { tempDir } from '../support/temp-dir';
import { TEST_CONFIG, testApp } from './fixture';

/** The message parseConfig throws for `input`, or fails the test when it accepts it. */
function configError(input: unknown): string {
  try {
    parseConfig(input, 'test');
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error(`configuration was accepted: ${JSON.stringify(input)}`);
}

function withChanges(changes: Record<string, unknown>): AppConfigInput {
  return { ...EXAMPLE_CONFIG, ...changes } as AppConfigInput;
}

describe('configuration', () => {
  describe('defaults', () => {
    test('GIVEN the example configuration WHEN parsed THEN every default is filled in', () => {
      // WHEN
      const config = parseConfig(EXAMPLE_CONFIG);
      // THEN
      expect(config).toEqual({
        name: 'meatlizard-backup',
        primaryRegion: 'eu-west-1',
        replicaRegion: 'eu-central-1',
        buckets: {},
        schedule: { expression: 'cron(0 3 * * ? *)', timeZone: 'UTC', enabled: true },
        retention: {
          dailyDays: 14,
          weeklyDays: 56,
          monthlyDays: 365,
          transitions: {
            daily: null,
            weekly: { storageClass: 'STANDARD_IA', afterDays: 30 },
            monthly: { storageClass: 'GLACIER_IR', afterDays: 30 },
          },
          lockDays: 35,
          noncurrentVersionDays: 30,
          logDays: 90,
          accessLogDays: 365,
        },
        encryption: 'kms',
        operatorRoleArns: ['arn:aws:iam::123456789012:role/meatlizard-break-glass'],
        database: {
          host: 'meatdb.example.internal',
          port: 5432,
          name: 'meatdb',
          user: 'meatbackup',
          logins: {},
          sslMode: 'require',
          passwordSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:meatlizard/meatdb/backup-AbCdEf',
        },
        network: { mode: 'new', cidr: '10.80.0.0/20', natGateways: 1 },
        task: { cpu: 2048, memoryMiB: 4096 },
        image: { buildArgs: {}, buildNetwork: 'default' },
        restoreTask: { cpu: 2048, memoryMiB: 4096 },
        restoreTest: {
          schedule: { expression: 'cron(0 5 ? * SUN *)', timeZone: 'UTC', enabled: true },
          mode: 'cluster',
          assertions: [],
          cpu: 2048,
          memoryMiB: 8192,
          ephemeralStorageGiB: 50,
        },
        alarms: { backupMaxAgeHours: 26, restoreTestMaxAgeDays: 8, replicationLatencySeconds: 900, notifyOnOk: true },
        tags: {},
      });
    });

    test('GIVEN a full configuration WHEN parsed THEN its values are kept', () => {
      // WHEN
      const config = parseConfig(TEST_CONFIG);
      // THEN
      expect(config.account).toBe('123456789012');
      expect(config.database.passwordSecretField).toBe('password');
      expect(config.webService).toEqual({ cluster: 'meatlizard', service: 'web' });
      expect(config.alarmEmail).toBe('ops@example.com');
    });

    test('GIVEN an existing network WHEN parsed THEN public IPs default to off', () => {
      // WHEN
      const config = parseConfig(
        withChanges({ network: { mode: 'existing', vpcId: 'vpc-0123456789abcdef0', availabilityZones: ['eu-west-1a'], subnetIds: ['subnet-0123456789abcdef0'] } }),
      );
      // THEN
      expect(config.network).toEqual({
        mode: 'existing',
        vpcId: 'vpc-0123456789abcdef0',
        availabilityZones: ['eu-west-1a'],
        subnetIds: ['subnet-0123456789abcdef0'],
        assignPublicIp: false,
      });
    });
  });

  describe('bad configuration fails with the field named', () => {
    test('GIVEN no replica region THEN config.replicaRegion is required', () => {
      const { replicaRegion: _omitted, ...input } = EXAMPLE_CONFIG;
      expect(configError(input)).toContain('config.replicaRegion: is required');
    });

    test('GIVEN the same region twice THEN config.replicaRegion must differ', () => {
      expect(configError(withChanges({ replicaRegion: 'eu-west-1' }))).toContain(
        'config.replicaRegion: must differ from primaryRegion (both are eu-west-1)',
      );
    });

    test('GIVEN a region that is not a region code THEN the field is named', () => {
      expect(configError(withChanges({ primaryRegion: 'Ireland' }))).toContain('config.primaryRegion: must be an AWS region code');
    });

    test.each([
      ['eu-west-9', 'replicaRegion', '"eu-west-9" is not one (nearest: eu-west-1, eu-west-2 or eu-west-3;'],
      ['eu-cenral-1', 'replicaRegion', '"eu-cenral-1" is not one (nearest: eu-central-1;'],
      ['us-esat-1', 'primaryRegion', '"us-esat-1" is not one (nearest: us-east-1;'],
    ])('GIVEN the region %j, shaped like one but unknown, THEN config.%s names the nearest known region', (region, field, message) => {
      // GIVEN a region of the right shape that AWS does not have: a shape check alone would synthesize it
      const input = field === 'primaryRegion' ? withChanges({ primaryRegion: region, replicaRegion: 'eu-central-1' }) : withChanges({ replicaRegion: region });
      // WHEN / THEN
      const error = configError(input);
      expect(error).toContain(`config.${field}: must be an AWS region code that aws-cdk-lib knows: ${message}`);
    });

    test.each(['eusc-de-east-1', 'us-gov-west-1', 'ap-southeast-5'])('GIVEN the known region %s WHEN parsed THEN it is accepted', (region) => {
      expect(parseConfig(withChanges({ replicaRegion: region })).replicaRegion).toBe(region);
    });

    test.each([
      ['cron(0 3 * * *)', 'needs 6 fields'],
      ['cron(0 3 * * * *)', 'needs ? in exactly one of day-of-month and day-of-week'],
      ['cron(0 25 * * ? *)', 'hours must be 0-23'],
      ['daily at 3', 'must be cron('],
      ['rate(0 days)', 'positive'],
    ])('GIVEN schedule %j THEN config.schedule.expression says %j', (expression, message) => {
      const error = configError(withChanges({ schedule: { expression } }));
      expect(error).toContain('config.schedule.expression:');
      expect(error).toContain(message);
    });

    test('GIVEN an unknown time zone THEN config.schedule.timeZone is named', () => {
      expect(configError(withChanges({ schedule: { timeZone: 'Mars/Olympus' } }))).toContain('config.schedule.timeZone: must be an IANA time zone');
    });

    test.each([
      ['Backups_Bucket', 'may contain only lowercase letters'],
      ['ab', 'must be 3 to 63 characters'],
      ['a'.repeat(64), 'must be 3 to 63 characters'],
      ['my..bucket', 'two adjacent dots'],
      ['192.168.1.1', 'IP address'],
      ['xn--bucket', 'must not start with'],
      ['bucket-s3alias', 'suffix S3 reserves'],
    ])('GIVEN bucket name %j THEN config.buckets.primary says %j', (name, message) => {
      const error = configError(withChanges({ buckets: { primary: name } }));
      expect(error).toContain('config.buckets.primary:');
      expect(error).toContain(message);
    });

    test('GIVEN the same bucket name twice THEN config.buckets.replica must differ', () => {
      expect(configError(withChanges({ buckets: { primary: 'same-bucket', replica: 'same-bucket' } }))).toContain(
        'config.buckets.replica: must differ from buckets.primary',
      );
    });

    test.each([
      ['arn:aws:iam::123456789012:user/alice', 'must be an IAM role ARN'],
      ['arn:aws:iam::123456789012:role/*', 'not the whole name'],
      ['break-glass', 'must be an IAM role ARN'],
    ])('GIVEN operator %j THEN config.operatorRoleArns.0 says %j', (arn, message) => {
      const error = configError(withChanges({ operatorRoleArns: [arn] }));
      expect(error).toContain('config.operatorRoleArns.0:');
      expect(error).toContain(message);
    });

    test('GIVEN an operator role of another account than the pinned one THEN it is refused with both accounts', () => {
      expect(configError(withChanges({ account: '111122223333', operatorRoleArns: ['arn:aws:iam::444455556666:role/break-glass'] }))).toContain(
        "config.operatorRoleArns.0: must be a role of the stacks' account 111122223333, not 444455556666",
      );
    });

    test('GIVEN an IAM Identity Center role with a path and a * for its suffix WHEN parsed THEN it is kept as written', () => {
      const arn = 'arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_BreakGlass_*';
      expect(parseConfig(withChanges({ account: '111122223333', operatorRoleArns: [arn] })).operatorRoleArns).toEqual([arn]);
    });

    test('GIVEN a misspelt key THEN it is named as unknown', () => {
      expect(configError(withChanges({ replicaRegon: 'eu-central-1' }))).toContain('config.replicaRegon: is not a known setting');
    });

    test('GIVEN a transition not before its class expires THEN config.retention.transitions.<class>.afterDays is named', () => {
      expect(configError(withChanges({ retention: { weeklyDays: 30 } }))).toContain(
        'config.retention.transitions.weekly.afterDays: must be less than weeklyDays (30)',
      );
      expect(configError(withChanges({ retention: { transitions: { daily: { storageClass: 'GLACIER_IR', afterDays: 14 } } } }))).toContain(
        'config.retention.transitions.daily.afterDays: must be less than dailyDays (14)',
      );
    });

    test.each(['STANDARD_IA', 'ONEZONE_IA'])('GIVEN %s before 30 days THEN the S3 minimum is explained on the class', (storageClass) => {
      expect(configError(withChanges({ retention: { transitions: { monthly: { storageClass, afterDays: 7 } } } }))).toContain(
        `config.retention.transitions.monthly.afterDays: S3 moves objects to ${storageClass} only after at least 30 days`,
      );
    });

    test('GIVEN a storage class a restore cannot read at once THEN the transition\'s storageClass is named', () => {
      expect(configError(withChanges({ retention: { transitions: { monthly: { storageClass: 'DEEP_ARCHIVE', afterDays: 90 } } } }))).toContain(
        'config.retention.transitions.monthly.storageClass:',
      );
    });

    test('GIVEN classes kept shorter than the class below THEN weeklyDays and monthlyDays are named', () => {
      expect(configError(withChanges({ retention: { dailyDays: 60 } }))).toContain('config.retention.weeklyDays: must be at least dailyDays (60)');
      expect(configError(withChanges({ retention: { monthlyDays: 40, transitions: { weekly: null, monthly: null } } }))).toContain(
        'config.retention.monthlyDays: must be at least weeklyDays (56)',
      );
    });

    test('GIVEN a lock longer than any backup is kept THEN config.retention.lockDays is named', () => {
      expect(configError(withChanges({ retention: { lockDays: 400 } }))).toContain('config.retention.lockDays: must not exceed monthlyDays (365)');
      expect(configError(withChanges({ retention: { lockDays: -1 } }))).toContain('config.retention.lockDays:');
    });

    test('GIVEN lockDays 0 and no transitions WHEN parsed THEN they are kept', () => {
      const config = parseConfig(withChanges({ retention: { lockDays: 0, transitions: { weekly: null, monthly: null } } }));
      expect(config.retention.lockDays).toBe(0);
      expect(config.retention.transitions).toEqual({ daily: null, weekly: null, monthly: null });
    });

    test.each([
      ['backupDays', 90, 'was replaced by retention.dailyDays, weeklyDays and monthlyDays'],
      ['transitionAfterDays', 30, 'was replaced by retention.transitions.daily, weekly and monthly'],
      ['transitionStorageClass', 'STANDARD_IA', 'was replaced by retention.transitions.daily, weekly and monthly'],
    ])('GIVEN the retired setting retention.%s THEN the error says what replaced it', (key, value, message) => {
      expect(configError(withChanges({ retention: { [key]: value } }))).toContain(`config.retention.${key}: ${message}`);
    });

    test('GIVEN an encryption other than kms or s3 THEN config.encryption is named', () => {
      expect(configError(withChanges({ encryption: 'aes' }))).toContain('config.encryption:');
    });

    test('GIVEN a log retention CloudWatch does not offer THEN config.retention.logDays is named', () => {
      expect(configError(withChanges({ retention: { logDays: 42 } }))).toContain('config.retention.logDays:');
    });

    test('GIVEN a memory size Fargate does not offer THEN config.task.memoryMiB is named', () => {
      expect(configError(withChanges({ task: { cpu: 1024, memoryMiB: 512 } }))).toContain(
        'config.task.memoryMiB: Fargate with cpu 1024 allows 2048-8192 MiB',
      );
    });

    test('GIVEN subnets without matching zones THEN config.network.availabilityZones is named', () => {
      const error = configError(
        withChanges({
          network: {
            mode: 'existing',
            vpcId: 'vpc-0123456789abcdef0',
            availabilityZones: ['eu-west-1a'],
            subnetIds: ['subnet-0123456789abcdef0', 'subnet-0123456789abcdef1'],
          },
        }),
      );
      expect(error).toContain('config.network.availabilityZones: needs one entry per subnet in subnetIds (2), got 1');
    });

    test('GIVEN a malformed subnet id THEN its index is named', () => {
      const error = configError(
        withChanges({ network: { mode: 'existing', vpcId: 'vpc-0123456789abcdef0', availabilityZones: ['eu-west-1a'], subnetIds: ['sn-1'] } }),
      );
      expect(error).toContain('config.network.subnetIds.0: must be a subnet id');
    });

    test.each(['meatdb/backup', 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:meatdb'])(
      'GIVEN the secret %j (a name or partial ARN, which ECS cannot resolve) THEN config.database.passwordSecretArn asks for the complete ARN',
      (secret) => {
        const error = configError(withChanges({ database: { host: 'db', passwordSecretArn: secret } }));
        expect(error).toContain('config.database.passwordSecretArn: must be the complete secret ARN');
      },
    );

    test.each([
      ['an alias ARN', 'arn:aws:kms:eu-west-1:123456789012:alias/meatdb-secrets'],
      ['a bare key id', '1234abcd-12ab-34cd-56ef-1234567890ab'],
      ['a truncated key id', 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd'],
    ])('GIVEN %s as the password secret key THEN config.database.passwordSecretKmsKeyArn asks for a key ARN', (_what, keyArn) => {
      const error = configError(withChanges({ database: { ...EXAMPLE_CONFIG.database, passwordSecretKmsKeyArn: keyArn } }));
      expect(error).toContain('config.database.passwordSecretKmsKeyArn: must be a KMS key ARN');
    });

    test('GIVEN a password secret key of another region or account THEN config.database.passwordSecretKmsKeyArn names the expected one', () => {
      const database = { ...TEST_CONFIG.database, passwordSecretKmsKeyArn: 'arn:aws:kms:eu-central-1:999999999999:key/mrk-0123456789abcdef0123456789abcdef' };
      const error = configError({ ...TEST_CONFIG, database });
      expect(error).toContain("config.database.passwordSecretKmsKeyArn: must be a key in primaryRegion eu-west-1, not eu-central-1");
      expect(error).toContain("config.database.passwordSecretKmsKeyArn: must be a key of the stacks' account 123456789012, not 999999999999");
    });

    test('GIVEN a multi-Region key of the primary region and no account pinned THEN the configuration is accepted', () => {
      const keyArn = 'arn:aws:kms:eu-west-1:999999999999:key/mrk-0123456789abcdef0123456789abcdef';
      const config = parseConfig(withChanges({ database: { ...EXAMPLE_CONFIG.database, passwordSecretKmsKeyArn: keyArn } }), 'test');
      expect(config.database.passwordSecretKmsKeyArn).toBe(keyArn);
    });

    test('GIVEN no database THEN config.database is required', () => {
      const { database: _omitted, ...input } = EXAMPLE_CONFIG;
      expect(configError(input)).toContain('config.database: is required');
    });

    test('GIVEN a web service name ECS would not accept THEN config.webService.service is named at synth, not at restore time', () => {
      const error = configError(withChanges({ webService: { cluster: 'meatlizard', service: 'web service' } }));
      expect(error).toContain('config.webService.service: must be an ECS service name');
      expect(configError(withChanges({ webService: { cluster: 'a/b', service: 'web' } }))).toContain('config.webService.cluster:');
    });

    test('GIVEN a bad e-mail and a bad port THEN both are listed', () => {
      const error = configError(withChanges({ alarmEmail: 'ops', database: { host: 'db', passwordSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:s-AbCdEf', port: 70000 } }));
      expect(error).toContain('config.alarmEmail: must be an e-mail address');
      expect(error).toContain('config.database.port:');
    });

    test('GIVEN something that is not an object THEN the message says so', () => {
      expect(configError('eu-west-1')).toContain('config: Invalid input: expected object');
    });
  });

  describe('schedule expressions', () => {
    test.each(['cron(0 3 * * ? *)', 'cron(30 2 ? * MON-FRI *)', 'cron(0 */6 * * ? *)', 'rate(12 hours)', 'rate(1 day)'])('%s is accepted', (expression) => {
      expect(scheduleExpressionProblem(expression)).toBeUndefined();
    });
  });

  describe('reading the context key', () => {
    test('GIVEN inline JSON WHEN read THEN it is parsed', () => {
      expect(readConfigInput('{"primaryRegion": "us-east-1"}')).toEqual({ input: { primaryRegion: 'us-east-1' }, source: 'inline JSON in -c config=…' });
    });

    test('GIVEN a JSON file path WHEN read THEN the file is parsed relative to the working directory', () => {
      // GIVEN
      const dir = tempDir('meatbackup-config-');
      writeFileSync(join(dir, 'prod.json'), JSON.stringify(TEST_CONFIG));
      // WHEN
      const { input, source } = readConfigInput('prod.json', dir);
      // THEN
      expect(input).toEqual(TEST_CONFIG);
      expect(source).toBe(join(dir, 'prod.json'));
    });

    test('GIVEN the shipped example config/prod.example.json, which docs/deploying-aws.md says to copy to config/prod.json, WHEN read and parsed THEN it is a valid configuration of an existing network', () => {
      const { input } = readConfigInput('config/prod.example.json', join(__dirname, '../..'));
      const config = parseConfig(input, 'config/prod.example.json');
      expect(config.network).toMatchObject({ mode: 'existing' });
      expect(config.operatorRoleArns).toHaveLength(1);
    });

    test('GIVEN a missing file WHEN read THEN the path is in the message', () => {
      expect(() => readConfigInput('nope.json', '/nonexistent')).toThrow('cannot read config file /nonexistent/nope.json: ENOENT');
    });

    test('GIVEN broken inline JSON WHEN read THEN the message says it is not JSON', () => {
      expect(() => readConfigInput('{"primaryRegion": ')).toThrow(/-c config=… is not valid JSON/);
    });

    test('GIVEN no context WHEN loaded THEN the example is used and flagged', () => {
      const { config, example } = loadConfig(new App().node);
      expect(example).toBe(true);
      expect(config.primaryRegion).toBe('eu-west-1');
    });

    test('GIVEN an object in the context WHEN loaded THEN it is validated and used', () => {
      const { config, example } = loadConfig(new App({ context: { config: TEST_CONFIG } }).node);
      expect(example).toBe(false);
      expect(config.account).toBe('123456789012');
    });

    test('GIVEN a bad object in the context WHEN loaded THEN synth fails naming the field', () => {
      const app = new App({ context: { config: { ...TEST_CONFIG, replicaRegion: TEST_CONFIG.primaryRegion } } });
      expect(() => loadConfig(app.node)).toThrow(/config\.replicaRegion: must differ from primaryRegion/);
    });
  });

  test('GIVEN the example configuration WHEN the stacks are built THEN they synthesize without credentials or lookups', () => {
    // WHEN
    const { app } = testApp(EXAMPLE_CONFIG);
    const assembly = app.synth();
    // THEN
    expect(assembly.stacks.map((s) => s.stackName).sort()).toEqual(['meatlizard-backup-primary', 'meatlizard-backup-replica']);
    expect(assembly.manifest.missing ?? []).toEqual([]);
  });
});
