// Wiring: the caches, the controller, its workers, probes and metrics, as one startable unit.
// main.ts adds config, signals and the process around it.
import type { V1Namespace, V1Pod, V1Secret, V1ServiceAccount } from '@kubernetes/client-node';
import type http from 'node:http';
import type { Logger } from 'pino';
import { LABEL_MANAGED_BY, MANAGED_BY, type RegistryCredential } from './api/v1alpha1.js';
import type { Config } from './config.js';
import { parseKey, readinessKey } from './controller/keys.js';
import { enqueueEverything, registerMappers } from './controller/mappers.js';
import type { Caches } from './controller/caches.js';
import { Controllers, logFieldsOf } from './controller/reconciler.js';
import { cacheTransforms } from './controller/slim.js';
import { EventRecorder } from './events.js';
import { serveMetrics, serveProbes } from './health.js';
import type { KubeApi } from './k8s/client.js';
import { listWatch } from './k8s/listwatch.js';
import { paths, Resources } from './k8s/resources.js';
import { createProviders, type Providers } from './providers/index.js';
import { ownServiceAccountTokens } from './k8s/service-account-token.js';
import { checkCredential } from './registry/v2.js';
import { Verifier } from './registry/verifier.js';
import type { Metrics } from './metrics.js';
import type { Clock, Timer } from './runtime/clock.js';
import { Informer, type KubeObject } from './runtime/informer.js';
import { WorkerPool } from './runtime/workerpool.js';
import { WorkQueue } from './runtime/workqueue.js';
import { KubeletEndpoint, serveKubeletEndpoint } from './kubelet/endpoint.js';
import { TokenVerifier } from './kubelet/identity.js';
import { DeliveryLedger } from './kubelet/ledger.js';
import { PodInjector, serveWebhook } from './webhook/admission.js';
import { WebhookScope } from './webhook/scopewriter.js';
import { SelfManagedCertificate } from './webhook/selfmanaged.js';

export interface OperatorOptions {
  config: Config;
  client: KubeApi;
  clock: Clock;
  logger: Logger;
  metrics: Metrics;
  /**
   * Leader election: start() syncs the caches and queues work, but the workers (every write) wait for startWorkers().
   */
  deferWorkers?: boolean;
}

/** How long a shutdown waits for the last Event counts to be written. */
const EVENT_FLUSH_TIMEOUT_MS = 3000;

export class Operator {
  readonly caches: Caches;
  readonly queue: WorkQueue;
  readonly providers: Providers;
  private readonly controllers: Controllers;
  private readonly workers: WorkerPool;
  private readonly verifier?: Verifier;
  private readonly events: EventRecorder;
  /** The kubelet credential provider's endpoint (every replica answers; kubelet/endpoint.ts). */
  readonly kubelet: KubeletEndpoint;
  /** The admission webhook of injection: Pods (every replica answers from its caches; webhook/admission.ts). */
  readonly podInjector: PodInjector;
  /** With --webhook-self-managed-ca: every replica serves from its Secret, the leader rotates it. */
  readonly webhookCertificate?: SelfManagedCertificate;
  /** With the webhook and --webhook-scope selected: the leader narrows its namespaceSelector. */
  readonly webhookScope?: WebhookScope;
  private servers: http.Server[] = [];
  private readyTimer?: NodeJS.Timeout;
  private started = false;
  private workersStarted = false;

  constructor(private readonly options: OperatorOptions) {
    const { config, client, clock, logger, metrics } = options;
    const slim = cacheTransforms();
    const informer = <T extends KubeObject>(
      name: string,
      path: string,
      extra: { labelSelector?: string; fieldSelector?: string; transform?: (obj: T) => T } = {},
    ) =>
      new Informer<T>({
        name,
        source: listWatch<T>(client, { path, labelSelector: extra.labelSelector, fieldSelector: extra.fieldSelector }),
        clock,
        logger,
        idleTimeoutMs: config.watchIdleTimeoutSeconds * 1000,
        transform: extra.transform ?? slim.withoutManagedFields,
        onRestart: (informerName, reason) => metrics.watchRestarts.inc({ informer: informerName, reason }),
      });
    this.caches = {
      credentials: informer<RegistryCredential>('registrycredentials', paths.credentials()),
      namespaces: informer<V1Namespace>('namespaces', paths.namespaces(), { transform: slim.namespace }),
      serviceAccounts: informer<V1ServiceAccount>('serviceaccounts', paths.serviceAccounts(), {
        transform: slim.serviceAccount,
      }),
      managedSecrets: informer<V1Secret>('managed-secrets', paths.secrets(), {
        labelSelector: `${LABEL_MANAGED_BY}=${MANAGED_BY}`,
        transform: slim.managedSecret,
      }),
      sourceSecrets: informer<V1Secret>('source-secrets', paths.secrets(config.sourceNamespace)),
      // Only Pending Pods can be stuck on a pull: a cluster's running Pods are never cached.
      pods: informer<V1Pod>('pending-pods', paths.pods(), {
        fieldSelector: 'status.phase=Pending',
        transform: slim.pod,
      }),
    };
    this.queue = new WorkQueue({ clock, metrics: metrics.workQueue() });
    const resources = new Resources(client);
    // One set of providers for every RegistryCredential: one token request per identity per renewal.
    const providers = createProviders({
      clock,
      requestTimeoutMs: config.tokenRequestTimeoutSeconds * 1000,
      awsEndpointUrl: config.awsEndpointUrl,
      // Owned credentials a previous process may have handed to kubelets wait this long after a start.
      kubeletCacheMs: ['', '0'].includes(config.kubeletBindAddress) ? 0 : config.kubeletCacheSeconds * 1000,
      serviceAccountToken: ownServiceAccountTokens(client),
      onRenewal: (provider, result, error) => {
        metrics.tokenRenewals.inc({ provider, result });
        if (error) logger.warn({ provider, code: error.code, err: error.message }, 'token renewal failed');
        else logger.info({ provider }, 'token renewed');
      },
    });
    this.providers = providers;
    // Registry checks run beside the workers, a few at a time; a changed result recounts the status.
    // (The readiness controller reports it; its key is queued by name so the verifier knows no controller.)
    this.verifier = config.verifyRegistries
      ? new Verifier({
          clock,
          check: checkCredential,
          onChange: (owners) => owners.forEach((owner) => this.queue.add(readinessKey(owner))),
          onResult: (result) => metrics.registryChecks.inc({ result: result.reason }),
        })
      : undefined;
    this.events = new EventRecorder(resources, clock, logger);
    // What the endpoint served recounts the credential's status after the status pause.
    const ledger = new DeliveryLedger((name) => this.controllers.reporting.statusMayChange(name));
    this.kubelet = new KubeletEndpoint({
      caches: this.caches,
      synced: () => this.started,
      sourceNamespace: config.sourceNamespace,
      providers,
      tokens: new TokenVerifier({
        audience: config.kubeletTokenAudience,
        clock,
        review: (token, audience) => resources.reviewToken(token, audience),
        maxCacheMs: 10 * 60_000,
        onReview: () => metrics.kubeletTokenReviews.inc(),
      }),
      ledger,
      clock,
      logger: logger.child({ component: 'kubelet-endpoint' }),
      metrics,
      maxCacheMs: config.kubeletCacheSeconds * 1000,
    });
    this.podInjector = new PodInjector({
      caches: this.caches,
      synced: () => this.started,
      logger: logger.child({ component: 'pod-injection' }),
      onAnswer: (result, seconds) => {
        metrics.podInjectionRequests.inc({ result });
        metrics.podInjectionDuration.observe(seconds);
      },
    });
    if (config.webhookSelfManagedCa)
      this.webhookCertificate = new SelfManagedCertificate({
        client,
        clock,
        logger,
        namespace: config.webhookSecretNamespace,
        secretName: config.webhookSecretName,
        configurationName: config.webhookConfigurationName,
        policy: {
          caLifetimeMs: config.webhookCaLifetimeSeconds * 1000,
          servingLifetimeMs: config.webhookCertLifetimeSeconds * 1000,
          propagationMs: config.webhookCertPropagationSeconds * 1000,
          names: config.webhookDnsNames,
        },
        onStep: (action) => metrics.webhookCertificateSteps.inc({ action }),
      });
    if (config.webhookBindAddress !== '0' && config.webhookScope === 'selected')
      this.webhookScope = new WebhookScope({
        client,
        caches: this.caches,
        configurationName: config.webhookConfigurationName,
        clock,
        logger: logger.child({ component: 'pod-injection' }),
        onScope: (namespaces) => metrics.webhookScopeNamespaces.set(namespaces),
      });
    this.controllers = new Controllers({
      resources,
      caches: this.caches,
      queue: this.queue,
      clock,
      logger,
      metrics,
      events: this.events,
      sourceNamespace: config.sourceNamespace,
      providers,
      verifier: this.verifier,
      registryCheckTimeoutMs: config.registryCheckTimeoutSeconds * 1000,
      kubeletDelivery: ledger,
      podInjection: config.webhookBindAddress !== '0',
    });
    this.workers = new WorkerPool({
      queue: this.queue,
      reconcile: this.controllers.reconcile,
      workers: config.concurrency,
      logger,
      logFields: logFieldsOf,
      observe: (key, result, seconds) => {
        const kind = parseKey(key).kind;
        metrics.reconciles.inc({ kind, result });
        metrics.reconcileDuration.observe({ kind }, seconds);
        metrics.managedSecrets.set(this.caches.managedSecrets.size());
      },
      onBurstEnded: () => this.controllers.reporting.burstEnded(),
    });
  }

  private informers(): Array<Informer<KubeObject>> {
    return Object.values(this.caches) as Array<Informer<KubeObject>>;
  }

  /** Ready = every cache synced and every watch open. */
  readiness(): { ok: boolean; detail: string } {
    if (!this.started) return { ok: false, detail: 'starting' };
    const bad = this.informers()
      .filter((i) => !i.isHealthy())
      .map((i) => i.name);
    return bad.length === 0
      ? { ok: true, detail: 'ok' }
      : { ok: false, detail: `watch not healthy: ${bad.join(', ')}` };
  }

  async start(): Promise<void> {
    const { config, logger, metrics } = this.options;
    this.servers = (
      await Promise.all([
        serveProbes(config.healthProbeBindAddress, { live: () => true, ready: () => this.readiness() }),
        serveMetrics(config.metricsBindAddress, metrics.registry),
        serveKubeletEndpoint(this.kubelet, {
          bindAddress: config.kubeletBindAddress,
          certFile: config.kubeletTlsCertFile ?? '',
          keyFile: config.kubeletTlsKeyFile ?? '',
          logger,
        }),
        serveWebhook(this.podInjector, {
          bindAddress: config.webhookBindAddress,
          ...(this.webhookCertificate
            ? { source: this.webhookCertificate }
            : { certFile: config.webhookTlsCertFile ?? '', keyFile: config.webhookTlsKeyFile ?? '' }),
          logger,
        }),
      ])
    ).filter((server): server is http.Server => server !== undefined);
    this.webhookCertificate?.startReloading();
    for (const i of this.informers()) i.start();
    await Promise.all(this.informers().map((i) => i.waitForSync()));
    // Handlers go on after the first list: startup work is queued once, below, not per object.
    registerMappers({
      caches: this.caches,
      queue: this.queue,
      sourceSecretNames: this.providers.sourceSecretNames,
      statusMayChange: (name) => this.controllers.reporting.statusMayChange(name),
      onDecision: (listener) => this.controllers.onDecision(listener),
      onNamespaceConverged: (listener) => this.controllers.onNamespaceConverged(listener),
    });
    enqueueEverything(this.caches, this.queue);
    if (!this.options.deferWorkers) this.startWorkers();
    this.started = true;
    this.readyTimer = setInterval(() => {
      metrics.ready.set(this.readiness().ok ? 1 : 0);
      for (const informer of this.informers()) metrics.cacheObjects.set({ informer: informer.name }, informer.size());
      metrics.queueDelayed.set(this.queue.delayed());
    }, 2000);
    this.readyTimer.unref();
    metrics.ready.set(1);
    logger.info(
      {
        sourceNamespace: config.sourceNamespace,
        concurrency: config.concurrency,
        credentials: this.caches.credentials.size(),
        namespaces: this.caches.namespaces.size(),
      },
      'caches synced; reconciling',
    );
  }

  /** Starts the reconcile workers (once); with deferWorkers, when this process becomes the leader. */
  startWorkers(): void {
    if (this.workersStarted) return;
    this.workersStarted = true;
    this.workers.start();
    this.webhookCertificate?.startRotating();
    this.webhookScope?.start();
  }

  async stop(): Promise<void> {
    clearInterval(this.readyTimer);
    this.verifier?.stop();
    this.webhookCertificate?.stop();
    this.webhookScope?.stop();
    await this.workers.stop();
    // Counts of repeated Events still waiting for their next write; not worth holding a shutdown for.
    let flushTimer: Timer | undefined;
    await Promise.race([
      this.events.flush(),
      new Promise<void>((resolve) => (flushTimer = this.options.clock.setTimer(EVENT_FLUSH_TIMEOUT_MS, resolve))),
    ]);
    flushTimer?.cancel();
    await Promise.all(this.informers().map((i) => i.stop()));
    await Promise.all(this.servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
  }
}
