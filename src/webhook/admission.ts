// The mutating admission webhook for injection: Pods. Reads only the operator's caches (credentials,
// namespaces, ServiceAccounts, the copies), decides (injection.ts, pure) and answers the API server
// with a JSON patch. It always allows: a Pod is never refused because of this operator (and the
// MutatingWebhookConfiguration says failurePolicy: Ignore for when the operator is down). Nothing
// here writes to the API server; no secret value is read beyond the copy's `auths` keys.
import type http from 'node:http';
import type https from 'node:https';
import type { V1Pod, V1Secret } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { cachedSpecs, targetSecretName } from '../api/v1alpha1.js';
import type { Caches } from '../controller/caches.js';
import { documentOf, isOwnedBy } from '../controller/desired.js';
import { readBody, serveReloadingHttps, type ServingCertificateSource } from '../health.js';
import { appendPatch, decideInjection, type InjectableCredential } from './injection.js';

export const WEBHOOK_PATH = '/mutate/pods';
/** Admission requests are small; a Pod spec beyond this is answered "allowed, unchanged". */
const MAX_REQUEST_BYTES = 3 * 1024 * 1024;

export interface AdmissionReview {
  apiVersion?: string;
  kind?: string;
  request?: { uid?: string; namespace?: string; operation?: string; object?: V1Pod };
  response?: { uid: string; allowed: boolean; patchType?: 'JSONPatch'; patch?: string };
}

export interface PodInjectorOptions {
  caches: Pick<Caches, 'credentials' | 'namespaces' | 'serviceAccounts' | 'managedSecrets'>;
  synced(): boolean;
  logger: Logger;
  /** Counts each answer by result (injected, unchanged, notReady, malformed). */
  onAnswer?(result: string, seconds: number): void;
}

export class PodInjector {
  private readonly specOf = cachedSpecs();
  private readonly keys = new WeakMap<V1Secret, string[]>();

  constructor(private readonly options: PodInjectorOptions) {}

  /** One AdmissionReview -> its answer (always allowed). */
  review(review: AdmissionReview): AdmissionReview {
    const started = performance.now();
    const uid = review.request?.uid ?? '';
    const answer = (result: string, patch?: unknown[]): AdmissionReview => {
      this.options.onAnswer?.(result, (performance.now() - started) / 1000);
      return {
        apiVersion: 'admission.k8s.io/v1',
        kind: 'AdmissionReview',
        response: {
          uid,
          allowed: true,
          ...(patch ? { patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(patch)).toString('base64') } : {}),
        },
      };
    };
    const pod = review.request?.object;
    const namespace = review.request?.namespace ?? pod?.metadata?.namespace;
    if (!pod || !namespace || review.request?.operation !== 'CREATE') return answer('malformed');
    if (!this.options.synced()) return answer('notReady');
    const { caches } = this.options;
    const injection = decideInjection({
      pod,
      namespace,
      namespaceObject: caches.namespaces.get(namespace),
      serviceAccountObject: caches.serviceAccounts.getIn(namespace, pod.spec?.serviceAccountName || 'default'),
      credentials: this.injectable(namespace),
    });
    const patch = appendPatch(pod, injection.add);
    if (!patch) return answer('unchanged');
    this.options.logger.info(
      {
        namespace,
        pod: pod.metadata?.name ?? pod.metadata?.generateName,
        serviceAccount: pod.spec?.serviceAccountName || 'default',
        added: injection.add,
        registryCredentials: injection.by,
      },
      'pod injection: pull secrets added',
    );
    return answer('injected', patch);
  }

  private injectable(namespace: string): InjectableCredential[] {
    const { caches } = this.options;
    const out: InjectableCredential[] = [];
    const credentials = [...caches.credentials.list()].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
    for (const cred of credentials) {
      if (cred.metadata.deletionTimestamp) continue;
      const spec = this.specOf(cred);
      if (!spec || spec.injection !== 'Pods') continue;
      const secretName = targetSecretName(cred, spec);
      const copy = caches.managedSecrets.getIn(namespace, secretName);
      out.push({
        name: cred.metadata.name,
        spec,
        ...(copy && isOwnedBy(copy, cred) ? { copy: { secretName, keys: this.keysOf(copy) } } : {}),
      });
    }
    return out;
  }

  /** The copy's `auths` keys (parsed once per cached object; the values are not kept). */
  private keysOf(secret: V1Secret): string[] {
    const known = this.keys.get(secret);
    if (known) return known;
    let keys: string[] = [];
    try {
      const document = JSON.parse(documentOf(secret) ?? '{}') as { auths?: Record<string, unknown> };
      keys = Object.keys(document.auths ?? {});
    } catch {
      keys = [];
    }
    this.keys.set(secret, keys);
    return keys;
  }
}

export interface ServeWebhookOptions {
  bindAddress: string;
  certFile?: string;
  keyFile?: string;
  /** The self-managed certificate (webhook/selfmanaged.ts) instead of files. */
  source?: ServingCertificateSource;
  /** How often the certificate files are read again (a renewed certificate is served without a restart). */
  reloadIntervalMs?: number;
  logger: Logger;
}

/** The HTTPS server of the webhook, or undefined when the bind address is "0" (off). */
export async function serveWebhook(
  injector: PodInjector,
  options: ServeWebhookOptions,
): Promise<https.Server | undefined> {
  const server = await serveReloadingHttps(
    {
      ...options,
      reloadIntervalMs: options.reloadIntervalMs ?? 10_000,
      name: 'pod injection webhook',
      server: { requestTimeout: 10_000, headersTimeout: 5_000, keepAliveTimeout: 60_000 },
    },
    (req, res) => void handle(injector, req, res),
  );
  return server;
}

async function handle(injector: PodInjector, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const send = (status: number, body: unknown) => {
    if (res.headersSent) return;
    const text = JSON.stringify(body);
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  };
  if (req.url === '/healthz' && req.method === 'GET') return send(200, { status: 'ok' });
  if (!req.url?.startsWith(WEBHOOK_PATH) || req.method !== 'POST')
    return send(404, { reason: 'NotFound', message: `POST ${WEBHOOK_PATH}` });
  const text = await readBody(req, MAX_REQUEST_BYTES, () =>
    send(413, { reason: 'RequestTooLarge', message: `at most ${MAX_REQUEST_BYTES} bytes` }),
  );
  if (text === undefined) return;
  let review: AdmissionReview;
  try {
    review = JSON.parse(text) as AdmissionReview;
  } catch {
    return send(400, { reason: 'MalformedRequest', message: 'not an AdmissionReview' });
  }
  send(200, injector.review(review));
}
