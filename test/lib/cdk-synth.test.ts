/**
 * `cdk synth` as an operator runs it on a fresh machine: through the CLI and bin/app.ts, with no AWS credentials, no
 * Docker (any docker call fails), and the ops Lambda bundled by the local esbuild.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../support/temp-dir';
import { REPO_ROOT, TEST_CONFIG } from './fixture';

const CDK = join(REPO_ROOT, 'node_modules', '.bin', 'cdk');

/** The environment without credentials, profiles or Docker; bin/app.ts must not need any of them. */
function offlineEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(AWS_|CDK_)/.test(k)) env[k] = v;
  return {
    ...env,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/credentials',
    AWS_CONFIG_FILE: '/nonexistent/config',
    CDK_DOCKER: '/nonexistent/docker',
    CDK_DISABLE_CLI_TELEMETRY: 'true',
  };
}

function cdkSynth(extraArgs: string[]): { status: number | null; stdout: string; stderr: string; outdir: string } {
  const outdir = tempDir('meatbackup-synth-');
  const run = spawnSync(CDK, ['synth', '--quiet', '--no-notices', '--no-version-reporting', '-o', outdir, ...extraArgs], {
    cwd: REPO_ROOT,
    env: offlineEnv(),
    encoding: 'utf8',
    timeout: 180_000,
  });
  if (run.error) throw run.error;
  return { status: run.status, stdout: run.stdout, stderr: run.stderr, outdir };
}

describe('cdk synth (CLI)', () => {
  test('GIVEN no configuration and no credentials WHEN `cdk synth` runs THEN both stacks synthesize and the Lambda is bundled locally', () => {
    // WHEN
    const run = cdkSynth([]);
    // THEN
    expect({ status: run.status, stderr: run.status === 0 ? '' : run.stderr }).toEqual({ status: 0, stderr: '' });
    expect(existsSync(join(run.outdir, 'meatlizard-backup-primary.template.json'))).toBe(true);
    expect(existsSync(join(run.outdir, 'meatlizard-backup-replica.template.json'))).toBe(true);
    expect(run.stderr).toContain('built-in example configuration');
    // the NodejsFunction asset is an esbuild bundle, not the source tree
    const manifest = JSON.parse(readFileSync(join(run.outdir, 'meatlizard-backup-primary.assets.json'), 'utf8'));
    const code = Object.values(manifest.files as Record<string, { displayName: string; source: { path: string } }>).find((f) => f.displayName === 'Ops/Function/Code');
    expect(code).toBeDefined();
    const bundle = join(run.outdir, (code as { source: { path: string } }).source.path);
    expect(readdirSync(bundle).sort()).toEqual(['index.js', 'index.js.map']);
    expect(readFileSync(join(bundle, 'index.js'), 'utf8')).toContain('BACKUP_BUCKET');
    // the Lambda bundles src/ops, the catalog and src/core, never anything of the CLI (src/cli) or its framework
    const sources = (JSON.parse(readFileSync(join(bundle, 'index.js.map'), 'utf8')) as { sources: string[] }).sources;
    expect(sources.filter((s) => /node_modules\/commander\/|src\/cli\//.test(s))).toEqual([]);
    expect(sources.some((s) => s.endsWith('src/core/errors.ts'))).toBe(true);
    expect(sources.some((s) => s.endsWith('src/ops/actions.ts'))).toBe(true);
  });

  test('GIVEN an invalid configuration WHEN `cdk synth -c config=…` runs THEN it fails naming the field', () => {
    // WHEN
    const run = cdkSynth(['-c', `config=${JSON.stringify({ ...TEST_CONFIG, replicaRegion: TEST_CONFIG.primaryRegion, schedule: { expression: 'daily' } })}`]);
    // THEN
    expect(run.status).not.toBe(0);
    expect(run.stderr).toContain('config.replicaRegion: must differ from primaryRegion (both are eu-west-1)');
    expect(run.stderr).toContain('config.schedule.expression:');
    expect(run.stderr).not.toMatch(/^\s+at /m);
  });
});
