import { join } from 'node:path';
import { type Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { acknowledgeWildcardResource, defaultPolicyOf } from '../nag';
import { type BackupKey, KEY_USE, type OtherRegionKey, otherRegionKeyStatement } from './backup-key';
import { REPO_ROOT } from './task-platform';

/**
 * The ops handler (lambda/ops/handler.ts: one event contract) as NodejsFunction settings: Node.js 22 on arm64, bundled
 * with the local esbuild (never Docker). The primary region's ops function and the replica region's promotion function
 * both deploy it, each with its own environment, role, memory and timeout.
 */
function opsHandlerCode(entry: string = join(REPO_ROOT, 'lambda', 'ops', 'handler.ts')): Pick<
  nodejs.NodejsFunctionProps,
  'entry' | 'handler' | 'projectRoot' | 'depsLockFilePath' | 'runtime' | 'architecture' | 'bundling'
> {
  return {
    entry,
    handler: 'handler',
    projectRoot: REPO_ROOT,
    depsLockFilePath: join(REPO_ROOT, 'package-lock.json'),
    runtime: lambda.Runtime.NODEJS_22_X,
    architecture: lambda.Architecture.ARM_64,
    bundling: {
      forceDockerBundling: false,
      target: 'node22',
      format: nodejs.OutputFormat.CJS,
      minify: true,
      sourceMap: true,
      // Bundle the SDK clients the tests ran against instead of whatever version the runtime ships.
      externalModules: [],
    },
  };
}

export interface OpsHandlerProps {
  /** Physical function name. @default - generated */
  readonly functionName?: string;
  /** Fixed name of the role, for a key policy in the other region that must name it before it exists. @default - generated */
  readonly roleName?: string;
  /** What the role may do, in a sentence (IAM console). */
  readonly roleDescription: string;
  /** What the function is for: the actions its event takes. */
  readonly description: string;
  readonly memorySize: number;
  readonly timeout: Duration;
  /** Its deployment's settings (names from ENV in src/contract.ts); source maps are turned on here. */
  readonly environment: Record<string, string>;
  readonly logRetention: logs.RetentionDays;
  /** Another handler file built the same way (the Discord functions). @default lambda/ops/handler.ts */
  readonly entry?: string;
  /** What only this deployment sets (versions kept, retries). */
  readonly extra?: Pick<nodejs.NodejsFunctionProps, 'currentVersionOptions' | 'retryAttempts'>;
}

/** What {@link addOpsHandler} makes: the function, its role (no permissions yet but its logs) and its log group. */
export interface OpsHandler {
  readonly function: nodejs.NodejsFunction;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;
}

/**
 * One deployment of the ops handler under `scope` (ids `Logs`, `Role`, `Function`): a log group of its own, a role
 * that may write only there, and the function. The caller grants what its actions call.
 */
export function addOpsHandler(scope: Construct, props: OpsHandlerProps): OpsHandler {
  const logGroup = new logs.LogGroup(scope, 'Logs', { retention: props.logRetention, removalPolicy: RemovalPolicy.DESTROY });
  const role = new iam.Role(scope, 'Role', {
    roleName: props.roleName,
    assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    description: props.roleDescription,
  });
  logGroup.grantWrite(role);
  const fn = new nodejs.NodejsFunction(scope, 'Function', {
    ...opsHandlerCode(props.entry),
    ...props.extra,
    functionName: props.functionName,
    description: props.description,
    memorySize: props.memorySize,
    timeout: props.timeout,
    role,
    logGroup,
    environment: { ...props.environment, NODE_OPTIONS: '--enable-source-maps' },
  });
  Validations.of(fn).acknowledge({
    id: 'AwsSolutions-L1',
    reason: 'Node.js 22 on purpose: the CLI, container image and tests target Node.js 22 (docs/architecture.md, "Runtimes"); move with them.',
  });
  return { function: fn, role, logGroup };
}

/** The statement ids and the reason of {@link grantKeyReads}, which name the deployment's use of each key. */
export interface KeyReadNames {
  /** Sid of this region's key grant. */
  readonly local: string;
  /** Sid of the statement on the other region's key. */
  readonly other: string;
  /** Why the other region's key (known by alias only, so a wildcard ARN) is needed. */
  readonly otherReason: string;
}

/**
 * With KMS: reads with this region's key (a grant in its key policy) and with the other region's, known by its alias
 * only (the other stack's key does not exist yet when this one is made), through S3 for that bucket.
 */
export function grantKeyReads(role: iam.Role, localKey: BackupKey, otherKey: OtherRegionKey, names: KeyReadNames): void {
  localKey.grant(names.local, role, KEY_USE.read);
  role.addToPrincipalPolicy(otherRegionKeyStatement(names.other, otherKey, KEY_USE.read));
  acknowledgeWildcardResource(defaultPolicyOf(role), otherKey.keyArnPattern, names.otherReason);
}
