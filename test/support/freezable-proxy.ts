/**
 * A TCP proxy in front of the S3 emulator that can freeze: bytes stop moving both ways on every connection, and new
 * connections are accepted but get nothing through, as when a network drops packets instead of refusing them.
 * Thawed, everything held moves on. It can freeze by itself once a number of bytes went up (mid-upload) or came down
 * (mid-download).
 */
import { type AddressInfo, type Server, type Socket, connect, createServer } from 'node:net';

interface Pair {
  client: Socket;
  upstream: Socket;
  /** What arrived while frozen, each way, forwarded on thaw (dropped if the side that sent it closes first). */
  held: { up: Buffer[]; down: Buffer[] };
  /** Ends and closes that happened while frozen: a frozen network delivers no FIN or RST either; passed on at thaw. */
  pending: (() => void)[];
}

export class FreezableProxy {
  private frozen = false;
  private readonly pairs = new Set<Pair>();
  private readonly moved = { up: 0, down: 0 };
  private freezeAt = { up: Number.POSITIVE_INFINITY, down: Number.POSITIVE_INFINITY };
  private onFrozen: (() => void) | undefined;
  private freezePattern: RegExp | undefined;
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

  /**
   * Resolves when the proxy has frozen itself, after `bytes` more bytes went from clients to the emulator (up) or
   * from the emulator to clients (down).
   */
  freezeAfter(bytes: number, direction: 'up' | 'down' = 'up'): Promise<void> {
    this.freezeAt[direction] = this.moved[direction] + bytes;
    return new Promise((resolve) => (this.onFrozen = resolve));
  }

  /** Bytes that went from the emulator to clients so far. */
  get bytesDown(): number {
    return this.moved.down;
  }

  /**
   * Freezes the moment a client sends a request whose first line matches, before that request goes through;
   * resolves then.
   */
  freezeOnRequest(pattern: RegExp): Promise<void> {
    this.freezePattern = pattern;
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
      for (const pass of p.pending.splice(0)) pass();
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
    if (this.freezePattern?.test(line)) {
      this.freezePattern = undefined;
      this.freeze();
    }
    for (const w of [...this.waiters]) {
      if (w.pattern.test(line)) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  }

  private accept(client: Socket): void {
    const upstream = connect(Number(this.target.port), this.target.hostname);
    const pair: Pair = { client, upstream, held: { up: [], down: [] }, pending: [] };
    this.pairs.add(pair);
    const forward = (from: Socket, to: Socket, up: boolean): void => {
      const held = up ? pair.held.up : pair.held.down;
      from.on('data', (chunk: Buffer) => {
        const direction = up ? 'up' : 'down';
        if (up) this.noteRequest(chunk);
        if (this.frozen) {
          held.push(chunk);
          return;
        }
        this.moved[direction] += chunk.length;
        to.write(chunk);
        if (this.moved[direction] >= this.freezeAt[direction]) {
          this.freezeAt = { up: Number.POSITIVE_INFINITY, down: Number.POSITIVE_INFINITY };
          this.freeze();
        }
      });
      from.on('end', () => {
        if (this.frozen) pair.pending.push(() => to.end());
        else to.end();
      });
      from.on('error', () => undefined);
      from.on('close', () => {
        // What a side that went away had sent is dropped, as a dead connection's packets are; the other side hears
        // of it only once the network thaws.
        if (this.frozen) {
          held.length = 0;
          pair.pending.push(() => to.destroy());
          return;
        }
        // An orderly end lets `to` flush what it was given; otherwise the connection is dead both ways.
        if (!to.writableEnded) to.destroy();
        this.pairs.delete(pair);
      });
    };
    forward(client, upstream, true);
    forward(upstream, client, false);
  }
}

/** A proxy in front of the emulator at `target()` for each test of the enclosing block, thawed and closed after it. */
export function useFreezableProxy(target: () => string): { readonly proxy: FreezableProxy } {
  const holder = {} as { proxy: FreezableProxy };
  beforeEach(async () => {
    holder.proxy = await FreezableProxy.start(target());
  });
  afterEach(async () => {
    holder.proxy.thaw();
    await holder.proxy.close();
  });
  return holder;
}
