// `kubectl regcred doctor`, the reading: everything diagnosis.ts reasons about, read with the
// user's own kubeconfig and RBAC (read-only verbs only). A permission the user lacks is not an
// error: it becomes a fact ("cannot get secrets in team-a: needs get on secrets") and the
// diagnosis says what it could not see.
import { ApiException, CoreV1Api, CustomObjectsApi, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { GROUP, LABEL_CREDENTIAL, LABEL_MANAGED_BY, MANAGED_BY, PLURAL, VERSION } from '../api/v1alpha1.js';
import type { CredentialFact, DoctorFacts, PullEvent, SecretFact } from './diagnosis.js';
import { type NodeFact, PLUGIN_NAME } from './kubelet-doctor.js';

export class NotFoundError extends Error {
  override name = 'NotFoundError';
}

export class ClusterReader {
  private readonly core: CoreV1Api;
  private readonly custom: CustomObjectsApi;
  private credentialsCache?: Promise<CredentialFact[] | { forbidden: string }>;

  constructor(kubeConfig: KubeConfig) {
    this.core = kubeConfig.makeApiClient(CoreV1Api);
    this.custom = kubeConfig.makeApiClient(CustomObjectsApi);
  }

  /** The Pod, or NotFoundError; a permission problem throws with the missing permission named. */
  async pod(namespace: string, name: string): Promise<V1Pod> {
    try {
      return await this.core.readNamespacedPod({ namespace, name });
    } catch (error) {
      if (status(error) === 404) throw new NotFoundError(`pod ${name} not found in namespace ${namespace}`);
      throw new Error(permissionText(error, 'get', 'pods', namespace));
    }
  }

  /** Facts for one image: the Pod's (when given) or the ServiceAccount's pull secrets. */
  async facts(
    namespace: string,
    image: string,
    options: { pod?: V1Pod; container?: string; serviceAccount: string },
  ): Promise<DoctorFacts> {
    const pod = options.pod;
    const serviceAccount = await this.serviceAccount(namespace, options.serviceAccount);
    const secretNames = pod
      ? (pod.spec?.imagePullSecrets ?? []).map((reference) => reference.name ?? '').filter(Boolean)
      : serviceAccount.state === 'found'
        ? serviceAccount.imagePullSecrets
        : [];
    const secrets: Record<string, SecretFact> = {};
    for (const name of secretNames) secrets[name] = await this.secret(namespace, name);
    const status = [...(pod?.status?.initContainerStatuses ?? []), ...(pod?.status?.containerStatuses ?? [])].find(
      (status) => status.name === options.container,
    );
    return {
      namespace,
      image,
      ...(options.container ? { container: options.container } : {}),
      ...(pod
        ? {
            pod: {
              name: pod.metadata!.name!,
              imagePullSecrets: secretNames,
              containerState: {
                waitingReason: status?.state?.waiting?.reason,
                waitingMessage: status?.state?.waiting?.message,
                running: Boolean(status?.state?.running),
              },
            },
          }
        : {}),
      serviceAccountName: options.serviceAccount,
      serviceAccount,
      secrets,
      credentials: await this.credentials(),
      events: pod ? await this.pullEvents(namespace, pod.metadata!.name!) : [],
      managedSecrets: await this.managedSecrets(namespace),
      ...(await this.namespaceLabels(namespace)),
      ...(pod?.spec?.nodeName ? { node: await this.node(pod.spec.nodeName) } : {}),
    };
  }

  private async namespaceLabels(namespace: string): Promise<{ namespaceLabels?: Record<string, string> }> {
    try {
      return { namespaceLabels: (await this.core.readNamespace({ name: namespace })).metadata?.labels ?? {} };
    } catch {
      return {};
    }
  }

  /**
   * The node's kubelet through the API server's node proxy (nodes/proxy get): its credential
   * provider metrics and its image pull verification policy. Unreadable is a fact, not an error.
   */
  private async node(name: string): Promise<NodeFact> {
    let provider: NodeFact['provider'];
    try {
      const text = String(await this.core.connectGetNodeProxyWithPath({ name, path: 'metrics' }));
      provider = { state: 'read', ...providerMetrics(text) };
    } catch (error) {
      provider = { state: 'unreadable', message: permissionText(error, 'get', 'nodes/proxy') };
    }
    let verificationPolicy: string | undefined;
    try {
      const raw: unknown = await this.core.connectGetNodeProxyWithPath({ name, path: 'configz' });
      const configz = (typeof raw === 'string' ? JSON.parse(raw) : raw) as {
        kubeletconfig?: { imagePullCredentialsVerificationPolicy?: string };
      };
      verificationPolicy = configz.kubeletconfig?.imagePullCredentialsVerificationPolicy;
    } catch {
      // not readable: the diagnosis says so
    }
    return { name, provider, ...(verificationPolicy ? { verificationPolicy } : {}) };
  }

  /** Every RegistryCredential (cluster-scoped), read once per run. */
  credentials(): Promise<CredentialFact[] | { forbidden: string }> {
    this.credentialsCache ??= (async () => {
      try {
        const list = (await this.custom.listClusterCustomObject({
          group: GROUP,
          version: VERSION,
          plural: PLURAL,
        })) as {
          items: Array<{
            metadata: { name: string };
            spec?: CredentialFact['spec'];
            status?: CredentialFact['status'];
          }>;
        };
        return list.items.map((item) => ({
          name: item.metadata.name,
          spec: item.spec ?? {},
          ...(item.status ? { status: item.status } : {}),
        }));
      } catch (error) {
        if (status(error) === 404) return { forbidden: 'the RegistryCredential CRD is not installed' };
        return { forbidden: permissionText(error, 'list', 'registrycredentials.regcred.io') };
      }
    })();
    return this.credentialsCache;
  }

  /**
   * A Secret as the kubelet would read it; when missing, where else a Secret of that name exists (if the user may list
   * them).
   */
  private async secret(namespace: string, name: string): Promise<SecretFact> {
    try {
      const secret = await this.core.readNamespacedSecret({ namespace, name });
      return {
        state: 'found',
        type: secret.type ?? 'Opaque',
        data: secret.data ?? {},
        labels: secret.metadata?.labels ?? {},
      };
    } catch (error) {
      if (status(error) !== 404)
        return { state: 'forbidden', message: permissionText(error, 'get', 'secrets', namespace) };
    }
    try {
      const elsewhere = await this.core.listSecretForAllNamespaces({ fieldSelector: `metadata.name=${name}` });
      const namespaces = elsewhere.items
        .map((secret) => secret.metadata?.namespace ?? '')
        .filter((ns) => ns && ns !== namespace);
      return { state: 'missing', ...(namespaces.length ? { foundInNamespaces: namespaces } : {}) };
    } catch {
      return { state: 'missing' };
    }
  }

  private async serviceAccount(namespace: string, name: string): Promise<DoctorFacts['serviceAccount']> {
    try {
      const sa = await this.core.readNamespacedServiceAccount({ namespace, name });
      return {
        state: 'found',
        imagePullSecrets: (sa.imagePullSecrets ?? []).map((reference) => reference.name ?? '').filter(Boolean),
        labels: sa.metadata?.labels ?? {},
      };
    } catch (error) {
      if (status(error) === 404) return { state: 'missing' };
      return { state: 'forbidden', message: permissionText(error, 'get', 'serviceaccounts', namespace) };
    }
  }

  private async pullEvents(namespace: string, pod: string): Promise<PullEvent[]> {
    try {
      const list = await this.core.listNamespacedEvent({
        namespace,
        fieldSelector: `involvedObject.kind=Pod,involvedObject.name=${pod}`,
      });
      const time = (event: (typeof list.items)[number]): number =>
        new Date((event.lastTimestamp ?? event.eventTime ?? event.firstTimestamp ?? 0) as unknown as string).getTime();
      return list.items
        .filter((event) =>
          [
            'Failed',
            'BackOff',
            'Pulling',
            'Pulled',
            'FailedToRetrieveImagePullSecret',
            'InspectFailed',
            'ErrImageNeverPull',
          ].includes(event.reason ?? ''),
        )
        .sort((a, b) => time(a) - time(b))
        .map((event) => ({
          reason: event.reason ?? '',
          message: event.message ?? '',
          type: event.type ?? '',
          count: event.count ?? 1,
        }));
    } catch {
      return [];
    }
  }

  private async managedSecrets(namespace: string): Promise<Array<{ name: string; credential: string }>> {
    try {
      const list = await this.core.listNamespacedSecret({
        namespace,
        labelSelector: `${LABEL_MANAGED_BY}=${MANAGED_BY}`,
      });
      return list.items.map((secret) => ({
        name: secret.metadata?.name ?? '',
        credential: secret.metadata?.labels?.[LABEL_CREDENTIAL] ?? '',
      }));
    } catch {
      return [];
    }
  }
}

/** The kubelet's credential provider series, from its Prometheus text (pkg/credentialprovider/plugin/metrics.go). */
export function providerMetrics(text: string): { configured: boolean; pluginCalls: number; pluginErrors: number } {
  let configured = false;
  let pluginCalls = 0;
  let pluginErrors = 0;
  const ours = `plugin_name="${PLUGIN_NAME}"`;
  for (const line of text.split('\n')) {
    if (line.startsWith('kubelet_credential_provider_config_info{')) configured = true;
    else if (line.startsWith('kubelet_credential_provider_plugin_duration_count{') && line.includes(ours))
      pluginCalls += Number(line.slice(line.lastIndexOf(' ') + 1)) || 0;
    else if (line.startsWith('kubelet_credential_provider_plugin_errors_total{') && line.includes(ours))
      pluginErrors += Number(line.slice(line.lastIndexOf(' ') + 1)) || 0;
  }
  return { configured, pluginCalls, pluginErrors };
}

function status(error: unknown): number | undefined {
  return error instanceof ApiException ? error.code : undefined;
}

/**
 * "cannot get secrets in namespace team-a: 403 (needs the get verb on secrets)"; no response body (it may echo names
 * only).
 */
export function permissionText(error: unknown, verb: string, resource: string, namespace?: string): string {
  const where = namespace ? ` in namespace ${namespace}` : ' (cluster-wide)';
  const code = status(error);
  if (code === 403)
    return `you may not ${verb} ${resource}${where} (403: your RBAC needs the ${verb} verb on ${resource})`;
  if (code === 401) return `the cluster does not accept your credentials (401)`;
  const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
  return `cannot ${verb} ${resource}${where}: ${code ?? message}`;
}
