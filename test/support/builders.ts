// Object builders shared by the tests: RegistryCredential specs (as a user writes them, and as the
// schema parses them), RegistryCredential objects, and the Namespaces, ServiceAccounts and Secrets
// the operator reads and writes. Each builder returns a valid object with the fewest fields; a test
// states only what its case is about. The objects are plain data: they fit client-node's types and
// the in-memory API's (test/support/fake-kube.ts) alike: their shapes are type aliases, which,
// unlike interfaces, fit StoredObject's index signature.
import type { V1Namespace, V1Secret } from '@kubernetes/client-node';
import {
  ANNOTATION_INJECTED,
  API_VERSION,
  KIND,
  parseSpec,
  type RegistryCredential,
  type RegistryCredentialSpec,
  type RegistryCredentialStatus,
  type RegistryEntry,
} from '../../src/api/v1alpha1.js';
import { managedLabels } from '../../src/controller/desired.js';
import type { SourceSecrets } from '../../src/providers/provider.js';

/** Secret data is base64 of the UTF-8 text. */
export const base64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');

/** The operator's source namespace in the tests. */
export const SOURCE_NAMESPACE = 'regcred-system';
/** The registry of the default spec, and the source Secret of its basicAuth entry. */
export const REGISTRY = 'harbor.example.com';
export const ROBOT_SECRET = 'harbor-robot';

// ---- specs -------------------------------------------------------------------------------------

/** A basicAuth registry entry, as written in a spec. */
export function basicAuth(
  server = REGISTRY,
  secretName = ROBOT_SECRET,
  keys: { usernameKey?: string; passwordKey?: string } = {},
): Record<string, unknown> {
  return { server, basicAuth: { secretName, ...keys } };
}

/** A dockerConfig registry entry (it imports the servers of a .dockerconfigjson Secret). */
export function dockerConfig(secretName: string): Record<string, unknown> {
  return { dockerConfig: { secretName } };
}

/** A valid spec as a user writes it: one basicAuth entry for REGISTRY, `overrides` on top. */
export function rawSpec(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { registries: [basicAuth()], ...overrides };
}

/** The spec as the controller sees it: rawSpec(overrides) parsed and defaulted; throws if it is invalid. */
export function spec(overrides: Record<string, unknown> = {}): RegistryCredentialSpec {
  const parsed = parseSpec(rawSpec(overrides));
  if (!parsed.ok) throw new Error(parsed.message);
  return parsed.spec;
}

/** A parsed spec whose registries are `entries`. */
export function specWith(...entries: unknown[]): RegistryCredentialSpec {
  return spec({ registries: entries });
}

/** One registry entry as the schema defaults it. */
export function registryEntry(entry: Record<string, unknown>): RegistryEntry {
  return specWith(entry).registries[0]!;
}

// ---- RegistryCredential objects ----------------------------------------------------------------

export interface CredentialOptions {
  /** Default: `uid-<name>`. */
  uid?: string;
  generation?: number;
  resourceVersion?: string;
  /** Default: rawSpec(). */
  spec?: unknown;
  status?: RegistryCredentialStatus;
}

/** A RegistryCredential as the controller reads it from its cache (for the pure functions). */
export function credential(name: string, options: CredentialOptions = {}): RegistryCredential {
  const { uid = `uid-${name}`, generation, resourceVersion, spec: credentialSpec = rawSpec(), status } = options;
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    metadata: {
      name,
      uid,
      ...(generation === undefined ? {} : { generation }),
      ...(resourceVersion === undefined ? {} : { resourceVersion }),
    },
    spec: credentialSpec,
    ...(status ? { status } : {}),
  };
}

/** A RegistryCredential as a user creates it: no uid, generation or status (the API server sets them). */
export function newCredential(
  name: string,
  credentialSpec: Record<string, unknown> = rawSpec(),
): { apiVersion: string; kind: string; metadata: { name: string }; spec: Record<string, unknown> } {
  return { apiVersion: API_VERSION, kind: KIND, metadata: { name }, spec: credentialSpec };
}

// ---- Namespaces and ServiceAccounts ------------------------------------------------------------

export type NamespaceObject = {
  metadata: { name: string; labels: Record<string, string> };
  status?: { phase: string };
};

/** A Namespace with `labels`; `phase` as its status says (none: as before the server sets one). */
export function namespace(name: string, labels: Record<string, string> = {}, phase?: string): NamespaceObject {
  return { metadata: { name, labels }, ...(phase ? { status: { phase } } : {}) };
}

/** A Namespace being deleted (deletionTimestamp set, still Active). */
export function deletingNamespace(name: string, labels: Record<string, string> = {}): V1Namespace {
  return { metadata: { name, labels, deletionTimestamp: new Date(0) } };
}

export type ServiceAccountObject = {
  metadata: {
    name: string;
    namespace: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  imagePullSecrets: Array<{ name: string }>;
};

export interface ServiceAccountOptions {
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  /** Our record of the entries we added (ANNOTATION_INJECTED): secret name -> credential. */
  injected?: Record<string, string>;
}

/** A ServiceAccount listing `pullSecrets`, in order. */
export function serviceAccount(
  namespaceName: string,
  name: string,
  pullSecrets: string[] = [],
  options: ServiceAccountOptions = {},
): ServiceAccountObject {
  const annotations = {
    ...options.annotations,
    ...(options.injected ? { [ANNOTATION_INJECTED]: JSON.stringify(options.injected) } : {}),
  };
  return {
    metadata: {
      name,
      namespace: namespaceName,
      ...(options.labels ? { labels: options.labels } : {}),
      ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
    },
    imagePullSecrets: pullSecrets.map((secretName) => ({ name: secretName })),
  };
}

// ---- Secrets -----------------------------------------------------------------------------------

export type SecretObject = {
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  type: string;
  data: Record<string, string>;
};

/** An Opaque Secret whose data holds `values` base64-encoded. */
export function opaqueSecret(
  values: Record<string, string>,
  metadata: SecretObject['metadata'] = { name: 'source', namespace: SOURCE_NAMESPACE },
): SecretObject {
  return {
    metadata,
    type: 'Opaque',
    data: Object.fromEntries(Object.entries(values).map(([key, value]) => [key, base64(value)])),
  };
}

/** A basicAuth source Secret in the source namespace. */
export function basicAuthSource(name: string, username: string, password: string): SecretObject {
  return opaqueSecret({ username, password }, { name, namespace: SOURCE_NAMESPACE });
}

/** A kubernetes.io/dockerconfigjson Secret holding `document`. */
export function dockerConfigSecret(
  document: string,
  metadata: SecretObject['metadata'] = { name: 'pull', namespace: SOURCE_NAMESPACE },
): SecretObject {
  return { metadata, type: 'kubernetes.io/dockerconfigjson', data: { '.dockerconfigjson': base64(document) } };
}

/** A copy as this credential would own it (labels only, as after a restart of the operator). */
export function ownedCopy(namespaceName: string, name: string, credentialName: string, document: string): SecretObject {
  return dockerConfigSecret(document, {
    name,
    namespace: namespaceName,
    labels: managedLabels(credentialName),
  });
}

/** The source namespace's Secrets, by name, as providers read them; records which names were asked for. */
export function sourceSecrets(secrets: Record<string, V1Secret> = {}): SourceSecrets & { asked: string[] } {
  const asked: string[] = [];
  return { namespace: SOURCE_NAMESPACE, asked, get: (name) => (asked.push(name), secrets[name]) };
}
