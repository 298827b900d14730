/**
 * Compliance of the synthesized templates: cdk-nag AwsSolutions, no whole-service IAM grants, and cfn-lint.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CloudAssembly } from 'aws-cdk-lib/cx-api';
import { Template } from 'aws-cdk-lib/assertions';
import { EXAMPLE_CONFIG } from '../../lib/config';
import { TEST_CHAT_CONFIG, TEST_CONFIG, type TestApp, policyStatements, testApp } from './fixture';

interface ValidationReport {
  pluginReports: Array<{
    pluginName: string;
    violations: Array<{ ruleName: string; description: string; violatingConstructs: Array<{ constructPath: string }> }>;
  }>;
}

/** Synthesizes with cdk-nag AwsSolutions as a validation plugin; returns the findings instead of throwing. */
function synthWithNag(subject: TestApp): { assembly?: CloudAssembly; findings: string[] } {
  let assembly: CloudAssembly | undefined;
  try {
    assembly = subject.app.synth();
  } catch (err) {
    if (!existsSync(join(subject.outdir, 'validation-report.json'))) throw err;
  }
  const report = JSON.parse(readFileSync(join(subject.outdir, 'validation-report.json'), 'utf8')) as ValidationReport;
  const findings = report.pluginReports.flatMap((plugin) =>
    plugin.violations.map((v) => `${plugin.pluginName} ${v.ruleName} at ${v.violatingConstructs.map((c) => c.constructPath).join(', ')}: ${v.description}`),
  );
  return { assembly, findings };
}

describe('compliance', () => {
  // GIVEN the test configuration, the example configuration and the test configuration with a chat channel, each
  // synthesized with cdk-nag
  let nagged: { subject: TestApp; assembly?: CloudAssembly; findings: string[] };
  let example: { subject: TestApp; assembly?: CloudAssembly; findings: string[] };
  let chat: { subject: TestApp; assembly?: CloudAssembly; findings: string[] };
  beforeAll(() => {
    const subject = testApp(TEST_CONFIG, { nag: true });
    nagged = { subject, ...synthWithNag(subject) };
    const exampleSubject = testApp(EXAMPLE_CONFIG, { nag: true });
    example = { subject: exampleSubject, ...synthWithNag(exampleSubject) };
    const chatSubject = testApp(TEST_CHAT_CONFIG, { nag: true });
    chat = { subject: chatSubject, ...synthWithNag(chatSubject) };
  });

  describe('cdk-nag AwsSolutions', () => {
    test('THEN the full configuration has no unacknowledged finding', () => {
      expect(nagged.findings).toEqual([]);
      expect(nagged.assembly).toBeDefined();
    });

    test('THEN the example configuration has no unacknowledged finding', () => {
      expect(example.findings).toEqual([]);
      expect(example.assembly).toBeDefined();
    });

    test('THEN the configuration with a chat channel has no unacknowledged finding, and acknowledges nothing more than without it', () => {
      expect(chat.findings).toEqual([]);
      expect(chat.assembly).toBeDefined();
      const acknowledged = (subject: TestApp) =>
        subject.app.node.findAll().flatMap((c) => c.node.metadata.filter((e) => e.type === 'aws:cdk:acknowledged-rules').flatMap((e) => Object.keys(e.data as object))).sort();
      expect(acknowledged(chat.subject)).toEqual(acknowledged(nagged.subject));
    });

    test('THEN every acknowledgement names its rule and carries a specific reason', () => {
      // GIVEN every acknowledgement recorded in the construct tree
      const acknowledgements = nagged.subject.app.node.findAll().flatMap((construct) =>
        construct.node.metadata
          .filter((entry) => entry.type === 'aws:cdk:acknowledged-rules')
          .flatMap((entry) => Object.entries(entry.data as Record<string, string>).map(([id, reason]) => ({ path: construct.node.path, id, reason }))),
      );
      // (unqualified ids, the form cdk-nag matches, are recorded in CDK's "Annotation::" namespace)
      const ours = acknowledgements
        .map((a) => ({ ...a, id: a.id.replace(/^Annotation::/, '') }))
        .filter((a) => a.id.startsWith('AwsSolutions-'));
      // THEN
      expect(ours.map((a) => a.id.replace(/\[.*$/, '')).sort()).toEqual(
        [
          // the backup, restore and restore-test task definitions
          ...Array<string>(3).fill('AwsSolutions-ECS2'),
          'AwsSolutions-S1',
          'AwsSolutions-S1',
          // Node.js 22: the primary's ops function and the replica's promotion function
          ...Array<string>(2).fill('AwsSolutions-L1'),
          // primary stack
          ...Array<string>(8).fill('AwsSolutions-IAM5'),
          // primary stack, restore: its execution role (image pull), its role (backups/*, web cluster's ListTasks and tasks),
          // the ops function's ListTasks
          ...Array<string>(5).fill('AwsSolutions-IAM5'),
          // primary stack, restore test: its execution role (image pull), its role (backups/*, backups/*.restore-test.json),
          // its schedule's role (tag the task it starts); the status schedule's role (the ops function's versions)
          ...Array<string>(5).fill('AwsSolutions-IAM5'),
          // replica stack: Batch Operations role (replica objects, <name>-promoted-* buckets, their objects, the original
          // primary name's objects)
          ...Array<string>(4).fill('AwsSolutions-IAM5'),
          // replica stack: promotion function (replica objects, primary backups/, <name>-promoted-* buckets, their objects,
          // the original primary name's objects, CreateJob, jobs)
          ...Array<string>(7).fill('AwsSolutions-IAM5'),
          // the other region's backup key, known by its alias only (key/* of that region, narrowed by conditions): the
          // replication role and the ops function (primary stack), the promotion function (replica stack)
          ...Array<string>(3).fill('AwsSolutions-IAM5'),
        ].sort(),
      );
      for (const a of ours) {
        expect(a.reason.length).toBeGreaterThanOrEqual(60);
        expect(a.reason).not.toMatch(/^(ok|fine|n\/a|not needed|suppress)/i);
      }
      // No blanket excuse: a reason explains one finding, never two different ones.
      const findingsByReason = new Map<string, Set<string>>();
      for (const a of ours) findingsByReason.set(a.reason, (findingsByReason.get(a.reason) ?? new Set()).add(a.id));
      for (const [reason, findings] of findingsByReason) expect({ reason, findings: [...findings] }).toEqual({ reason, findings: [expect.any(String)] });
      // IAM5 is acknowledged per wildcard resource (`backups/*`, `backups/*.restore-test.json`), never for the whole rule.
      for (const a of ours.filter((x) => x.id.startsWith('AwsSolutions-IAM5'))) expect(a.id).toMatch(/^AwsSolutions-IAM5\[Resource::(.*\*.*)\]$/);
    });
  });

  describe('IAM', () => {
    test('THEN no allow statement grants a whole service or every action', () => {
      let checked = 0;
      for (const stack of Object.values(nagged.subject.stacks)) {
        const template = Template.fromStack(stack);
        const statements = [
          ...policyStatements(template),
          ...Object.entries(template.findResources('AWS::KMS::Key')).flatMap(([logicalId, key]) =>
            (key.Properties.KeyPolicy.Statement as Record<string, unknown>[]).map((statement) => ({ logicalId, statement })),
          ),
        ];
        for (const { logicalId, statement } of statements) {
          if (statement.Effect !== 'Allow') continue;
          checked += 1;
          const actions = ([] as unknown[]).concat(statement.Action ?? [], statement.NotAction ?? []);
          for (const action of actions) {
            expect({ logicalId, action }).toEqual({ logicalId, action: expect.not.stringMatching(/^(\*|[a-z0-9-]+:\*)$/) });
          }
          expect({ logicalId, notAction: statement.NotAction }).toEqual({ logicalId, notAction: undefined });
        }
      }
      expect(checked).toBeGreaterThan(10);
    });

    test('THEN identity policies use Resource "*" only for actions without resource-level permissions', () => {
      // s3:CreateJob has no resource-level permissions; what a job may do is bounded by the one role the caller may pass.
      const allowed = new Set(['ecr:GetAuthorizationToken', 's3:CreateJob']);
      // ecs:ListTasks cannot be scoped to the tasks or the service it lists; every statement allowing it limits it to one
      // cluster with the ecs:cluster condition (next describe).
      allowed.add('ecs:ListTasks');
      for (const stack of Object.values(nagged.subject.stacks)) {
        for (const { logicalId, statement } of policyStatements(Template.fromStack(stack))) {
          if (statement.Effect !== 'Allow' || !([] as unknown[]).concat(statement.Resource).includes('*')) continue;
          for (const action of ([] as string[]).concat(statement.Action as string | string[])) {
            expect({ logicalId, action, allowed: allowed.has(action) }).toEqual({ logicalId, action, allowed: true });
          }
        }
      }
    });
  });

  describe('IAM ecs:ListTasks', () => {
    test('THEN every statement allowing it limits it to one cluster with the ecs:cluster condition', () => {
      const found: unknown[] = [];
      for (const stack of Object.values(nagged.subject.stacks)) {
        for (const { logicalId, statement } of policyStatements(Template.fromStack(stack))) {
          if (statement.Effect !== 'Allow' || !([] as unknown[]).concat(statement.Action).includes('ecs:ListTasks')) continue;
          found.push(logicalId);
          expect({ logicalId, action: statement.Action, condition: statement.Condition }).toEqual({
            logicalId,
            action: 'ecs:ListTasks',
            condition: { ArnEquals: { 'ecs:cluster': expect.anything() } },
          });
        }
      }
      // the ops function (its own cluster) and the restore task (the web service's cluster)
      expect(found).toHaveLength(2);
    });
  });

  describe('KMS key policies', () => {
    test('THEN no statement allows a wildcard principal, and cryptographic use is never handed to the account at large', () => {
      let keys = 0;
      for (const stack of Object.values(nagged.subject.stacks)) {
        for (const [logicalId, key] of Object.entries(Template.fromStack(stack).findResources('AWS::KMS::Key'))) {
          keys += 1;
          for (const statement of key.Properties.KeyPolicy.Statement as Array<Record<string, unknown>>) {
            if (statement.Effect !== 'Allow') continue;
            expect({ logicalId, principal: JSON.stringify(statement.Principal) }).toEqual({ logicalId, principal: expect.not.stringMatching(/^"\*"$|"AWS":"\*"/) });
            const crypto = ([] as string[]).concat(statement.Action as string | string[]).filter((a) => /^kms:(Decrypt|Encrypt|GenerateDataKey|ReEncrypt)/.test(a));
            const toAccount = JSON.stringify(statement.Principal).endsWith(':root"}');
            // the account as principal only with a condition naming the role (aws:PrincipalArn)
            if (crypto.length > 0 && toAccount) {
              const condition = statement.Condition as Record<string, Record<string, unknown>> | undefined;
              const named = condition?.ArnEquals?.['aws:PrincipalArn'] ?? condition?.ArnLike?.['aws:PrincipalArn'];
              expect({ logicalId, named }).toEqual({ logicalId, named: expect.anything() });
            }
          }
        }
      }
      // the alarm topic's key and a backup key per region
      expect(keys).toBe(3);
    });
  });

  describe('cfn-lint', () => {
    test('THEN every synthesized template lints without errors (with and without a chat channel)', () => {
      // GIVEN the templates written to the temporary output directories
      const templates = [nagged.assembly as CloudAssembly, chat.assembly as CloudAssembly].flatMap((assembly) =>
        assembly.stacks.map((s) => join(assembly.directory, s.templateFile)),
      );
      expect(templates).toHaveLength(4);
      // WHEN
      const run = spawnSync('cfn-lint', ['--format', 'json', '--', ...templates], { encoding: 'utf8' });
      if (run.error) {
        throw new Error(`cfn-lint could not run (${run.error.message}): install it with \`pip install cfn-lint\` (the CI machine has it on PATH)`);
      }
      // THEN: exit code 0 = clean, 4 = warnings only, 2/6/… = errors (cfn-lint's bit flags), 1 = it failed to run
      const findings = JSON.parse(run.stdout || '[]') as Array<{ Level: string; Rule: { Id: string }; Message: string; Filename: string }>;
      const errors = findings.filter((f) => f.Level === 'Error').map((f) => `${f.Filename}: ${f.Rule.Id} ${f.Message}`);
      expect(errors).toEqual([]);
      expect(run.status === 0 || run.status === 4 ? 'ok' : `cfn-lint exited ${run.status}: ${run.stderr}`).toBe('ok');
    });
  });
});
