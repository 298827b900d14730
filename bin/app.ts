#!/usr/bin/env node
/**
 * The CDK app (cdk.json "app"). Configuration: one context key, `config` (see lib/config.ts):
 *   npx cdk deploy --all -c config=config/prod.json
 * Without it, the built-in example configuration synthesizes (offline, no credentials) but is not meant to deploy.
 */
import { Annotations, App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { buildStacks } from '../lib/app';
import { ConfigError, loadConfig } from '../lib/config';

const app = new App();
// cdk-nag AwsSolutions on every synth: an unacknowledged finding fails `cdk synth` and `cdk deploy`.
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
try {
  const { config, example } = loadConfig(app.node);
  const stacks = buildStacks(app, config);
  if (example) {
    for (const stack of [stacks.primary, stacks.replica]) {
      Annotations.of(stack).addWarningV2(
        'meatbackup:exampleConfig',
        'No -c config=… given: this is the built-in example configuration (placeholder database host). Pass your own to deploy.',
      );
    }
  }
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`${err.message}\n`);
  process.exit(1);
}
