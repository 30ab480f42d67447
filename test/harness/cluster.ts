// Test-side access to the control plane with @kubernetes/client-node (an independent, real client:
// tests never observe the cluster through the operator's own code), plus builders for the objects
// the tests create.
import { randomBytes } from 'node:crypto';
import {
  ApiException,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  setHeaderOptions,
  type V1Namespace,
  type V1Pod,
  type V1Secret,
  type V1ServiceAccount,
} from '@kubernetes/client-node';
import { testEnv } from '../../harness/controlplane.js';

export const GROUP = 'regcred.io';
export const VERSION = 'v1alpha1';
export const PLURAL = 'registrycredentials';
const MERGE = setHeaderOptions('Content-Type', 'application/merge-patch+json');

export interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
  observedGeneration?: number;
  lastTransitionTime: string;
}

export interface CredentialObject {
  metadata: {
    name: string;
    uid: string;
    generation: number;
    finalizers?: string[];
    resourceVersion: string;
    deletionTimestamp?: string;
  };
  spec: Record<string, unknown>;
  status?: {
    observedGeneration?: number;
    conditions?: Condition[];
    namespaces?: { selected: number; ready: number; failed: number };
    failures?: Array<{ namespace: string; reason: string; message: string }>;
  };
}

export function uniqueSuffix(): string {
  return randomBytes(3).toString('hex');
}

export function isNotFound(err: unknown): boolean {
  return err instanceof ApiException && err.code === 404;
}

async function orUndefined<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

export class Cluster {
  readonly core: CoreV1Api;
  readonly custom: CustomObjectsApi;

  constructor(readonly kubeconfigPath: string) {
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfigPath);
    this.core = kc.makeApiClient(CoreV1Api);
    this.custom = kc.makeApiClient(CustomObjectsApi);
  }

  static admin(): Cluster {
    return new Cluster(testEnv().adminKubeconfig);
  }

  createNamespace(name: string, labels: Record<string, string> = {}): Promise<V1Namespace> {
    return this.core.createNamespace({ body: { metadata: { name, labels } } });
  }

  labelNamespace(name: string, labels: Record<string, string | null>): Promise<V1Namespace> {
    return this.core.patchNamespace({ name, body: { metadata: { labels } } }, MERGE);
  }

  async deleteNamespace(name: string): Promise<void> {
    await orUndefined(this.core.deleteNamespace({ name }));
  }

  getNamespace(name: string): Promise<V1Namespace | undefined> {
    return orUndefined(this.core.readNamespace({ name }));
  }

  getSecret(namespace: string, name: string): Promise<V1Secret | undefined> {
    return orUndefined(this.core.readNamespacedSecret({ namespace, name }));
  }

  createSecret(namespace: string, secret: V1Secret): Promise<V1Secret> {
    return this.core.createNamespacedSecret({
      namespace,
      body: { ...secret, metadata: { ...secret.metadata, namespace } },
    });
  }

  replaceSecret(secret: V1Secret): Promise<V1Secret> {
    return this.core.replaceNamespacedSecret({
      namespace: secret.metadata!.namespace!,
      name: secret.metadata!.name!,
      body: secret,
    });
  }

  /** A rotation of a basic-auth source Secret: its `password` key set to `password`, the rest kept. */
  async setPassword(namespace: string, name: string, password: string): Promise<V1Secret> {
    const secret = (await this.getSecret(namespace, name))!;
    secret.data = { ...secret.data, password: Buffer.from(password).toString('base64') };
    return this.replaceSecret(secret);
  }

  async deleteSecret(namespace: string, name: string): Promise<void> {
    await orUndefined(this.core.deleteNamespacedSecret({ namespace, name }));
  }

  createPod(namespace: string, pod: V1Pod): Promise<V1Pod> {
    return this.core.createNamespacedPod({ namespace, body: { ...pod, metadata: { ...pod.metadata, namespace } } });
  }

  getPod(namespace: string, name: string): Promise<V1Pod | undefined> {
    return orUndefined(this.core.readNamespacedPod({ namespace, name }));
  }

  /** Deletes at once (no grace period): a Pod no kubelet runs would otherwise wait for one. */
  async deletePod(namespace: string, name: string): Promise<void> {
    await orUndefined(this.core.deleteNamespacedPod({ namespace, name, gracePeriodSeconds: 0 }));
  }

  getServiceAccount(namespace: string, name: string): Promise<V1ServiceAccount | undefined> {
    return orUndefined(this.core.readNamespacedServiceAccount({ namespace, name }));
  }

  createServiceAccount(
    namespace: string,
    name: string,
    imagePullSecrets: string[] = [],
    labels?: Record<string, string>,
  ): Promise<V1ServiceAccount> {
    return this.core.createNamespacedServiceAccount({
      namespace,
      body: {
        metadata: { name, labels },
        imagePullSecrets: imagePullSecrets.length ? imagePullSecrets.map((n) => ({ name: n })) : undefined,
      },
    });
  }

  /** Merge-patches labels of a ServiceAccount (null removes one). */
  labelServiceAccount(
    namespace: string,
    name: string,
    labels: Record<string, string | null>,
  ): Promise<V1ServiceAccount> {
    return this.core.patchNamespacedServiceAccount({ namespace, name, body: { metadata: { labels } } }, MERGE);
  }

  replaceServiceAccount(sa: V1ServiceAccount): Promise<V1ServiceAccount> {
    return this.core.replaceNamespacedServiceAccount({
      namespace: sa.metadata!.namespace!,
      name: sa.metadata!.name!,
      body: sa,
    });
  }

  async pullSecretNames(namespace: string, sa: string): Promise<string[] | undefined> {
    const obj = await this.getServiceAccount(namespace, sa);
    return obj ? (obj.imagePullSecrets ?? []).map((e) => e.name ?? '') : undefined;
  }

  createCredential(name: string, spec: Record<string, unknown>): Promise<CredentialObject> {
    return this.custom.createClusterCustomObject({
      group: GROUP,
      version: VERSION,
      plural: PLURAL,
      body: { apiVersion: `${GROUP}/${VERSION}`, kind: 'RegistryCredential', metadata: { name }, spec },
    });
  }

  patchCredentialSpec(name: string, spec: Record<string, unknown>): Promise<CredentialObject> {
    return this.custom.patchClusterCustomObject(
      { group: GROUP, version: VERSION, plural: PLURAL, name, body: { spec } },
      MERGE,
    );
  }

  getCredential(name: string): Promise<CredentialObject | undefined> {
    return orUndefined(this.custom.getClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, name }));
  }

  async deleteCredential(name: string): Promise<void> {
    await orUndefined(this.custom.deleteClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, name }));
  }

  async condition(name: string, type: string): Promise<Condition | undefined> {
    return (await this.getCredential(name))?.status?.conditions?.find((c) => c.type === type);
  }

  async eventsFor(name: string): Promise<Array<{ type?: string; reason?: string; message?: string }>> {
    const list = await this.core.listNamespacedEvent({
      namespace: 'default',
      fieldSelector: `involvedObject.name=${name},involvedObject.kind=RegistryCredential`,
    });
    return list.items.map((e) => ({ type: e.type, reason: e.reason, message: e.message }));
  }
}

/** A basicAuth source Secret. */
export function basicAuthSecret(name: string, username: string, password: string): V1Secret {
  return { metadata: { name }, type: 'Opaque', stringData: { username, password } };
}

/** A kubernetes.io/dockerconfigjson Secret holding `document`. */
export function dockerConfigSecret(name: string, document: string): V1Secret {
  return {
    metadata: { name },
    type: 'kubernetes.io/dockerconfigjson',
    data: { '.dockerconfigjson': Buffer.from(document).toString('base64') },
  };
}

/** The decoded .dockerconfigjson of a Secret. */
export function authsOf(
  secret: V1Secret | undefined,
): Record<string, { username: string; password: string; auth: string }> | undefined {
  const raw = secret?.data?.['.dockerconfigjson'];
  return raw
    ? (
        JSON.parse(Buffer.from(raw, 'base64').toString('utf8')) as {
          auths: Record<string, { username: string; password: string; auth: string }>;
        }
      ).auths
    : undefined;
}
