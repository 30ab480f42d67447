// Pure: which namespaces and ServiceAccounts a RegistryCredential selects, and the Secret each
// selected namespace should hold.
import type { V1Namespace, V1OwnerReference, V1Secret, V1ServiceAccount } from '@kubernetes/client-node';
import {
  API_VERSION,
  injectsIntoPods,
  KIND,
  LABEL_CREDENTIAL,
  LABEL_MANAGED_BY,
  type LabelSelector,
  MANAGED_BY,
  type RegistryCredential,
  type RegistryCredentialSpec,
  type SecretTemplate,
} from '../api/v1alpha1.js';
import { nameMatcher } from './namepatterns.js';
import { serviceAccountEdit } from './serviceaccounts.js';
import { templatedMetadata, withTemplate } from './secrettemplate.js';

export const DOCKERCONFIG_TYPE = 'kubernetes.io/dockerconfigjson';
export const DOCKERCONFIG_KEY = '.dockerconfigjson';

export function matchesSelector(
  labels: Record<string, string> | undefined,
  selector: LabelSelector | undefined,
): boolean {
  if (!selector) return true;
  const actual = labels ?? {};
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) if (actual[key] !== value) return false;
  for (const req of selector.matchExpressions ?? []) {
    const has = Object.prototype.hasOwnProperty.call(actual, req.key);
    const values = req.values ?? [];
    switch (req.operator) {
      case 'In':
        if (!has || !values.includes(actual[req.key]!)) return false;
        break;
      case 'NotIn':
        if (has && values.includes(actual[req.key]!)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
    }
  }
  return true;
}

export function isTerminating(ns: V1Namespace): boolean {
  return !!ns.metadata?.deletionTimestamp || ns.status?.phase === 'Terminating';
}

/** What a spec selects, compiled once per parsed spec (its name patterns become matchers). */
interface Targets {
  namespace(ns: V1Namespace): boolean;
  serviceAccount(sa: V1ServiceAccount): boolean;
}

const compiledTargets = new WeakMap<RegistryCredentialSpec, Targets>();

function targetsOf(spec: RegistryCredentialSpec): Targets {
  let targets = compiledTargets.get(spec);
  if (!targets) {
    targets = compileTargets(spec);
    compiledTargets.set(spec, targets);
  }
  return targets;
}

function compileTargets(spec: RegistryCredentialSpec): Targets {
  const excludedNamespace = nameMatcher(spec.excludeNamespaces);
  const namedNamespace = spec.namespaceNames ? nameMatcher(spec.namespaceNames) : () => true;
  const excludedServiceAccounts = new Set(spec.excludeServiceAccounts);
  const everyServiceAccount = spec.serviceAccounts.includes('*');
  const listedServiceAccounts = new Set(spec.serviceAccounts);
  const saSelector = spec.serviceAccountSelector;
  return {
    namespace(ns) {
      const name = ns.metadata?.name ?? '';
      if (isTerminating(ns) || excludedNamespace(name) || !namedNamespace(name)) return false;
      return matchesSelector(ns.metadata?.labels, spec.namespaceSelector);
    },
    serviceAccount(sa) {
      const name = sa.metadata?.name ?? '';
      if (excludedServiceAccounts.has(name)) return false;
      if (everyServiceAccount || listedServiceAccounts.has(name)) return true;
      return saSelector !== undefined && matchesSelector(sa.metadata?.labels, saSelector);
    },
  };
}

/**
 * Selected = not being deleted, not excluded (by name or pattern), matching one of namespaceNames
 * when it is set, and matching the selector.
 */
export function isNamespaceSelected(ns: V1Namespace, spec: RegistryCredentialSpec): boolean {
  return targetsOf(spec).namespace(ns);
}

/**
 * An SA gets our entry when it is listed (or the list is ["*"]) or matches serviceAccountSelector,
 * and is not in excludeServiceAccounts, which wins over both.
 */
export function isServiceAccountSelected(sa: V1ServiceAccount, spec: RegistryCredentialSpec): boolean {
  return targetsOf(spec).serviceAccount(sa);
}

/** Whether the SA should list the copy: selected, and the credential injects into ServiceAccounts (not Pods). */
export function wantsServiceAccountEntry(sa: V1ServiceAccount, spec: RegistryCredentialSpec): boolean {
  return !injectsIntoPods(spec) && isServiceAccountSelected(sa, spec);
}

export function managedLabels(credentialName: string): Record<string, string> {
  return { [LABEL_MANAGED_BY]: MANAGED_BY, [LABEL_CREDENTIAL]: credentialName };
}

export function ownerReferenceFor(cred: RegistryCredential): V1OwnerReference {
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    name: cred.metadata.name,
    uid: cred.metadata.uid,
    controller: true,
    blockOwnerDeletion: false,
  };
}

export function desiredSecret(
  cred: RegistryCredential,
  namespace: string,
  secretName: string,
  document: string,
  template?: SecretTemplate,
): V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: secretName,
      namespace,
      // The operator's labels come last: a template can never override them.
      ...templatedMetadata(template, managedLabels(cred.metadata.name)),
      ownerReferences: [ownerReferenceFor(cred)],
    },
    type: DOCKERCONFIG_TYPE,
    data: { [DOCKERCONFIG_KEY]: Buffer.from(document, 'utf8').toString('base64') },
  };
}

/** A Secret is ours when it carries our labels or our ownerReference (labels can be edited away). */
export function isOwnedBy(secret: V1Secret, cred: { metadata: { name: string; uid: string } }): boolean {
  const labels = secret.metadata?.labels ?? {};
  if (labels[LABEL_MANAGED_BY] === MANAGED_BY && labels[LABEL_CREDENTIAL] === cred.metadata.name) return true;
  return (secret.metadata?.ownerReferences ?? []).some((owner) => owner.uid === cred.metadata.uid);
}

/**
 * What an owned Secret needs to match the desired one: nothing (undefined), or the full object to
 * write. Labels and annotations others added are kept; ours, the template's and the payload are
 * enforced, and template keys taken out of the template are removed (secrettemplate.ts).
 */
export function secretUpdate(existing: V1Secret, desired: V1Secret): V1Secret | undefined {
  const metadata = withTemplate(existing.metadata ?? {}, desired.metadata!);
  const owners = existing.metadata?.ownerReferences ?? [];
  const ownerRef = desired.metadata!.ownerReferences![0]!;
  const hasOwner = owners.some((owner) => owner.uid === ownerRef.uid);
  const dataSame =
    existing.type === desired.type &&
    Object.keys(existing.data ?? {}).length === 1 &&
    existing.data?.[DOCKERCONFIG_KEY] === desired.data![DOCKERCONFIG_KEY];
  if (dataSame && !metadata.changed && hasOwner) return undefined;
  return {
    ...existing,
    metadata: {
      ...existing.metadata,
      labels: metadata.labels,
      annotations: metadata.annotations,
      ownerReferences: hasOwner
        ? owners
        : [...owners.filter((owner) => !(owner.kind === KIND && owner.apiVersion === API_VERSION)), ownerRef],
    },
    type: desired.type,
    data: desired.data,
    stringData: undefined,
  };
}

/** The decoded .dockerconfigjson of a Secret (for checks and tests; never logged). */
export function documentOf(secret: V1Secret | undefined): string | undefined {
  const encoded = secret?.data?.[DOCKERCONFIG_KEY];
  return encoded ? Buffer.from(encoded, 'base64').toString('utf8') : undefined;
}

export interface NamespaceView {
  /** Our Secret in the namespace (from the managed-Secrets cache), if any. */
  secret: V1Secret | undefined;
  serviceAccounts: Iterable<V1ServiceAccount>;
}

/**
 * A selected namespace is converged when it holds the desired Secret (or, while sources are held,
 * any Secret of ours) and every selected ServiceAccount that exists lists it and carries none of
 * our entries under another name. Missing ServiceAccounts do not count: they are handled when
 * they appear.
 */
export function isNamespaceConverged(
  view: NamespaceView,
  cred: RegistryCredential,
  spec: RegistryCredentialSpec,
  desired: V1Secret | undefined,
): boolean {
  const secretName = desired?.metadata?.name ?? spec.secretName ?? cred.metadata.name;
  const secret = view.secret;
  if (!secret || secret.metadata?.name !== secretName || !isOwnedBy(secret, cred)) return false;
  if (desired && secretUpdate(secret, desired) !== undefined) return false;
  for (const sa of view.serviceAccounts) {
    const wanted = wantsServiceAccountEntry(sa, spec) ? secretName : undefined;
    if (serviceAccountEdit(sa, cred.metadata.name, wanted) !== undefined) return false;
  }
  return true;
}
