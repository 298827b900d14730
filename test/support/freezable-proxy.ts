/**
 * A TCP proxy in front of the S3 emulator that can freeze: bytes stop moving both ways on every connection, and new
 * connections are accepted but get nothing through, as when a network drops packets instead of refusing them.
 * Thawed, everything held moves on. It can freeze by itself once a number of bytes went up (mid-upload).
 */
import { type AddressInfo, type Server, type Socket, connect, createServer } from 'node:net';

interface Pair {
  client: Socket;
  upstream: Socket;
  /** What arrived while frozen, each way, forwarded on thaw (dropped if that side closes first). */
  held: { up: Buffer[]; down: Buffer[] };
}

export class FreezableProxy {
  private frozen = false;
  private readonly pairs = new Set<Pair>();
  private bytesUp = 0;
  private freezeAt = Number.POSITIVE_INFINITY;
  private onFrozen: (() => void) | undefined;
  /** First lines of the HTTP requests clients sent, forwarded or not. */
  readonly requests: string[] = [];
  private readonly waiters: { pattern: RegExp; resolve: () => void }[] = [];

  private constructor(
    private readonly server: Server,
    private readonly target: URL,
  ) {
    server.on('connection', (client) => this.accept(client));
  }

  static async start(target: string): Promise<FreezableProxy> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return new FreezableProxy(server, new URL(target));
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Resolves when the proxy has frozen itself, after `bytes` more bytes went from clients to the emulator. */
  freezeAfter(bytes: number): Promise<void> {
    this.freezeAt = this.bytesUp + bytes;
    return new Promise((resolve) => (this.onFrozen = resolve));
  }

  /** Resolves when a client has sent a request whose first line matches (frozen or not). */
  requestSeen(pattern: RegExp): Promise<void> {
    if (this.requests.some((r) => pattern.test(r))) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ pattern, resolve }));
  }

  freeze(): void {
    this.frozen = true;
    this.onFrozen?.();
    this.onFrozen = undefined;
  }

  thaw(): void {
    this.frozen = false;
    for (const p of this.pairs) {
      for (const chunk of p.held.up.splice(0)) p.upstream.write(chunk);
      for (const chunk of p.held.down.splice(0)) p.client.write(chunk);
    }
  }

  async close(): Promise<void> {
    for (const p of this.pairs) {
      p.client.destroy();
      p.upstream.destroy();
    }
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private noteRequest(chunk: Buffer): void {
    const head = chunk.subarray(0, 512).toString('latin1');
    if (!/^(GET|PUT|POST|DELETE|HEAD) /.test(head)) return;
    const line = head.split('\r\n')[0];
    this.requests.push(line);
    for (const w of [...this.waiters]) {
      if (w.pattern.test(line)) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  }

  private accept(client: Socket): void {
    const upstream = connect(Number(this.target.port), this.target.hostname);
    const pair: Pair = { client, upstream, held: { up: [], down: [] } };
    this.pairs.add(pair);
    const forward = (from: Socket, to: Socket, up: boolean): void => {
      const held = up ? pair.held.up : pair.held.down;
      from.on('data', (chunk: Buffer) => {
        if (up) {
          this.noteRequest(chunk);
          this.bytesUp += chunk.length;
        }
        if (this.frozen) {
          held.push(chunk);
          return;
        }
        to.write(chunk);
        if (up && this.bytesUp >= this.freezeAt) this.freeze();
      });
      from.on('end', () => {
        if (held.length === 0) to.end();
        else to.destroy();
      });
      from.on('error', () => to.destroy());
      from.on('close', () => {
        // What was held for a side that went away is dropped, as a dead connection's packets are.
        held.length = 0;
        to.destroy();
        this.pairs.delete(pair);
      });
    };
    forward(client, upstream, true);
    forward(upstream, client, false);
  }
}
