// The RegistryCredential controller: orchestration only. Reads come from the caches, decisions
// from the pure functions in desired.ts / serviceaccounts.ts / status.ts, writes go through
// k8s/resources.ts with optimistic concurrency, and every write is fed back into its cache.
//
// Two kinds of keys (keys.ts):
//   c/<credential>       resolve sources, keep the finalizer, find namespaces that need work,
//                        write status, report changes; on deletion, clean up then release.
//   n/<credential>/<ns>  converge one namespace: the Secret and the ServiceAccount entries, or
//                        remove exactly what this credential added when the namespace is out.
import type { V1Namespace, V1Secret, V1ServiceAccount } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import {
  FINALIZER,
  LABEL_CREDENTIAL,
  type NamespaceFailure,
  parseDuration,
  credentialNameProblem,
  parseSpec,
  type RegistryCredential,
  type RegistryCredentialSpec,
  targetSecretName,
} from '../api/v1alpha1.js';
import { type Auths, documentSizeProblem, renderDockerConfig } from '../dockerconfig.js';
import type { EventSink } from '../events.js';
import { isKubeError, KubeApiError } from '../k8s/errors.js';
import type { Resources } from '../k8s/resources.js';
import type { Metrics } from '../metrics.js';
import { type EcrTokenCache, resolveEcrEntry } from '../providers/ecr.js';
import { type EntryResult, mergeAuths, resolveEntry } from '../providers/sources.js';
import type { Clock } from '../runtime/clock.js';
import type { Informer } from '../runtime/informer.js';
import type { ReconcileResult } from '../runtime/workerpool.js';
import type { WorkQueue } from '../runtime/workqueue.js';
import { desiredSecret, isNamespaceConverged, isNamespaceSelected, isOwnedBy, isServiceAccountSelected, isTerminating, secretUpdate } from './desired.js';
import { credentialKey, namespaceKey, parseKey } from './keys.js';
import { ChangeLog } from './changes.js';
import { injectedFor, serviceAccountEdit } from './serviceaccounts.js';
import { computeStatus, sameStatus } from './status.js';
import { STATUS_DELAY_BASE_MS, statusDelayMs } from './timing.js';

export interface Caches {
  credentials: Informer<RegistryCredential>;
  namespaces: Informer<V1Namespace>;
  serviceAccounts: Informer<V1ServiceAccount>;
  /** Secrets carrying app.kubernetes.io/managed-by=regcred-operator, in every namespace. */
  managedSecrets: Informer<V1Secret>;
  /** Secrets of the source namespace. */
  sourceSecrets: Informer<V1Secret>;
}

export interface ReconcilerOptions {
  resources: Resources;
  caches: Caches;
  queue: WorkQueue;
  clock: Clock;
  logger: Logger;
  events: EventSink;
  metrics?: Metrics;
  sourceNamespace: string;
  /** ECR tokens, shared by every RegistryCredential. */
  ecrTokens?: EcrTokenCache;
  /** A credential key runs at most this often after namespace work, to batch status writes. */
  statusDebounceMs?: number;
}

/** What the last credential reconcile decided; namespace keys read it. */
interface CredentialState {
  uid: string;
  generation: number;
  spec?: RegistryCredentialSpec;
  specError?: string;
  secretName: string;
  /** The rendered .dockerconfigjson, or undefined while a source has no good value yet (held). */
  document?: string;
  sourceFailure?: { reason: string; message: string };
  sourceWarning?: { reason: string; message: string };
  /** Short-lived tokens: earliest expiry of those served, oldest refresh, when to look again. */
  tokens: { expiresAt?: number; refreshedAt?: number; nextCheckAt?: number };
  /** Last good auths per registry entry (keyed by the entry's JSON), served while its source is broken. */
  lastGood: Map<string, Auths>;
  failures: Map<string, NamespaceFailure>;
  changes: ChangeLog;
}

/** A namespace cannot be converged for a reason only a human can fix. */
export class NamespaceFailureError extends Error {
  override readonly name = 'NamespaceFailureError';
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

const MAX_CONFLICT_RETRIES = 5;

export class Reconciler {
  private readonly states = new Map<string, CredentialState>();
  private readonly debounceMs: number;
  /** How long the last credential reconcile took, per credential (ms). */
  private readonly lastRunMs = new Map<string, number>();

  constructor(private readonly o: ReconcilerOptions) {
    this.debounceMs = o.statusDebounceMs ?? STATUS_DELAY_BASE_MS;
  }

  reconcile = async (key: string): Promise<ReconcileResult | void> => {
    const k = parseKey(key);
    if (k.kind === 'namespace') return this.reconcileNamespace(k.credential, k.namespace);
    const started = this.o.clock.now();
    try {
      return await this.reconcileCredential(k.credential);
    } finally {
      this.lastRunMs.set(k.credential, this.o.clock.now() - started);
    }
  };

  /**
   * After namespace work: the credential key recounts and writes status. While other keys wait
   * (a fan-out), it waits statusDelay so it runs a bounded share of the time; when this was the
   * last key in flight, it runs at once, so the final status is not held back by the pause.
   */
  private wakeCredential(credName: string): void {
    const key = credentialKey(credName);
    if (!this.lastInFlight()) this.o.queue.addAfter(key, this.statusDelay(credName));
    else if (!this.o.queue.expedite(key)) this.o.queue.add(key);
  }

  /** No other key is queued or being worked on: a burst of namespace work has just ended. */
  private lastInFlight(): boolean {
    return this.o.queue.len() === 0 && this.o.queue.inProgress() <= 1;
  }

  /** The delay before a credential key woken by namespace work runs (timing.ts, statusDelayMs). */
  statusDelay(credential: string): number {
    return statusDelayMs(this.debounceMs, this.lastRunMs.get(credential));
  }

  /** The parsed spec of a credential as of its last reconcile (for the event mappers). */
  specOf(credential: string): RegistryCredentialSpec | undefined {
    return this.states.get(credential)?.spec;
  }

  // ---- credential keys -------------------------------------------------------------------

  private async reconcileCredential(name: string): Promise<ReconcileResult | void> {
    const { caches, queue } = this.o;
    let cred = caches.credentials.get(name);
    if (!cred) {
      // Gone without our finalizer running (or already released): remove whatever is left.
      this.states.delete(name);
      this.lastRunMs.delete(name);
      this.o.metrics?.forgetCredential(name);
      for (const ns of await this.namespacesWithLeftovers({ metadata: { name, uid: '' } })) queue.add(namespaceKey(name, ns));
      return;
    }
    if (cred.metadata.deletionTimestamp) return this.finalize(cred);

    const state = this.stateFor(cred);
    const nameProblem = credentialNameProblem(cred.metadata.name);
    const parsed = nameProblem ? { ok: false as const, message: nameProblem } : parseSpec(cred.spec);
    if (!parsed.ok) {
      // Nothing is written or deleted on an invalid spec; the status says why.
      state.spec = undefined;
      state.specError = parsed.message;
      this.o.events.record(cred, 'Warning', 'InvalidSpec', parsed.message);
      await this.writeStatus(cred, state, { selected: 0, ready: 0, failures: [] });
      return;
    }
    const spec = parsed.spec;
    const specChanged = state.generation !== (cred.metadata.generation ?? 0) || state.spec === undefined;
    state.spec = spec;
    state.specError = undefined;
    state.generation = cred.metadata.generation ?? 0;
    state.secretName = targetSecretName(cred, spec);

    if (!(cred.metadata.finalizers ?? []).includes(FINALIZER)) {
      cred = await this.o.resources.setFinalizers(cred, [...(cred.metadata.finalizers ?? []), FINALIZER]);
      caches.credentials.noteWritten(cred);
    }

    await this.resolveSources(cred, spec, state);

    const selected: string[] = [];
    let ready = 0;
    const desiredTemplate = state.document === undefined ? undefined : desiredSecret(cred, '', state.secretName, state.document);
    let scanned = 0;
    for (const ns of caches.namespaces.list()) {
      if (++scanned % SCAN_SLICE === 0) await nextTurn();
      const nsName = ns.metadata!.name!;
      if (!isNamespaceSelected(ns, spec)) {
        state.failures.delete(nsName);
        continue;
      }
      selected.push(nsName);
      const desired = desiredTemplate && { ...desiredTemplate, metadata: { ...desiredTemplate.metadata, namespace: nsName } };
      const converged = isNamespaceConverged(
        { secret: caches.managedSecrets.getIn(nsName, state.secretName), serviceAccounts: caches.serviceAccounts.listIn(nsName) },
        cred,
        spec,
        desired,
      );
      if (converged && !state.failures.has(nsName)) ready++;
      else if (!spec.suspend && (!state.failures.has(nsName) || specChanged)) queue.add(namespaceKey(name, nsName));
    }
    for (const failed of state.failures.keys()) if (!caches.namespaces.get(failed)) state.failures.delete(failed);
    if (!spec.suspend) {
      const selectedSet = new Set(selected);
      // Leftovers: namespaces that left the selection, or Secrets under a previous secretName.
      for (const ns of await this.namespacesWithLeftovers(cred)) {
        if (!selectedSet.has(ns) || this.hasStaleSecret(cred, state, ns)) queue.add(namespaceKey(name, ns));
      }
    }

    if (state.sourceFailure) {
      this.o.metrics?.sourceFailures.inc({ credential: name, reason: state.sourceFailure.reason });
      this.o.events.record(cred, 'Warning', state.sourceFailure.reason, state.sourceFailure.message);
    }
    this.flushChanges(cred, state);
    const failures = [...state.failures.values()];
    this.o.metrics?.namespaces.set({ credential: name, state: 'selected' }, selected.length);
    this.o.metrics?.namespaces.set({ credential: name, state: 'ready' }, ready);
    this.o.metrics?.namespaces.set({ credential: name, state: 'failed' }, failures.length);
    await this.writeStatus(cred, state, { selected: selected.length, ready, failures });
    const now = this.o.clock.now();
    if (state.tokens.expiresAt !== undefined) this.o.metrics?.secondsUntilExpiry.set({ credential: name }, (state.tokens.expiresAt - now) / 1000);
    else this.o.metrics?.secondsUntilExpiry.remove({ credential: name });
    // Time-based work: come back when a token is due for renewal or a failed renewal for a retry.
    if (state.tokens.nextCheckAt !== undefined && !spec.suspend) return { requeueAfterMs: Math.max(1000, state.tokens.nextCheckAt - now) };
  }

  private stateFor(cred: RegistryCredential): CredentialState {
    let state = this.states.get(cred.metadata.name);
    if (!state || state.uid !== cred.metadata.uid) {
      state = { uid: cred.metadata.uid, generation: -1, secretName: cred.metadata.name, tokens: {}, lastGood: new Map(), failures: new Map(), changes: new ChangeLog() };
      this.states.set(cred.metadata.name, state);
    }
    return state;
  }

  /**
   * Resolves every registry entry from the source-Secret cache. A broken entry keeps serving its
   * last good value if it had one; without one, the document is held (undefined): no Secret is
   * created or changed until the source is fixed, and nothing is deleted.
   */
  private async resolveSources(cred: RegistryCredential, spec: RegistryCredentialSpec, state: CredentialState): Promise<void> {
    const { sourceSecrets } = this.o.caches;
    const ns = this.o.sourceNamespace;
    const source = { namespace: ns, get: (n: string) => sourceSecrets.getIn(ns, n) };
    const perEntry: Auths[] = [];
    let failure: { reason: string; message: string } | undefined;
    let warning: { reason: string; message: string } | undefined;
    let held = false;
    const keys = new Set<string>();
    const tokens: CredentialState['tokens'] = {};
    const earliest = (a: number | undefined, b: number | undefined) => (a === undefined ? b : b === undefined ? a : Math.min(a, b));
    const refreshIntervalMs = parseDuration(spec.refreshInterval);
    for (const [i, entry] of spec.registries.entries()) {
      const key = JSON.stringify(entry);
      keys.add(key);
      let result: EntryResult;
      if (entry.ecr) {
        if (!this.o.ecrTokens) throw new Error('the reconciler was built without an ECR token cache');
        result = await resolveEcrEntry(entry, source, { cache: this.o.ecrTokens, refreshIntervalMs, now: () => this.o.clock.now() });
      } else result = resolveEntry(entry, source);
      tokens.expiresAt = earliest(tokens.expiresAt, result.expiresAt);
      tokens.refreshedAt = earliest(tokens.refreshedAt, result.refreshedAt);
      tokens.nextCheckAt = earliest(tokens.nextCheckAt, result.nextCheckAt);
      if (result.ok) {
        perEntry[i] = result.auths;
        state.lastGood.set(key, result.auths);
        warning ??= result.warning;
        continue;
      }
      failure ??= { reason: result.reason, message: result.message };
      const last = result.stale ?? state.lastGood.get(key);
      if (last) perEntry[i] = last;
      else held = true;
    }
    state.tokens = tokens;
    if (warning && warning.message !== state.sourceWarning?.message) this.o.events.record(cred, 'Warning', warning.reason, warning.message);
    state.sourceWarning = warning;
    for (const key of [...state.lastGood.keys()]) if (!keys.has(key)) state.lastGood.delete(key);
    let document = held ? undefined : renderDockerConfig(mergeAuths(spec, perEntry));
    const tooLarge = document === undefined ? undefined : documentSizeProblem(document);
    if (tooLarge) {
      // No partial or truncated write: every existing copy stays as it is, none is created.
      failure ??= { reason: 'SecretTooLarge', message: `${tooLarge}; use fewer or smaller credentials` };
      document = undefined;
    }
    state.sourceFailure = failure;
    state.document = document;
    if (failure) this.o.logger.warn({ registryCredential: cred.metadata.name, reason: state.sourceFailure!.reason, held }, 'registry source failed');
  }

  private async finalize(cred: RegistryCredential): Promise<void> {
    if (!(cred.metadata.finalizers ?? []).includes(FINALIZER)) return;
    const leftovers = await this.namespacesWithLeftovers(cred);
    if (leftovers.size > 0) {
      for (const ns of leftovers) this.o.queue.add(namespaceKey(cred.metadata.name, ns));
      return;
    }
    const state = this.states.get(cred.metadata.name);
    if (state) this.flushChanges(cred, state);
    this.o.events.record(cred, 'Normal', 'CleanedUp', 'removed every Secret and ServiceAccount entry this RegistryCredential added');
    try {
      const updated = await this.o.resources.setFinalizers(cred, (cred.metadata.finalizers ?? []).filter((f) => f !== FINALIZER));
      this.o.caches.credentials.noteWritten(updated);
    } catch (err) {
      if (!isKubeError(err, 'NotFound')) throw err;
    }
    this.o.logger.info({ registryCredential: cred.metadata.name }, 'cleanup finished; finalizer removed');
    this.states.delete(cred.metadata.name);
    this.o.metrics?.forgetCredential(cred.metadata.name);
  }

  private async writeStatus(cred: RegistryCredential, state: CredentialState, counts: { selected: number; ready: number; failures: NamespaceFailure[] }): Promise<void> {
    const status = computeStatus(cred.status, {
      generation: cred.metadata.generation ?? 0,
      now: this.o.clock.now(),
      specError: state.specError,
      suspended: state.spec?.suspend ?? false,
      sourceFailure: state.sourceFailure,
      sourcesHeld: state.sourceFailure !== undefined && state.document === undefined,
      sourceWarning: state.sourceWarning,
      credentialsExpireAt: state.tokens.expiresAt,
      lastRefreshTime: state.tokens.refreshedAt,
      ...counts,
    });
    if (sameStatus(cred.status, status)) return;
    try {
      const updated = await this.o.resources.updateStatus(cred, status);
      this.o.caches.credentials.noteWritten(updated);
      this.o.logger.debug({ registryCredential: cred.metadata.name, namespaces: status.namespaces, resourceVersion: updated.metadata.resourceVersion }, 'status written');
    } catch (err) {
      if (!isKubeError(err, 'NotFound')) throw err;
    }
  }

  /** One Event per kind of change since the last credential reconcile, naming a few namespaces. */
  private flushChanges(cred: RegistryCredential, state: CredentialState): void {
    for (const { reason, message } of state.changes.drain()) this.o.events.record(cred, 'Normal', reason, message);
  }

  /** Namespaces holding a Secret or an SA entry this credential added. */
  private async namespacesWithLeftovers(cred: { metadata: { name: string; uid: string } }): Promise<Set<string>> {
    const found = new Set<string>();
    const name = cred.metadata.name;
    let scanned = 0;
    // Every cached Secret carries our managed-by label, so isOwnedBy's label test also covers a
    // credential that is gone (uid unknown).
    for (const s of this.o.caches.managedSecrets.list()) {
      if (++scanned % SCAN_SLICE === 0) await nextTurn();
      if (isOwnedBy(s, cred)) found.add(s.metadata!.namespace!);
    }
    for (const sa of this.o.caches.serviceAccounts.list()) {
      if (++scanned % SCAN_SLICE === 0) await nextTurn();
      if (injectedFor(sa, name).length > 0) found.add(sa.metadata!.namespace!);
    }
    return found;
  }

  private hasStaleSecret(cred: RegistryCredential, state: CredentialState, ns: string): boolean {
    for (const s of this.o.caches.managedSecrets.listIn(ns)) if (s.metadata?.name !== state.secretName && isOwnedBy(s, cred)) return true;
    return false;
  }

  // ---- namespace keys --------------------------------------------------------------------

  private async reconcileNamespace(credName: string, ns: string): Promise<void> {
    const { caches, queue } = this.o;
    const cred = caches.credentials.get(credName);
    const namespace = caches.namespaces.get(ns);
    const state = this.states.get(credName);
    if (!namespace || isTerminating(namespace)) {
      // Namespaces being deleted are left alone; their content goes with them.
      if (state?.failures.delete(ns) || cred?.metadata.deletionTimestamp) this.wakeCredential(credName);
      return;
    }
    if (!cred || cred.metadata.deletionTimestamp) {
      // Cleanup runs even when suspended: deleting the RegistryCredential is an explicit request.
      await this.cleanNamespace(credName, cred?.metadata.uid ?? '', ns, state);
      if (cred) this.wakeCredential(credName);
      return;
    }
    if (!state || state.uid !== cred.metadata.uid || state.generation !== (cred.metadata.generation ?? 0)) {
      queue.add(credentialKey(credName)); // decides again with the current spec, then comes back here
      return;
    }
    const spec = state.spec;
    if (!spec || spec.suspend) return;

    const hadFailure = state.failures.get(ns);
    let wrote: boolean;
    try {
      wrote = isNamespaceSelected(namespace, spec) ? await this.convergeNamespace(cred, spec, state, ns) : await this.cleanNamespace(credName, cred.metadata.uid, ns, state);
    } catch (err) {
      const failure = failureOf(ns, err);
      state.failures.set(ns, failure);
      if (hadFailure?.reason !== failure.reason || hadFailure.message !== failure.message) {
        this.o.events.record(cred, 'Warning', failure.reason, `namespace ${ns}: ${failure.message}`);
        this.wakeCredential(credName);
      }
      throw err;
    }
    state.failures.delete(ns);
    if (wrote || hadFailure) this.wakeCredential(credName);
    // A key re-run by the echo of our own write ends the burst: a status pause still pending runs now.
    else if (this.lastInFlight()) this.o.queue.expedite(credentialKey(credName));
  }

  /** Makes the namespace hold the desired Secret and SA entries. Returns whether anything was written. */
  private async convergeNamespace(cred: RegistryCredential, spec: RegistryCredentialSpec, state: CredentialState, ns: string): Promise<boolean> {
    const { caches } = this.o;
    const name = state.secretName;
    let wrote = false;
    let secret = caches.managedSecrets.getIn(ns, name);
    if (state.document !== undefined) {
      const desired = desiredSecret(cred, ns, name, state.document);
      if (secret && !isOwnedBy(secret, cred)) {
        throw new NamespaceFailureError('SecretConflict', `Secret ${name} belongs to RegistryCredential ${secret.metadata?.labels?.[LABEL_CREDENTIAL] ?? '?'}; choose another spec.secretName`);
      }
      const result = await this.ensureSecret(cred, state, desired, secret);
      secret = result.secret;
      wrote = result.wrote;
      // Secrets of ours under a previous secretName go once the new one is in place.
      for (const stale of [...caches.managedSecrets.listIn(ns)]) {
        if (stale.metadata?.name !== name && isOwnedBy(stale, cred)) wrote = (await this.deleteSecret(cred.metadata.name, stale, state)) || wrote;
      }
    } else if (!secret || !isOwnedBy(secret, cred)) {
      return false; // held: nothing to inject until a first good document exists
    }
    for (const sa of [...caches.serviceAccounts.listIn(ns)]) {
      const wanted = isServiceAccountSelected(sa.metadata?.name ?? '', spec) ? name : undefined;
      wrote = (await this.applyServiceAccount(sa, cred.metadata.name, wanted, state)) || wrote;
    }
    return wrote;
  }

  private async ensureSecret(cred: RegistryCredential, state: CredentialState, desired: V1Secret, cached: V1Secret | undefined): Promise<{ secret: V1Secret; wrote: boolean }> {
    const { resources, caches } = this.o;
    const ns = desired.metadata!.namespace!;
    let existing = cached;
    if (!existing) {
      try {
        const created = await resources.createSecret(desired);
        caches.managedSecrets.noteWritten(created);
        this.logChange('created Secret', cred.metadata.name, ns, desired.metadata!.name!);
        state.changes.add('SecretCreated', ns);
        return { secret: created, wrote: true };
      } catch (err) {
        if (!isKubeError(err, 'AlreadyExists')) throw err;
        // Not in our cache: either someone else's Secret, or ours with its labels edited away.
        existing = await resources.getSecret(ns, desired.metadata!.name!);
        if (!isOwnedBy(existing, cred)) {
          throw new NamespaceFailureError('SecretConflict', `Secret ${desired.metadata!.name} already exists and is not managed by this RegistryCredential; it is left untouched`);
        }
      }
    }
    const update = secretUpdate(existing, desired);
    if (!update) return { secret: existing, wrote: false };
    const updated = await resources.updateSecret(update);
    caches.managedSecrets.noteWritten(updated);
    this.logChange('updated Secret', cred.metadata.name, ns, desired.metadata!.name!);
    state.changes.add('SecretUpdated', ns);
    return { secret: updated, wrote: true };
  }

  private async deleteSecret(credName: string, secret: V1Secret, state: CredentialState | undefined): Promise<boolean> {
    const ns = secret.metadata!.namespace!;
    const name = secret.metadata!.name!;
    try {
      // Preconditions: only the exact object we decided on is deleted.
      await this.o.resources.deleteSecret(ns, name, secret.metadata?.uid, secret.metadata?.resourceVersion);
    } catch (err) {
      if (!isKubeError(err, 'NotFound')) throw err;
    }
    this.o.caches.managedSecrets.noteDeleted(`${ns}/${name}`);
    this.logChange('deleted Secret', credName, ns, name);
    state?.changes.add('SecretDeleted', ns);
    return true;
  }

  /** Removes this credential's Secrets and SA entries from a namespace. Returns whether anything was written. */
  private async cleanNamespace(credName: string, uid: string, ns: string, state: CredentialState | undefined): Promise<boolean> {
    const owner = { metadata: { name: credName, uid } };
    let wrote = false;
    for (const secret of [...this.o.caches.managedSecrets.listIn(ns)]) {
      if (isOwnedBy(secret, owner)) wrote = (await this.deleteSecret(credName, secret, state)) || wrote;
    }
    for (const sa of [...this.o.caches.serviceAccounts.listIn(ns)]) wrote = (await this.applyServiceAccount(sa, credName, undefined, state)) || wrote;
    state?.failures.delete(ns);
    return wrote;
  }

  /**
   * Read-modify-write of imagePullSecrets guarded by resourceVersion. On a conflict (someone else
   * edited the SA meanwhile) the SA is read again and the edit recomputed, so their change stays.
   */
  private async applyServiceAccount(sa: V1ServiceAccount, credName: string, wanted: string | undefined, state: CredentialState | undefined): Promise<boolean> {
    const { resources, caches } = this.o;
    const ns = sa.metadata!.namespace!;
    const saName = sa.metadata!.name!;
    let current = sa;
    for (let attempt = 0; ; attempt++) {
      const edit = serviceAccountEdit(current, credName, wanted);
      if (!edit) return false;
      try {
        const updated = await resources.patchServiceAccountPullSecrets(current, edit.imagePullSecrets, edit.injected);
        caches.serviceAccounts.noteWritten(updated);
        const action = wanted === undefined ? 'removed pull secret from ServiceAccount' : 'added pull secret to ServiceAccount';
        this.logChange(action, credName, ns, saName);
        state?.changes.add(wanted === undefined ? 'PullSecretRemoved' : 'PullSecretAdded', `${ns}/${saName}`);
        return true;
      } catch (err) {
        if (isKubeError(err, 'NotFound')) return false;
        if (!isKubeError(err, 'Conflict') || attempt >= MAX_CONFLICT_RETRIES) throw err;
        try {
          current = await resources.getServiceAccount(ns, saName);
        } catch (getErr) {
          if (isKubeError(getErr, 'NotFound')) return false;
          throw getErr;
        }
        caches.serviceAccounts.noteWritten(current);
      }
    }
  }

  private logChange(action: string, credential: string, namespace: string, name: string): void {
    this.o.logger.info({ registryCredential: credential, namespace, name }, action);
  }
}

/**
 * Cache scans of a credential key are O(namespaces + ServiceAccounts): tens of milliseconds at
 * 10,000 namespaces. Yielding to the event loop every SCAN_SLICE objects lets namespace keys
 * (a new namespace's writes) go on meanwhile instead of waiting for the whole scan.
 */
const SCAN_SLICE = 500;
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function failureOf(namespace: string, err: unknown): NamespaceFailure {
  if (err instanceof NamespaceFailureError) return { namespace, reason: err.reason, message: err.message };
  if (err instanceof KubeApiError) return { namespace, reason: `API${err.kind}`, message: err.message };
  return { namespace, reason: 'Error', message: (err as Error).message ?? String(err) };
}
