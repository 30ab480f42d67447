// A fault-injecting proxy of our own between the operator and kube-apiserver. It terminates TLS
// with the API server's own serving certificate (signed by the cluster CA, SAN 127.0.0.1), so the
// operator's kubeconfig differs only in the server URL, and forwards every request upstream over a
// new TLS connection authenticated with the operator's client certificate: the API server (and its
// audit log) still sees the operator's identity.
//
// Faults, all at the HTTP level of real connections:
//   - a seeded share of non-watch requests answered 429 (with Retry-After), 500 or 503 without
//     being forwarded; timed out (forwarded, the answer never sent: the write may have happened);
//     or reset (socket destroyed, half of them after the request was forwarded);
//   - capacity (setCapacity): an API server with few seats, as API Priority and Fairness makes one
//     look under load: beyond `seats` requests at once, either answered 429 with Retry-After at
//     once (a priority level whose queues are full) or queued for a seat (rising latency), each
//     holding its seat for at least `serviceMs`;
//   - watches: cut mid-stream (both sockets destroyed), stalled (open streams stop delivering and
//     new watch requests are never answered, while the connection stays open; nothing is lost:
//     held data is delivered when the stall ends), and 410 Gone
//     answered to watch requests that resume from a resourceVersion.
import { readFile, writeFile } from 'node:fs/promises';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { testEnv } from './controlplane.js';

export type FaultKind = 'tooManyRequests' | 'internalError' | 'unavailable' | 'timeout' | 'reset';

/** Share (0..1) of non-watch requests that get each fault; the rest pass. */
export type FaultShares = Partial<Record<FaultKind, number>>;

export interface ApiProxy {
  url: string;
  /** A kubeconfig for the identity of `userKubeconfig` that goes through this proxy. */
  kubeconfigFor(userKubeconfig: string): Promise<string>;
  setFaults(
    shares: FaultShares,
    opts?: { retryAfterSeconds?: number; only?: (method: string, path: string) => boolean },
  ): void;
  /**
   * Limits non-watch requests to `seats` at once: beyond them `reject` answers 429 (Retry-After
   * `retryAfterSeconds`, default 1), `queue` waits for a seat; a request holds its seat at least
   * `serviceMs`. undefined: no limit.
   */
  setCapacity(capacity?: {
    seats: number;
    overflow: 'reject' | 'queue';
    serviceMs?: number;
    retryAfterSeconds?: number;
  }): void;
  /** Non-watch requests in the proxy now, and the most at once since the last call. */
  concurrency(): { now: number; peak: number };
  /** Destroys every open watch stream; returns how many. */
  cutWatches(): number;
  /** Stalled: open watch streams stop delivering, new watch requests get no answer. */
  stallWatches(on: boolean): void;
  /** The next `n` watch requests that resume from a resourceVersion are answered 410 Gone. */
  goneOnResume(n: number): void;
  openWatches(): number;
  /** Faults injected so far, by kind (plus watchCut, watchStalled, watchGone) and requests forwarded. */
  counts(): Record<string, number>;
  stop(): Promise<void>;
}

interface Kubeconfig {
  clusters: Array<{ cluster: { server: string; 'certificate-authority-data': string } }>;
  users: Array<{ user: { 'client-certificate-data': string; 'client-key-data': string } }>;
}

/** mulberry32: a small seeded PRNG (the same one the crash test uses). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const statusBody = (code: number, reason: string, message: string, retryAfterSeconds?: number): string =>
  JSON.stringify({
    kind: 'Status',
    apiVersion: 'v1',
    status: 'Failure',
    code,
    reason,
    message: `${message} (fault-proxy)`,
    details: retryAfterSeconds === undefined ? undefined : { retryAfterSeconds },
  });

function isWatch(url: URL): boolean {
  const w = url.searchParams.get('watch');
  return w === 'true' || w === '1';
}

export async function startApiProxy(seed: number): Promise<ApiProxy> {
  const env = testEnv();
  const random = prng(seed);
  const upstream = new URL(env.server);
  const pki = path.join(env.dir, 'pki');
  const [cert, key, ca] = await Promise.all(
    ['apiserver.crt', 'apiserver.key', 'ca.crt'].map((f) => readFile(path.join(pki, f))),
  );
  let identity: { cert: Buffer; key: Buffer } | undefined;
  let agent: https.Agent | undefined;
  let shares: FaultShares = {};
  let retryAfter = 1;
  let only: ((method: string, path: string) => boolean) | undefined;
  let stalled = false;
  let goneBudget = 0;
  const counts: Record<string, number> = {};
  const count = (k: string) => (counts[k] = (counts[k] ?? 0) + 1);
  // A stalled stream holds what the API server sends (like a stuck network, it loses nothing) and
  // delivers it when the stall ends, unless the operator gave up on it first.
  type Watch = { down: http.ServerResponse; up?: http.ClientRequest; upRes?: http.IncomingMessage; held: Buffer[] };
  const watches = new Set<Watch>();
  const held = new Set<http.ServerResponse>();
  // Capacity: seats taken by requests, and those waiting for one.
  let capacity:
    { seats: number; overflow: 'reject' | 'queue'; serviceMs?: number; retryAfterSeconds?: number } | undefined;
  let seated = 0;
  const waitingForSeat: Array<() => void> = [];
  let inProxy = 0;
  let peak = 0;
  const takeSeat = (): Promise<void> | 'full' => {
    if (!capacity || seated < capacity.seats) {
      seated++;
      return Promise.resolve();
    }
    if (capacity.overflow === 'reject') return 'full';
    return new Promise((resolve) => waitingForSeat.push(resolve));
  };
  const leaveSeat = () => {
    const next = waitingForSeat.shift();
    if (next) next();
    else seated = Math.max(0, seated - 1);
  };

  // After setFaults, each kind with a share is injected once first (so every kind really happens,
  // whatever the seed), then at random by share.
  let firsts: FaultKind[] = [];
  const pick = (): FaultKind | undefined => {
    const first = firsts.shift();
    if (first) return first;
    let r = random();
    for (const k of ['tooManyRequests', 'internalError', 'unavailable', 'timeout', 'reset'] as FaultKind[]) {
      const share = shares[k] ?? 0;
      if (r < share) return k;
      r -= share;
    }
    return undefined;
  };

  const forward = (
    req: http.IncomingMessage,
    body: Buffer,
    onResponse: (upRes: http.IncomingMessage, up: http.ClientRequest) => void,
    onError: (err: Error) => void,
  ): http.ClientRequest => {
    const headers = { ...req.headers, host: upstream.host };
    delete headers.connection;
    const up = https.request(
      { hostname: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers, agent, ca },
      (upRes) => onResponse(upRes, up),
    );
    up.on('error', onError);
    up.end(body);
    count('forwarded');
    return up;
  };

  const hold = (res: http.ServerResponse) => {
    held.add(res);
    res.on('close', () => held.delete(res));
  };

  const server = https.createServer({ cert, key }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const url = new URL(req.url ?? '/', 'https://proxy');
      if (isWatch(url)) {
        const rv = url.searchParams.get('resourceVersion');
        if (goneBudget > 0 && rv && rv !== '0') {
          goneBudget--;
          count('watchGone');
          res.writeHead(410, { 'content-type': 'application/json' });
          res.end(statusBody(410, 'Expired', `too old resource version: ${rv}`));
          return;
        }
        if (stalled) {
          count('watchStalled');
          hold(res);
          return;
        }
        const w: Watch = { down: res, held: [] };
        watches.add(w);
        res.on('close', () => {
          watches.delete(w);
          w.up?.destroy();
        });
        w.up = forward(
          req,
          body,
          (upRes) => {
            w.upRes = upRes;
            res.writeHead(upRes.statusCode ?? 502, upRes.headers);
            // the API server answered the watch: the operator must see that now, not with the first event
            res.flushHeaders();
            upRes.on('data', (c: Buffer) => {
              if (stalled) w.held.push(c);
              else res.write(c);
            });
            upRes.on('end', () => {
              for (const c of w.held.splice(0)) res.write(c);
              res.end();
            });
            upRes.on('error', () => res.destroy());
          },
          () => res.destroy(),
        );
        return;
      }
      inProxy++;
      peak = Math.max(peak, inProxy);
      let closed = false;
      res.on('close', () => {
        closed = true;
        inProxy--;
      });
      const fault = only && !only(req.method ?? 'GET', url.pathname) ? undefined : pick();
      if (fault) count(fault);
      switch (fault) {
        case 'tooManyRequests':
          res.writeHead(429, { 'content-type': 'application/json', 'retry-after': String(retryAfter) });
          res.end(statusBody(429, 'TooManyRequests', 'too many requests', retryAfter));
          return;
        case 'internalError':
          res.writeHead(500, { 'content-type': 'application/json' });
          res.end(statusBody(500, 'InternalError', 'internal error'));
          return;
        case 'unavailable':
          res.writeHead(503, { 'content-type': 'text/plain' });
          res.end('Service Unavailable');
          return;
        case 'reset':
          if (random() < 0.5) {
            req.socket.destroy();
            return;
          }
          // forwarded, then the answer is lost: the request may well have been applied
          forward(
            req,
            body,
            (upRes) => {
              upRes.resume();
              req.socket.destroy();
            },
            () => req.socket.destroy(),
          );
          return;
        case 'timeout':
          forward(
            req,
            body,
            (upRes) => upRes.resume(),
            () => undefined,
          );
          hold(res);
          return;
        default: {
          const seat = takeSeat();
          if (seat === 'full') {
            count('throttled');
            const after = capacity?.retryAfterSeconds ?? 1;
            res.writeHead(429, { 'content-type': 'application/json', 'retry-after': String(after) });
            res.end(statusBody(429, 'TooManyRequests', 'too many requests, please try again later', after));
            return;
          }
          void seat.then(() => {
            // a client that gave up while queued (its timeout) leaves its seat to the next at once
            if (closed) return leaveSeat();
            // the seat is held until the answer has gone out, and at least serviceMs
            const since = Date.now();
            let left = false;
            res.on('close', () => {
              if (!left) leaveSeat();
              left = true;
            });
            forward(
              req,
              body,
              (upRes) => {
                const answer = () => {
                  res.writeHead(upRes.statusCode ?? 502, upRes.headers);
                  upRes.pipe(res);
                };
                const rest = (capacity?.serviceMs ?? 0) - (Date.now() - since);
                if (rest > 0) setTimeout(answer, rest);
                else answer();
              },
              (err) => {
                if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' });
                res.end(statusBody(502, 'BadGateway', `upstream failed: ${err.message}`));
              },
            );
          });
        }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    async kubeconfigFor(userKubeconfig) {
      const kc = JSON.parse(await readFile(userKubeconfig, 'utf8')) as Kubeconfig & {
        clusters: Array<{ cluster: { server: string } }>;
      };
      const u = kc.users[0]!.user;
      identity = {
        cert: Buffer.from(u['client-certificate-data'], 'base64'),
        key: Buffer.from(u['client-key-data'], 'base64'),
      };
      agent?.destroy();
      agent = new https.Agent({ keepAlive: true, maxSockets: 128, ca, cert: identity.cert, key: identity.key });
      for (const c of kc.clusters) c.cluster.server = url;
      const out = userKubeconfig.replace(/\.kubeconfig$/, '') + '-via-proxy.kubeconfig';
      await writeFile(out, JSON.stringify(kc, null, 2), { mode: 0o600 });
      return out;
    },
    setFaults(s, opts = {}) {
      shares = s;
      firsts = (Object.keys(s) as FaultKind[]).filter((k) => (s[k] ?? 0) > 0);
      retryAfter = opts.retryAfterSeconds ?? 1;
      only = opts.only;
    },
    setCapacity(next) {
      capacity = next;
      if (!next) for (const release of waitingForSeat.splice(0)) release();
      if (!next) seated = 0;
    },
    concurrency() {
      const out = { now: inProxy, peak };
      peak = inProxy;
      return out;
    },
    cutWatches() {
      let n = 0;
      for (const w of [...watches]) {
        n++;
        count('watchCut');
        w.up?.destroy();
        w.down.socket?.destroy();
        watches.delete(w);
      }
      return n;
    },
    stallWatches(on) {
      stalled = on;
      if (on) return;
      for (const res of [...held]) res.socket?.destroy();
      for (const w of watches) for (const c of w.held.splice(0)) w.down.write(c);
    },
    goneOnResume(n) {
      goneBudget = n;
    },
    openWatches: () => watches.size,
    counts: () => ({ ...counts }),
    async stop() {
      for (const w of watches) w.up?.destroy();
      for (const res of held) res.socket?.destroy();
      server.closeAllConnections();
      agent?.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
