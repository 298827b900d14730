/**
 * Records every AWS call made in this process: an SDK middleware added from the test side to each client the first
 * time it sends (S3, S3 Control, ECS; whichever factory made it), so runtime code is unchanged. A call is recorded
 * with what IAM needs to authorize it: the operation, its input (bucket, key, version id, prefix…), the request
 * headers that IAM condition keys read (x-amz-server-side-encryption, x-amz-object-lock-*, x-amz-tagging,
 * x-amz-bypass-governance-retention…), the region, the HTTP status, and the command that made it (`tag`).
 *
 * Clients stubbed with aws-sdk-client-mock never reach the middleware stack; their calls are added with
 * {@link CallRecorder.addMocked}.
 */
import { Client } from '@smithy/core/client';
import type { HttpRequest } from '@smithy/types';

export interface AwsCall {
  /** `s3`, `s3-control`, `ecs`. */
  service: string;
  /** The API operation, e.g. `PutObject`. */
  operation: string;
  region: string;
  input: Record<string, unknown>;
  /** Lower-case request headers starting with `x-amz-` (signing headers left out). */
  headers: Record<string, string>;
  /** HTTP status of the answer; undefined when nothing answered. */
  status?: number;
  /** Error name when the call failed. */
  error?: string;
  at: Date;
  /** The command (as the runbook names it) that made the call. */
  command: string;
}

const SERVICE_BY_CLIENT: Record<string, string> = { S3Client: 's3', S3ControlClient: 's3-control', ECSClient: 'ecs', LambdaClient: 'lambda', SecretsManagerClient: 'secretsmanager' };
const SIGNING = /^x-amz-(date|content-sha256|security-token|user-agent|checksum-|sdk-checksum-algorithm)/;

interface AnyClient {
  config: { region: () => Promise<string> };
  middlewareStack: { add: (...args: unknown[]) => void };
}

export class CallRecorder {
  readonly calls: AwsCall[] = [];
  private tag = 'setup';
  private recording = false;
  private readonly instrumented = new WeakSet<object>();
  private restoreSend?: () => void;

  /** Patches the SDK's Client.send so that every client gets the recording middleware before its first call. */
  install(): void {
    if (this.restoreSend) return;
    const original = Client.prototype.send as (...a: unknown[]) => unknown;
    const instrumented = this.instrumented;
    const instrument = (client: AnyClient) => this.instrument(client);
    const patched = function (this: AnyClient, ...args: unknown[]) {
      if (!instrumented.has(this)) {
        instrumented.add(this);
        instrument(this);
      }
      return original.apply(this, args);
    };
    (Client.prototype as { send: unknown }).send = patched;
    this.restoreSend = () => {
      (Client.prototype as { send: unknown }).send = original;
    };
  }

  uninstall(): void {
    this.restoreSend?.();
    this.restoreSend = undefined;
  }

  /** Calls from now on belong to `command`; `undefined` stops recording (setup and inspection by the test). */
  as(command: string | undefined): void {
    this.recording = command !== undefined;
    this.tag = command ?? 'setup';
  }

  /** Runs `fn` with its calls tagged `command`, then stops recording. */
  async during<T>(command: string, fn: () => Promise<T>): Promise<T> {
    this.as(command);
    try {
      return await fn();
    } finally {
      this.as(undefined);
    }
  }

  /** Adds the calls a mocked client received (aws-sdk-client-mock's `calls()`), tagged with the current command. */
  addMocked(service: string, region: string, commands: ReadonlyArray<{ constructor: { name: string }; input: object }>): void {
    for (const c of commands) {
      this.calls.push({
        service,
        operation: c.constructor.name.replace(/Command$/, ''),
        region,
        input: { ...(c.input as Record<string, unknown>) },
        headers: {},
        status: 200,
        at: new Date(),
        command: this.tag,
      });
    }
  }

  private instrument(client: AnyClient): void {
    client.middlewareStack.add(
      (next: (args: { request: unknown; input: unknown }) => Promise<{ response: unknown }>, context: { clientName?: string; commandName?: string }) =>
        async (args: { request: unknown; input: unknown }) => {
          if (!this.recording) return next(args);
          const request = args.request as HttpRequest;
          const headers: Record<string, string> = {};
          for (const [k, v] of Object.entries(request.headers ?? {})) {
            const name = k.toLowerCase();
            if (name.startsWith('x-amz-') && !SIGNING.test(name)) headers[name] = String(v);
          }
          const call: AwsCall = {
            service: SERVICE_BY_CLIENT[context.clientName ?? ''] ?? context.clientName ?? 'unknown',
            operation: (context.commandName ?? 'Unknown').replace(/Command$/, ''),
            region: await client.config.region(),
            input: { ...(args.input as Record<string, unknown>) },
            headers,
            at: new Date(),
            command: this.tag,
          };
          this.calls.push(call);
          try {
            const out = await next(args);
            call.status = (out.response as { statusCode?: number } | undefined)?.statusCode;
            return out;
          } catch (err) {
            const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
            call.error = e.name;
            call.status = e.$metadata?.httpStatusCode;
            throw err;
          }
        },
      // After serialization (the request and its headers exist), before retries: one record per call.
      { step: 'build', priority: 'low', name: 'recordAwsCallForIamSimulation' },
    );
  }
}
