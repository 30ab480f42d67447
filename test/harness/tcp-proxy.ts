// A TCP proxy on loopback in front of the API server, to cut one operator process off from it
// (the shared API server keeps running for everyone else). TLS passes through untouched: the API
// server's certificate is valid for 127.0.0.1, whatever the port.
import * as net from 'node:net';

export interface TcpProxy {
  /** https://127.0.0.1:<proxy port> */
  url: string;
  /** Reset every open connection and every new one until up(). */
  down(): void;
  up(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(target: string, opts: { startDown?: boolean } = {}): Promise<TcpProxy> {
  const { hostname, port } = new URL(target);
  let isDown = opts.startDown ?? false;
  const open = new Set<net.Socket>();
  const server = net.createServer((client) => {
    if (isDown) return client.resetAndDestroy();
    const upstream = net.connect(Number(port), hostname);
    for (const s of [client, upstream]) {
      open.add(s);
      s.once('close', () => open.delete(s));
      s.on('error', () => undefined);
    }
    client.once('close', () => upstream.destroy());
    upstream.once('close', () => client.destroy());
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return {
    url: `https://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    down() {
      isDown = true;
      for (const s of open) s.resetAndDestroy();
    },
    up() {
      isDown = false;
    },
    close() {
      for (const s of open) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
