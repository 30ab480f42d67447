// Pure: the status a RegistryCredential should show, from what the last reconcile saw.
// Conditions carry observedGeneration; lastTransitionTime moves only when a status flips.
import {
  type Condition,
  iso,
  type KubeletDeliveryStatus,
  type NamespaceFailure,
  type RegistryCredentialStatus,
  type RegistryVerification,
} from '../api/v1alpha1.js';

export const MAX_FAILURES = 20;
const MAX_MESSAGE = 1024;

export interface StatusInput {
  generation: number;
  now: number;
  /** The spec failed operator-side validation. */
  specError?: string;
  suspended: boolean;
  /** First failing source, if any. */
  sourceFailure?: { reason: string; message: string };
  /** A failed source has no last good value: no Secret is created or changed until it is fixed. */
  sourcesHeld?: boolean;
  /** Sources resolved, but something deserves attention (e.g. a token of unknown expiry). */
  sourceWarning?: { reason: string; message: string };
  selected: number;
  ready: number;
  failures: NamespaceFailure[];
  credentialsExpireAt?: number;
  lastRefreshTime?: number;
  /** The verification of each registry, and the CredentialsVerified condition (controller/verification.ts). */
  registries?: RegistryVerification[];
  credentialsVerified?: ConditionInput;
  /** Stuck-pod recovery, when enabled: the PodRecovery condition and the eviction count. */
  podRecovery?: { condition: ConditionInput; recoveredPods: number };
  /** What the kubelet endpoint of this replica served for the credential (kubelet/ledger.ts), with delivery.kubelet. */
  kubelet?: KubeletDeliveryStatus;
}

export type ConditionInput = Omit<Condition, 'lastTransitionTime' | 'observedGeneration'>;

/** Sets a condition, keeping lastTransitionTime when the status did not change. */
export function setCondition(
  conditions: Condition[],
  next: ConditionInput,
  generation: number,
  now: number,
): Condition[] {
  const prev = conditions.find((existing) => existing.type === next.type);
  const lastTransitionTime = prev && prev.status === next.status ? prev.lastTransitionTime : iso(now);
  const message = next.message.length > MAX_MESSAGE ? `${next.message.slice(0, MAX_MESSAGE - 1)}…` : next.message;
  const condition: Condition = {
    type: next.type,
    status: next.status,
    observedGeneration: generation,
    lastTransitionTime,
    reason: next.reason,
    message,
  };
  return [...conditions.filter((existing) => existing.type !== next.type), condition];
}

export function computeStatus(
  prev: RegistryCredentialStatus | undefined,
  input: StatusInput,
): RegistryCredentialStatus {
  const { generation, now } = input;
  const failures = [...input.failures].sort((a, b) => a.namespace.localeCompare(b.namespace));
  const failed = failures.length;
  let conditions = prev?.conditions ?? [];

  let sources: ConditionInput;
  if (input.specError)
    sources = { type: 'SourcesReady', status: 'False', reason: 'InvalidSpec', message: input.specError };
  else if (input.sourceFailure) {
    const held = input.sourcesHeld
      ? ' Existing Secrets are kept unchanged and none is created until the source is fixed.'
      : ' The last good value of this source keeps being served.';
    sources = {
      type: 'SourcesReady',
      status: 'False',
      reason: input.sourceFailure.reason,
      message: input.sourceFailure.message + held,
    };
  } else if (input.sourceWarning)
    sources = {
      type: 'SourcesReady',
      status: 'True',
      reason: input.sourceWarning.reason,
      message: input.sourceWarning.message,
    };
  else
    sources = { type: 'SourcesReady', status: 'True', reason: 'Resolved', message: 'every registry source resolved' };

  let propagated: ConditionInput;
  if (input.specError)
    propagated = {
      type: 'Propagated',
      status: 'False',
      reason: 'InvalidSpec',
      message: 'nothing is propagated while the spec is invalid',
    };
  else if (failed > 0) {
    const first = failures[0]!;
    propagated = {
      type: 'Propagated',
      status: 'False',
      reason: first.reason,
      message: `${failed} of ${input.selected} namespaces failed; first: ${first.namespace}: ${first.message}`,
    };
  } else if (input.ready < input.selected) {
    propagated = {
      type: 'Propagated',
      status: 'False',
      reason: 'Progressing',
      message: `${input.ready} of ${input.selected} namespaces ready`,
    };
  } else
    propagated = {
      type: 'Propagated',
      status: 'True',
      reason: 'AllNamespacesReady',
      message: `${input.ready} of ${input.selected} namespaces ready`,
    };

  let ready: ConditionInput;
  if (input.suspended)
    ready = {
      type: 'Ready',
      status: 'False',
      reason: 'Suspended',
      message: 'spec.suspend is true: nothing is changed or deleted',
    };
  else if (sources.status !== 'True')
    ready = { type: 'Ready', status: 'False', reason: sources.reason, message: sources.message };
  else if (propagated.status !== 'True')
    ready = { type: 'Ready', status: 'False', reason: propagated.reason, message: propagated.message };
  else if (input.selected === 0) {
    // Vacuously converged (a selector for namespaces still to come is legitimate), but say so: a typo looks the same.
    ready = {
      type: 'Ready',
      status: 'True',
      reason: 'Ready',
      message: 'no namespace is selected: namespaceSelector and excludeNamespaces match no namespace (yet)',
    };
  } else
    ready = {
      type: 'Ready',
      status: 'True',
      reason: 'Ready',
      message: `pull secret present in ${input.ready} namespaces`,
    };

  for (const condition of [ready, sources, propagated])
    conditions = setCondition(conditions, condition, generation, now);
  if (input.credentialsVerified) conditions = setCondition(conditions, input.credentialsVerified, generation, now);
  if (input.podRecovery) conditions = setCondition(conditions, input.podRecovery.condition, generation, now);
  else conditions = conditions.filter((condition) => condition.type !== 'PodRecovery');
  const order = ['Ready', 'SourcesReady', 'Propagated', 'CredentialsVerified', 'PodRecovery'];
  conditions.sort((a, b) => order.indexOf(a.type) - order.indexOf(b.type));

  const status: RegistryCredentialStatus = {
    observedGeneration: generation,
    conditions,
    namespaces: { selected: input.selected, ready: input.ready, failed },
    namespaceSummary: `${input.ready}/${input.selected}`,
    failures: failures
      .slice(0, MAX_FAILURES)
      .map((failure) => ({ ...failure, message: failure.message.slice(0, MAX_MESSAGE) })),
  };
  if (input.registries?.length) status.registries = input.registries;
  if (input.podRecovery) status.recoveredPods = input.podRecovery.recoveredPods;
  if (input.credentialsExpireAt !== undefined) status.credentialsExpireAt = iso(input.credentialsExpireAt);
  if (input.lastRefreshTime !== undefined) status.lastRefreshTime = iso(input.lastRefreshTime);
  if (input.kubelet) status.kubelet = input.kubelet;
  return status;
}

/**
 * Whether going from `prev` to `next` is routine, i.e. may wait for the credential's status pace
 * (statuspacing.ts): only counts and the messages that quote them change, or Ready/Propagated go
 * from True to Progressing (a namespace that has just joined, normally served within moments).
 * Anything else is news and is written at once: a first status, a new generation, a condition
 * that flips otherwise (a failure, a source problem, the end of a fan-out), failures, registries,
 * token times, recovered Pods. What the kubelet endpoint served (counts) is routine.
 */
export function isRoutineChange(prev: RegistryCredentialStatus | undefined, next: RegistryCredentialStatus): boolean {
  if (!prev?.conditions?.length || prev.observedGeneration !== next.observedGeneration) return false;
  const rest = (status: RegistryCredentialStatus) => ({
    ...status,
    conditions: undefined,
    namespaces: undefined,
    namespaceSummary: undefined,
    kubelet: undefined,
  });
  if (!sameStatus(rest(prev), rest(next))) return false;
  const types = new Set([...prev.conditions, ...(next.conditions ?? [])].map((condition) => condition.type));
  for (const type of types) {
    const before = prev.conditions.find((condition) => condition.type === type);
    const after = next.conditions?.find((condition) => condition.type === type);
    if (!before || !after) return false;
    if (before.status === after.status && before.reason === after.reason) continue;
    const toProgressing = before.status === 'True' && after.status === 'False' && after.reason === 'Progressing';
    if (!(toProgressing && (type === 'Ready' || type === 'Propagated'))) return false;
  }
  return true;
}

export function sameStatus(a: RegistryCredentialStatus | undefined, b: RegistryCredentialStatus): boolean {
  return canonical(a ?? {}) === canonical(b);
}

function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, node: unknown) =>
    node && typeof node === 'object' && !Array.isArray(node)
      ? Object.fromEntries(
          Object.entries(node as Record<string, unknown>)
            .filter(
              ([, fieldValue]) => fieldValue !== undefined && !(Array.isArray(fieldValue) && fieldValue.length === 0),
            )
            .sort(([left], [right]) => left.localeCompare(right)),
        )
      : node,
  );
}
