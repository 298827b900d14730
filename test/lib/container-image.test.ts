/**
 * container/Dockerfile, read as text: what makes it build the same with the classic builder and with BuildKit, and
 * what keeps build inputs out of the shipped images. `npm run test:image` builds and runs it for real.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DOCKERFILE_BUILD_ARGS, parseConfig } from '../../lib/config';
import { REPO_ROOT, TEST_CONFIG, synthesize } from './fixture';

const dockerfile = readFileSync(join(REPO_ROOT, 'container', 'Dockerfile'), 'utf8');
/** The instructions, continuation lines joined, comments dropped. */
const instructions = dockerfile
  .replace(/\\\n/g, ' ')
  .split('\n')
  .filter((line) => line.trim() !== '' && !line.trimStart().startsWith('#'));

/** The stages: name and instructions after FROM. */
function stages(): Array<{ name: string; from: string; body: string[] }> {
  const out: Array<{ name: string; from: string; body: string[] }> = [];
  for (const line of instructions) {
    const from = /^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/i.exec(line);
    if (from) out.push({ name: from[2] ?? '', from: from[1], body: [] });
    else out.at(-1)?.body.push(line);
  }
  return out;
}

describe('GIVEN container/Dockerfile', () => {
  test('THEN nothing in it needs BuildKit: no syntax directive (a frontend pulled from Docker Hub), no --chmod, --chown, --mount or heredoc', () => {
    expect(dockerfile).not.toMatch(/^#\s*syntax\s*=/im);
    for (const line of instructions) {
      expect(line).not.toMatch(/--(chmod|chown|mount|link|parents|exclude)\b/);
      expect(line).not.toMatch(/<<-?\s*["']?[A-Z]+/);
    }
  });

  test('THEN both targets start from scratch with no build argument in scope, so no build input (BUILD_CA_CERTS above all) reaches their history or layers', () => {
    const targets = stages().filter((stage) => stage.name === 'runtime' || stage.name === 'restore-test');
    expect(targets.map((t) => t.name).sort()).toEqual(['restore-test', 'runtime']);
    for (const target of targets) {
      expect(target.from).toBe('scratch');
      expect(target.body.filter((line) => /^ARG\b/i.test(line))).toEqual([]);
      expect(target.body.join('\n')).not.toMatch(/\$\{?(BUILD_CA_CERTS|PGDG_REPO|RDS_CA_BUNDLE_URL|BASE_IMAGE)\b/);
      // the last thing each target does before its entrypoint: check what the task needs, as the task's user
      expect(target.body).toContain('USER node');
      expect(target.body.some((line) => line.startsWith('RUN ["/bin/sh", "/app/check-image"'))).toBe(true);
    }
  });

  test('THEN the build arguments default to production\'s build', () => {
    const arg = (name: string) => new RegExp(`^ARG ${name}=(.*)$`, 'm').exec(dockerfile)?.[1];
    expect(arg('BASE_IMAGE')).toBe('node:22-bookworm-slim');
    expect(arg('PGDG_REPO')).toBe('https://apt.postgresql.org/pub/repos/apt');
    expect(arg('RDS_CA_BUNDLE_URL')).toBe('https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem');
    expect(arg('BUILD_CA_CERTS')).toBe('""');
    expect(arg('PG_MAJORS')).toBe('"13 14 15 16 17 18"');
  });
});

describe('GIVEN a deploying machine behind a proxy, with mirrors, or with an engine without a bridge network', () => {
  test('THEN the configuration accepts exactly the Dockerfile\'s build arguments', () => {
    const declared = [...dockerfile.matchAll(/^ARG (\w+)/gm)].map((m) => m[1]);
    expect([...DOCKERFILE_BUILD_ARGS].sort()).toEqual([...new Set(declared)].sort());
  });

  test('WHEN image.buildArgs and buildNetwork are configured THEN cdk deploy builds both images with them (asset manifest)', () => {
    const buildArgs = { BUILD_CA_CERTS: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n', PGDG_REPO: 'https://mirror.example.com/pgdg' };
    const { app } = synthesize({ ...TEST_CONFIG, restoreTest: { mode: 'cluster' }, image: { buildArgs, buildNetwork: 'host' } });
    const manifest = JSON.parse(readFileSync(join(app.outdir, 'meatlizard-backup-primary.assets.json'), 'utf8')) as {
      dockerImages: Record<string, { source: { dockerBuildTarget: string; dockerBuildArgs?: Record<string, string>; networkMode?: string } }>;
    };
    const sources = Object.values(manifest.dockerImages).map((i) => i.source);
    expect(sources.map((s) => s.dockerBuildTarget).sort()).toEqual(['restore-test', 'runtime']);
    for (const source of sources) expect({ args: source.dockerBuildArgs, network: source.networkMode }).toEqual({ args: buildArgs, network: 'host' });
  });

  test('WHEN nothing is configured THEN the images build with the Dockerfile\'s defaults (no argument) on the default network', () => {
    const { app } = synthesize(TEST_CONFIG);
    const manifest = JSON.parse(readFileSync(join(app.outdir, 'meatlizard-backup-primary.assets.json'), 'utf8')) as { dockerImages: Record<string, { source: Record<string, unknown> }> };
    for (const image of Object.values(manifest.dockerImages)) expect([image.source.dockerBuildArgs, image.source.networkMode]).toEqual([undefined, undefined]);
  });

  test('WHEN a build argument the Dockerfile does not declare is configured THEN synth refuses it in one line naming the ones it has', () => {
    expect(() => parseConfig({ ...TEST_CONFIG, image: { buildArgs: { HTTP_PROXY: 'http://proxy:3128' } } }, 'test')).toThrow(
      /config\.image\.buildArgs\.HTTP_PROXY.*must be one of container\/Dockerfile's build arguments: BASE_IMAGE, BUILD_CA_CERTS/,
    );
  });
});
