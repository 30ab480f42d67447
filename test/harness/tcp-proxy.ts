// A TCP proxy on loopback in front of the API server, to cut one operator process off from it
// (the shared API server keeps running for everyone else). TLS passes through untouched: the API
// server's certificate is valid for 127.0.0.1, whatever the port.
import * as net from 'node:net';

export interface TcpProxy {
  /** https://127.0.0.1:<proxy port> */
  url: string;
  /** Reset every open connection, and every new one until up(): the API server is unreachable. */
  down(): void;
  /** Reset every open connection; accept new ones but never answer until up(): a partition that drops packets. */
  blackhole(): void;
  /** Forward again (connections held by the black hole are closed, so clients reconnect). */
  up(): void;
  /** Connections the black hole holds now. */
  held(): number;
  close(): Promise<void>;
}

export async function startTcpProxy(target: string, opts: { startDown?: boolean } = {}): Promise<TcpProxy> {
  const { hostname, port } = new URL(target);
  let mode: 'up' | 'down' | 'blackhole' = opts.startDown ? 'down' : 'up';
  const forwarded = new Set<net.Socket>();
  const held = new Set<net.Socket>();
  const track = (set: Set<net.Socket>, s: net.Socket) => {
    set.add(s);
    s.once('close', () => set.delete(s));
    s.on('error', () => undefined);
  };
  const server = net.createServer((client) => {
    if (mode === 'down') return client.resetAndDestroy();
    if (mode === 'blackhole') {
      track(held, client);
      client.resume(); // read and drop, never answer
      return;
    }
    const upstream = net.connect(Number(port), hostname);
    track(forwarded, client);
    track(forwarded, upstream);
    client.once('close', () => upstream.destroy());
    upstream.once('close', () => client.destroy());
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const cut = (next: 'down' | 'blackhole') => {
    mode = next;
    for (const s of forwarded) s.resetAndDestroy();
  };
  return {
    url: `https://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    down: () => cut('down'),
    blackhole: () => cut('blackhole'),
    up() {
      mode = 'up';
      for (const s of held) s.destroy();
    },
    held: () => held.size,
    close() {
      for (const s of [...forwarded, ...held]) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
