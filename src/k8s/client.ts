// A small REST client for the Kubernetes API. Authentication and TLS come from a ClusterAccess
// (kubeconfig.ts: kubeconfig files, in-cluster token refresh, exec plugins, as client-node reads them);
// the requests themselves are plain HTTP so that every call gets: a typed error, a client-side
// rate limit, bounded retries of transient failures that honour Retry-After, a timeout, a
// per-request metric hook, and no response body of a Secret call in any error message.
import http from 'node:http';
import https from 'node:https';
import { Backoff } from '../runtime/backoff.js';
import { type Clock, sleep } from '../runtime/clock.js';
import type { WatchEvent } from '../runtime/informer.js';
import { AdaptiveLimit, type Outcome } from '../runtime/adaptivelimit.js';
import { TokenBucket } from '../runtime/ratelimit.js';
import { KubeApiError, kubeErrorFromResponse, transportError } from './errors.js';
import type { ClusterAccess } from './kubeconfig.js';

export type Verb = 'GET' | 'LIST' | 'WATCH' | 'CREATE' | 'UPDATE' | 'PATCH' | 'DELETE';

export interface RequestObserver {
  (verb: Verb, resource: string, code: number, seconds: number): void;
}

export interface RequestOptions {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  /** The request or its response carries secret material: never put the server's text in errors. */
  sensitive?: boolean;
  timeoutMs?: number;
  /** Retry transient failures (default true). An eviction refused with 429 is an answer, not a failure. */
  retry?: boolean;
}

export interface KubeClientOptions {
  clock: Clock;
  /** A fixed request rate (token bucket); 0 or absent: none. */
  qps?: number;
  burst?: number;
  /**
   * At most this many requests (not watches) in flight; 0 or absent: no bound. The bound adapts to
   * the server's signals (runtime/adaptivelimit.ts) unless `adaptive` is false.
   */
  maxInFlight?: number;
  adaptive?: boolean;
  /** The in-flight limit changed (a metric). */
  onLimitChange?: (limit: number) => void;
  timeoutMs?: number;
  maxRetries?: number;
  userAgent?: string;
  observe?: RequestObserver;
}

export type WatchQuery = Record<string, string | number | boolean | undefined>;

/**
 * What the rest of the operator needs from the API server: requests and watches. KubeClient talks
 * HTTP; the in-process tests use an in-memory fake (test/support/fake-kube.ts).
 */
export interface KubeApi {
  /** Issues a request; returns the parsed JSON body or rejects with a KubeApiError. */
  request<T>(req: RequestOptions): Promise<T>;
  /**
   * Streams a watch. Resolves when the server ends the stream or `signal` aborts; rejects on a
   * transport failure or a non-200 answer (a 410 rejects with kind Gone). `onOpen` runs when the
   * server has answered 200, i.e. the stream is established.
   */
  watch<T>(
    path: string,
    query: WatchQuery,
    onEvent: (event: WatchEvent<T>) => void,
    signal: AbortSignal,
    onOpen?: () => void,
  ): Promise<void>;
}

/** Retries of transient failures: 0.2-0.4 s, 0.4-0.8 s, ... up to 5-10 s (equal jitter). */
export const CLIENT_RETRY_BACKOFF = { initialMs: 400, maxMs: 10_000, jitter: true };
/** A server's Retry-After is followed up to this long. */
const MAX_RETRY_AFTER_MS = 30_000;

export class KubeClient implements KubeApi {
  private readonly agent: http.Agent;
  private readonly base: URL;
  private readonly limiter: TokenBucket;
  private readonly inFlight?: AdaptiveLimit;
  private readonly timeoutMs: number;
  private readonly maxRetries: number;
  private readonly backoff = new Backoff(CLIENT_RETRY_BACKOFF);

  private constructor(
    private readonly access: ClusterAccess,
    private readonly options: KubeClientOptions,
  ) {
    this.base = new URL(access.server);
    const agentOptions = { keepAlive: true, maxSockets: 64, ...access.tls };
    this.agent = onePool(
      this.base.protocol === 'https:' ? new https.Agent(agentOptions) : new http.Agent(agentOptions),
    );
    this.limiter = new TokenBucket(options.qps ?? 0, options.burst ?? 100, options.clock);
    if (options.maxInFlight)
      this.inFlight = new AdaptiveLimit({
        clock: options.clock,
        max: options.maxInFlight,
        adaptive: options.adaptive,
        onChange: options.onLimitChange,
      });
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.maxRetries = options.maxRetries ?? 3;
  }

  static create(access: ClusterAccess, options: KubeClientOptions): KubeClient {
    return new KubeClient(access, options);
  }

  get server(): string {
    return this.base.toString();
  }

  /** Issues a request, retrying transient failures with backoff; returns the parsed JSON body. */
  async request<T>(req: RequestOptions): Promise<T> {
    let attempt = 0;
    for (;;) {
      try {
        return await this.once<T>(req);
      } catch (err) {
        const retryable = err instanceof KubeApiError && err.kind === 'Transient' && req.retry !== false;
        if (!retryable || attempt >= this.maxRetries) throw err;
        attempt++;
        // The server's Retry-After, when it gave one, replaces the backoff.
        const delay =
          err.retryAfterSeconds !== undefined
            ? Math.min(err.retryAfterSeconds * 1000, MAX_RETRY_AFTER_MS)
            : this.backoff.delayMs(attempt);
        await sleep(this.options.clock, delay);
      }
    }
  }

  /** The in-flight bound now (undefined: none). */
  inFlightLimit(): number | undefined {
    return this.inFlight?.limit;
  }

  private async once<T>(req: RequestOptions): Promise<T> {
    await this.limiter.take();
    if (!this.inFlight) return this.exchange<T>(req, {});
    const ticket = await this.inFlight.acquire();
    const outcome: Outcome = {};
    try {
      return await this.exchange<T>(req, outcome);
    } finally {
      this.inFlight.release(ticket, outcome);
    }
  }

  /** One HTTP request and its answer; `outcome` learns how it went, for the in-flight limit. */
  private async exchange<T>(req: RequestOptions, outcome: Outcome): Promise<T> {
    const verb = verbOf(req);
    const resource = resourceOf(req.path);
    const started = performance.now();
    const what = `${req.method} ${req.path}`;
    const payload = req.body === undefined ? undefined : Buffer.from(JSON.stringify(req.body));
    const headers: Record<string, string> = {
      Accept: 'application/json',
      'User-Agent': this.options.userAgent ?? 'regcred-operator',
    };
    if (payload) {
      headers['Content-Type'] = req.contentType ?? 'application/json';
      headers['Content-Length'] = String(payload.length);
    }
    Object.assign(headers, await this.authHeaders());
    const url = this.urlFor(req.path, req.query);
    return new Promise<T>((resolve, reject) => {
      const request = (this.base.protocol === 'https:' ? https : http).request(
        url,
        { method: req.method, headers, agent: this.agent, timeout: req.timeoutMs ?? this.timeoutMs },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('error', (error) => reject(transportError(what, error)));
          res.on('end', () => {
            const code = res.statusCode ?? 0;
            const seconds = (performance.now() - started) / 1000;
            this.options.observe?.(verb, resource, code, seconds);
            const retryAfter = header(res.headers['retry-after']);
            // Overloaded: a 429 (APF, max-inflight) unless the caller takes it as an answer (an
            // eviction a PodDisruptionBudget refuses), or a 503 that says when to come back.
            outcome.throttled = (code === 429 && req.retry !== false) || (code === 503 && retryAfter !== undefined);
            if (verb !== 'LIST') outcome.latencyMs = seconds * 1000;
            const text = Buffer.concat(chunks).toString('utf8');
            if (code >= 200 && code < 300) {
              try {
                resolve((text ? JSON.parse(text) : {}) as T);
              } catch {
                reject(new KubeApiError('Transient', code, `${what}: unparseable response`));
              }
            } else {
              reject(kubeErrorFromResponse(code, text, what, req.sensitive ?? false, retryAfter));
            }
          });
        },
      );
      request.on('timeout', () => {
        // no answer in time: as much a sign of overload as a 429
        outcome.throttled = true;
        request.destroy(Object.assign(new Error('request timed out'), { code: 'ETIMEDOUT' }));
      });
      request.on('error', (error) => {
        this.options.observe?.(verb, resource, 0, (performance.now() - started) / 1000);
        reject(transportError(what, error));
      });
      request.end(payload);
    });
  }

  async watch<T>(
    path: string,
    query: WatchQuery,
    onEvent: (event: WatchEvent<T>) => void,
    signal: AbortSignal,
    onOpen?: () => void,
  ): Promise<void> {
    await this.limiter.take();
    const headers = {
      Accept: 'application/json',
      'User-Agent': this.options.userAgent ?? 'regcred-operator',
      ...(await this.authHeaders()),
    };
    const url = this.urlFor(path, { ...query, watch: true });
    const what = `WATCH ${path}`;
    const resource = resourceOf(path);
    return new Promise<void>((resolve, reject) => {
      if (signal.aborted) return resolve();
      const request = (this.base.protocol === 'https:' ? https : http).request(
        url,
        { method: 'GET', headers, agent: this.agent },
        (res) => {
          const code = res.statusCode ?? 0;
          this.options.observe?.('WATCH', resource, code, 0);
          if (code !== 200) {
            const chunks: Buffer[] = [];
            res.on('data', (chunk: Buffer) => chunks.push(chunk));
            res.on('end', () =>
              reject(
                kubeErrorFromResponse(
                  code,
                  Buffer.concat(chunks).toString('utf8'),
                  what,
                  true,
                  header(res.headers['retry-after']),
                ),
              ),
            );
            return;
          }
          onOpen?.();
          let buffered = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            buffered += chunk;
            let nl: number;
            while ((nl = buffered.indexOf('\n')) >= 0) {
              const line = buffered.slice(0, nl).trim();
              buffered = buffered.slice(nl + 1);
              if (!line) continue;
              let event: WatchEvent<T>;
              try {
                event = JSON.parse(line) as WatchEvent<T>;
              } catch {
                request.destroy(new Error('unparseable watch event'));
                return;
              }
              if (event.type === 'ERROR') {
                const status = event.object as { code?: number };
                request.destroy();
                reject(kubeErrorFromResponse(status.code ?? 500, JSON.stringify(event.object), what, true));
                return;
              }
              onEvent(event);
            }
          });
          res.on('end', () => resolve());
          res.on('error', (error) => (signal.aborted ? resolve() : reject(transportError(what, error))));
        },
      );
      const abort = () => request.destroy();
      signal.addEventListener('abort', abort, { once: true });
      request.on('error', (error) => (signal.aborted ? resolve() : reject(transportError(what, error))));
      request.on('close', () => {
        signal.removeEventListener('abort', abort);
        if (signal.aborted) resolve();
      });
      request.end();
    });
  }

  close(): void {
    this.agent.destroy();
  }

  private authHeaders(): Promise<Record<string, string>> {
    return this.access.authHeaders();
  }

  private urlFor(path: string, query?: Record<string, string | number | boolean | undefined>): URL {
    const url = new URL(this.base.toString().replace(/\/$/, '') + path);
    for (const [name, value] of Object.entries(query ?? {}))
      if (value !== undefined) url.searchParams.set(name, String(value));
    return url;
  }
}

/**
 * Every request of a client goes to one server with one TLS setup, so its agent has one pool of
 * connections. Node names the pool from each request's options on every request and every socket
 * handed back, which turns the CA, the client certificate and its key from Buffers into strings
 * each time, an allocation per request that grows with the write rate. The name is computed once
 * instead, so naming the pool costs nothing per request.
 */
export function onePool<A extends http.Agent>(agent: A): A {
  const nameOf = agent.getName.bind(agent);
  let name: string | undefined;
  agent.getName = (options) => (name ??= nameOf(options));
  return agent;
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function verbOf(req: RequestOptions): Verb {
  switch (req.method) {
    case 'POST':
      return 'CREATE';
    case 'PUT':
      return 'UPDATE';
    case 'PATCH':
      return 'PATCH';
    case 'DELETE':
      return 'DELETE';
    default:
      // a GET on a collection path (even segment count after the group/version) is a LIST
      return isCollection(req.path) ? 'LIST' : 'GET';
  }
}

/** The resource a path names: /api/v1/namespaces/x/secrets/y -> secrets. */
export function resourceOf(path: string): string {
  const parts = path.split('?')[0]!.split('/').filter(Boolean);
  const rest = parts[0] === 'api' ? parts.slice(2) : parts.slice(3);
  if (rest[0] === 'namespaces' && rest.length >= 3) return rest[2]!;
  return rest[0] ?? '';
}

function isCollection(path: string): boolean {
  const parts = path.split('?')[0]!.split('/').filter(Boolean);
  const rest = parts[0] === 'api' ? parts.slice(2) : parts.slice(3);
  if (rest[0] === 'namespaces' && rest.length >= 3) return rest.length === 3;
  return rest.length === 1;
}
