// The namespace controller: n/<credential>/<namespace> keys. Converges one namespace to the
// credential controller's decision (the Secret and the ServiceAccount entries), or removes exactly
// what this credential added when the namespace is out of its selection or the credential is gone.
// read (the caches, the published decision) -> decide (namespaceAction, pure) -> apply (apply.ts)
// -> report (failures here, changes and recounts to the reporting layer, Events).
import type { V1Namespace } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import {
  deliversSecrets,
  LABEL_CREDENTIAL,
  type NamespaceFailure,
  type RegistryCredential,
  type RegistryCredentialSpec,
} from '../api/v1alpha1.js';
import { KubeApiError } from '../k8s/errors.js';
import type { Resources } from '../k8s/resources.js';
import type { ReconcileResult } from '../runtime/workerpool.js';
import { NamespaceFailureError, NamespaceWriter, type WriteContext } from './apply.js';
import type { Caches } from './caches.js';
import { type CredentialDecision, type Decisions, isDecisionFor } from './credentialstate.js';
import { desiredSecret, isNamespaceSelected, isOwnedBy, isTerminating, wantsServiceAccountEntry } from './desired.js';
import type { NamespaceFailures } from './namespacefailures.js';
import { credentialKey, type Enqueuer } from './keys.js';
import type { Reporting } from './reporting.js';
import type { Clock } from '../runtime/clock.js';

export interface NamespaceControllerOptions {
  resources: Resources;
  caches: Caches;
  queue: Enqueuer;
  decisions: Decisions;
  /** The failures this controller records (the others read them as NamespaceOutcomes). */
  failures: NamespaceFailures;
  reporting: Reporting;
  clock: Clock;
}

/** Everything one namespace key decides on, gathered before deciding. */
export interface NamespaceInput {
  cred?: RegistryCredential;
  namespace?: V1Namespace;
  decision?: CredentialDecision;
}

export type NamespaceAction =
  /** The namespace is gone or going: its content goes with it. */
  | { kind: 'leave' }
  /** The credential is gone or being deleted: remove what it added (even when suspended: deletion is explicit). */
  | { kind: 'clean'; uid: string; credentialDeleting: boolean }
  /** The decision is older than the object: the credential key decides again, then queues this key. */
  | { kind: 'decideFirst' }
  /** Suspended, or an invalid spec: nothing is written or deleted. */
  | { kind: 'hold' }
  /** Out of the selection, or a credential without Secrets: remove what it added. */
  | { kind: 'deselect'; cred: RegistryCredential }
  | { kind: 'converge'; cred: RegistryCredential; spec: RegistryCredentialSpec; decision: CredentialDecision };

/**
 * How long the Secret of a namespace that holds no ServiceAccount yet waits for the first one (the
 * `default` ServiceAccount kube-controller-manager creates moments after the namespace). A create
 * the API server receives for a namespace its own informer has not seen yet is held 50 ms by its
 * NamespaceLifecycle admission (missingNamespaceWait); by the time the first ServiceAccount exists
 * the API server has seen the namespace. Without a ServiceAccount after this long, the Secret is
 * written anyway (a cluster without kube-controller-manager's ServiceAccount controller).
 */
export const FIRST_SERVICE_ACCOUNT_WAIT_MS = 1000;

/** Pure: how long a converge waits before writing a new namespace's Secret (0: write now). */
export function firstServiceAccountWait(input: {
  secretExists: boolean;
  serviceAccounts: number;
  /** When a key first found this namespace without a ServiceAccount. */
  waitingSinceMs: number;
  nowMs: number;
}): number {
  if (input.secretExists || input.serviceAccounts > 0) return 0;
  return Math.max(0, FIRST_SERVICE_ACCOUNT_WAIT_MS - (input.nowMs - input.waitingSinceMs));
}

/** Pure: what a namespace key does with what it read. */
export function namespaceAction(input: NamespaceInput): NamespaceAction {
  const { cred, namespace, decision } = input;
  if (!namespace || isTerminating(namespace)) return { kind: 'leave' };
  if (!cred || cred.metadata.deletionTimestamp)
    return { kind: 'clean', uid: cred?.metadata.uid ?? '', credentialDeleting: cred !== undefined };
  if (!decision || !isDecisionFor(decision, cred)) return { kind: 'decideFirst' };
  const spec = decision.spec;
  if (!spec || spec.suspend) return { kind: 'hold' };
  if (!isNamespaceSelected(namespace, spec) || !deliversSecrets(spec)) return { kind: 'deselect', cred };
  return { kind: 'converge', cred, spec, decision };
}

export class NamespaceController {
  private readonly failures: NamespaceFailures;
  private readonly writer: NamespaceWriter;
  private readonly convergedListeners: Array<(credential: string, namespace: string) => void> = [];
  /** Namespaces found without a ServiceAccount, and since when (firstServiceAccountWait). */
  private readonly withoutServiceAccounts = new Map<string, number>();

  constructor(private readonly options: NamespaceControllerOptions) {
    this.failures = options.failures;
    this.writer = new NamespaceWriter(options.resources, options.caches);
  }

  /** Calls `listener` each time a namespace key has converged its namespace (mappers.ts: stuck-pod recovery). */
  onConverged(listener: (credential: string, namespace: string) => void): void {
    this.convergedListeners.push(listener);
  }

  reconcile = async (
    credentialName: string,
    namespaceName: string,
    logger: Logger,
  ): Promise<ReconcileResult | void> => {
    const { caches, reporting } = this.options;
    const cred = caches.credentials.get(credentialName);
    const action = namespaceAction({
      cred,
      namespace: caches.namespaces.get(namespaceName),
      decision: this.options.decisions.decisionOf(credentialName),
    });
    const context: WriteContext = { logger, changes: reporting.changesOf(credentialName) };
    switch (action.kind) {
      case 'leave':
        this.withoutServiceAccounts.delete(namespaceName);
        // Namespaces being deleted are left alone; their content goes with them.
        if (this.failures.clear(credentialName, namespaceName) && !cred?.metadata.deletionTimestamp)
          reporting.namespaceChanged(credentialName, true);
        if (cred?.metadata.deletionTimestamp) reporting.cleanedUp(credentialName);
        return;
      case 'clean':
        await this.writer.cleanNamespace(credentialName, action.uid, namespaceName, context);
        this.failures.clear(credentialName, namespaceName);
        // the credential controller releases the finalizer once nothing is left
        if (action.credentialDeleting) reporting.cleanedUp(credentialName);
        return;
      case 'decideFirst':
        this.options.queue.add(credentialKey(credentialName));
        return;
      case 'hold':
        return;
      case 'deselect':
      case 'converge':
        return this.act(action, credentialName, namespaceName, context);
    }
  };

  private async act(
    action: Extract<NamespaceAction, { kind: 'deselect' | 'converge' }>,
    credentialName: string,
    namespaceName: string,
    context: WriteContext,
  ): Promise<ReconcileResult | void> {
    const { reporting } = this.options;
    const { cred } = action;
    if (action.kind === 'converge') {
      const waitMs = this.firstServiceAccountWait(action.decision.secretName, namespaceName);
      if (waitMs > 0) return { requeueAfterMs: waitMs }; // the first ServiceAccount's event comes sooner
    }
    const hadFailure = this.failures.failureIn(credentialName, cred.metadata.uid, namespaceName);
    let wrote: boolean;
    try {
      wrote =
        action.kind === 'converge'
          ? await this.convergeNamespace(cred, action.spec, action.decision, namespaceName, context)
          : await this.writer.cleanNamespace(credentialName, cred.metadata.uid, namespaceName, context);
    } catch (err) {
      const failure = failureOf(namespaceName, err);
      this.failures.fail(credentialName, cred.metadata.uid, failure);
      if (hadFailure?.reason !== failure.reason || hadFailure.message !== failure.message) {
        reporting.events.record(cred, 'Warning', failure.reason, `namespace ${namespaceName}: ${failure.message}`);
        reporting.namespaceChanged(credentialName, true);
      }
      throw err;
    }
    this.failures.clear(credentialName, namespaceName);
    if (action.kind === 'converge')
      for (const listener of this.convergedListeners) listener(credentialName, namespaceName);
    if (wrote || hadFailure) reporting.namespaceChanged(credentialName, hadFailure !== undefined);
    // A key re-run by the echo of our own write may end the burst: a pending recount then runs.
    else reporting.namespaceUnchanged(credentialName);
  }

  private firstServiceAccountWait(secretName: string, namespace: string): number {
    const { caches, clock } = this.options;
    const secretExists = caches.managedSecrets.getIn(namespace, secretName) !== undefined;
    let serviceAccounts = 0;
    for (const _ of caches.serviceAccounts.listIn(namespace)) serviceAccounts++;
    const nowMs = clock.now();
    if (secretExists || serviceAccounts > 0) {
      this.withoutServiceAccounts.delete(namespace);
      return 0;
    }
    let since = this.withoutServiceAccounts.get(namespace);
    if (since === undefined) this.withoutServiceAccounts.set(namespace, (since = nowMs));
    const waitMs = firstServiceAccountWait({ secretExists, serviceAccounts, waitingSinceMs: since, nowMs });
    if (waitMs === 0) this.withoutServiceAccounts.delete(namespace);
    return waitMs;
  }

  /** Makes the namespace hold the desired Secret and SA entries. Returns whether anything was written. */
  private async convergeNamespace(
    cred: RegistryCredential,
    spec: RegistryCredentialSpec,
    decision: CredentialDecision,
    namespace: string,
    context: WriteContext,
  ): Promise<boolean> {
    const { caches } = this.options;
    const name = decision.secretName;
    let wrote = false;
    let secret = caches.managedSecrets.getIn(namespace, name);
    const document = decision.sources.document;
    if (document !== undefined) {
      const desired = desiredSecret(cred, namespace, name, document, spec.secretTemplate);
      if (secret && !isOwnedBy(secret, cred)) {
        const owner = secret.metadata?.labels?.[LABEL_CREDENTIAL] ?? '?';
        throw new NamespaceFailureError(
          'SecretConflict',
          `Secret ${name} belongs to RegistryCredential ${owner}; choose another spec.secretName`,
        );
      }
      const result = await this.writer.ensureSecret(cred, desired, secret, context);
      secret = result.secret;
      wrote = result.wrote;
      // Secrets of ours under a previous secretName go once the new one is in place.
      for (const stale of [...caches.managedSecrets.listIn(namespace)]) {
        if (stale.metadata?.name !== name && isOwnedBy(stale, cred))
          wrote = (await this.writer.deleteSecret(stale, context)) || wrote;
      }
    } else if (!secret || !isOwnedBy(secret, cred)) {
      return false; // held: nothing to inject until a first good document exists
    }
    for (const serviceAccount of [...caches.serviceAccounts.listIn(namespace)]) {
      const wanted = wantsServiceAccountEntry(serviceAccount, spec) ? name : undefined;
      wrote = (await this.writer.applyServiceAccount(serviceAccount, cred.metadata.name, wanted, context)) || wrote;
    }
    return wrote;
  }
}

function failureOf(namespace: string, err: unknown): NamespaceFailure {
  if (err instanceof NamespaceFailureError) return { namespace, reason: err.reason, message: err.message };
  if (err instanceof KubeApiError) return { namespace, reason: `API${err.kind}`, message: err.message };
  return { namespace, reason: 'Error', message: (err as Error).message ?? String(err) };
}
