/**
 * The Compose deployment's interactions endpoint: an HTTP listener in this process (the scheduler's, or `meatbackup
 * discord serve`), behind the platform's reverse proxy, which terminates TLS (Discord calls https only). It hands each
 * POST to ./interactions.ts, sends the reply, and only then runs the deferred command, in this process.
 * `GET` answers 200 for the proxy's health checks and says nothing else.
 */
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type FollowUpDeps, type InteractionSettings, handleInteraction, runFollowUp } from './interactions';
import { ReplayGuard } from './signature';

/** Interactions are a few KB; anything larger is not one. */
const MAX_BODY_BYTES = 256 * 1024;

export interface HandlerOptions {
  settings: InteractionSettings;
  deps: FollowUpDeps;
  now?: () => number;
}

export interface ListenerOptions extends HandlerOptions {
  host: string;
  port: number;
}

/** The endpoint as one request handler, for a listener of its own or a route of the scheduler's. */
export interface InteractionsHandler {
  serve(req: IncomingMessage, res: ServerResponse): Promise<void>;
  /** Waits for the follow-ups in flight. */
  drain(): Promise<void>;
}

export interface InteractionsListener {
  /** http://HOST:PORT */
  readonly url: string;
  /** Stops accepting requests and waits for the follow-ups in flight. */
  close(): Promise<void>;
}

function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        resolve(undefined);
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export function interactionsHandler(options: HandlerOptions): InteractionsHandler {
  const replay = new ReplayGuard();
  const now = options.now ?? Date.now;
  const pending = new Set<Promise<void>>();
  const { log } = options.deps;

  const serve = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (req.method === 'GET') {
      res.writeHead(200, { 'Content-Type': 'text/plain' }).end('meatbackup Discord interactions endpoint\n');
      return;
    }
    if (req.method !== 'POST') {
      res.writeHead(405, { Allow: 'POST, GET', 'Content-Type': 'text/plain' }).end('POST interactions here\n');
      return;
    }
    const body = await readBody(req);
    if (body === undefined) {
      res.writeHead(413, { 'Content-Type': 'text/plain' }).end('too large for an interaction\n');
      return;
    }
    const headers: Record<string, string | undefined> = {};
    for (const [name, value] of Object.entries(req.headers)) headers[name.toLowerCase()] = Array.isArray(value) ? value[0] : value;
    const handled = handleInteraction({ headers, body }, options.settings, replay, now());
    log({ message: 'discord interaction', ...handled.log });
    res.writeHead(handled.reply.status, { 'Content-Type': handled.reply.contentType }).end(handled.reply.body);
    if (!handled.followUp) return;
    const job = handled.followUp;
    const work = runFollowUp(job, options.deps)
      .catch((err: unknown) => log({ message: 'discord follow-up failed', interactionId: job.requester.interactionId, error: err instanceof Error ? err.message : String(err) }))
      .finally(() => pending.delete(work));
    pending.add(work);
  };
  return {
    serve,
    drain: async () => {
      await Promise.allSettled([...pending]);
    },
  };
}

export async function startInteractionsListener(options: ListenerOptions): Promise<InteractionsListener> {
  const { log } = options.deps;
  const handler = interactionsHandler(options);
  const server: Server = createServer((req, res) => {
    handler.serve(req, res).catch((err: unknown) => {
      log({ message: 'discord listener error', error: err instanceof Error ? err.message : String(err) });
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain' }).end('internal error\n');
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await handler.drain();
    },
  };
}
