/**
 * Builds the app the way bin/app.ts does, for tests: the feature flags of cdk.json, no bundling (the Lambda asset is
 * staged, not built; NodejsFunction bundling is exercised by the `cdk synth` test), a temporary output directory
 * removed when the test file ends.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { buildStacks, type MeatbackupStacks } from '../../lib/app';
import { type AppConfigInput, parseConfig } from '../../lib/config';
import { tempDir } from '../support/temp-dir';

export const REPO_ROOT = join(__dirname, '..', '..');
const CDK_JSON_CONTEXT = (JSON.parse(readFileSync(join(REPO_ROOT, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> }).context;

/** The break-glass role of the test configuration: the operator principal of the README's manual runbook steps. */
export const OPERATOR_ROLE_ARN = 'arn:aws:iam::123456789012:role/meatlizard-break-glass';

/** A complete configuration with every optional part set, pinned to a (fake) account so names are literal. */
export const TEST_CONFIG: AppConfigInput = {
  account: '123456789012',
  primaryRegion: 'eu-west-1',
  replicaRegion: 'eu-central-1',
  operatorRoleArns: [OPERATOR_ROLE_ARN],
  database: {
    host: 'meatdb.cluster-abc.eu-west-1.rds.amazonaws.com',
    port: 5432,
    name: 'meatdb',
    user: 'meatbackup',
    passwordSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:meatdb/backup-AbC123',
    passwordSecretField: 'password',
  },
  webService: { cluster: 'meatlizard', service: 'web' },
  alarmEmail: 'ops@example.com',
  tags: { CostCenter: 'platform' },
};

export interface TestApp {
  readonly app: App;
  readonly stacks: MeatbackupStacks;
  readonly outdir: string;
}

export function testApp(input: AppConfigInput = TEST_CONFIG, options: { nag?: boolean; context?: Record<string, unknown> } = {}): TestApp {
  const outdir = tempDir('meatbackup-cdk-');
  const app = new App({
    outdir,
    context: { ...CDK_JSON_CONTEXT, 'aws:cdk:bundling-stacks': [], ...options.context },
  });
  if (options.nag) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  const stacks = buildStacks(app, parseConfig(input, 'test'));
  return { app, stacks, outdir };
}

export interface SynthesizedTemplates {
  readonly app: TestApp;
  readonly primary: Template;
  readonly replica: Template;
}

export function synthesize(input: AppConfigInput = TEST_CONFIG): SynthesizedTemplates {
  const app = testApp(input);
  return { app, primary: Template.fromStack(app.stacks.primary), replica: Template.fromStack(app.stacks.replica) };
}

/**
 * The container/Dockerfile target of the image a container definition runs (`Image`), from the stack's synthesized
 * asset manifest: `runtime`, `restore-test`, or undefined for an image that is no asset of the stack.
 */
export function imageTargetOf(app: TestApp, stackName: string, image: unknown): string | undefined {
  const manifest = JSON.parse(readFileSync(join(app.outdir, `${stackName}.assets.json`), 'utf8')) as {
    dockerImages: Record<string, { source: { dockerBuildTarget?: string } }>;
  };
  const text = JSON.stringify(image);
  return Object.entries(manifest.dockerImages).find(([hash]) => text.includes(hash))?.[1].source.dockerBuildTarget;
}

/** Every IAM policy statement of a template (identity policies and role inline policies). */
export function policyStatements(template: Template): Array<{ logicalId: string; statement: Record<string, unknown> }> {
  const out: Array<{ logicalId: string; statement: Record<string, unknown> }> = [];
  for (const [logicalId, resource] of Object.entries(template.toJSON().Resources as Record<string, { Type: string; Properties?: Record<string, unknown> }>)) {
    const docs: unknown[] = [];
    if (resource.Type === 'AWS::IAM::Policy' || resource.Type === 'AWS::IAM::ManagedPolicy') docs.push(resource.Properties?.PolicyDocument);
    if (resource.Type === 'AWS::IAM::Role') {
      for (const p of (resource.Properties?.Policies as Array<{ PolicyDocument: unknown }> | undefined) ?? []) docs.push(p.PolicyDocument);
    }
    for (const doc of docs) {
      for (const statement of ((doc as { Statement?: Record<string, unknown>[] })?.Statement ?? [])) out.push({ logicalId, statement });
    }
  }
  return out;
}

/** The logical id of the single resource of `type` whose properties include `properties`. */
export function logicalIdOf(template: Template, type: string, properties: Record<string, unknown>): string {
  const ids = Object.keys(template.findResources(type, { Properties: Match.objectLike(properties) }));
  if (ids.length !== 1) throw new Error(`expected one ${type} with ${JSON.stringify(properties)}, found ${ids.join(', ') || 'none'}`);
  return ids[0];
}

/** The test configuration with a Slack channel (chat restores off, user roles required, a published runbook). */
export const TEST_CHAT_CONFIG: AppConfigInput = {
  ...TEST_CONFIG,
  chat: {
    slack: { workspaceId: 'T0123ABCD', channelId: 'C0123ABCDEF' },
    userRoleRequired: true,
    runbookUrl: 'https://github.com/example/meatlizard-backup/blob/main/README.md',
  },
};
