// Pure: the namespaces the API server must call the webhook for, and the namespaceSelector that
// says so. A namespace is in scope when a RegistryCredential with injection: Pods (delivering
// Secrets, not suspended, not being deleted) selects it; that is a superset of the Pods the
// webhook can change (decideInjection also asks for the ServiceAccount, the images and the copy).
//
// The selector the configuration already has (the chart's exclusions, the user's own labels) is
// kept: the scope is one more matchExpression on the label every namespace carries,
// kubernetes.io/metadata.name: `In` the names, or `DoesNotExist` (no namespace) when none is in
// scope, since `In` needs at least one value. Expressions on that key with `In` or `DoesNotExist`
// are the scope's own; `NotIn` (the exclusions) is never touched. Beyond `maxNamespaces` names the
// scope expression is left out (the webhook is called for every namespace the rest selects): the
// configuration stays small, and the webhook still decides each Pod.
import type { V1LabelSelector, V1LabelSelectorRequirement, V1Namespace } from '@kubernetes/client-node';
import { deliversSecrets, injectsIntoPods, type RegistryCredentialSpec } from '../api/v1alpha1.js';
import { isNamespaceSelected, isTerminating } from '../controller/desired.js';

export const SCOPE_LABEL = 'kubernetes.io/metadata.name';
export const MAX_SCOPE_NAMESPACES = 1000;

export interface ScopeCredential {
  /** undefined: the spec does not parse (it selects nothing). */
  spec?: RegistryCredentialSpec;
  deleting: boolean;
}

/** The sorted names of the namespaces in scope, or undefined when more than `max` are (no narrowing). */
export function scopeNamespaces(
  credentials: Iterable<ScopeCredential>,
  namespaces: Iterable<V1Namespace>,
  max = MAX_SCOPE_NAMESPACES,
): string[] | undefined {
  const injecting = [...credentials]
    .filter(
      (cred) =>
        !cred.deleting && cred.spec && injectsIntoPods(cred.spec) && deliversSecrets(cred.spec) && !cred.spec.suspend,
    )
    .map((cred) => cred.spec!);
  const names: string[] = [];
  if (injecting.length > 0)
    for (const ns of namespaces) {
      const name = ns.metadata?.name;
      if (!name || isTerminating(ns)) continue;
      if (injecting.some((spec) => isNamespaceSelected(ns, spec))) names.push(name);
    }
  if (names.length > max) return undefined;
  return names.sort();
}

function isScopeExpression(requirement: V1LabelSelectorRequirement): boolean {
  return requirement.key === SCOPE_LABEL && (requirement.operator === 'In' || requirement.operator === 'DoesNotExist');
}

/** `current` with its scope expression replaced by one for `names` (undefined: none, no narrowing). */
export function scopedSelector(current: V1LabelSelector | undefined, names: string[] | undefined): V1LabelSelector {
  const kept = (current?.matchExpressions ?? []).filter((requirement) => !isScopeExpression(requirement));
  const scope: V1LabelSelectorRequirement[] =
    names === undefined
      ? []
      : names.length === 0
        ? [{ key: SCOPE_LABEL, operator: 'DoesNotExist' }]
        : [{ key: SCOPE_LABEL, operator: 'In', values: names }];
  const matchExpressions = [...kept, ...scope];
  return {
    ...(current?.matchLabels && Object.keys(current.matchLabels).length > 0
      ? { matchLabels: current.matchLabels }
      : {}),
    ...(matchExpressions.length > 0 ? { matchExpressions } : {}),
  };
}

/** Whether two selectors select the same (same labels, same expressions in the same order, values as sets). */
export function sameSelector(a: V1LabelSelector | undefined, b: V1LabelSelector | undefined): boolean {
  const labels = (selector?: V1LabelSelector) =>
    JSON.stringify(Object.entries(selector?.matchLabels ?? {}).sort(([one], [other]) => one.localeCompare(other)));
  const expressions = (selector?: V1LabelSelector) =>
    JSON.stringify(
      (selector?.matchExpressions ?? []).map((req) => [req.key, req.operator, [...(req.values ?? [])].sort()]),
    );
  return labels(a) === labels(b) && expressions(a) === expressions(b);
}
