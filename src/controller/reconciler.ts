// The RegistryCredential controller: orchestration only. Each key reads the caches, decides with
// the pure functions (desired.ts, serviceaccounts.ts, status.ts), applies the difference
// (apply.ts) and reports (status, Events, metrics). What a credential key decided and what its
// namespace keys found lives in credentialstate.ts; when the status is recounted, in
// statuspacing.ts.
//
// Two kinds of keys (keys.ts):
//   c/<credential>       resolve sources, keep the finalizer, find namespaces that need work,
//                        write status, report changes; on deletion, clean up then release.
//   n/<credential>/<ns>  converge one namespace: the Secret and the ServiceAccount entries, or
//                        remove exactly what this credential added when the namespace is out.
import { X509Certificate } from 'node:crypto';
import type { Logger } from 'pino';
import {
  credentialNameProblem,
  deliversSecrets,
  deliversToKubelet,
  FINALIZER,
  type KubeletDeliveryStatus,
  LABEL_CREDENTIAL,
  type NamespaceFailure,
  parseSpec,
  type RegistryCredential,
  type RegistryCredentialSpec,
  type RegistryVerification,
  targetSecretName,
} from '../api/v1alpha1.js';
import { type EventSink, SERIES_INTERVAL_MS } from '../events.js';
import { isKubeError, KubeApiError } from '../k8s/errors.js';
import type { Resources } from '../k8s/resources.js';
import type { Metrics } from '../metrics.js';
import type { Providers } from '../providers/index.js';
import type { Verifier } from '../registry/verifier.js';
import type { Clock } from '../runtime/clock.js';
import type { ReconcileContext, ReconcileResult } from '../runtime/workerpool.js';
import { NamespaceFailureError, NamespaceWriter, type WriteContext } from './apply.js';
import type { Caches } from './caches.js';
import { type CredentialState, CredentialStates } from './credentialstate.js';
import {
  desiredSecret,
  isNamespaceConverged,
  isNamespaceSelected,
  isOwnedBy,
  isServiceAccountSelected,
  isTerminating,
} from './desired.js';
import { credentialKey, namespaceKey, parseKey } from './keys.js';
import { resolveSources } from './resolve.js';
import { injectedFor } from './serviceaccounts.js';
import { computeStatus, type ConditionInput, isRoutineChange, sameStatus } from './status.js';
import { credentialsVerifiedCondition, registryRows, verificationEvents, verificationPlans } from './verification.js';
import { EvictionBudget, isWaitingOnPull, podsToRecover, toSlimPod } from './podrecovery.js';
import { type PacedQueue, StatusPacer } from './statuspacing.js';

export interface ReconcilerOptions {
  resources: Resources;
  caches: Caches;
  queue: PacedQueue;
  clock: Clock;
  logger: Logger;
  events: EventSink;
  metrics?: Metrics;
  sourceNamespace: string;
  /** Where credentials come from: one provider per source kind (the token providers hold the shared token caches). */
  providers: Providers;
  /** The shortest pause before a credential key recounts status after namespace work. */
  statusDebounceMs?: number;
  /** Checks every credential against its registry (off the reconcile path); absent: verification is off. */
  verifier?: Verifier;
  /** Per request of a registry check. */
  registryCheckTimeoutMs?: number;
  /** What the kubelet endpoint served per credential (kubelet/ledger.ts), for status.kubelet. */
  kubeletDelivery?: { snapshot(credential: string): KubeletDeliveryStatus | undefined };
}

interface VerificationReport {
  registries?: RegistryVerification[];
  credentialsVerified: ConditionInput;
}

export class Reconciler {
  private readonly states = new CredentialStates();
  private readonly pacer: StatusPacer;
  private readonly writer: NamespaceWriter;
  private readonly evictions = new EvictionBudget();

  constructor(private readonly options: ReconcilerOptions) {
    this.pacer = new StatusPacer(options.queue, () => options.clock.now(), options.statusDebounceMs);
    this.writer = new NamespaceWriter(options.resources, options.caches);
  }

  reconcile = async (key: string, context?: ReconcileContext): Promise<ReconcileResult | void> => {
    const parsed = parseKey(key);
    const logger = context?.logger ?? this.options.logger.child(logFieldsOf(key));
    if (parsed.kind === 'namespace') return this.reconcileNamespace(parsed.credential, parsed.namespace, logger);
    const started = this.options.clock.now();
    try {
      return await this.reconcileCredential(parsed.credential, logger);
    } finally {
      this.pacer.ran(parsed.credential, this.options.clock.now() - started);
    }
  };

  /** The delay before a credential key woken by namespace work runs (statuspacing.ts). */
  statusDelay(credential: string): number {
    return this.pacer.delayFor(credential);
  }

  /** The parsed spec of a credential as of its last reconcile (for the event mappers). */
  specOf(credential: string): RegistryCredentialSpec | undefined {
    return this.states.get(credential)?.spec;
  }

  // ---- credential keys -------------------------------------------------------------------

  private async reconcileCredential(name: string, logger: Logger): Promise<ReconcileResult | void> {
    const { caches, queue, metrics, events } = this.options;
    let cred = caches.credentials.get(name);
    if (!cred) {
      // Gone without our finalizer running (or already released): remove whatever is left.
      this.states.forget(name);
      this.pacer.forget(name);
      this.options.verifier?.forget(name);
      metrics?.forgetCredential(name);
      for (const namespace of await this.namespacesWithLeftovers({ metadata: { name, uid: '' } }))
        queue.add(namespaceKey(name, namespace));
      return;
    }
    if (cred.metadata.deletionTimestamp) return this.finalize(cred, logger);

    // Read and decide.
    const state = this.states.of(cred);
    const nameProblem = credentialNameProblem(cred.metadata.name);
    const parsed = nameProblem ? { ok: false as const, message: nameProblem } : parseSpec(cred.spec);
    if (!parsed.ok) {
      // Nothing is written or deleted on an invalid spec; the status says why.
      state.rejectSpec(parsed.message);
      events.record(cred, 'Warning', 'InvalidSpec', parsed.message);
      const held = await this.writeStatus(
        cred,
        state,
        { selected: 0, ready: 0, failures: [] },
        this.notVerified(name),
        logger,
      );
      return held === undefined ? undefined : { requeueAfterMs: held };
    }
    const spec = parsed.spec;
    const specChanged = state.decide(cred, spec, targetSecretName(cred, spec));

    if (!(cred.metadata.finalizers ?? []).includes(FINALIZER)) {
      cred = await this.options.resources.setFinalizers(cred, [...(cred.metadata.finalizers ?? []), FINALIZER]);
      caches.credentials.noteWritten(cred);
    }

    await this.resolveSourcesOf(cred, spec, state, logger);

    // Count what is converged; queue the namespaces that need work.
    const selected: string[] = [];
    let ready = 0;
    const document = state.document;
    const desiredTemplate =
      document === undefined ? undefined : desiredSecret(cred, '', state.secretName, document, spec.secretTemplate);
    let scanned = 0;
    for (const namespace of caches.namespaces.list()) {
      if (++scanned % SCAN_SLICE === 0) await nextTurn();
      const namespaceName = namespace.metadata!.name!;
      if (!isNamespaceSelected(namespace, spec)) {
        state.clearFailure(namespaceName);
        continue;
      }
      selected.push(namespaceName);
      if (!deliversSecrets(spec)) {
        // Secretless: a selected namespace is ready once nothing of ours is left in it.
        if (this.hasLeftoversIn(cred, namespaceName)) {
          if (!spec.suspend) queue.add(namespaceKey(name, namespaceName));
        } else ready++;
        continue;
      }
      const desired = desiredTemplate && {
        ...desiredTemplate,
        metadata: { ...desiredTemplate.metadata, namespace: namespaceName },
      };
      const converged = isNamespaceConverged(
        {
          secret: caches.managedSecrets.getIn(namespaceName, state.secretName),
          serviceAccounts: caches.serviceAccounts.listIn(namespaceName),
        },
        cred,
        spec,
        desired,
      );
      const failed = state.hasFailureIn(namespaceName);
      if (converged && !failed) ready++;
      else if (!spec.suspend && (!failed || specChanged)) queue.add(namespaceKey(name, namespaceName));
      // Pods stuck on a pull in a converged namespace: its key recovers them.
      if (converged && !spec.suspend && spec.podRecovery?.enabled && this.hasPodsWaitingOnPull(namespaceName))
        queue.add(namespaceKey(name, namespaceName));
    }
    state.retainFailures((namespace) => caches.namespaces.get(namespace) !== undefined);
    if (!spec.suspend) {
      const selectedSet = new Set(selected);
      // Leftovers: namespaces that left the selection, or Secrets under a previous secretName.
      for (const namespace of await this.namespacesWithLeftovers(cred)) {
        if (!selectedSet.has(namespace) || !deliversSecrets(spec) || this.hasStaleSecret(cred, state, namespace))
          queue.add(namespaceKey(name, namespace));
      }
    }

    // Report.
    const sourceFailure = state.sources.failure;
    if (sourceFailure) {
      metrics?.sourceFailures.inc({ credential: name, reason: sourceFailure.reason });
      events.record(cred, 'Warning', sourceFailure.reason, sourceFailure.message);
    }
    const changesDueAt = this.flushChanges(cred, state);
    const verification = this.verify(cred, spec, state);
    const failures = state.failureList();
    this.pacer.settled(
      name,
      !spec.suspend && !sourceFailure && failures.length === 0 && ready === selected.length && !specChanged,
    );
    metrics?.namespaces.set({ credential: name, state: 'selected' }, selected.length);
    metrics?.namespaces.set({ credential: name, state: 'ready' }, ready);
    metrics?.namespaces.set({ credential: name, state: 'failed' }, failures.length);
    const statusHeldMs = await this.writeStatus(
      cred,
      state,
      { selected: selected.length, ready, failures },
      verification,
      logger,
    );
    const now = this.options.clock.now();
    const tokens = state.sources.tokens;
    if (tokens.expiresAt !== undefined)
      metrics?.secondsUntilExpiry.set({ credential: name }, (tokens.expiresAt - now) / 1000);
    else metrics?.secondsUntilExpiry.remove({ credential: name });
    // Time-based work: come back when a token is due for renewal or a failed renewal for a retry,
    // when a held change summary is due, or when a held routine status write may go.
    const due = [
      tokens.nextCheckAt !== undefined && !spec.suspend ? Math.max(1000, tokens.nextCheckAt - now) : undefined,
      changesDueAt === undefined ? undefined : Math.max(0, changesDueAt - now),
      statusHeldMs,
    ].filter((ms): ms is number => ms !== undefined);
    if (due.length > 0) return { requeueAfterMs: Math.min(...due) };
  }

  private async resolveSourcesOf(
    cred: RegistryCredential,
    spec: RegistryCredentialSpec,
    state: CredentialState,
    logger: Logger,
  ): Promise<void> {
    const { sourceSecrets } = this.options.caches;
    const sourceNamespace = this.options.sourceNamespace;
    const previousWarning = state.sources.warning;
    const { resolution, held } = await resolveSources(spec, {
      source: { namespace: sourceNamespace, get: (secretName) => sourceSecrets.getIn(sourceNamespace, secretName) },
      lastGood: state.lastGood,
      providers: this.options.providers,
    });
    const { warning, failure } = resolution;
    if (warning && warning.message !== previousWarning?.message)
      this.options.events.record(cred, 'Warning', warning.reason, warning.message);
    state.setSources(resolution);
    if (failure) logger.warn({ reason: failure.reason, held }, 'registry source failed');
  }

  private async finalize(cred: RegistryCredential, logger: Logger): Promise<void> {
    if (!(cred.metadata.finalizers ?? []).includes(FINALIZER)) return;
    const leftovers = await this.namespacesWithLeftovers(cred);
    if (leftovers.size > 0) {
      for (const namespace of leftovers) this.options.queue.add(namespaceKey(cred.metadata.name, namespace));
      return;
    }
    const state = this.states.get(cred.metadata.name);
    for (const { reason, message, count } of state?.drainChanges() ?? [])
      this.options.events.summarize(cred, reason, message, count);
    this.options.events.record(
      cred,
      'Normal',
      'CleanedUp',
      'removed every Secret and ServiceAccount entry this RegistryCredential added',
    );
    try {
      const updated = await this.options.resources.setFinalizers(
        cred,
        (cred.metadata.finalizers ?? []).filter((finalizer) => finalizer !== FINALIZER),
      );
      this.options.caches.credentials.noteWritten(updated);
    } catch (err) {
      if (!isKubeError(err, 'NotFound')) throw err;
    }
    logger.info('cleanup finished; finalizer removed');
    this.states.forget(cred.metadata.name);
    this.options.verifier?.forget(cred.metadata.name);
    this.options.metrics?.forgetCredential(cred.metadata.name);
  }

  /**
   * Declares this credential's checks to the verifier (they run elsewhere) and turns their latest
   * outcomes into status rows, the condition, Events and metrics.
   */
  private verify(cred: RegistryCredential, spec: RegistryCredentialSpec, state: CredentialState): VerificationReport {
    const { verifier, metrics, events, caches, sourceNamespace } = this.options;
    const name = cred.metadata.name;
    const { auths, origins } = state.sources;
    if (!auths || !origins) {
      verifier?.forget(name);
      return { credentialsVerified: credentialsVerifiedCondition([], false) };
    }
    const plans = verificationPlans(spec, auths, origins, {
      enabled: verifier !== undefined,
      timeoutMs: this.options.registryCheckTimeoutMs ?? 10_000,
      caOf: (secretName) =>
        caFromSecret(caches.sourceSecrets.getIn(sourceNamespace, secretName), sourceNamespace, secretName),
    });
    const checks = plans.flatMap((plan) => ('check' in plan ? [plan] : []));
    const outcomes =
      verifier?.want(
        name,
        checks.map((plan) => plan.check),
      ) ?? [];
    const byServer = new Map(checks.map((plan, index) => [plan.server, outcomes[index]]));
    const rows = registryRows(plans, byServer, cred.status?.registries);
    for (const event of verificationEvents(cred.status?.registries, rows))
      events.record(cred, event.type, event.reason, event.message);
    metrics?.setRegistryVerification(name, rows);
    return { registries: rows, credentialsVerified: credentialsVerifiedCondition(rows, true) };
  }

  private notVerified(name: string): VerificationReport {
    this.options.verifier?.forget(name);
    return { credentialsVerified: credentialsVerifiedCondition([], false) };
  }

  /** Writes the status if it changed. Returns how long a routine change is held (statuspacing.ts), if it is. */
  private async writeStatus(
    cred: RegistryCredential,
    state: CredentialState,
    counts: { selected: number; ready: number; failures: NamespaceFailure[] },
    verification: VerificationReport,
    logger: Logger,
  ): Promise<number | undefined> {
    const { sources } = state;
    const status = computeStatus(cred.status, {
      generation: cred.metadata.generation ?? 0,
      now: this.options.clock.now(),
      specError: state.specError,
      suspended: state.spec?.suspend ?? false,
      sourceFailure: sources.failure,
      sourcesHeld: sources.failure !== undefined && sources.document === undefined,
      sourceWarning: sources.warning,
      credentialsExpireAt: sources.tokens.expiresAt,
      lastRefreshTime: sources.tokens.refreshedAt,
      ...counts,
      ...verification,
      ...(state.spec?.podRecovery?.enabled ? { podRecovery: podRecoveryStatus(state) } : {}),
      ...(state.spec && deliversToKubelet(state.spec)
        ? { kubelet: this.options.kubeletDelivery?.snapshot(cred.metadata.name) ?? { served: 0, refused: 0 } }
        : {}),
    });
    if (sameStatus(cred.status, status)) return undefined;
    if (isRoutineChange(cred.status, status)) {
      const waitMs = this.pacer.routineWriteWait(cred.metadata.name, this.options.clock.now());
      if (waitMs > 0) return waitMs;
    }
    try {
      const updated = await this.options.resources.updateStatus(cred, status);
      this.options.caches.credentials.noteWritten(updated);
      logger.debug(
        { namespaces: status.namespaces, resourceVersion: updated.metadata.resourceVersion },
        'status written',
      );
    } catch (err) {
      if (!isKubeError(err, 'NotFound')) throw err;
    }
    return undefined;
  }

  /**
   * One Event summary per kind of change, naming a few namespaces: the first changes after a quiet
   * minute at once, later ones once a minute (changes.ts). Returns when the next held one is due.
   */
  private flushChanges(cred: RegistryCredential, state: CredentialState): number | undefined {
    const { reports, nextDueAt } = state.drainDueChanges(this.options.clock.now(), SERIES_INTERVAL_MS);
    for (const { reason, message, count } of reports) this.options.events.summarize(cred, reason, message, count);
    return nextDueAt;
  }

  /** Namespaces holding a Secret or an SA entry this credential added. */
  private async namespacesWithLeftovers(cred: { metadata: { name: string; uid: string } }): Promise<Set<string>> {
    const found = new Set<string>();
    const name = cred.metadata.name;
    let scanned = 0;
    // Every cached Secret carries our managed-by label, so isOwnedBy's label test also covers a
    // credential that is gone (uid unknown).
    for (const secret of this.options.caches.managedSecrets.list()) {
      if (++scanned % SCAN_SLICE === 0) await nextTurn();
      if (isOwnedBy(secret, cred)) found.add(secret.metadata!.namespace!);
    }
    for (const serviceAccount of this.options.caches.serviceAccounts.list()) {
      if (++scanned % SCAN_SLICE === 0) await nextTurn();
      if (injectedFor(serviceAccount, name).length > 0) found.add(serviceAccount.metadata!.namespace!);
    }
    return found;
  }

  private hasPodsWaitingOnPull(namespace: string): boolean {
    for (const pod of this.options.caches.pods.listIn(namespace)) if (isWaitingOnPull(toSlimPod(pod))) return true;
    return false;
  }

  /** Whether a Secret or an SA entry this credential added is still in the namespace. */
  private hasLeftoversIn(cred: RegistryCredential, namespace: string): boolean {
    for (const secret of this.options.caches.managedSecrets.listIn(namespace)) if (isOwnedBy(secret, cred)) return true;
    for (const serviceAccount of this.options.caches.serviceAccounts.listIn(namespace))
      if (injectedFor(serviceAccount, cred.metadata.name).length > 0) return true;
    return false;
  }

  private hasStaleSecret(cred: RegistryCredential, state: CredentialState, namespace: string): boolean {
    for (const secret of this.options.caches.managedSecrets.listIn(namespace)) {
      if (secret.metadata?.name !== state.secretName && isOwnedBy(secret, cred)) return true;
    }
    return false;
  }

  // ---- namespace keys --------------------------------------------------------------------

  private async reconcileNamespace(
    credentialName: string,
    namespaceName: string,
    logger: Logger,
  ): Promise<ReconcileResult | void> {
    const { caches, queue } = this.options;
    const cred = caches.credentials.get(credentialName);
    const namespace = caches.namespaces.get(namespaceName);
    const state = this.states.get(credentialName);
    const context: WriteContext = { logger, changes: state };
    if (!namespace || isTerminating(namespace)) {
      // Namespaces being deleted are left alone; their content goes with them.
      if (state?.clearFailure(namespaceName) || cred?.metadata.deletionTimestamp)
        this.pacer.namespaceChanged(credentialName, true);
      return;
    }
    if (!cred || cred.metadata.deletionTimestamp) {
      // Cleanup runs even when suspended: deleting the RegistryCredential is an explicit request.
      await this.writer.cleanNamespace(credentialName, cred?.metadata.uid ?? '', namespaceName, context);
      state?.clearFailure(namespaceName);
      if (cred) this.pacer.namespaceChanged(credentialName, true);
      return;
    }
    if (!state || !state.isCurrentFor(cred)) {
      queue.add(credentialKey(credentialName)); // decides again with the current spec, then comes back here
      return;
    }
    const spec = state.spec;
    if (!spec || spec.suspend) return;

    const hadFailure = state.failureIn(namespaceName);
    let wrote: boolean;
    try {
      wrote =
        isNamespaceSelected(namespace, spec) && deliversSecrets(spec)
          ? await this.convergeNamespace(cred, spec, state, namespaceName, context)
          : await this.writer.cleanNamespace(credentialName, cred.metadata.uid, namespaceName, context);
    } catch (err) {
      const failure = failureOf(namespaceName, err);
      state.fail(failure);
      if (hadFailure?.reason !== failure.reason || hadFailure.message !== failure.message) {
        this.options.events.record(cred, 'Warning', failure.reason, `namespace ${namespaceName}: ${failure.message}`);
        this.pacer.namespaceChanged(credentialName, true);
      }
      throw err;
    }
    state.clearFailure(namespaceName);
    const recovery =
      isNamespaceSelected(namespace, spec) && deliversSecrets(spec)
        ? await this.recoverPods(cred, spec, state, namespaceName, logger)
        : { changed: false };
    if (wrote || hadFailure || recovery.changed)
      this.pacer.namespaceChanged(credentialName, hadFailure !== undefined || recovery.changed);
    // A key re-run by the echo of our own write may end the burst: a status pause still pending runs now.
    else this.pacer.namespaceUnchanged(credentialName);
    if (recovery.requeueAfterMs !== undefined) return { requeueAfterMs: recovery.requeueAfterMs };
  }

  /**
   * Stuck-pod recovery in one converged namespace (spec.podRecovery): evict the Pods that fail to
   * pull only because they predate their ServiceAccount's pull secret (podrecovery.ts decides),
   * within the credential's budget per minute; warn about bare ones. A PodDisruptionBudget that
   * refuses an eviction is reported and retried later.
   */
  private async recoverPods(
    cred: RegistryCredential,
    spec: RegistryCredentialSpec,
    state: CredentialState,
    namespace: string,
    logger: Logger,
  ): Promise<{ changed: boolean; requeueAfterMs?: number }> {
    if (!spec.podRecovery?.enabled) return { changed: false };
    const { caches, clock, events, metrics, resources } = this.options;
    const pods = [...caches.pods.listIn(namespace)].map(toSlimPod);
    // Pods no longer Pending (recovered, running, gone) need no memory.
    const pending = new Set(pods.map((pod) => pod.uid));
    for (const [uid, where] of [...state.handledPods])
      if (where === namespace && !pending.has(uid)) state.handledPods.delete(uid);
    const carrying = new Set(
      [...caches.serviceAccounts.listIn(namespace)]
        .filter((sa) => isServiceAccountSelected(sa, spec))
        .filter((sa) => (sa.imagePullSecrets ?? []).some((reference) => reference.name === state.secretName))
        .map((sa) => sa.metadata!.name!),
    );
    const actions = podsToRecover({
      pods,
      secretName: state.secretName,
      servers: Object.keys(state.sources.auths ?? {}),
      carryingServiceAccounts: carrying,
      handled: new Set(state.handledPods.keys()),
    });
    let changed = false;
    let retryInMs: number | undefined;
    const later = (ms: number) => (retryInMs = Math.min(retryInMs ?? ms, ms));
    for (const action of actions) {
      const { pod } = action;
      // refused before: not again until its retry time
      const blockedUntil = state.blockedEvictions.get(pod.uid)?.retryAt ?? 0;
      if (blockedUntil > clock.now()) {
        later(blockedUntil - clock.now());
        continue;
      }
      const target = { apiVersion: 'v1', kind: 'Pod', metadata: { name: pod.name, namespace, uid: pod.uid } };
      const why = `created before ServiceAccount ${pod.serviceAccountName} carried ${state.secretName}`;
      if (action.kind === 'warnBarePod') {
        events.record(
          target,
          'Warning',
          'PullSecretMissing',
          `${why}, so it cannot pull ${action.images.join(', ')}; it has no controller to recreate it: delete ` +
            `and create it again (RegistryCredential ${cred.metadata.name})`,
        );
        state.handledPods.set(pod.uid, namespace);
        metrics?.podsRecovered.inc({ result: 'warned' });
        continue;
      }
      const perMinute = spec.podRecovery.maxPerMinute;
      if (!this.evictions.take(cred.metadata.name, perMinute, clock.now())) {
        return {
          changed,
          requeueAfterMs: Math.max(1000, this.evictions.waitMs(cred.metadata.name, perMinute, clock.now())),
        };
      }
      try {
        await resources.evictPod(namespace, pod.name, pod.uid);
      } catch (err) {
        if (isKubeError(err, 'NotFound', 'Conflict')) {
          // gone already, or another Pod now has this name: nothing of ours to do
          state.handledPods.set(pod.uid, namespace);
          continue;
        }
        if (err instanceof KubeApiError && err.status === 429) {
          // a PodDisruptionBudget says no: report it, ask again later
          const message = `${namespace}/${pod.name}: ${err.message.replace(/^[^:]*: /, '')}`;
          const before = state.blockedEvictions.get(pod.uid);
          state.blockedEvictions.set(pod.uid, { namespace, message, retryAt: clock.now() + EVICTION_RETRY_MS });
          if (before?.message !== message) {
            changed = true;
            events.record(target, 'Warning', 'EvictionBlocked', `${why}; its eviction was refused: ${err.message}`);
          }
          metrics?.podsRecovered.inc({ result: 'blocked' });
          later(EVICTION_RETRY_MS);
          continue;
        }
        metrics?.podsRecovered.inc({ result: 'failed' });
        throw err;
      }
      logger.info(
        { pod: pod.name, images: action.images },
        'evicted a Pod created before its ServiceAccount carried the pull secret',
      );
      state.handledPods.set(pod.uid, namespace);
      state.blockedEvictions.delete(pod.uid);
      state.recoveredPods++;
      state.recordChange('PodsRecovered', `${namespace}/${pod.name}`);
      events.record(
        target,
        'Normal',
        'PodRecovered',
        `evicted: ${why}; its ${pod.controller!.kind} recreates it with the pull secret (RegistryCredential ` +
          `${cred.metadata.name})`,
      );
      metrics?.podsRecovered.inc({ result: 'evicted' });
      changed = true;
    }
    // Blocked evictions of Pods that are gone or recovered are no longer news.
    for (const [uid, blocked] of [...state.blockedEvictions]) {
      if (blocked.namespace === namespace && !pending.has(uid)) {
        state.blockedEvictions.delete(uid);
        changed = true;
      }
    }
    return retryInMs === undefined ? { changed } : { changed, requeueAfterMs: Math.max(1000, retryInMs) };
  }

  /** Makes the namespace hold the desired Secret and SA entries. Returns whether anything was written. */
  private async convergeNamespace(
    cred: RegistryCredential,
    spec: RegistryCredentialSpec,
    state: CredentialState,
    namespace: string,
    context: WriteContext,
  ): Promise<boolean> {
    const { caches } = this.options;
    const name = state.secretName;
    let wrote = false;
    let secret = caches.managedSecrets.getIn(namespace, name);
    const document = state.document;
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
      const wanted = isServiceAccountSelected(serviceAccount, spec) ? name : undefined;
      wrote = (await this.writer.applyServiceAccount(serviceAccount, cred.metadata.name, wanted, context)) || wrote;
    }
    return wrote;
  }
}

/** The log fields of a key: the RegistryCredential, and the namespace of a namespace key. */
export function logFieldsOf(key: string): Record<string, string> {
  const parsed = parseKey(key);
  return parsed.kind === 'namespace'
    ? { registryCredential: parsed.credential, namespace: parsed.namespace }
    : { registryCredential: parsed.credential };
}

/**
 * Cache scans of a credential key are O(namespaces + ServiceAccounts). Yielding to the event loop
 * every SCAN_SLICE objects bounds how long one scan holds it, whatever the cluster's size: namespace
 * keys (a new namespace's writes) go on meanwhile instead of waiting for the whole scan.
 */
const SCAN_SLICE = 500;
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function failureOf(namespace: string, err: unknown): NamespaceFailure {
  if (err instanceof NamespaceFailureError) return { namespace, reason: err.reason, message: err.message };
  if (err instanceof KubeApiError) return { namespace, reason: `API${err.kind}`, message: err.message };
  return { namespace, reason: 'Error', message: (err as Error).message ?? String(err) };
}

/** The PodRecovery condition: False while a PodDisruptionBudget refuses an eviction. */
function podRecoveryStatus(state: CredentialState): { condition: ConditionInput; recoveredPods: number } {
  const blocked = [...state.blockedEvictions.values()].sort((a, b) => a.message.localeCompare(b.message));
  const evicted = `${state.recoveredPods} Pod${state.recoveredPods === 1 ? '' : 's'} evicted so far`;
  const condition: ConditionInput = blocked.length
    ? {
        type: 'PodRecovery',
        status: 'False',
        reason: 'EvictionBlocked',
        message:
          `${blocked.length} eviction${blocked.length === 1 ? '' : 's'} refused, retried every 30 s; ` +
          `first: ${blocked[0].message} (${evicted})`,
      }
    : { type: 'PodRecovery', status: 'True', reason: 'Enabled', message: evicted };
  return { condition, recoveredPods: state.recoveredPods };
}

/** How long before a Pod whose eviction a PodDisruptionBudget refused is tried again. */
const EVICTION_RETRY_MS = 30_000;

/** The PEM of a CA Secret's ca.crt, or why it cannot be used (named, never its content). */
function caFromSecret(
  secret: { data?: Record<string, string> } | undefined,
  namespace: string,
  name: string,
): { pem: string } | { problem: string } {
  if (!secret) return { problem: `verify.caSecretName: Secret ${namespace}/${name} not found` };
  const encoded = secret.data?.['ca.crt'];
  if (!encoded) return { problem: `verify.caSecretName: Secret ${namespace}/${name} has no key ca.crt` };
  const pem = Buffer.from(encoded, 'base64').toString('utf8');
  try {
    new X509Certificate(pem);
  } catch {
    return { problem: `verify.caSecretName: ca.crt of Secret ${namespace}/${name} is not a PEM certificate` };
  }
  return { pem };
}
