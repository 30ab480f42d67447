// Prometheus metrics (prom-client). Label values are bounded: credential names, resource kinds,
// verbs, results; never namespaces of targets (unbounded) and never secret material.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { WorkQueueMetrics } from './runtime/workqueue.js';

/** controller-runtime's buckets for the work queue's latencies: 10 ns to 1000 s, ×10. */
const QUEUE_BUCKETS = [1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1, 10, 100, 1000];

export class Metrics {
  readonly registry = new Registry();
  readonly reconciles = new Counter({
    name: 'regcred_reconcile_total',
    help: 'Reconciles by kind of key and result',
    labelNames: ['kind', 'result'],
    registers: [this.registry],
  });
  readonly reconcileDuration = new Histogram({
    name: 'regcred_reconcile_duration_seconds',
    help: 'Reconcile duration by kind of key',
    labelNames: ['kind'],
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 15],
    registers: [this.registry],
  });
  readonly queueDepth = new Gauge({
    name: 'regcred_workqueue_depth',
    help: 'Keys waiting in the work queue',
    registers: [this.registry],
  });
  readonly queueDelayed = new Gauge({
    name: 'regcred_workqueue_delayed',
    help: 'Keys waiting for a delayed add (requeue-after, backoff, a paced status write or Event summary)',
    registers: [this.registry],
  });
  readonly queueAdds = new Counter({
    name: 'regcred_workqueue_adds_total',
    help: 'Keys added to the work queue (not counting adds of a key already waiting)',
    registers: [this.registry],
  });
  readonly queueLatency = new Histogram({
    name: 'regcred_workqueue_queue_duration_seconds',
    help: 'How long a key waits in the work queue before a worker takes it',
    buckets: QUEUE_BUCKETS,
    registers: [this.registry],
  });
  readonly queueWorkDuration = new Histogram({
    name: 'regcred_workqueue_work_duration_seconds',
    help: 'How long a worker holds a key of the work queue',
    buckets: QUEUE_BUCKETS,
    registers: [this.registry],
  });
  readonly queueRetries = new Counter({
    name: 'regcred_workqueue_retries_total',
    help: 'Failed keys re-added to the work queue with backoff',
    registers: [this.registry],
  });
  readonly managedSecrets = new Gauge({
    name: 'regcred_managed_secrets',
    help: 'Secrets managed by the operator, from its cache',
    registers: [this.registry],
  });
  readonly namespaces = new Gauge({
    name: 'regcred_namespaces',
    help: 'Namespaces per RegistryCredential by state (selected, ready, failed)',
    labelNames: ['credential', 'state'],
    registers: [this.registry],
  });
  readonly writes = new Counter({
    name: 'regcred_writes_total',
    help: 'Writes issued to the API server by resource and verb',
    labelNames: ['resource', 'verb'],
    registers: [this.registry],
  });
  readonly apiRequests = new Counter({
    name: 'regcred_api_requests_total',
    help: 'API requests by verb, resource and HTTP code',
    labelNames: ['verb', 'resource', 'code'],
    registers: [this.registry],
  });
  readonly apiInflightLimit = new Gauge({
    name: 'regcred_api_inflight_limit',
    help:
      'How many API requests may be in flight now (--kube-api-max-inflight, lowered while the API server ' +
      'signals pressure)',
    registers: [this.registry],
  });
  readonly cacheObjects = new Gauge({
    name: 'regcred_cache_objects',
    help: 'Objects held by each informer cache (the memory the operator needs grows with these)',
    labelNames: ['informer'],
    registers: [this.registry],
  });
  readonly sourceFailures = new Counter({
    name: 'regcred_source_failures_total',
    help: 'Source resolution failures by reason',
    labelNames: ['credential', 'reason'],
    registers: [this.registry],
  });
  readonly tokenRenewals = new Counter({
    name: 'regcred_token_renewals_total',
    help: 'Short-lived token renewals by result',
    labelNames: ['provider', 'result'],
    registers: [this.registry],
  });
  readonly secondsUntilExpiry = new Gauge({
    name: 'regcred_credentials_expiry_seconds',
    help: 'Seconds until the earliest short-lived credential of a RegistryCredential expires',
    labelNames: ['credential'],
    registers: [this.registry],
  });
  readonly watchRestarts = new Counter({
    name: 'regcred_watch_restarts_total',
    help: 'Watch restarts by informer and reason',
    labelNames: ['informer', 'reason'],
    registers: [this.registry],
  });
  readonly ready = new Gauge({
    name: 'regcred_ready',
    help: '1 when every cache is synced and every watch is alive',
    registers: [this.registry],
  });
  readonly leader = new Gauge({
    name: 'regcred_leader',
    help: '1 while this process may write: it holds the leader-election Lease, or leader election is off',
    registers: [this.registry],
  });

  constructor(withDefaults = true) {
    if (withDefaults) collectDefaultMetrics({ register: this.registry, prefix: 'regcred_' });
  }

  /** The work queue's series (client-go's workqueue metrics). */
  workQueue(): WorkQueueMetrics {
    return {
      added: () => this.queueAdds.inc(),
      depth: (keys) => this.queueDepth.set(keys),
      queued: (seconds) => this.queueLatency.observe(seconds),
      worked: (seconds) => this.queueWorkDuration.observe(seconds),
      retried: () => this.queueRetries.inc(),
    };
  }

  readonly registryChecks = new Counter({
    name: 'regcred_registry_checks_total',
    help: 'Credential checks against registries by result (Verified, Unauthorized, TLSError, Unreachable, ...)',
    labelNames: ['result'],
    registers: [this.registry],
  });
  readonly registryVerified = new Gauge({
    name: 'regcred_registry_verified',
    help: 'Per RegistryCredential and registry: 1 when the last check verified the credential, 0 when it failed',
    labelNames: ['credential', 'server'],
    registers: [this.registry],
  });
  readonly podsRecovered = new Counter({
    name: 'regcred_pods_recovered_total',
    help: 'Stuck-pod recovery by result: evicted, warned (a bare Pod), blocked (a PodDisruptionBudget said no), failed',
    labelNames: ['result'],
    registers: [this.registry],
  });
  readonly kubeletRequests = new Counter({
    name: 'regcred_kubelet_requests_total',
    help:
      'Kubelet credential provider requests by result: served (credentials given), none (no RegistryCredential ' +
      'serves this Pod and image; the reason says why), refused (not a valid request or token; the reason says why)',
    labelNames: ['result', 'reason'],
    registers: [this.registry],
  });
  readonly kubeletServed = new Counter({
    name: 'regcred_kubelet_served_total',
    help: 'Kubelet credential provider answers that carried a credential, per RegistryCredential and auths key',
    labelNames: ['credential', 'registry'],
    registers: [this.registry],
  });
  readonly kubeletTokenReviews = new Counter({
    name: 'regcred_kubelet_token_reviews_total',
    help: 'TokenReviews sent to verify kubelet ServiceAccount tokens (a verified token is remembered until it expires)',
    registers: [this.registry],
  });
  readonly kubeletRequestDuration = new Histogram({
    name: 'regcred_kubelet_request_duration_seconds',
    help: 'Time to answer a kubelet credential provider request',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly podInjectionRequests = new Counter({
    name: 'regcred_pod_injection_requests_total',
    help: 'Admission requests the Pod injection webhook answered, by result (injected, unchanged, notReady, malformed)',
    labelNames: ['result'],
    registers: [this.registry],
  });
  readonly podInjectionDuration = new Histogram({
    name: 'regcred_pod_injection_duration_seconds',
    help: 'Time to answer one admission request of the Pod injection webhook (body read to answer)',
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1],
    registers: [this.registry],
  });
  readonly webhookScopeNamespaces = new Gauge({
    name: 'regcred_webhook_scope_namespaces',
    help:
      'Namespaces the leader narrowed the webhook namespaceSelector to (--webhook-scope selected; -1: more than ' +
      'the maximum, not narrowed)',
    registers: [this.registry],
  });
  readonly webhookCertificateSteps = new Counter({
    name: 'regcred_webhook_certificate_steps_total',
    help:
      'Steps the leader applied to the self-managed webhook certificate, by action (bootstrap, renewServing, ' +
      'stageCa, patchBundle, promoteCa, retireCa, adopt)',
    labelNames: ['action'],
    registers: [this.registry],
  });
  private readonly verifiedServers = new Map<string, Set<string>>();

  /** The verification gauge of a credential's registries (Unknown and Skipped ones have no sample). */
  setRegistryVerification(credential: string, rows: Array<{ server: string; state: string }>): void {
    const before = this.verifiedServers.get(credential) ?? new Set<string>();
    const now = new Set<string>();
    for (const row of rows) {
      if (row.state !== 'Verified' && row.state !== 'Failed') continue;
      this.registryVerified.set({ credential, server: row.server }, row.state === 'Verified' ? 1 : 0);
      now.add(row.server);
    }
    for (const server of before) if (!now.has(server)) this.registryVerified.remove({ credential, server });
    this.verifiedServers.set(credential, now);
  }

  forgetCredential(name: string): void {
    for (const state of ['selected', 'ready', 'failed']) this.namespaces.remove({ credential: name, state });
    this.secondsUntilExpiry.remove({ credential: name });
    this.setRegistryVerification(name, []);
    this.verifiedServers.delete(name);
  }
}
