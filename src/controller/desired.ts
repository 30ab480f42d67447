// Pure: which namespaces a RegistryCredential selects, and the Secret each of them should hold.
import type { V1Namespace, V1OwnerReference, V1Secret, V1ServiceAccount } from '@kubernetes/client-node';
import {
  API_VERSION,
  KIND,
  LABEL_CREDENTIAL,
  LABEL_MANAGED_BY,
  type LabelSelector,
  MANAGED_BY,
  type RegistryCredential,
  type RegistryCredentialSpec,
} from '../api/v1alpha1.js';
import { serviceAccountEdit } from './serviceaccounts.js';

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

/** Selected = matches the selector, is not excluded, and is not being deleted. */
export function isNamespaceSelected(ns: V1Namespace, spec: RegistryCredentialSpec): boolean {
  const name = ns.metadata?.name ?? '';
  if (isTerminating(ns) || spec.excludeNamespaces.includes(name)) return false;
  return matchesSelector(ns.metadata?.labels, spec.namespaceSelector);
}

export function isServiceAccountSelected(name: string, spec: RegistryCredentialSpec): boolean {
  return spec.serviceAccounts.includes('*') || spec.serviceAccounts.includes(name);
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
): V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: secretName,
      namespace,
      labels: managedLabels(cred.metadata.name),
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
 * write. Labels and annotations others added are kept; only ours and the payload are enforced.
 */
export function secretUpdate(existing: V1Secret, desired: V1Secret): V1Secret | undefined {
  const labels = { ...(existing.metadata?.labels ?? {}), ...desired.metadata!.labels };
  const owners = existing.metadata?.ownerReferences ?? [];
  const ownerRef = desired.metadata!.ownerReferences![0]!;
  const hasOwner = owners.some((owner) => owner.uid === ownerRef.uid);
  const dataSame =
    existing.type === desired.type &&
    Object.keys(existing.data ?? {}).length === 1 &&
    existing.data?.[DOCKERCONFIG_KEY] === desired.data![DOCKERCONFIG_KEY];
  const labelsSame = Object.entries(desired.metadata!.labels!).every(
    ([key, value]) => existing.metadata?.labels?.[key] === value,
  );
  if (dataSame && labelsSame && hasOwner) return undefined;
  return {
    ...existing,
    metadata: {
      ...existing.metadata,
      labels,
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
    const wanted = isServiceAccountSelected(sa.metadata?.name ?? '', spec) ? secretName : undefined;
    if (serviceAccountEdit(sa, cred.metadata.name, wanted) !== undefined) return false;
  }
  return true;
}
