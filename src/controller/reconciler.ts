// The RegistryCredential controllers, one per concern, and the router that hands each key to the
// controller of its kind (keys.ts). Each controller reads, decides (pure), applies and reports on
// its own; they talk through what one of them publishes read-only (the credential decision, the
// namespace failures, the pod-recovery report) and through the API objects, never by changing
// each other's memory.
//   credentialcontroller.ts   c/  sources, finalizer, fan-out
//   namespacecontroller.ts    n/  converge or clean one namespace
//   podrecoverycontroller.ts  p/  recover the stuck Pods of one namespace
//   readinesscontroller.ts    r/  counts, verification rows, conditions, status
// reporting.ts decides when the readiness key runs and whether a status write is held.
import type { Logger } from 'pino';
import type { KubeletDeliveryStatus } from '../api/v1alpha1.js';
import type { EventSink } from '../events.js';
import type { Resources } from '../k8s/resources.js';
import type { Metrics } from '../metrics.js';
import type { Providers } from '../providers/index.js';
import type { Verifier } from '../registry/verifier.js';
import type { Clock } from '../runtime/clock.js';
import type { ReconcileContext, ReconcileResult } from '../runtime/workerpool.js';
import type { Caches } from './caches.js';
import { CredentialController } from './credentialcontroller.js';
import type { CredentialDecision, Decisions } from './credentialstate.js';
import { IdentityUsers } from './identityusers.js';
import { parseKey } from './keys.js';
import { NamespaceController } from './namespacecontroller.js';
import { NamespaceFailures } from './namespacefailures.js';
import { PodRecoveryController } from './podrecoverycontroller.js';
import { ReadinessController } from './readinesscontroller.js';
import { Reporting, type ReportingQueue } from './reporting.js';

export interface ControllerOptions {
  resources: Resources;
  caches: Caches;
  queue: ReportingQueue;
  clock: Clock;
  logger: Logger;
  events: EventSink;
  metrics?: Metrics;
  sourceNamespace: string;
  /** Where credentials come from: one provider per source kind (the token providers hold the shared token caches). */
  providers: Providers;
  /** The shortest pause before a readiness key recounts status after namespace work. */
  statusDebounceMs?: number;
  /** Checks every credential against its registry (off the reconcile path); absent: verification is off. */
  verifier?: Verifier;
  /** Per request of a registry check. */
  registryCheckTimeoutMs?: number;
  /** What the kubelet endpoint served per credential (kubelet/ledger.ts), for status.kubelet. */
  kubeletDelivery?: { snapshot(credential: string): KubeletDeliveryStatus | undefined };
  /** Whether this operator serves the admission webhook of injection: Pods. */
  podInjection?: boolean;
}

export class Controllers {
  readonly reporting: Reporting;
  readonly credentials: CredentialController;
  readonly namespaces: NamespaceController;
  readonly podRecovery: PodRecoveryController;
  readonly readiness: ReadinessController;

  constructor(private readonly options: ControllerOptions) {
    const { resources, caches, queue, clock, metrics } = options;
    this.reporting = new Reporting(queue, options.events, () => clock.now(), options.statusDebounceMs);
    const reporting = this.reporting;
    // Each store is written by the controller that owns it and read by the others through its read-only type.
    const failures = new NamespaceFailures();
    const identityUsers = new IdentityUsers(caches.credentials, options.providers, options.sourceNamespace);
    this.credentials = new CredentialController({
      resources,
      caches,
      queue,
      clock,
      reporting,
      metrics,
      sourceNamespace: options.sourceNamespace,
      providers: options.providers,
      outcomes: failures,
      podInjection: options.podInjection,
      identityUsers,
    });
    const decisions = this.credentials.decisions;
    const owned = { providers: options.providers, users: identityUsers, queue };
    this.namespaces = new NamespaceController({ resources, caches, queue, decisions, failures, reporting, clock });
    this.podRecovery = new PodRecoveryController({ resources, caches, clock, decisions, reporting, metrics });
    this.readiness = new ReadinessController({
      resources,
      caches,
      clock,
      reporting,
      metrics,
      sourceNamespace: options.sourceNamespace,
      decisions,
      outcomes: failures,
      podRecovery: this.podRecovery,
      verifier: options.verifier,
      registryCheckTimeoutMs: options.registryCheckTimeoutMs,
      kubeletDelivery: options.kubeletDelivery,
      owned,
    });
  }

  /** The credential controller's latest decision per credential, read-only. */
  get decisions(): Decisions {
    return this.credentials.decisions;
  }

  /** Calls `listener` when a decision changes what a credential's Pods are recovered for. */
  onDecision(listener: (credential: string, decision: CredentialDecision) => void): void {
    this.credentials.onDecision(listener);
  }

  /** Calls `listener` each time a namespace key has converged its namespace. */
  onNamespaceConverged(listener: (credential: string, namespace: string) => void): void {
    this.namespaces.onConverged(listener);
  }

  reconcile = async (key: string, context?: ReconcileContext): Promise<ReconcileResult | void> => {
    const parsed = parseKey(key);
    const logger = context?.logger ?? this.options.logger.child(logFieldsOf(key));
    switch (parsed.kind) {
      case 'credential':
        return this.credentials.reconcile(parsed.credential, logger);
      case 'namespace':
        return this.namespaces.reconcile(parsed.credential, parsed.namespace, logger);
      case 'podRecovery':
        return this.podRecovery.reconcile(parsed.credential, parsed.namespace, logger);
      case 'readiness':
        return this.readiness.reconcile(parsed.credential, logger);
    }
  };
}

/** The log fields of a key: the RegistryCredential, and the namespace of a namespace or pod-recovery key. */
export function logFieldsOf(key: string): Record<string, string> {
  const parsed = parseKey(key);
  return 'namespace' in parsed
    ? { registryCredential: parsed.credential, namespace: parsed.namespace }
    : { registryCredential: parsed.credential };
}
