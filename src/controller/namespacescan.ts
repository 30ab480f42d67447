// A credential's view of every namespace, for the fan-out (credentialcontroller.ts: which
// namespaces need their key) and the counts (readinesscontroller.ts: selected, ready).
// surveyNamespaces decides, pure, over namespaces gathered from the caches; surveyCachedNamespaces
// gathers and decides them a slice at a time.
import type { V1Namespace, V1Secret, V1ServiceAccount } from '@kubernetes/client-node';
import { deliversSecrets, type RegistryCredential } from '../api/v1alpha1.js';
import type { Caches } from './caches.js';
import type { CredentialDecision } from './credentialstate.js';
import { desiredSecret, isNamespaceConverged, isNamespaceSelected, isOwnedBy } from './desired.js';
import { injectedFor } from './serviceaccounts.js';

/** One namespace as the survey sees it. */
export interface NamespaceView {
  name: string;
  namespace: V1Namespace;
  /** The credential's Secrets in it (any name), and its ServiceAccounts. */
  secrets: V1Secret[];
  serviceAccounts: V1ServiceAccount[];
  /** A recorded failure of the namespace key. */
  failed: boolean;
}

export interface SurveyInput {
  cred: RegistryCredential;
  decision: CredentialDecision;
  namespaces: NamespaceView[];
}

export interface NamespaceSurvey {
  /** Selected namespaces, in cache order. */
  selected: string[];
  /** Selected namespaces that hold what they should and have no failure. */
  ready: number;
  /** Selected namespaces that are not converged (failed or not). */
  unconverged: Array<{ name: string; failed: boolean }>;
  /** Namespaces (selected or not) holding a Secret or an SA entry of the credential. */
  withLeftovers: Set<string>;
  /** Of those, the ones holding a Secret of the credential under another name than the decided one. */
  withStaleSecret: Set<string>;
}

/** Pure: the credential's namespaces by what they need. */
export function surveyNamespaces(input: SurveyInput): NamespaceSurvey {
  const { cred, decision } = input;
  const spec = decision.spec!;
  const survey: NamespaceSurvey = {
    selected: [],
    ready: 0,
    unconverged: [],
    withLeftovers: new Set(),
    withStaleSecret: new Set(),
  };
  const document = decision.sources.document;
  const template =
    document === undefined ? undefined : desiredSecret(cred, '', decision.secretName, document, spec.secretTemplate);
  for (const view of input.namespaces) {
    const secrets = view.secrets.filter((secret) => isOwnedBy(secret, cred));
    const leftovers =
      secrets.length > 0 || view.serviceAccounts.some((sa) => injectedFor(sa, cred.metadata.name).length > 0);
    if (leftovers) survey.withLeftovers.add(view.name);
    if (secrets.some((secret) => secret.metadata?.name !== decision.secretName)) survey.withStaleSecret.add(view.name);
    if (!isNamespaceSelected(view.namespace, spec)) continue;
    survey.selected.push(view.name);
    if (!deliversSecrets(spec)) {
      // Secretless: a selected namespace is ready once nothing of ours is left in it.
      if (leftovers) survey.unconverged.push({ name: view.name, failed: view.failed });
      else survey.ready++;
      continue;
    }
    const desired = template && { ...template, metadata: { ...template.metadata, namespace: view.name } };
    const converged = isNamespaceConverged(
      {
        secret: view.secrets.find((secret) => secret.metadata?.name === decision.secretName),
        serviceAccounts: view.serviceAccounts,
      },
      cred,
      spec,
      desired,
    );
    if (converged && !view.failed) survey.ready++;
    else survey.unconverged.push({ name: view.name, failed: view.failed });
  }
  return survey;
}

/** Two surveys of disjoint namespaces as one (in order). */
export function mergeSurveys(first: NamespaceSurvey, second: NamespaceSurvey): NamespaceSurvey {
  return {
    selected: [...first.selected, ...second.selected],
    ready: first.ready + second.ready,
    unconverged: [...first.unconverged, ...second.unconverged],
    withLeftovers: new Set([...first.withLeftovers, ...second.withLeftovers]),
    withStaleSecret: new Set([...first.withStaleSecret, ...second.withStaleSecret]),
  };
}

/**
 * The survey of every cached namespace: gathered (each with its managed Secrets and ServiceAccounts)
 * and decided slice by slice, yielding to the event loop after every SCAN_SLICE objects, so that
 * one survey never holds the event loop for long whatever the cluster's size.
 */
export async function surveyCachedNamespaces(
  caches: Pick<Caches, 'namespaces' | 'managedSecrets' | 'serviceAccounts'>,
  cred: RegistryCredential,
  decision: CredentialDecision,
  failed: (namespace: string) => boolean,
): Promise<NamespaceSurvey> {
  let survey = surveyNamespaces({ cred, decision, namespaces: [] });
  let slice: NamespaceView[] = [];
  let objects = 0;
  const decideSlice = () => {
    survey = mergeSurveys(survey, surveyNamespaces({ cred, decision, namespaces: slice }));
    slice = [];
    objects = 0;
  };
  for (const namespace of caches.namespaces.list()) {
    const name = namespace.metadata!.name!;
    const serviceAccounts = [...caches.serviceAccounts.listIn(name)];
    slice.push({
      name,
      namespace,
      secrets: [...caches.managedSecrets.listIn(name)],
      serviceAccounts,
      failed: failed(name),
    });
    objects += 1 + serviceAccounts.length;
    if (objects >= SCAN_SLICE) {
      decideSlice();
      await nextTurn();
    }
  }
  decideSlice();
  return survey;
}

/** Namespaces holding a Secret or an SA entry of the credential (a credential that is gone: uid ''). */
export async function namespacesWithLeftovers(
  caches: Pick<Caches, 'managedSecrets' | 'serviceAccounts'>,
  cred: { metadata: { name: string; uid: string } },
): Promise<Set<string>> {
  const found = new Set<string>();
  let scanned = 0;
  // Every cached Secret carries our managed-by label, so isOwnedBy's label test also covers a
  // credential that is gone (uid unknown).
  for (const secret of caches.managedSecrets.list()) {
    if (++scanned % SCAN_SLICE === 0) await nextTurn();
    if (isOwnedBy(secret, cred)) found.add(secret.metadata!.namespace!);
  }
  for (const serviceAccount of caches.serviceAccounts.list()) {
    if (++scanned % SCAN_SLICE === 0) await nextTurn();
    if (injectedFor(serviceAccount, cred.metadata.name).length > 0) found.add(serviceAccount.metadata!.namespace!);
  }
  return found;
}

/**
 * Cache scans are O(namespaces + ServiceAccounts). Yielding to the event loop every SCAN_SLICE
 * objects bounds how long one scan holds it, whatever the cluster's size: namespace keys (a new
 * namespace's writes) go on meanwhile instead of waiting for the whole scan.
 */
export const SCAN_SLICE = 500;
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
