import net from 'node:net';

/**
 * A plain TCP forwarder the apps reach Redis through, so a test can make Redis unreachable
 * (and bring it back) without touching the Redis other people share.
 *
 * - `cut()` stops listening (new connections are refused) and destroys every open
 *   connection, both sides: to the apps it looks like Redis went away.
 * - `restore()` listens again on the same port; the apps must reconnect by themselves.
 */
export class TcpProxy {
  private server?: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private listeningPort = 0;
  /** Connections accepted since the proxy was created. */
  accepted = 0;

  constructor(private readonly target: { host: string; port: number }) {}

  get port(): number {
    return this.listeningPort;
  }

  get listening(): boolean {
    return this.server !== undefined;
  }

  /** Open connections right now (each counts once, not per side). */
  get openConnections(): number {
    return this.sockets.size / 2;
  }

  /** Listens on `port` (0: any free port, kept for later restores). */
  async start(port = this.listeningPort): Promise<number> {
    if (this.server) return this.listeningPort;
    const server = net.createServer((client) => this.forward(client));
    // Restoring right after a cut can, rarely, find the port briefly taken: try a few times.
    for (let attempt = 1; ; attempt++) {
      try {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(port, '127.0.0.1', () => {
            server.off('error', reject);
            resolve();
          });
        });
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= 20) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    this.server = server;
    this.listeningPort = (server.address() as net.AddressInfo).port;
    return this.listeningPort;
  }

  /** Redis "goes away": nothing listens any more and every open connection is destroyed. */
  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    const closed = server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    await closed;
  }

  /** Redis "comes back" on the same address. */
  async restore(): Promise<void> {
    await this.start(this.listeningPort);
  }

  async close(): Promise<void> {
    await this.cut();
  }

  private forward(client: net.Socket): void {
    this.accepted++;
    const upstream = net.connect(this.target.port, this.target.host);
    this.sockets.add(client);
    this.sockets.add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  }
}

/** The same Redis URL (credentials, database) pointed at the proxy instead. */
export function viaProxy(redisUrl: string, proxyPort: number): string {
  const url = new URL(redisUrl);
  url.hostname = '127.0.0.1';
  url.port = String(proxyPort);
  return url.toString().replace(/\/$/, '');
}

export function redisAddress(redisUrl: string): { host: string; port: number } {
  const url = new URL(redisUrl);
  return { host: url.hostname || '127.0.0.1', port: Number(url.port || 6379) };
}
