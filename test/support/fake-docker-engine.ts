/**
 * A Docker Engine API on a Unix socket, answering the few calls the Compose implementation makes (ping, list
 * containers with label filters, stop, start, inspect) from an in-memory list of containers, as engine 20.10 answers
 * them (API v1.41): dockerode talks to it exactly as to the real engine, so `npm test` covers the Compose seam without
 * Docker. The end-to-end test (test/compose/) runs it against the real engine.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface FakeContainer {
  id: string;
  name: string;
  project: string;
  service: string;
  oneoff?: boolean;
  running: boolean;
}

export interface FakeEngine {
  socketPath: string;
  containers: FakeContainer[];
  /** `stop web-1`, `start web-1`, … in order. */
  calls: string[];
  /** Makes the next call of this kind fail with the status. */
  failNext(call: 'stop' | 'start', status: number, message: string): void;
  close(): Promise<void>;
}

export async function startFakeEngine(containers: FakeContainer[], options: { onStop?: (c: FakeContainer) => Promise<void> | void } = {}): Promise<FakeEngine> {
  const dir = mkdtempSync(join(tmpdir(), 'fake-docker-'));
  const socketPath = join(dir, 'docker.sock');
  const calls: string[] = [];
  const failures = new Map<string, { status: number; message: string }>();
  const send = (res: import('node:http').ServerResponse, status: number, body?: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json', 'api-version': '1.41' });
    res.end(body === undefined ? '' : JSON.stringify(body));
  };
  const labels = (c: FakeContainer) => ({
    'com.docker.compose.project': c.project,
    'com.docker.compose.service': c.service,
    'com.docker.compose.oneoff': c.oneoff ? 'True' : 'False',
  });
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://engine');
    const path = url.pathname.replace(/^\/v[\d.]+/, '');
    if (path === '/_ping') return send(res, 200, 'OK');
    if (req.method === 'GET' && path === '/containers/json') {
      const wanted: string[] = (JSON.parse(url.searchParams.get('filters') ?? '{}') as { label?: string[] }).label ?? [];
      const list = containers.filter((c) => wanted.every((w) => w in labels(c)) && (url.searchParams.get('all') === 'true' || c.running));
      return send(res, 200, list.map((c) => ({ Id: c.id, Names: [`/${c.name}`], Labels: labels(c), State: c.running ? 'running' : 'exited', Status: c.running ? 'Up' : 'Exited (0)' })));
    }
    const m = /^\/containers\/([^/]+)\/(stop|start|json)$/.exec(path);
    const c = m && containers.find((x) => x.id === m[1]);
    if (!m || !c) return send(res, 404, { message: `No such container: ${m?.[1] ?? path}` });
    if (m[2] === 'json') return send(res, 200, { Id: c.id, Name: `/${c.name}`, State: { Running: c.running, Status: c.running ? 'running' : 'exited' } });
    calls.push(`${m[2]} ${c.name}`);
    const failure = failures.get(m[2]);
    if (failure) {
      failures.delete(m[2]);
      return send(res, failure.status, { message: failure.message });
    }
    if (m[2] === 'stop') {
      if (!c.running) return send(res, 304);
      void Promise.resolve(options.onStop?.(c)).then(() => {
        c.running = false;
        send(res, 204);
      });
      return undefined;
    }
    if (c.running) return send(res, 304);
    c.running = true;
    return send(res, 204);
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return {
    socketPath,
    containers,
    calls,
    failNext: (call, status, message) => failures.set(call, { status, message }),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          rmSync(dir, { recursive: true, force: true });
          resolve();
        });
        server.closeAllConnections();
      }),
  };
}
