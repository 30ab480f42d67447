// The readiness controller: r/<credential> keys. Counts what the namespace keys achieved, turns the
// verifier's latest outcomes into status rows, gathers the PodRecovery and kubelet reports, and
// writes the status when it changed; the reporting layer (reporting.ts) says when it runs and
// whether a routine write is held. It writes nothing but the status subresource and Events.
// read (the API object, the published decision, the namespace and pod-recovery outcomes, the
// caches) -> decide (surveyNamespaces, computeStatus: pure) -> apply (the status write) -> report.
import { X509Certificate } from 'node:crypto';
import type { Logger } from 'pino';
import type { Auths } from '../dockerconfig.js';
import {
  deliversToKubelet,
  type KubeletDeliveryStatus,
  type NamespaceFailure,
  type RegistryCredential,
  type RegistryVerification,
} from '../api/v1alpha1.js';
import { isKubeError } from '../k8s/errors.js';
import type { Resources } from '../k8s/resources.js';
import type { Metrics } from '../metrics.js';
import type { Verifier } from '../registry/verifier.js';
import type { Clock } from '../runtime/clock.js';
import type { ReconcileResult } from '../runtime/workerpool.js';
import type { Providers } from '../providers/index.js';
import type { Caches } from './caches.js';
import type { IdentityUsers } from './identityusers.js';
import { credentialKey, type Enqueuer } from './keys.js';
import type { CredentialDecision, Decisions } from './credentialstate.js';
import type { NamespaceOutcomes } from './namespacefailures.js';
import { surveyCachedNamespaces } from './namespacescan.js';
import { podRecoveryStatus, type PodRecoverySnapshot } from './podrecovery.js';
import type { Reporting } from './reporting.js';
import { computeStatus, type ConditionInput, isRoutineChange, sameStatus } from './status.js';
import { credentialsVerifiedCondition, registryRows, verificationEvents, verificationPlans } from './verification.js';

export interface ReadinessControllerOptions {
  resources: Resources;
  caches: Caches;
  clock: Clock;
  reporting: Reporting;
  metrics?: Metrics;
  sourceNamespace: string;
  decisions: Decisions;
  outcomes: NamespaceOutcomes;
  podRecovery: { podRecoveryOf(cred: RegistryCredential): PodRecoverySnapshot };
  /** Checks every credential against its registry (off the reconcile path); absent: verification is off. */
  verifier?: Verifier;
  /** Per request of a registry check. */
  registryCheckTimeoutMs?: number;
  /** What the kubelet endpoint served per credential (kubelet/ledger.ts), for status.kubelet. */
  kubeletDelivery?: { snapshot(credential: string): KubeletDeliveryStatus | undefined };
  /** Owned credentials: delivery is confirmed to their providers, a due revocation queues the credential key. */
  owned?: { providers: Providers; users: IdentityUsers; queue: Enqueuer };
}

interface VerificationReport {
  registries?: RegistryVerification[];
  credentialsVerified: ConditionInput;
}

export class ReadinessController {
  constructor(private readonly options: ReadinessControllerOptions) {}

  reconcile = async (name: string, logger: Logger): Promise<ReconcileResult | void> => {
    const { caches, clock, reporting, metrics, verifier } = this.options;
    const cred = caches.credentials.get(name);
    if (!cred) {
      reporting.forget(name);
      verifier?.forget(name);
      metrics?.forgetCredential(name);
      return;
    }
    const decision = this.options.decisions.decisionOf(name);
    // Being deleted, or not decided for this object yet: the credential key reports when it has decided.
    if (cred.metadata.deletionTimestamp || !decision || decision.uid !== cred.metadata.uid) return;
    if ((cred.metadata.generation ?? 0) !== decision.generation && decision.spec !== undefined) return;
    const started = clock.now();
    let settled = false;
    try {
      const report = await this.report(cred, decision, logger);
      settled = report.settled;
      return report.result;
    } finally {
      // the cost of this recount paces the next one
      reporting.recounted(name, clock.now() - started, settled);
    }
  };

  /** Every selected copy carries `auths`: the owned credentials' old ones may be revoked once every user says so. */
  private confirmDelivered(cred: RegistryCredential, auths: Auths): void {
    const { owned } = this.options;
    if (!owned) return;
    const identities = owned.users.identitiesOf(cred);
    if (identities.length === 0) return;
    // One resolve of any user revokes for the identity (its state is shared).
    if (owned.providers.confirmDelivered(cred.metadata.name, identities, auths, (key) => owned.users.usersOf(key)))
      owned.queue.add(credentialKey(cred.metadata.name));
  }

  private async report(
    cred: RegistryCredential,
    decision: CredentialDecision,
    logger: Logger,
  ): Promise<{ result: ReconcileResult | void; settled: boolean }> {
    const { caches, metrics, reporting } = this.options;
    const name = cred.metadata.name;
    const spec = decision.spec;
    if (!spec) {
      const held = await this.writeStatus(
        cred,
        decision,
        { selected: 0, ready: 0, failures: [] },
        this.notVerified(name),
        logger,
      );
      return { result: held === undefined ? undefined : { requeueAfterMs: held }, settled: false };
    }
    const uid = cred.metadata.uid;
    const { outcomes } = this.options;
    const failed = (namespace: string) => outcomes.failureIn(name, uid, namespace) !== undefined;
    const survey = await surveyCachedNamespaces(caches, cred, decision, failed);
    const selected = new Set(survey.selected);
    // Failures of namespaces that left the selection or are gone no longer count.
    const failures: NamespaceFailure[] = outcomes
      .failuresOf(name, uid)
      .filter((failure) => selected.has(failure.namespace));
    if (!spec.suspend && decision.sources.auths && failures.length === 0 && survey.ready === survey.selected.length)
      this.confirmDelivered(cred, decision.sources.auths);
    const verification = this.verify(cred, decision);
    const settled =
      !spec.suspend &&
      !decision.sources.failure &&
      failures.length === 0 &&
      survey.ready === survey.selected.length &&
      cred.status?.observedGeneration === decision.generation;
    metrics?.namespaces.set({ credential: name, state: 'selected' }, survey.selected.length);
    metrics?.namespaces.set({ credential: name, state: 'ready' }, survey.ready);
    metrics?.namespaces.set({ credential: name, state: 'failed' }, failures.length);
    const statusHeldMs = await this.writeStatus(
      cred,
      decision,
      { selected: survey.selected.length, ready: survey.ready, failures },
      verification,
      logger,
    );
    const changesDueAt = reporting.reportDueChanges(cred);
    const now = this.options.clock.now();
    // Time-based work: a held change summary, or a held routine status write.
    const due = [changesDueAt === undefined ? undefined : Math.max(0, changesDueAt - now), statusHeldMs].filter(
      (ms): ms is number => ms !== undefined,
    );
    return { result: due.length > 0 ? { requeueAfterMs: Math.min(...due) } : undefined, settled };
  }

  /**
   * Declares this credential's checks to the verifier (they run elsewhere) and turns their latest
   * outcomes into status rows, the condition, Events and metrics.
   */
  private verify(cred: RegistryCredential, decision: CredentialDecision): VerificationReport {
    const { verifier, metrics, reporting, caches, sourceNamespace } = this.options;
    const name = cred.metadata.name;
    const { auths, origins } = decision.sources;
    if (!auths || !origins || !decision.spec) return this.notVerified(name);
    const plans = verificationPlans(decision.spec, auths, origins, {
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
      reporting.events.record(cred, event.type, event.reason, event.message);
    metrics?.setRegistryVerification(name, rows);
    return { registries: rows, credentialsVerified: credentialsVerifiedCondition(rows, true) };
  }

  private notVerified(name: string): VerificationReport {
    this.options.verifier?.forget(name);
    return { credentialsVerified: credentialsVerifiedCondition([], false) };
  }

  /** Writes the status if it changed. Returns how long a routine change is held (reporting.ts), if it is. */
  private async writeStatus(
    cred: RegistryCredential,
    decision: CredentialDecision,
    counts: { selected: number; ready: number; failures: NamespaceFailure[] },
    verification: VerificationReport,
    logger: Logger,
  ): Promise<number | undefined> {
    const { sources, spec } = decision;
    const { clock, reporting } = this.options;
    const status = computeStatus(cred.status, {
      generation: cred.metadata.generation ?? 0,
      now: clock.now(),
      specError: decision.specError,
      suspended: spec?.suspend ?? false,
      sourceFailure: sources.failure,
      sourcesHeld: sources.failure !== undefined && sources.document === undefined,
      sourceWarning: sources.warning,
      credentialsExpireAt: sources.tokens.expiresAt,
      lastRefreshTime: sources.tokens.refreshedAt,
      ...counts,
      ...verification,
      ...(spec?.podRecovery?.enabled
        ? { podRecovery: podRecoveryStatus(this.options.podRecovery.podRecoveryOf(cred)) }
        : {}),
      ...(spec && deliversToKubelet(spec)
        ? { kubelet: this.options.kubeletDelivery?.snapshot(cred.metadata.name) ?? { served: 0, refused: 0 } }
        : {}),
    });
    if (sameStatus(cred.status, status)) return undefined;
    const write = reporting.statusWrite(cred.metadata.name, isRoutineChange(cred.status, status), clock.now());
    if (!write.write) {
      logger.debug({ heldMs: write.heldMs, why: write.why }, 'status write held');
      return write.heldMs;
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
}

/** The PEM of a CA Secret's ca.crt, or why it cannot be used (named, never its content). */
export function caFromSecret(
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
