// The pod-recovery controller: p/<credential>/<namespace> keys (spec.podRecovery). Evicts the Pods
// of one namespace that fail to pull only because they predate their ServiceAccount's pull secret
// (podrecovery.ts decides), within the credential's budget per minute; warns about bare ones. A
// PodDisruptionBudget that refuses an eviction is reported and retried later.
// Its keys are queued from one place, the mappers (mappers.ts): a Pending Pod waiting on a pull, a
// ServiceAccount that now carries the entry, a new decision of the credential controller.
// It alone owns what it remembers (Pods acted on, refused evictions, the eviction count); the
// readiness controller reads that through podRecoveryOf.
import type { Logger } from 'pino';
import { deliversSecrets, injectsIntoPods, type RegistryCredential } from '../api/v1alpha1.js';
import { isKubeError, KubeApiError } from '../k8s/errors.js';
import type { Resources } from '../k8s/resources.js';
import type { Metrics } from '../metrics.js';
import type { Clock } from '../runtime/clock.js';
import type { ReconcileResult } from '../runtime/workerpool.js';
import type { Caches } from './caches.js';
import { type Decisions, isDecisionFor } from './credentialstate.js';
import { isNamespaceSelected, isOwnedBy, isServiceAccountSelected, isTerminating } from './desired.js';
import {
  EVICTION_RETRY_MS,
  EvictionBudget,
  type PodRecoverySnapshot,
  podsToRecover,
  toSlimPod,
} from './podrecovery.js';
import type { Reporting } from './reporting.js';

export interface PodRecoveryControllerOptions {
  resources: Resources;
  caches: Caches;
  clock: Clock;
  decisions: Decisions;
  reporting: Reporting;
  metrics?: Metrics;
}

interface RecoveryMemory {
  uid: string;
  /** Pods acted on (uid -> namespace): at most once each. */
  handled: Map<string, string>;
  recoveredPods: number;
  blocked: Map<string, { namespace: string; message: string; retryAt: number }>;
}

export class PodRecoveryController {
  private readonly memory = new Map<string, RecoveryMemory>();
  private readonly evictions = new EvictionBudget();

  constructor(private readonly options: PodRecoveryControllerOptions) {}

  /** The credential's recovery as the readiness controller reports it. */
  podRecoveryOf(cred: RegistryCredential): PodRecoverySnapshot {
    const memory = this.memoryOf(cred);
    return {
      recoveredPods: memory.recoveredPods,
      blocked: [...memory.blocked.values()].map((blocked) => blocked.message),
    };
  }

  reconcile = async (credentialName: string, namespace: string, logger: Logger): Promise<ReconcileResult | void> => {
    const { caches, clock, metrics, resources, reporting } = this.options;
    for (const name of [...this.memory.keys()]) if (!caches.credentials.get(name)) this.forget(name);
    const cred = caches.credentials.get(credentialName);
    const decision = this.options.decisions.decisionOf(credentialName);
    const ns = caches.namespaces.get(namespace);
    if (!cred || cred.metadata.deletionTimestamp || !ns || isTerminating(ns)) return;
    if (!decision || !isDecisionFor(decision, cred)) return; // a new decision queues this key again
    const spec = decision.spec;
    if (!spec?.podRecovery?.enabled || spec.suspend || !deliversSecrets(spec) || !isNamespaceSelected(ns, spec)) return;
    // Only once the namespace holds the Secret: an evicted Pod must find it.
    const secret = caches.managedSecrets.getIn(namespace, decision.secretName);
    if (!secret || !isOwnedBy(secret, cred)) return;

    const memory = this.memoryOf(cred);
    const secretName = decision.secretName;
    const pods = [...caches.pods.listIn(namespace)].map(toSlimPod);
    // Pods no longer Pending (recovered, running, gone) need no memory.
    const pending = new Set(pods.map((pod) => pod.uid));
    for (const [uid, where] of [...memory.handled])
      if (where === namespace && !pending.has(uid)) memory.handled.delete(uid);
    const carrying = new Set(
      [...caches.serviceAccounts.listIn(namespace)]
        .filter((sa) => isServiceAccountSelected(sa, spec))
        // With injection: Pods the webhook gives a replacement Pod the entry; its SA carries none.
        .filter(
          (sa) =>
            injectsIntoPods(spec) || (sa.imagePullSecrets ?? []).some((reference) => reference.name === secretName),
        )
        .map((sa) => sa.metadata!.name!),
    );
    const actions = podsToRecover({
      pods,
      secretName,
      servers: Object.keys(decision.sources.auths ?? {}),
      carryingServiceAccounts: carrying,
      handled: new Set(memory.handled.keys()),
    });
    let changed = false;
    let retryInMs: number | undefined;
    const later = (ms: number) => (retryInMs = Math.min(retryInMs ?? ms, ms));
    const finish = (extra?: number): ReconcileResult | void => {
      if (changed) reporting.namespaceChanged(credentialName, true);
      const wait = extra ?? retryInMs;
      if (wait !== undefined) return { requeueAfterMs: Math.max(1000, wait) };
    };
    for (const action of actions) {
      const { pod } = action;
      // refused before: not again until its retry time
      const blockedUntil = memory.blocked.get(pod.uid)?.retryAt ?? 0;
      if (blockedUntil > clock.now()) {
        later(blockedUntil - clock.now());
        continue;
      }
      const target = { apiVersion: 'v1', kind: 'Pod', metadata: { name: pod.name, namespace, uid: pod.uid } };
      const why = `created before ServiceAccount ${pod.serviceAccountName} carried ${secretName}`;
      if (action.kind === 'warnBarePod') {
        reporting.events.record(
          target,
          'Warning',
          'PullSecretMissing',
          `${why}, so it cannot pull ${action.images.join(', ')}; it has no controller to recreate it: delete ` +
            `and create it again (RegistryCredential ${credentialName})`,
        );
        memory.handled.set(pod.uid, namespace);
        metrics?.podsRecovered.inc({ result: 'warned' });
        continue;
      }
      const perMinute = spec.podRecovery.maxPerMinute;
      if (!this.evictions.take(credentialName, perMinute, clock.now()))
        return finish(this.evictions.waitMs(credentialName, perMinute, clock.now()));
      try {
        await resources.evictPod(namespace, pod.name, pod.uid);
      } catch (err) {
        if (isKubeError(err, 'NotFound', 'Conflict')) {
          // gone already, or another Pod now has this name: nothing of ours to do
          memory.handled.set(pod.uid, namespace);
          continue;
        }
        if (err instanceof KubeApiError && err.status === 429) {
          // a PodDisruptionBudget says no: report it, ask again later
          const message = `${namespace}/${pod.name}: ${err.message.replace(/^[^:]*: /, '')}`;
          const before = memory.blocked.get(pod.uid);
          memory.blocked.set(pod.uid, { namespace, message, retryAt: clock.now() + EVICTION_RETRY_MS });
          if (before?.message !== message) {
            changed = true;
            reporting.events.record(
              target,
              'Warning',
              'EvictionBlocked',
              `${why}; its eviction was refused: ${err.message}`,
            );
          }
          metrics?.podsRecovered.inc({ result: 'blocked' });
          later(EVICTION_RETRY_MS);
          continue;
        }
        metrics?.podsRecovered.inc({ result: 'failed' });
        if (changed) reporting.namespaceChanged(credentialName, true);
        throw err;
      }
      logger.info(
        { pod: pod.name, images: action.images },
        'evicted a Pod created before its ServiceAccount carried the pull secret',
      );
      memory.handled.set(pod.uid, namespace);
      memory.blocked.delete(pod.uid);
      memory.recoveredPods++;
      reporting.changed(credentialName, 'PodsRecovered', `${namespace}/${pod.name}`);
      reporting.events.record(
        target,
        'Normal',
        'PodRecovered',
        `evicted: ${why}; its ${pod.controller!.kind} recreates it with the pull secret (RegistryCredential ` +
          `${credentialName})`,
      );
      metrics?.podsRecovered.inc({ result: 'evicted' });
      changed = true;
    }
    // Blocked evictions of Pods that are gone or recovered are no longer news.
    for (const [uid, blocked] of [...memory.blocked]) {
      if (blocked.namespace === namespace && !pending.has(uid)) {
        memory.blocked.delete(uid);
        changed = true;
      }
    }
    return finish();
  };

  private memoryOf(cred: RegistryCredential): RecoveryMemory {
    let memory = this.memory.get(cred.metadata.name);
    if (!memory || memory.uid !== cred.metadata.uid) {
      // the count lives in status across restarts
      memory = {
        uid: cred.metadata.uid,
        handled: new Map(),
        recoveredPods: cred.status?.recoveredPods ?? 0,
        blocked: new Map(),
      };
      this.memory.set(cred.metadata.name, memory);
    }
    return memory;
  }

  private forget(credential: string): void {
    this.memory.delete(credential);
    this.evictions.forget(credential);
  }
}
