// The operator's side of kubelet delivery: answers the regcred node plugin, which forwards each
// CredentialProviderRequest of a kubelet. Read (the token's Pod identity, the caches) -> decide
// (decision.ts, pure) -> answer, and count what happened (ledger.ts, metrics). Every replica
// answers from its own caches; nothing here writes to the API server but TokenReviews.
//
// Answers:
//   200 CredentialProviderResponse  credentials for the pull, or none (the kubelet then tries its
//                                   other sources); both with the cache duration the kubelet keeps
//   400 / 413 / 405 / 404           not a request of the protocol
//   403                             the token proves no live Pod for our audience
//   503                             the caches are not synced yet
// Refusals carry {reason, message} as JSON; the plugin prints them for the kubelet's log.
// The token, the credentials and the request body are never logged.
import http from 'node:http';
import type https from 'node:https';
import type { Logger } from 'pino';
import {
  cachedSpecs,
  deliversToKubelet,
  type RegistryCredential,
  type RegistryCredentialSpec,
} from '../api/v1alpha1.js';
import type { Caches } from '../controller/caches.js';
import { resolveSources } from '../controller/resolve.js';
import type { Auths } from '../dockerconfig.js';
import { readBody, serveReloadingHttps } from '../health.js';
import type { Metrics } from '../metrics.js';
import type { Providers } from '../providers/index.js';
import type { Clock } from '../runtime/clock.js';
import { decide, type ServableCredential } from './decision.js';
import type { TokenVerifier } from './identity.js';
import type { DeliveryLedger } from './ledger.js';
import { MAX_REQUEST_BYTES, parseRequest, providerResponse } from './protocol.js';

export const ENDPOINT_PATH = '/v1/credentials';

export interface KubeletEndpointOptions {
  caches: Pick<Caches, 'credentials' | 'namespaces' | 'serviceAccounts' | 'sourceSecrets'>;
  /** Whether the caches have synced (answers wait for it: an empty cache would refuse wrongly). */
  synced(): boolean;
  sourceNamespace: string;
  providers: Providers;
  tokens: TokenVerifier;
  ledger: DeliveryLedger;
  clock: Clock;
  logger: Logger;
  metrics?: Metrics;
  /** The longest a kubelet may cache an answer. */
  maxCacheMs: number;
}

export interface Answer {
  status: number;
  body: unknown;
}

/** How long a resolved credential is reused before its sources are resolved again (token caches renew on their own). */
const RESOLUTION_TTL_MS = 5_000;

interface Resolution {
  key: string;
  until: number;
  auths?: Auths;
  expiresAt?: number;
}

export class KubeletEndpoint {
  private readonly specOf = cachedSpecs();
  private readonly resolutions = new Map<string, Resolution>();
  private readonly lastGood = new Map<string, Map<string, Auths>>();

  constructor(private readonly options: KubeletEndpointOptions) {}

  /** One request body -> one answer. The HTTP layer (serve) only adds limits and framing. */
  async answer(body: string): Promise<Answer> {
    const started = performance.now();
    try {
      return await this.answerTimed(body);
    } finally {
      this.options.metrics?.kubeletRequestDuration.observe((performance.now() - started) / 1000);
    }
  }

  private async answerTimed(body: string): Promise<Answer> {
    const { tokens, caches, clock, ledger, metrics, logger } = this.options;
    if (!this.options.synced())
      return this.refuse(503, 'NotReady', 'the operator is starting: its caches are not synced yet');
    const parsed = parseRequest(body);
    if (!parsed.ok) return this.refuse(400, 'MalformedRequest', parsed.message);
    const { request } = parsed;
    const verified = await tokens.verify(request.serviceAccountToken);
    if (!verified.ok)
      return this.refuse(verified.reason === 'TokenReviewFailed' ? 503 : 403, verified.reason, verified.message);
    const { identity } = verified;
    const now = clock.now();
    const decision = decide({
      namespace: identity.namespace,
      serviceAccount: identity.serviceAccount,
      image: request.image,
      namespaceObject: caches.namespaces.get(identity.namespace),
      serviceAccountObject: caches.serviceAccounts.getIn(identity.namespace, identity.serviceAccount),
      credentials: await this.servable(now),
      now,
      maxCacheMs: this.options.maxCacheMs,
    });
    // Owned credentials handed out stay valid until the kubelet's cache of them ends.
    if (decision.servedBy.length > 0)
      this.options.providers.noteKubeletCache(decision.auth, now + decision.cacheDurationMs);
    for (const { credential, keys } of decision.servedBy) {
      ledger.served(credential, keys, now);
      for (const key of keys) metrics?.kubeletServed.inc({ credential, registry: key });
    }
    for (const { credential, reason, message } of decision.refusedBy)
      ledger.refused(credential, reason, `${message} (Pod ${identity.namespace}/${identity.podName})`, now);
    const result = decision.servedBy.length > 0 ? 'served' : 'none';
    const reason = decision.refusal?.reason ?? 'Served';
    metrics?.kubeletRequests.inc({ result, reason });
    logger.info(
      {
        namespace: identity.namespace,
        serviceAccount: identity.serviceAccount,
        pod: identity.podName,
        node: identity.nodeName,
        image: request.image.slice(0, 300),
        servedBy: decision.servedBy.map((served) => served.credential),
        keys: decision.servedBy.flatMap((served) => served.keys),
        reason,
        cacheSeconds: Math.floor(decision.cacheDurationMs / 1000),
      },
      decision.servedBy.length > 0 ? 'kubelet request served' : 'kubelet request: no credentials for this Pod',
    );
    return { status: 200, body: providerResponse(decision.auth, decision.cacheDurationMs) };
  }

  /** Every valid credential with delivery.kubelet, not suspended or being deleted, in name order, with its auths. */
  private async servable(now: number): Promise<ServableCredential[]> {
    const out: ServableCredential[] = [];
    const credentials = [...this.options.caches.credentials.list()].sort((a, b) =>
      a.metadata.name.localeCompare(b.metadata.name),
    );
    const names = new Set<string>();
    for (const cred of credentials) {
      if (cred.metadata.deletionTimestamp) continue;
      const spec = this.specOf(cred);
      if (!spec || spec.suspend || !deliversToKubelet(spec)) continue;
      names.add(cred.metadata.name);
      const resolution = await this.resolutionOf(cred, spec, now);
      out.push({ name: cred.metadata.name, spec, auths: resolution.auths, expiresAt: resolution.expiresAt });
    }
    for (const name of [...this.resolutions.keys()]) {
      if (names.has(name)) continue;
      this.resolutions.delete(name);
      this.lastGood.delete(name);
      this.options.ledger.forget(name);
    }
    return out;
  }

  /** The credential's auths, resolved again when its object or a source Secret changed, or after a few seconds. */
  private async resolutionOf(cred: RegistryCredential, spec: RegistryCredentialSpec, now: number): Promise<Resolution> {
    const { providers, sourceNamespace, caches } = this.options;
    const name = cred.metadata.name;
    const secretVersions = providers
      .sourceSecretNames(spec)
      .map(
        (secret) =>
          `${secret}@${caches.sourceSecrets.getIn(sourceNamespace, secret)?.metadata?.resourceVersion ?? '-'}`,
      );
    const key = `${cred.metadata.resourceVersion ?? ''}|${secretVersions.join(',')}`;
    const cached = this.resolutions.get(name);
    if (cached && cached.key === key && cached.until > now) return cached;
    let lastGood = this.lastGood.get(name);
    if (!lastGood) this.lastGood.set(name, (lastGood = new Map()));
    const { resolution } = await resolveSources(spec, {
      source: { namespace: sourceNamespace, get: (secret) => caches.sourceSecrets.getIn(sourceNamespace, secret) },
      lastGood,
      providers,
    });
    const expiresAt = resolution.tokens.expiresAt;
    const fresh: Resolution = {
      key,
      until: Math.min(now + RESOLUTION_TTL_MS, expiresAt ?? Infinity, resolution.tokens.nextCheckAt ?? Infinity),
      ...(resolution.auths && resolution.document !== undefined ? { auths: resolution.auths } : {}),
      ...(expiresAt !== undefined ? { expiresAt } : {}),
    };
    this.resolutions.set(name, fresh);
    return fresh;
  }

  private refuse(status: number, reason: string, message: string): Answer {
    this.options.metrics?.kubeletRequests.inc({ result: 'refused', reason });
    this.options.logger.warn({ reason, status, detail: message }, 'kubelet request refused');
    return { status, body: { reason, message } };
  }
}

export interface ServeOptions {
  bindAddress: string;
  certFile: string;
  keyFile: string;
  /** How often the certificate files are read again (a renewed certificate is served without a restart). */
  reloadIntervalMs?: number;
  logger: Logger;
}

/** The HTTPS server of the endpoint, or undefined when the bind address is "0" (kubelet delivery off). */
export async function serveKubeletEndpoint(
  endpoint: KubeletEndpoint,
  options: ServeOptions,
): Promise<https.Server | undefined> {
  const server = await serveReloadingHttps(
    {
      ...options,
      reloadIntervalMs: options.reloadIntervalMs ?? 30_000,
      name: 'kubelet endpoint',
      server: { requestTimeout: 15_000, headersTimeout: 10_000 },
    },
    (req, res) => void handle(endpoint, req, res),
  );
  if (server) server.maxHeadersCount = 50;
  return server;
}

async function handle(endpoint: KubeletEndpoint, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const send = (status: number, body: unknown) => {
    if (res.headersSent) return;
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'Content-Type': 'application/json',
      'Content-Length': Buffer.byteLength(text),
      'Cache-Control': 'no-store',
    });
    res.end(text);
  };
  if (req.url === '/healthz' && req.method === 'GET') return send(200, { status: 'ok' });
  if (req.url !== ENDPOINT_PATH) return send(404, { reason: 'NotFound', message: `POST ${ENDPOINT_PATH}` });
  if (req.method !== 'POST') return send(405, { reason: 'MethodNotAllowed', message: `POST ${ENDPOINT_PATH}` });
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_REQUEST_BYTES) {
    req.resume();
    return send(413, { reason: 'RequestTooLarge', message: `at most ${MAX_REQUEST_BYTES} bytes` });
  }
  const text = await readBody(req, MAX_REQUEST_BYTES, () =>
    send(413, { reason: 'RequestTooLarge', message: `at most ${MAX_REQUEST_BYTES} bytes` }),
  );
  if (text === undefined) return;
  try {
    const answer = await endpoint.answer(text);
    send(answer.status, answer.body);
  } catch (err) {
    send(500, { reason: 'InternalError', message: (err as Error).message.slice(0, 300) });
  }
}
