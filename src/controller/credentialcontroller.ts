// The credential controller: c/<credential> keys. Resolves the sources, keeps the finalizer,
// publishes the decision (credentialstate.ts) the other controllers act on, and fans out: queues
// the namespace keys that need work. On deletion it queues the cleanup of every namespace, then
// releases the finalizer once nothing of the credential is left.
// read (the caches) -> decide (parseSpec, resolveSources, surveyNamespaces: pure) -> apply
// (finalizer, namespace keys) -> report (source Events and metrics; the readiness key recounts).
import type { Logger } from 'pino';
import {
  credentialNameProblem,
  deliversSecrets,
  FINALIZER,
  injectsIntoPods,
  parseSpec,
  type RegistryCredential,
  type RegistryCredentialSpec,
  targetSecretName,
} from '../api/v1alpha1.js';
import { isKubeError } from '../k8s/errors.js';
import type { Resources } from '../k8s/resources.js';
import type { Metrics } from '../metrics.js';
import type { Providers } from '../providers/index.js';
import type { Clock } from '../runtime/clock.js';
import type { ReconcileResult } from '../runtime/workerpool.js';
import { parseDockerConfigSecret, type Auths } from '../dockerconfig.js';
import type { Caches } from './caches.js';
import { isOwnedBy } from './desired.js';
import type { IdentityUsers } from './identityusers.js';
import { type CredentialDecision, type CredentialState, CredentialStates, type Decisions } from './credentialstate.js';
import { type Enqueuer, namespaceKey } from './keys.js';
import type { NamespaceOutcomes } from './namespacefailures.js';
import { namespacesWithLeftovers, type NamespaceSurvey, surveyCachedNamespaces } from './namespacescan.js';
import type { Reporting } from './reporting.js';
import { resolveSources } from './resolve.js';

export interface CredentialControllerOptions {
  resources: Resources;
  caches: Caches;
  queue: Enqueuer;
  clock: Clock;
  reporting: Reporting;
  metrics?: Metrics;
  sourceNamespace: string;
  /** Where credentials come from: one provider per source kind (the token providers hold the shared token caches). */
  providers: Providers;
  /** What namespace keys found (their failures), read for the fan-out. */
  outcomes: NamespaceOutcomes;
  /** Whether this operator serves the admission webhook of injection: Pods (--webhook-bind-address). */
  podInjection?: boolean;
  /** Which RegistryCredentials use each owned-credential identity (released on the last one's deletion). */
  identityUsers?: IdentityUsers;
}

/** Pure: the namespace keys a fan-out queues, from the survey of the credential's namespaces. */
export function namespacesToQueue(
  survey: NamespaceSurvey,
  spec: RegistryCredentialSpec,
  specChanged: boolean,
): Set<string> {
  const out = new Set<string>();
  if (spec.suspend) return out;
  // A failed namespace is retried with its key's backoff; a new spec tries it again at once.
  for (const { name, failed } of survey.unconverged)
    if (!failed || specChanged || !deliversSecrets(spec)) out.add(name);
  const selected = new Set(survey.selected);
  // Leftovers: namespaces that left the selection, or Secrets under a previous secretName.
  for (const name of survey.withLeftovers)
    if (!selected.has(name) || !deliversSecrets(spec) || survey.withStaleSecret.has(name)) out.add(name);
  return out;
}

export class CredentialController {
  private readonly states = new CredentialStates();
  private readonly listeners: Array<(credential: string, decision: CredentialDecision) => void> = [];

  constructor(private readonly options: CredentialControllerOptions) {}

  /** The latest decision per credential, read-only. */
  get decisions(): Decisions {
    return this.states;
  }

  /** Calls `listener` whenever a credential's decision changes what its Pods are recovered for (mappers.ts). */
  onDecision(listener: (credential: string, decision: CredentialDecision) => void): void {
    this.listeners.push(listener);
  }

  reconcile = async (name: string, logger: Logger): Promise<ReconcileResult | void> => {
    const { caches, queue, reporting } = this.options;
    let cred = caches.credentials.get(name);
    if (!cred) {
      // Gone without our finalizer running (or already released): remove whatever is left.
      this.states.forget(name);
      reporting.recountNow(name);
      for (const namespace of await namespacesWithLeftovers(caches, { metadata: { name, uid: '' } }))
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
      reporting.events.record(cred, 'Warning', 'InvalidSpec', parsed.message);
      reporting.recountNow(name);
      return;
    }
    let spec = parsed.spec;
    if (injectsIntoPods(spec) && !this.options.podInjection) {
      // Without the webhook, Pods would get no entry: the ServiceAccounts keep theirs.
      reporting.events.record(
        cred,
        'Warning',
        'PodInjectionUnavailable',
        'spec.injection is Pods but this operator serves no admission webhook (--webhook-bind-address): ' +
          'ServiceAccounts keep their entries',
      );
      spec = { ...spec, injection: 'ServiceAccounts' };
    }
    const before = state.decision;
    const specChanged = state.decide(cred, spec, targetSecretName(cred, spec));

    if (!(cred.metadata.finalizers ?? []).includes(FINALIZER)) {
      cred = await this.options.resources.setFinalizers(cred, [...(cred.metadata.finalizers ?? []), FINALIZER]);
      caches.credentials.noteWritten(cred);
    }

    await this.resolveSourcesOf(cred, spec, state, logger);
    if (recoversFor(before) !== recoversFor(state.decision))
      for (const listener of this.listeners) listener(name, state.decision);

    // Fan out: the namespaces that need work.
    const uid = cred.metadata.uid;
    const failed = (namespace: string) => this.options.outcomes.failureIn(name, uid, namespace) !== undefined;
    const survey = await surveyCachedNamespaces(caches, cred, state.decision, failed);
    for (const namespace of namespacesToQueue(survey, spec, specChanged)) queue.add(namespaceKey(name, namespace));

    // Report.
    const { metrics } = this.options;
    const sourceFailure = state.sources.failure;
    if (sourceFailure) {
      metrics?.sourceFailures.inc({ credential: name, reason: sourceFailure.reason });
      reporting.events.record(cred, 'Warning', sourceFailure.reason, sourceFailure.message);
    }
    reporting.recountNow(name);
    const now = this.options.clock.now();
    const tokens = state.sources.tokens;
    if (tokens.expiresAt !== undefined)
      metrics?.secondsUntilExpiry.set({ credential: name }, (tokens.expiresAt - now) / 1000);
    else metrics?.secondsUntilExpiry.remove({ credential: name });
    // Time-based work: come back when a token is due for renewal or a failed renewal for a retry.
    if (tokens.nextCheckAt !== undefined && !spec.suspend)
      return { requeueAfterMs: Math.max(1000, tokens.nextCheckAt - now) };
  };

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
      carried: state.lastGood.size === 0 ? this.carriedBy(cred, spec) : undefined,
    });
    const { warning, failure } = resolution;
    if (warning && warning.message !== previousWarning?.message)
      this.options.reporting.events.record(cred, 'Warning', warning.reason, warning.message);
    state.setSources(resolution);
    if (failure) logger.warn({ reason: failure.reason, held }, 'registry source failed');
  }

  /**
   * The distinct auths the credential's existing copies carry: after a start, providers that own
   * their credentials adopt the one they find there. Only read while nothing has resolved yet.
   */
  private carriedBy(cred: RegistryCredential, spec: RegistryCredentialSpec): Auths[] | undefined {
    const { caches, identityUsers } = this.options;
    if (!identityUsers || identityUsers.identitiesOf(cred).length === 0) return undefined;
    const documents = new Map<string, Auths>();
    const name = targetSecretName(cred, spec);
    for (const secret of caches.managedSecrets.list()) {
      if (secret.metadata?.name !== name || !isOwnedBy(secret, cred)) continue;
      const data = secret.data?.['.dockerconfigjson'];
      if (data === undefined || documents.has(data)) continue;
      try {
        documents.set(data, parseDockerConfigSecret(secret.type, secret.data));
      } catch {
        // a copy edited into something unreadable is rewritten; nothing to adopt from it
      }
    }
    return [...documents.values()];
  }

  /**
   * Deletes the owned credentials of identities no other RegistryCredential uses. A failure that may
   * pass (the API unreachable) keeps the finalizer and retries with backoff; one that will not (the
   * admin Secret gone, no rights) is reported and the deletion goes on: the credentials expire.
   */
  private async releaseOwned(cred: RegistryCredential, logger: Logger): Promise<void> {
    const { identityUsers, providers, sourceNamespace, caches, reporting } = this.options;
    if (!identityUsers) return;
    const secrets = {
      namespace: sourceNamespace,
      get: (secretName: string) => caches.sourceSecrets.getIn(sourceNamespace, secretName),
    };
    for (const owned of identityUsers.identitiesOf(cred)) {
      if (identityUsers.usersOf(owned.key, cred.metadata.name).size > 0) continue;
      const outcome = await providers.release(owned, secrets);
      if (outcome.ok) {
        if (outcome.deleted > 0)
          reporting.events.record(
            cred,
            'Normal',
            'CredentialsRevoked',
            `deleted ${outcome.deleted} ${owned.kind} credential(s) the operator owned for this RegistryCredential`,
          );
        continue;
      }
      const message = `${owned.kind}: could not delete the credentials the operator owns: ${outcome.message}`;
      reporting.events.record(cred, 'Warning', outcome.reason, outcome.retry ? `${message}; retrying` : message);
      logger.warn({ reason: outcome.reason, retry: outcome.retry }, 'owned credentials not released');
      if (outcome.retry) throw new Error(`${outcome.reason}: ${outcome.message}`);
    }
  }

  private async finalize(cred: RegistryCredential, logger: Logger): Promise<void> {
    if (!(cred.metadata.finalizers ?? []).includes(FINALIZER)) return;
    const { caches, reporting } = this.options;
    const leftovers = await namespacesWithLeftovers(caches, cred);
    if (leftovers.size > 0) {
      for (const namespace of leftovers) this.options.queue.add(namespaceKey(cred.metadata.name, namespace));
      return;
    }
    await this.releaseOwned(cred, logger);
    reporting.reportAllChanges(cred);
    reporting.events.record(
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
      caches.credentials.noteWritten(updated);
    } catch (err) {
      if (!isKubeError(err, 'NotFound')) throw err;
    }
    logger.info('cleanup finished; finalizer removed');
    this.states.forget(cred.metadata.name);
    reporting.recountNow(cred.metadata.name);
  }
}

/** What a decision means for stuck-pod recovery: it is recovered for this (empty: not at all). */
function recoversFor(decision: CredentialDecision): string {
  const { spec } = decision;
  if (!spec?.podRecovery?.enabled || spec.suspend || !deliversSecrets(spec)) return '';
  return JSON.stringify([
    decision.uid,
    decision.generation,
    decision.secretName,
    Object.keys(decision.sources.auths ?? {}),
  ]);
}
