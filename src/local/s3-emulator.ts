/**
 * moto_server as a local S3, on a free loopback port, for the demo, the integration tests and the benchmark.
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
/** Bytes of an object or part moto keeps in memory before it spills to a temporary file: more than any run writes. */
const EMULATOR_BUFFER_BYTES = 16 * 1024 ** 3;

export async function startLocalS3(): Promise<LocalS3> {
  const program = which('moto_server');
  if (!program) {
    throw new Error("moto_server (the S3 emulator) not found on PATH: install it with `pip install 'moto[server]'`");
  }
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn(program, ['-H', '127.0.0.1', '-p', String(port)], {
    // In memory for real: by default moto spills every object and part over 5 MB to a temporary file, so each backup
    // part was written to this machine's disk and read back at completion, CPU and disk that S3 never charges the
    // client's machine and that the benchmark counted against every command that uploads (moto's own setting).
    env: { ...process.env, MOTO_S3_DEFAULT_KEY_BUFFER_SIZE: String(EMULATOR_BUFFER_BYTES) },
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
