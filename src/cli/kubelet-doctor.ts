// `kubectl regcred doctor`, the kubelet's other sources of a pull: the regcred credential provider
// (delivery.kubelet), and the node's own image cache under KEP-2535. Pure, like diagnosis.ts: the
// facts are gathered before (gather.ts) and nothing here prints.
import { deliversToKubelet, parseSpec, type RegistryCredentialSpec } from '../api/v1alpha1.js';
import { isNamespaceSelected, isServiceAccountSelected } from '../controller/desired.js';
import { keyNamesRegistryOf } from '../registry/keyring.js';
import type { ImageReference } from '../registry/reference.js';
import type { CredentialFact, DoctorFacts, Step } from './diagnosis.js';

/** The plugin's name in the kubelet's CredentialProviderConfig (plugin/src/main.rs, the installer). */
export const PLUGIN_NAME = 'regcred-kubelet-plugin';

/** The kubelet of the Pod's node, as its metrics and configuration show it through the API server. */
export interface NodeFact {
  name: string;
  /** From the kubelet's /metrics (nodes/proxy), or why it could not be read. */
  provider:
    | { state: 'read'; configured: boolean; pluginCalls: number; pluginErrors: number }
    | { state: 'unreadable'; message: string };
  /** imagePullCredentialsVerificationPolicy from the kubelet's /configz, when readable. */
  verificationPolicy?: string;
}

/** What the kubelet delivery of RegistryCredentials means for this pull. */
export interface KubeletDelivery {
  step: Step;
  /** The RegistryCredential that serves the pull, when one does. */
  servedBy?: string;
}

/** status.kubelet of a RegistryCredential, as doctor reads it. */
export interface KubeletStatus {
  served?: number;
  refused?: number;
  lastServedTime?: string;
  lastRefusal?: { reason: string; message: string; time: string };
  registries?: Array<{ server: string; served: number; lastServedTime?: string }>;
}

/**
 * The credential provider's part of a pull, or undefined when no RegistryCredential with
 * delivery.kubelet names the image's registry.
 */
export function kubeletDelivery(facts: DoctorFacts, reference: ImageReference): KubeletDelivery | undefined {
  const concerned: Array<{ fact: CredentialFact; spec: RegistryCredentialSpec }> = [];
  for (const fact of Array.isArray(facts.credentials) ? facts.credentials : []) {
    const parsed = parseSpec(fact.spec);
    if (!parsed.ok || !deliversToKubelet(parsed.spec)) continue;
    const servers = parsed.spec.registries
      .map((entry) => entry.server)
      .filter((server): server is string => Boolean(server));
    if (servers.some((server) => keyNamesRegistryOf(server, reference.repository)))
      concerned.push({ fact, spec: parsed.spec });
  }
  if (!concerned.length) return undefined;
  const step: Step = {
    id: 'kubelet',
    title: 'Kubelet delivery (the regcred credential provider)',
    status: 'broken',
    details: [],
  };
  const who = `${facts.namespace}/${facts.serviceAccountName}`;
  let servedBy: string | undefined;
  const notSelected: string[] = [];
  for (const { fact, spec } of concerned) {
    const namespace = facts.namespaceLabels
      ? isNamespaceSelected({ metadata: { name: facts.namespace, labels: facts.namespaceLabels } }, spec)
      : undefined;
    const serviceAccount =
      facts.serviceAccount.state === 'found'
        ? isServiceAccountSelected(
            {
              metadata: {
                name: facts.serviceAccountName,
                namespace: facts.namespace,
                labels: facts.serviceAccount.labels ?? {},
              },
            },
            spec,
          )
        : undefined;
    const status = fact.status?.kubelet;
    const counts = status
      ? `served ${status.served ?? 0}, refused ${status.refused ?? 0}` +
        (status.lastServedTime ? `, last served ${status.lastServedTime}` : '')
      : 'nothing served yet';
    if (namespace === false || serviceAccount === false) {
      const what = namespace === false ? `namespace ${facts.namespace}` : `ServiceAccount ${who}`;
      step.details.push(`RegistryCredential ${fact.name} serves ${reference.domain} to the kubelet, not to ${what}`);
      notSelected.push(
        namespace === false
          ? `let RegistryCredential ${fact.name} select namespace ${facts.namespace} ` +
              '(namespaceSelector, excludeNamespaces)'
          : `add "${facts.serviceAccountName}" to the spec.serviceAccounts of RegistryCredential ${fact.name}`,
      );
      continue;
    }
    const unknown = namespace === undefined || serviceAccount === undefined;
    step.details.push(
      `RegistryCredential ${fact.name} serves ${reference.domain} to ${who} through the kubelet` +
        (unknown ? ' (as far as could be read: the namespace or ServiceAccount labels were not readable)' : '') +
        `: ${counts}`,
    );
    if (status?.lastRefusal)
      step.details.push(
        `  last refusal (${status.lastRefusal.time}): ${status.lastRefusal.reason}: ${status.lastRefusal.message}`,
      );
    servedBy ??= fact.name;
  }
  if (!servedBy) {
    step.fix = `${notSelected.join('; ')}. The kubelet asks again at the Pod's next pull.`;
    return { step };
  }
  step.status = 'ok';
  const node = facts.node;
  if (!node) {
    step.details.push('the node is not known (doctor image): the provider on the nodes was not checked');
    return { step, servedBy };
  }
  if (node.provider.state === 'unreadable') {
    step.status = 'info';
    step.details.push(`node ${node.name}: ${node.provider.message}`);
  } else if (!node.provider.configured) {
    step.status = 'broken';
    step.details.push(`node ${node.name}: its kubelet has no image credential provider configured`);
    step.fix =
      `Install the regcred credential provider on node ${node.name} (the installer DaemonSet, or the kubelet flags ` +
      `--image-credential-provider-config and --image-credential-provider-bin-dir; see docs/kubelet-delivery.md).`;
  } else {
    step.details.push(
      `node ${node.name}: provider configured; ${PLUGIN_NAME} ran ${node.provider.pluginCalls} time(s), ` +
        `${node.provider.pluginErrors} error(s)`,
    );
    if (node.provider.pluginCalls === 0) {
      step.status = 'warning';
      step.details.push(
        `the kubelet never ran ${PLUGIN_NAME}: its matchImages may not cover ${reference.domain} (a port must be ` +
          `named exactly), or another provider's matchImages wins`,
      );
    } else if (node.provider.pluginErrors > 0) {
      step.status = 'warning';
      step.details.push(
        `the plugin failed on this node: the kubelet's log holds its reason (lines with "regcred:"); it cannot ` +
          `reach the operator's endpoint when the operator is down`,
      );
    }
  }
  return { step, servedBy };
}

/**
 * Why a Pod runs an image it could not pull itself: the image was on the node, and the kubelet did
 * not check the Pod's credentials for it (KEP-2535).
 */
export function cachedImageStep(facts: DoctorFacts): Step | undefined {
  if (!facts.pod?.containerState?.running) return undefined;
  const fromCache = facts.events.some(
    (event) => event.reason === 'Pulled' && /already present on machine/.test(event.message),
  );
  const policy = facts.node?.verificationPolicy;
  const details = [
    fromCache
      ? `the container runs from an image that was already on node ${facts.node?.name ?? '(unknown)'} ("already ` +
        `present on machine"), pulled earlier with someone else's credential`
      : `the container runs, though this Pod has no credential for its image: the image was on the node`,
    policy
      ? `the node's kubelet runs with imagePullCredentialsVerificationPolicy ${policy}`
      : `the node's imagePullCredentialsVerificationPolicy could not be read (nodes/proxy configz)`,
  ];
  return {
    id: 'node',
    title: 'Why it runs anyway',
    status: 'warning',
    details,
    fix:
      'Make the kubelet check that every Pod may pull the images it starts: imagePullCredentialsVerificationPolicy ' +
      'AlwaysVerify in the kubelet configuration (or NeverVerifyPreloadedImages, the default from Kubernetes 1.35, ' +
      'which exempts only images not pulled by the kubelet; before 1.35 the KubeletEnsureSecretPulledImages ' +
      'feature gate must be on). Until then, any Pod on this node may start an image once one Pod pulled it.',
  };
}
