/**
 * The Fargate task definitions of the synthesized app, run on the local Docker engine the way ECS runs them: the container's
 * command, environment, secrets, user, read-only root filesystem, volumes and mount points, stop timeout, in the image
 * of the asset its `Image` names. A container field this runner does not reproduce fails the run, so a task definition
 * that grows one cannot pass the image test untested.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type StackModel, stackModel } from '../support/iam/templates';
import { DOCKER, docker, run } from './docker';

/** One container definition, intrinsics resolved. */
export interface TaskModel {
  readonly family: string;
  readonly image: string;
  readonly command: string[];
  readonly environment: Record<string, string>;
  /** Secret variables: name → Secrets Manager `ValueFrom`. */
  readonly secrets: Record<string, string>;
  readonly user?: string;
  readonly readonlyRootFilesystem: boolean;
  readonly stopTimeout?: number;
  readonly mounts: Array<{ volume: string; path: string; readOnly: boolean }>;
}

/** What the runner reproduces; any other container field fails {@link readTasks}. LogConfiguration: stdout/stderr. */
const REPRODUCED = new Set(['Name', 'Image', 'Command', 'Essential', 'Environment', 'Secrets', 'User', 'ReadonlyRootFilesystem', 'StopTimeout', 'MountPoints', 'LogConfiguration']);

export interface SynthesizedApp {
  readonly outdir: string;
  readonly primary: StackModel;
  /** container/Dockerfile target per image asset hash, and its staged build context. */
  readonly imageAssets: Array<{ hash: string; target: string; context: string; dockerFile: string }>;
}

export function readSynthesizedApp(outdir: string, stackName: string, region: string, account: string): SynthesizedApp {
  const template = JSON.parse(readFileSync(join(outdir, `${stackName}.template.json`), 'utf8'));
  const assets = JSON.parse(readFileSync(join(outdir, `${stackName}.assets.json`), 'utf8')) as {
    dockerImages: Record<string, { source: { directory: string; dockerFile: string; dockerBuildTarget: string } }>;
  };
  return {
    outdir,
    primary: stackModel(stackName, template, region, account),
    imageAssets: Object.entries(assets.dockerImages).map(([hash, a]) => ({
      hash,
      target: a.source.dockerBuildTarget,
      context: join(outdir, a.source.directory),
      dockerFile: a.source.dockerFile,
    })),
  };
}

/** The task definitions of the stack, by family. */
export function readTasks(app: SynthesizedApp): Map<string, TaskModel> {
  const tasks = new Map<string, TaskModel>();
  for (const [id, resource] of Object.entries(app.primary.resources)) {
    if (resource.Type !== 'AWS::ECS::TaskDefinition') continue;
    const props = resource.Properties as Record<string, never>;
    const containers = props.ContainerDefinitions as Array<Record<string, never>>;
    if (containers.length !== 1) throw new Error(`${id}: ${containers.length} containers; the runner reproduces one`);
    const raw = containers[0];
    for (const field of Object.keys(raw)) {
      if (!REPRODUCED.has(field)) throw new Error(`${props.Family}: container field ${field} is not reproduced by test/container/tasks.ts: teach runTask it`);
    }
    // The image: the asset whose hash its URI ends with (resolved before anything else, it is an Fn::Sub).
    const imageText = JSON.stringify(raw.Image);
    const asset = app.imageAssets.find((a) => imageText.includes(a.hash));
    if (!asset) throw new Error(`${props.Family}: its image ${imageText} is no image asset of the stack`);
    const c = app.primary.resolve({ ...raw, Image: '' } as never) as Record<string, never>;
    const volumes = new Map(((props.Volumes as Array<{ Name: string; Host?: unknown }> | undefined) ?? []).map((v) => [v.Name, v]));
    const mounts = ((c.MountPoints as Array<{ SourceVolume: string; ContainerPath: string; ReadOnly?: boolean }> | undefined) ?? []).map((m) => {
      const volume = volumes.get(m.SourceVolume);
      // Fargate: a volume without a host path is a bind mount on the task's ephemeral storage, which ECS fills from
      // the image's VOLUME of the same path (a fresh Docker volume does the same).
      if (!volume || volume.Host !== undefined) throw new Error(`${props.Family}: mount of ${m.SourceVolume} is not a task-storage volume`);
      return { volume: m.SourceVolume, path: m.ContainerPath, readOnly: m.ReadOnly ?? false };
    });
    tasks.set(props.Family, {
      family: props.Family,
      image: asset.target,
      command: (c.Command as string[] | undefined) ?? [],
      environment: Object.fromEntries(((c.Environment as Array<{ Name: string; Value: string }> | undefined) ?? []).map((e) => [e.Name, e.Value])),
      secrets: Object.fromEntries(((c.Secrets as Array<{ Name: string; ValueFrom: string }> | undefined) ?? []).map((e) => [e.Name, e.ValueFrom])),
      user: c.User as string | undefined,
      readonlyRootFilesystem: c.ReadonlyRootFilesystem === true,
      stopTimeout: c.StopTimeout as number | undefined,
      mounts,
    });
  }
  return tasks;
}

export interface TaskRun {
  readonly id: string;
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** `docker inspect` of the container. */
  readonly inspect: Record<string, unknown>;
}

export interface RunTaskOptions {
  /** The image tag of each Dockerfile target. */
  readonly images: Record<string, string>;
  /** Secrets Manager, here: the value of each `ValueFrom`. */
  readonly secretValues: Record<string, string>;
  /** What Fargate gives every task beside its definition (region, credentials), plus the emulator's endpoint. */
  readonly platformEnv: Record<string, string>;
  /** A RunTask container override. */
  readonly command?: string[];
  /** RunTask environment overrides. */
  readonly environment?: Record<string, string>;
  /** Run this program instead of the image's entrypoint (to look inside the task's container as the task sees it). */
  readonly entrypoint?: string;
  /** Docker volume per task volume name (made by the caller, reused across runs like one task's storage). */
  readonly volumes?: Record<string, string>;
  /** Containers made, for the caller to remove by id. */
  readonly created: string[];
}

/**
 * Runs a task definition's container to completion: `docker create` with everything the definition says, then
 * `docker start -a`. The secret values reach the container through the docker CLI's environment (`-e NAME`), never
 * its command line. The container stays (for inspect) until the caller removes it by id.
 */
export async function runTask(task: TaskModel, options: RunTaskOptions): Promise<TaskRun> {
  const env: Record<string, string> = { ...options.platformEnv, ...task.environment, ...options.environment };
  const secretEnv: Record<string, string> = {};
  for (const [name, from] of Object.entries(task.secrets)) {
    const value = options.secretValues[from];
    if (value === undefined) throw new Error(`${task.family}: no value for secret ${name} (${from})`);
    secretEnv[name] = value;
  }
  const image = options.images[task.image];
  if (!image) throw new Error(`${task.family}: no image built for target ${task.image}`);
  const args = ['create', '--network', 'host'];
  if (task.readonlyRootFilesystem) args.push('--read-only');
  if (task.user) args.push('--user', task.user);
  if (task.stopTimeout !== undefined) args.push('--stop-timeout', String(task.stopTimeout));
  for (const [k, v] of Object.entries(env)) args.push('-e', `${k}=${v}`);
  for (const k of Object.keys(secretEnv)) args.push('-e', k);
  for (const m of task.mounts) {
    const volume = options.volumes?.[m.volume];
    if (!volume) throw new Error(`${task.family}: no Docker volume given for task volume ${m.volume}`);
    args.push('--mount', `type=volume,src=${volume},dst=${m.path}${m.readOnly ? ',readonly' : ''}`);
  }
  if (options.entrypoint) args.push('--entrypoint', options.entrypoint);
  args.push(image, ...(options.command ?? task.command));
  const id = (await docker(args, { env: { ...process.env, ...secretEnv } })).trim();
  options.created.push(id);
  const r = await run(DOCKER, ['start', '--attach', id]);
  const inspect = (JSON.parse(await docker(['inspect', id])) as Array<Record<string, unknown>>)[0];
  const state = inspect.State as { ExitCode: number };
  return { id, code: state.ExitCode, stdout: r.stdout, stderr: r.stderr, inspect };
}
