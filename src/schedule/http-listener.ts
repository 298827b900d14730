/**
 * The scheduler's HTTP listener (HTTP_LISTEN, default 127.0.0.1:8787): a small table of routes, `GET /health` for the
 * Docker healthcheck, and room for more (an interactions endpoint) without touching the scheduler. Routes are keyed
 * by `METHOD /path`; anything else is 404 (405 for a known path), and a route that throws answers 500 with one line.
 */
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import { UserError, oneLine } from '../core/errors';
import type { Logger } from '../core/log';

export type Route = (req: IncomingMessage, res: ServerResponse) => Promise<void> | void;

/** `GET /health` → handler. */
export type Routes = Readonly<Record<string, Route>>;

export interface HttpListener {
  /** HOST:PORT actually bound (the port is known even when 0 was asked for). */
  address: string;
  close(): Promise<void>;
}

/** Writes one JSON document with `status`. */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function dispatch(routes: Routes, logger: Logger): (req: IncomingMessage, res: ServerResponse) => void {
  const paths = new Set(Object.keys(routes).map((k) => k.slice(k.indexOf(' ') + 1)));
  return (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const route = routes[`${req.method ?? 'GET'} ${path}`];
    if (!route) {
      sendJson(res, paths.has(path) ? 405 : 404, { ok: false, error: `${req.method} ${path}: ${paths.has(path) ? 'method not allowed' : 'not found'}` });
      return;
    }
    Promise.resolve()
      .then(() => route(req, res))
      .catch((err: unknown) => {
        const message = oneLine(err instanceof Error ? err.message : String(err));
        logger.warn(`HTTP ${req.method} ${path} failed: ${message}`);
        if (!res.headersSent) sendJson(res, 500, { ok: false, error: message });
        else res.destroy();
      });
  };
}

/** Listens on `host:port`; a port in use or a host that cannot be bound is one line saying what to change. */
export async function startHttpListener(listen: { host: string; port: number }, routes: Routes, logger: Logger): Promise<HttpListener> {
  const server: Server = createServer(dispatch(routes, logger));
  // A health probe or a webhook is short: a client that holds a connection open must not keep the process alive.
  server.keepAliveTimeout = 5_000;
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      const why = err.code === 'EADDRINUSE' ? 'is in use' : err.code === 'EADDRNOTAVAIL' ? 'is not an address of this host' : `cannot be listened on (${err.code ?? err.message})`;
      reject(new UserError(`HTTP_LISTEN ${listen.host}:${listen.port} ${why}: set HTTP_LISTEN to a free HOST:PORT, or off`, 2, { cause: err }));
    });
    server.listen(listen.port, listen.host, () => resolve());
  });
  const bound = server.address();
  const address = typeof bound === 'object' && bound ? `${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}` : `${listen.host}:${listen.port}`;
  return {
    address,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
