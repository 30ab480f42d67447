// The cloud side of the provider tests, all on loopback. Google and Azure have no emulator, so the
// harness serves their token endpoints itself ("stand-ins"): small HTTP handlers that answer the
// way the real services do, count requests per identity and inject faults. The SDKs under test are
// not modified and keep their real endpoints (https://oauth2.googleapis.com/token,
// https://login.microsoftonline.com/<tenant>/..., https://<name>.azurecr.io/oauth2/exchange): the
// operator process gets HTTPS_PROXY pointing at the egress proxy below, which both SDKs honour. The
// proxy never connects anywhere: it terminates TLS itself, with a certificate for those names from
// a throwaway CA the process trusts (NODE_EXTRA_CA_CERTS), and hands each request to the stand-in
// registered for its host. A host nobody serves is refused and recorded (`refused`, which the tests
// expect to stay empty). Metadata servers (GCE, Azure IMDS) are plain HTTP on loopback, as the real
// ones are on their link-local address, and the SDKs are pointed at them by their documented
// variables (GCE_METADATA_HOST, AZURE_POD_IDENTITY_AUTHORITY_HOST).
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { testEnv } from '../../harness/controlplane.js';
import { createCertificateAuthority, issueServerCertificate } from '../../harness/tls.js';

export interface StandInRequest {
  method: string;
  host: string;
  path: string;
  query: URLSearchParams;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** The body as a form (application/x-www-form-urlencoded). */
  form: URLSearchParams;
}

export type StandInAnswer =
  { status: number; json?: unknown; text?: string; headers?: Record<string, string> } | 'hang';

export type StandInHandler = (req: StandInRequest) => StandInAnswer | undefined | Promise<StandInAnswer | undefined>;

/** A fault to answer instead of the real thing: an HTTP error, or no answer at all. */
export type StandInFault = { status: number; json: unknown } | 'hang';

export function answerFault(fault: StandInFault): StandInAnswer {
  return fault === 'hang' ? 'hang' : { status: fault.status, json: fault.json };
}

/** Serves `handler` on `server`: parses the request, writes the answer (404 when the handler has none). */
function serve(handler: (host: string) => StandInHandler | undefined, hung: Set<http.ServerResponse>) {
  return (req: http.IncomingMessage, res: http.ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', async () => {
      const url = new URL(req.url ?? '/', 'http://stand-in');
      const host = String(req.headers.host ?? '').replace(/:\d+$/, '');
      const body = Buffer.concat(chunks).toString('utf8');
      const request: StandInRequest = {
        method: req.method ?? 'GET',
        host,
        path: url.pathname,
        query: url.searchParams,
        headers: req.headers,
        body,
        form: new URLSearchParams(String(req.headers['content-type'] ?? '').includes('form') ? body : ''),
      };
      let answer: StandInAnswer | undefined;
      try {
        answer = await handler(host)?.(request);
      } catch (err) {
        answer = { status: 500, text: `stand-in failed: ${(err as Error).message}` };
      }
      if (answer === 'hang') {
        hung.add(res);
        res.on('close', () => hung.delete(res));
        return;
      }
      answer ??= {
        status: 404,
        json: { error: 'not_found', error_description: `no stand-in for ${req.method} ${url.pathname}` },
      };
      const text = answer.json !== undefined ? JSON.stringify(answer.json) : (answer.text ?? '');
      res.writeHead(answer.status, {
        'content-type': answer.json !== undefined ? 'application/json; charset=utf-8' : 'text/plain',
        ...answer.headers,
      });
      res.end(text);
    });
  };
}

export interface PlainStandIn {
  /** "127.0.0.1:PORT" */
  host: string;
  url: string;
  stop(): Promise<void>;
}

/** A plain HTTP stand-in on loopback (a metadata server). */
export async function startPlainStandIn(handler: StandInHandler): Promise<PlainStandIn> {
  const hung = new Set<http.ServerResponse>();
  const server = http.createServer(serve(() => handler, hung));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}`,
    stop: async () => {
      for (const res of hung) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * An HTTPS stand-in on loopback, served with `tls` (e.g. a test registry's certificate, which has the
 * IP SAN 127.0.0.1): for services the operator is pointed at by a URL in the spec (github.apiUrl,
 * a quay server), trusted through NODE_EXTRA_CA_CERTS.
 */
export async function startHttpsStandIn(
  tls: { cert: string; key: string },
  handler: StandInHandler,
): Promise<PlainStandIn> {
  const hung = new Set<http.ServerResponse>();
  const server = https.createServer(
    tls,
    serve(() => handler, hung),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    url: `https://127.0.0.1:${port}`,
    stop: async () => {
      for (const res of hung) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export interface EgressProxy {
  /** For HTTPS_PROXY: http://127.0.0.1:PORT */
  url: string;
  /** The CA to trust (NODE_EXTRA_CA_CERTS). */
  caFile: string;
  /** Host names (with port) something tried to reach through the proxy that no stand-in serves. */
  refused: string[];
  /** Serves requests to `host` (exact, or a "*.suffix" pattern) with `handler`. */
  route(host: string, handler: StandInHandler): void;
  stop(): Promise<void>;
}

/** The egress proxy; `names` are the host names its certificate covers (wildcards allowed). */
export async function startEgressProxy(names: string[]): Promise<EgressProxy> {
  const dir = path.join(testEnv().dir, `stand-ins-${process.pid}-${Date.now()}`);
  const ca = await createCertificateAuthority(dir);
  const { cert, key } = await issueServerCertificate(ca, 'stand-ins', names);
  const routes: Array<[string, StandInHandler]> = [];
  const refused: string[] = [];
  const hung = new Set<http.ServerResponse>();
  const handlerFor = (host: string) =>
    routes.find(([pattern]) => (pattern.startsWith('*.') ? host.endsWith(pattern.slice(1)) : host === pattern))?.[1];
  const inner = https.createServer({ cert, key }, serve(handlerFor, hung));
  const sockets = new Set<import('node:net').Socket>();
  const proxy = http.createServer((req, res) => {
    // Plain-HTTP proxying (an http:// URL through HTTP_PROXY): nothing here is served that way.
    refused.push(String(req.url));
    res.writeHead(403).end('egress proxy: only CONNECT to a stand-in');
  });
  proxy.on('connect', (req: http.IncomingMessage, socket: import('node:net').Socket, head: Buffer) => {
    const target = String(req.url);
    const [host, port] = target.split(':');
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    if (port !== '443' || !host || !handlerFor(host)) {
      refused.push(target);
      socket.end('HTTP/1.1 403 Forbidden\r\n\r\n');
      return;
    }
    socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head.length > 0) socket.unshift(head);
    inner.emit('connection', socket);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const { port } = proxy.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    caFile: ca.caFile,
    refused,
    route: (host, handler) => void routes.push([host, handler]),
    stop: async () => {
      for (const res of hung) res.destroy();
      for (const socket of sockets) socket.destroy();
      proxy.closeAllConnections();
      inner.closeAllConnections();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
      await new Promise<void>((resolve) => inner.close(() => resolve()));
    },
  };
}

/**
 * The environment of an operator process in a provider test: the egress proxy for HTTPS, loopback
 * direct, its CA trusted, every cloud metadata endpoint pointed at
 * `metadata` (or at a closed loopback port), no credentials from this machine's environment.
 */
export function cloudEnvironment(
  proxy: EgressProxy,
  metadata: { gce?: string; azureImds?: string } = {},
): NodeJS.ProcessEnv {
  return {
    HTTPS_PROXY: proxy.url,
    HTTP_PROXY: '',
    NO_PROXY: '127.0.0.1,localhost',
    NODE_EXTRA_CA_CERTS: proxy.caFile,
    // AWS: no instance metadata; Google: the metadata server stand-in (or a closed port); Azure: IMDS likewise.
    AWS_EC2_METADATA_DISABLED: 'true',
    GCE_METADATA_HOST: metadata.gce ?? '127.0.0.1:9',
    AZURE_POD_IDENTITY_AUTHORITY_HOST: metadata.azureImds ?? 'http://127.0.0.1:9',
    GOOGLE_APPLICATION_CREDENTIALS: '',
    CLOUDSDK_CONFIG: path.join(testEnv().dir, 'no-gcloud-config'),
    HOME: path.join(testEnv().dir, 'no-home'),
    // Unset, not empty: the Azure SDK reads an empty AZURE_AUTHORITY_HOST as an (invalid) authority.
    AZURE_CLIENT_ID: undefined,
    AZURE_TENANT_ID: undefined,
    AZURE_FEDERATED_TOKEN_FILE: undefined,
    AZURE_AUTHORITY_HOST: undefined,
    IDENTITY_ENDPOINT: undefined,
    IDENTITY_HEADER: undefined,
    IMDS_ENDPOINT: undefined,
    MSI_ENDPOINT: undefined,
  };
}

/** A JWT-shaped string (unsigned: the stand-ins issue and check their own) with `claims` as payload. */
export function jwtOf(claims: Record<string, unknown>, signature = 'stand-in'): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'RS256', typ: 'JWT' })}.${part(claims)}.${Buffer.from(signature).toString('base64url')}`;
}
