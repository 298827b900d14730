/**
 * moto_server as a local S3, on a free loopback port, for the demo and the integration tests.
 * The emulator keeps everything in memory; stop() throws it all away.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import type { S3Client } from '@aws-sdk/client-s3';
import { createS3Client } from '../storage/s3';
import { freePort, waitFor, which } from './processes';

export interface LocalS3 {
  endpoint: string;
  /** Environment that points the SDK (and the AWS CLI) at the emulator with dummy credentials. */
  env: Record<string, string>;
  client(): S3Client;
  stop(): Promise<void>;
}

export const EMULATOR_REGION = 'us-east-1';

export async function startLocalS3(): Promise<LocalS3> {
  const program = which('moto_server');
  if (!program) {
    throw new Error("moto_server (the S3 emulator) not found on PATH: install it with `pip install 'moto[server]'`");
  }
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn(program, ['-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: false,
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  let exited = false;
  child.on('exit', () => {
    exited = true;
  });
  await waitFor(async () => {
    if (exited) throw new Error(`moto_server exited: ${stderr.trim()}`);
    try {
      const res = await fetch(`${endpoint}/moto-api/`);
      return res.status < 500;
    } catch {
      return false;
    }
  }, 30_000, 'moto_server');

  const env = {
    AWS_ENDPOINT_URL_S3: endpoint,
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    AWS_REGION: EMULATOR_REGION,
    AWS_DEFAULT_REGION: EMULATOR_REGION,
  };
  const clients: S3Client[] = [];
  return {
    endpoint,
    env,
    client() {
      const client = createS3Client({ endpoint, region: EMULATOR_REGION, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
      clients.push(client);
      return client;
    },
    async stop() {
      // Keep-alive sockets would hold the event loop open after the emulator is gone.
      for (const c of clients.splice(0)) c.destroy();
      if (exited) return;
      const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([gone, new Promise((r) => (timer = setTimeout(r, 5000)))]);
      clearTimeout(timer);
      if (!exited) child.kill('SIGKILL');
    },
  };
}
