// The API calls the operator makes, typed. Writes use optimistic concurrency (resourceVersion).
import type { CoreV1Event, V1Secret, V1ServiceAccount } from '@kubernetes/client-node';
import {
  ANNOTATION_INJECTED,
  GROUP,
  PLURAL,
  type RegistryCredential,
  type RegistryCredentialStatus,
  VERSION,
} from '../api/v1alpha1.js';
import type { KubeApi } from './client.js';

const MERGE_PATCH = 'application/merge-patch+json';

/** What the API server said of a token (the status of a TokenReview). */
export interface TokenReviewAnswer {
  authenticated?: boolean;
  audiences?: string[];
  error?: string;
  user?: { username?: string; extra?: Record<string, string[]> };
}

export const paths = {
  namespaces: () => '/api/v1/namespaces',
  secrets: (ns?: string) => (ns ? `/api/v1/namespaces/${ns}/secrets` : '/api/v1/secrets'),
  secret: (ns: string, name: string) => `/api/v1/namespaces/${ns}/secrets/${encodeURIComponent(name)}`,
  serviceAccounts: (ns?: string) => (ns ? `/api/v1/namespaces/${ns}/serviceaccounts` : '/api/v1/serviceaccounts'),
  serviceAccount: (ns: string, name: string) => `/api/v1/namespaces/${ns}/serviceaccounts/${encodeURIComponent(name)}`,
  credentials: () => `/apis/${GROUP}/${VERSION}/${PLURAL}`,
  credential: (name: string) => `/apis/${GROUP}/${VERSION}/${PLURAL}/${encodeURIComponent(name)}`,
  events: (ns: string) => `/api/v1/namespaces/${ns}/events`,
  event: (ns: string, name: string) => `/api/v1/namespaces/${ns}/events/${encodeURIComponent(name)}`,
  pods: (ns?: string) => (ns ? `/api/v1/namespaces/${ns}/pods` : '/api/v1/pods'),
  eviction: (ns: string, name: string) => `/api/v1/namespaces/${ns}/pods/${encodeURIComponent(name)}/eviction`,
};

export class Resources {
  constructor(readonly client: KubeApi) {}

  getSecret(ns: string, name: string): Promise<V1Secret> {
    return this.client.request({ method: 'GET', path: paths.secret(ns, name), sensitive: true });
  }

  createSecret(secret: V1Secret): Promise<V1Secret> {
    return this.client.request({
      method: 'POST',
      path: paths.secrets(secret.metadata!.namespace!),
      body: secret,
      sensitive: true,
    });
  }

  /** Replaces the Secret; fails with Conflict if it changed since `secret.metadata.resourceVersion`. */
  updateSecret(secret: V1Secret): Promise<V1Secret> {
    return this.client.request({
      method: 'PUT',
      path: paths.secret(secret.metadata!.namespace!, secret.metadata!.name!),
      body: secret,
      sensitive: true,
    });
  }

  /** Deletes the Secret only if it is still the one we saw (precondition on uid and resourceVersion). */
  deleteSecret(ns: string, name: string, uid?: string, resourceVersion?: string): Promise<unknown> {
    const preconditions = uid || resourceVersion ? { uid, resourceVersion } : undefined;
    return this.client.request({
      method: 'DELETE',
      path: paths.secret(ns, name),
      body: { kind: 'DeleteOptions', apiVersion: 'v1', preconditions },
      sensitive: true,
    });
  }

  getServiceAccount(ns: string, name: string): Promise<V1ServiceAccount> {
    return this.client.request({ method: 'GET', path: paths.serviceAccount(ns, name) });
  }

  /**
   * Sets imagePullSecrets (an atomic list: every patch type replaces it whole) and our record
   * annotation, guarded by resourceVersion: a concurrent edit makes this fail with Conflict
   * instead of being overwritten.
   */
  patchServiceAccountPullSecrets(
    sa: V1ServiceAccount,
    imagePullSecrets: Array<{ name?: string }>,
    injected: string | null,
  ): Promise<V1ServiceAccount> {
    return this.client.request({
      method: 'PATCH',
      path: paths.serviceAccount(sa.metadata!.namespace!, sa.metadata!.name!),
      contentType: MERGE_PATCH,
      body: {
        metadata: { resourceVersion: sa.metadata!.resourceVersion, annotations: { [ANNOTATION_INJECTED]: injected } },
        imagePullSecrets: imagePullSecrets.length > 0 ? imagePullSecrets : null,
      },
    });
  }

  /** Sets the finalizer list, guarded by resourceVersion. */
  setFinalizers(cred: RegistryCredential, finalizers: string[]): Promise<RegistryCredential> {
    return this.client.request({
      method: 'PATCH',
      path: paths.credential(cred.metadata.name),
      contentType: MERGE_PATCH,
      body: { metadata: { resourceVersion: cred.metadata.resourceVersion, finalizers } },
    });
  }

  updateStatus(cred: RegistryCredential, status: RegistryCredentialStatus): Promise<RegistryCredential> {
    return this.client.request({
      method: 'PATCH',
      path: `${paths.credential(cred.metadata.name)}/status`,
      contentType: MERGE_PATCH,
      // status: null first clears fields that are gone (merge patch merges maps)
      body: { status: { ...nullsFor(cred.status), ...status } },
    });
  }

  createEvent(event: CoreV1Event): Promise<CoreV1Event> {
    return this.client.request({ method: 'POST', path: paths.events(event.metadata!.namespace!), body: event });
  }

  /** Updates an Event of a series (client-go's correlator does the same): its count, last time and message. */
  patchEvent(
    ns: string,
    name: string,
    patch: { count: number; lastTimestamp: string; message: string },
  ): Promise<CoreV1Event> {
    return this.client.request({ method: 'PATCH', path: paths.event(ns, name), contentType: MERGE_PATCH, body: patch });
  }

  /** Asks the API server who a token belongs to, for `audience` (TokenReview). The token is never logged. */
  async reviewToken(token: string, audience: string): Promise<TokenReviewAnswer> {
    const review = await this.client.request<{ status?: TokenReviewAnswer }>({
      method: 'POST',
      path: '/apis/authentication.k8s.io/v1/tokenreviews',
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences: [audience] } },
      sensitive: true,
    });
    return review.status ?? {};
  }

  /**
   * Evicts a Pod through the Eviction API (PodDisruptionBudgets hold: a refusal is a 429, not
   * retried here), only if it is still the Pod with this uid.
   */
  async evictPod(ns: string, name: string, uid: string): Promise<void> {
    await this.client.request({
      method: 'POST',
      path: paths.eviction(ns, name),
      body: {
        apiVersion: 'policy/v1',
        kind: 'Eviction',
        metadata: { name, namespace: ns },
        deleteOptions: { preconditions: { uid } },
      },
      retry: false,
    });
  }
}

/** Merge-patch nulls for every top-level status field, so fields we no longer set are removed. */
function nullsFor(status: RegistryCredentialStatus | undefined): Record<string, null> {
  return Object.fromEntries(Object.keys(status ?? {}).map((field) => [field, null]));
}
