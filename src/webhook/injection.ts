// Pure: which pull secrets the admission webhook adds to a new Pod. A RegistryCredential with
// injection: Pods adds its copy's name when it selects the Pod's namespace and ServiceAccount (the
// rules of controller/desired.ts), its copy exists in the namespace, and one of the copy's `auths`
// keys serves one of the Pod's images (containers, init and ephemeral containers) under the
// kubelet's keyring rules (registry/keyring.ts). Entries are only ever appended: the Pod's own
// entries keep their order, and a name already listed is not added again.
import type { V1Namespace, V1Pod, V1ServiceAccount } from '@kubernetes/client-node';
import { deliversSecrets, injectsIntoPods, type RegistryCredentialSpec } from '../api/v1alpha1.js';
import { isNamespaceSelected, isServiceAccountSelected, isTerminating } from '../controller/desired.js';
import { lookupCredentials } from '../registry/keyring.js';
import { parseImageReference } from '../registry/reference.js';

export interface InjectableCredential {
  name: string;
  spec: RegistryCredentialSpec;
  /** The copy's name in the Pod's namespace and its `auths` keys, or undefined when the namespace holds no copy. */
  copy?: { secretName: string; keys: string[] };
}

export interface InjectionInput {
  pod: V1Pod;
  namespace: string;
  namespaceObject?: V1Namespace;
  serviceAccountObject?: V1ServiceAccount;
  /** Every credential not suspended nor being deleted, in name order. */
  credentials: InjectableCredential[];
}

export interface Injection {
  /** The names to append, in credential name order. */
  add: string[];
  /** The credentials that added them. */
  by: string[];
}

/** Every image of the Pod: containers, init containers and ephemeral containers. */
export function imagesOf(pod: V1Pod): string[] {
  const spec = pod.spec;
  return [...(spec?.containers ?? []), ...(spec?.initContainers ?? []), ...(spec?.ephemeralContainers ?? [])]
    .map((container) => container.image)
    .filter((image): image is string => typeof image === 'string' && image.length > 0);
}

function repositoryOf(image: string): string | undefined {
  try {
    return parseImageReference(image).repository;
  } catch {
    return undefined; // the kubelet refuses it with InvalidImageName: no pull secret helps
  }
}

export function decideInjection(input: InjectionInput): Injection {
  const { pod, namespace, namespaceObject } = input;
  if (!namespaceObject || isTerminating(namespaceObject)) return { add: [], by: [] };
  const serviceAccountName = pod.spec?.serviceAccountName || 'default';
  const serviceAccount: V1ServiceAccount = input.serviceAccountObject ?? {
    metadata: { name: serviceAccountName, namespace },
  };
  const repositories = imagesOf(pod)
    .map(repositoryOf)
    .filter((repository): repository is string => repository !== undefined);
  const present = new Set((pod.spec?.imagePullSecrets ?? []).map((reference) => reference.name));
  const add: string[] = [];
  const by: string[] = [];
  for (const credential of input.credentials) {
    const { spec, copy } = credential;
    if (!injectsIntoPods(spec) || !deliversSecrets(spec) || spec.suspend || !copy) continue;
    if (present.has(copy.secretName)) continue;
    if (!isNamespaceSelected(namespaceObject, spec) || !isServiceAccountSelected(serviceAccount, spec)) continue;
    const entries = copy.keys.map((key) => ({ key, value: key }));
    if (!repositories.some((repository) => lookupCredentials(entries, repository).length > 0)) continue;
    present.add(copy.secretName);
    add.push(copy.secretName);
    by.push(credential.name);
  }
  return { add, by };
}

/** The JSON patch (RFC 6902) that appends `names` to the Pod's imagePullSecrets, or undefined for none. */
export function appendPatch(pod: V1Pod, names: string[]): Array<Record<string, unknown>> | undefined {
  if (names.length === 0) return undefined;
  if (!pod.spec?.imagePullSecrets)
    return [{ op: 'add', path: '/spec/imagePullSecrets', value: names.map((name) => ({ name })) }];
  return names.map((name) => ({ op: 'add', path: '/spec/imagePullSecrets/-', value: { name } }));
}
