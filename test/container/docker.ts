/**
 * The Docker engine and the tools the container tests need, on this machine's rules (docs/container-image.md): the
 * engine runs as `dockerd --bridge=none --iptables=false`, every build and container uses the host's network, and a
 * test stops only an engine it started. A missing tool is one line that says what to install; nothing is skipped.
 */
import { type SpawnOptions, spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The `docker` CLI the builds and containers go through: `DOCKER` if set, else the one on PATH. */
export const DOCKER = process.env.DOCKER ?? 'docker';

export interface RunResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion without a shell; stdout and stderr are collected (and echoed when `echo` is set). */
export function run(command: string, args: string[], options: SpawnOptions & { input?: string | Buffer; echo?: boolean } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...options, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (d: Buffer) => {
      out.push(d);
      if (options.echo) process.stderr.write(d);
    });
    child.stderr?.on('data', (d: Buffer) => {
      err.push(d);
      if (options.echo) process.stderr.write(d);
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      resolve({ status: code ?? (signal ? 128 : 1), stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() });
    });
    child.stdin?.end(options.input ?? '');
  });
}

/** Like {@link run}, but a non-zero exit throws with the command and the end of its output. */
export async function runOk(command: string, args: string[], options: SpawnOptions & { input?: string | Buffer; echo?: boolean } = {}): Promise<string> {
  const r = await run(command, args, options);
  if (r.status !== 0) {
    const tail = `${r.stdout}\n${r.stderr}`.trim().split('\n').slice(-40).join('\n');
    throw new Error(`${command} ${args.slice(0, 4).join(' ')}… exited ${r.status}:\n${tail}`);
  }
  return r.stdout;
}

export function docker(args: string[], options: SpawnOptions & { input?: string | Buffer; echo?: boolean } = {}): Promise<string> {
  return runOk(DOCKER, args, options);
}

function onPath(program: string): boolean {
  return spawnSync('sh', ['-c', `command -v "$1"`, 'sh', program], { stdio: 'ignore' }).status === 0;
}

/** Fails with one line naming what to install when the Docker CLI, the engine or mmdebstrap is missing. */
export function requireContainerTools(tools: { mmdebstrap?: boolean } = {}): void {
  const missing: string[] = [];
  if (!onPath(DOCKER)) missing.push('docker.io');
  if (!onPath('dockerd') && !dockerReachable()) missing.push('docker.io');
  if (tools.mmdebstrap !== false && !onPath('mmdebstrap')) missing.push('mmdebstrap');
  if (missing.length > 0) {
    throw new Error(`the image test needs a Docker engine and mmdebstrap: install them with \`apt-get install -y ${[...new Set(missing)].join(' ')}\``);
  }
}

/** Fails with one line naming what to install when Docker Compose (`docker-compose`, or `DOCKER_COMPOSE`) is missing. */
export function requireComposeTool(compose: string): void {
  if (!onPath(compose)) throw new Error(`the Compose end-to-end test needs ${compose}: install it with \`apt-get install -y docker-compose\` (or set DOCKER_COMPOSE)`);
}

function dockerReachable(): boolean {
  return spawnSync(DOCKER, ['version', '--format', '{{.Server.Version}}'], { stdio: 'ignore', timeout: 20_000 }).status === 0;
}

export interface Engine {
  /** Whether this process started the engine (and so stops it). */
  started: boolean;
  stop(): Promise<void>;
}

/**
 * The running engine, or one started here as `dockerd --bridge=none --iptables=false` (no bridge, no firewall rules:
 * every container uses the host's network) when none answers; stop() stops only an engine started here.
 */
export async function ensureEngine(): Promise<Engine> {
  if (dockerReachable()) return { started: false, stop: async () => {} };
  requireContainerTools({ mmdebstrap: false });
  const log = join(tmpdir(), `meatbackup-dockerd-${process.pid}.log`);
  const fd = openSync(log, 'a');
  const child = spawn('dockerd', ['--bridge=none', '--iptables=false'], { stdio: ['ignore', fd, fd], detached: true });
  closeSync(fd);
  let exited = false;
  child.on('exit', () => {
    exited = true;
  });
  const deadline = Date.now() + 60_000;
  while (!dockerReachable()) {
    if (exited || Date.now() > deadline) {
      const tail = existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').slice(-5).join('\n') : '';
      if (!exited) child.kill('SIGTERM');
      throw new Error(`dockerd --bridge=none --iptables=false did not start (log ${log}):\n${tail}`);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  return {
    started: true,
    async stop() {
      if (exited) return;
      const gone = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      await Promise.race([gone, new Promise((r) => setTimeout(r, 30_000))]);
    },
  };
}

/** Seconds per named step of a container test, for its closing line: `timed(what, fn)` records one. */
export function stopwatch(): { timings: Record<string, number>; timed<T>(what: string, fn: () => Promise<T>): Promise<T> } {
  const timings: Record<string, number> = {};
  return {
    timings,
    async timed(what, fn) {
      const started = Date.now();
      try {
        return await fn();
      } finally {
        timings[what] = (Date.now() - started) / 1000;
      }
    },
  };
}
