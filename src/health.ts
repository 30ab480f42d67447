// /healthz (the process serves requests), /readyz (caches synced and watches alive), /metrics.
import http from 'node:http';
import type { Registry } from 'prom-client';

export interface Probes {
  live(): boolean;
  ready(): { ok: boolean; detail: string };
}

export function parseBindAddress(address: string): { host: string; port: number } | undefined {
  if (address === '0' || address === '') return undefined;
  const i = address.lastIndexOf(':');
  const host = address.slice(0, i) || '0.0.0.0';
  return { host, port: Number(address.slice(i + 1)) };
}

export function serveProbes(address: string, probes: Probes): Promise<http.Server | undefined> {
  return serve(address, (req, res) => {
    if (req.url === '/healthz') return reply(res, probes.live() ? 200 : 500, probes.live() ? 'ok' : 'unhealthy');
    if (req.url === '/readyz') {
      const readiness = probes.ready();
      return reply(res, readiness.ok ? 200 : 503, readiness.detail);
    }
    reply(res, 404, 'not found');
  });
}

export function serveMetrics(address: string, registry: Registry): Promise<http.Server | undefined> {
  return serve(address, (req, res) => {
    if (req.url !== '/metrics') return reply(res, 404, 'not found');
    registry.metrics().then(
      (text) => {
        res.writeHead(200, { 'Content-Type': registry.contentType });
        res.end(text);
      },
      (err: Error) => reply(res, 500, err.message),
    );
  });
}

function serve(address: string, handler: http.RequestListener): Promise<http.Server | undefined> {
  const bind = parseBindAddress(address);
  if (!bind) return Promise.resolve(undefined);
  const server = http.createServer(handler);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(bind.port, bind.host, () => resolve(server));
  });
}

function reply(res: http.ServerResponse, code: number, text: string): void {
  res.writeHead(code, { 'Content-Type': 'text/plain; charset=utf-8' });
  res.end(text + '\n');
}
