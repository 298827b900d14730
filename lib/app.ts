/**
 * Builds the two stacks from the configuration. bin/app.ts calls it with the configuration from the CDK context;
 * tests call it with their own.
 */
import { type App, Tags } from 'aws-cdk-lib';
import type { AppConfig } from './config';
import { stackNames } from './naming';
import { PrimaryStack } from './stacks/primary-stack';
import { ReplicaStack } from './stacks/replica-stack';

export interface MeatbackupStacks {
  readonly primary: PrimaryStack;
  readonly replica: ReplicaStack;
}

export function buildStacks(app: App, config: AppConfig): MeatbackupStacks {
  const names = stackNames(config);
  const account = config.account;

  const replica = new ReplicaStack(app, names.replica, {
    config,
    stackName: names.replica,
    env: { account, region: config.replicaRegion },
    description: `${config.name}: replica backup bucket, promotion function, S3 Batch Operations role (${config.replicaRegion})`,
    terminationProtection: true,
  });
  const primary = new PrimaryStack(app, names.primary, {
    config,
    stackName: names.primary,
    env: { account, region: config.primaryRegion },
    description: `${config.name}: backup bucket, scheduled pg_dump task, ops Lambda, alarms (${config.primaryRegion})`,
    terminationProtection: true,
  });
  // The replication rule needs the replica bucket to exist (and be versioned) when it is created.
  primary.addStackDependency(replica, 'S3 Replication needs the replica bucket');

  for (const stack of [replica, primary]) {
    Tags.of(stack).add('Project', config.name);
    for (const [key, value] of Object.entries(config.tags)) Tags.of(stack).add(key, value);
  }
  return { primary, replica };
}
