// The caches the controller reads: one informer per kind it needs, nothing else.
import type { V1Namespace, V1Pod, V1Secret, V1ServiceAccount } from '@kubernetes/client-node';
import type { RegistryCredential } from '../api/v1alpha1.js';
import type { Informer } from '../runtime/informer.js';

export interface Caches {
  credentials: Informer<RegistryCredential>;
  namespaces: Informer<V1Namespace>;
  serviceAccounts: Informer<V1ServiceAccount>;
  /** Secrets carrying app.kubernetes.io/managed-by=regcred-operator, in every namespace. */
  managedSecrets: Informer<V1Secret>;
  /** Secrets of the source namespace. */
  sourceSecrets: Informer<V1Secret>;
  /** Pending Pods only (field selector status.phase=Pending), slim: what stuck-pod recovery reads. */
  pods: Informer<V1Pod>;
}
