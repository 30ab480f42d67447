// The operator's servers: /healthz (the process serves requests), /readyz (caches synced and
// watches alive), /metrics; and the HTTPS server of the kubelet endpoint and the admission webhook,
// whose certificate files are read again while it runs.
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { Logger } from 'pino';
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

/** Serving certificates pushed by their owner (e.g. read from a Secret), instead of files. */
export interface ServingCertificateSource {
  onServingCertificate(listener: (pair: { cert: Buffer; key: Buffer }) => void): void;
}

export interface ReloadingHttpsOptions {
  bindAddress: string;
  /** PEM files read again every `reloadIntervalMs`; or `source`. */
  certFile?: string;
  keyFile?: string;
  /** Pushes each new pair; until the first one the server completes no handshake. */
  source?: ServingCertificateSource;
  /** How often the certificate files are read again (a renewed certificate is served without a restart). */
  reloadIntervalMs: number;
  logger: Logger;
  /** What the log lines call this server. */
  name: string;
  /** Timeouts and limits of the server. */
  server: https.ServerOptions;
}

/**
 * An HTTPS server whose certificate and key are swapped in live when they change: files read again
 * every `reloadIntervalMs` (unreadable files keep the current pair), or pairs pushed by `source`;
 * undefined when the bind address is "0" (off).
 */
export async function serveReloadingHttps(
  options: ReloadingHttpsOptions,
  handler: http.RequestListener,
): Promise<https.Server | undefined> {
  const address = parseBindAddress(options.bindAddress);
  if (!address) return undefined;
  let server: https.Server;
  if (options.source) {
    server = https.createServer({ ...options.server, minVersion: 'TLSv1.2' }, handler);
    options.source.onServingCertificate((pair) => {
      server.setSecureContext({ ...pair, minVersion: 'TLSv1.2' });
      options.logger.info(`${options.name}: serving certificate loaded`);
    });
  } else {
    const certFile = options.certFile ?? '';
    const keyFile = options.keyFile ?? '';
    const tls = async () => ({ cert: await readFile(certFile), key: await readFile(keyFile) });
    let current = await tls();
    server = https.createServer({ ...options.server, ...current, minVersion: 'TLSv1.2' }, handler);
    const reload = setInterval(() => {
      tls().then(
        (next) => {
          if (next.cert.equals(current.cert) && next.key.equals(current.key)) return;
          server.setSecureContext(next);
          current = next;
          options.logger.info({ certFile }, `${options.name}: serving certificate reloaded`);
        },
        (err: Error) =>
          options.logger.warn(
            { err: err.message },
            `${options.name}: certificate files unreadable; keeping the current one`,
          ),
      );
    }, options.reloadIntervalMs);
    reload.unref();
    server.on('close', () => clearInterval(reload));
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(address.port, address.host, () => resolve());
  });
  return server;
}

/**
 * A request's body as UTF-8, at most `maxBytes`: past that `tooLarge` answers and the request is
 * destroyed; undefined then, or when the client went away.
 */
export async function readBody(
  req: http.IncomingMessage,
  maxBytes: number,
  tooLarge: () => void,
): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > maxBytes) {
        tooLarge();
        req.destroy();
        return undefined;
      }
      chunks.push(chunk);
    }
  } catch {
    return undefined;
  }
  return Buffer.concat(chunks).toString('utf8');
}
