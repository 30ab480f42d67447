// Pods that are stuck on a pull, on a control plane without a node: created through the API (so the
// ServiceAccount admission plugin copies the SA's pull secrets as it would), owned by a real
// controller object when asked, and given the status a kubelet would write (through the status
// subresource): Pending, a container waiting with ErrImagePull or ImagePullBackOff. What stuck-pod
// recovery decides from is exactly what a kubelet reports; the e2e suite does the same with a real
// kubelet (test/e2e/pod-recovery.test.ts).
import { kubectl } from '../../harness/controlplane.js';

export interface StuckPodOptions {
  namespace: string;
  name: string;
  /** One container per image (init containers with `initImages`). */
  images: string[];
  initImages?: string[];
  serviceAccount?: string;
  /** A controller owner (a real object of that kind, with no controller running for it here). */
  controller?: 'ReplicaSet' | 'StatefulSet' | 'Job';
  /** Why the first container (or init container) waits; default ImagePullBackOff. */
  waitingReason?: string;
  imagePullSecrets?: string[];
}

/** Creates the Pod (and its owner) and writes its status; returns the Pod's uid. */
export async function createStuckPod(opts: StuckPodOptions): Promise<string> {
  const { namespace, name } = opts;
  let ownerReferences: unknown[] | undefined;
  if (opts.controller) {
    const owner = await kubectlJson(
      ['apply', '-f', '-', '-o', 'json'],
      JSON.stringify(controllerObject(opts.controller, namespace, `${name}-owner`)),
    );
    ownerReferences = [
      {
        apiVersion: owner.apiVersion,
        kind: owner.kind,
        name: owner.metadata.name,
        uid: owner.metadata.uid,
        controller: true,
        blockOwnerDeletion: true,
      },
    ];
  }
  const container = (image: string, i: number, prefix: string) => ({ name: `${prefix}${i}`, image });
  const pod = await kubectlJson(
    ['create', '-f', '-', '-o', 'json'],
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace, labels: { app: name }, ...(ownerReferences ? { ownerReferences } : {}) },
      spec: {
        serviceAccountName: opts.serviceAccount ?? 'default',
        ...(opts.imagePullSecrets
          ? { imagePullSecrets: opts.imagePullSecrets.map((secret) => ({ name: secret })) }
          : {}),
        initContainers: (opts.initImages ?? []).map((image, i) => container(image, i, 'init')),
        containers: opts.images.map((image, i) => container(image, i, 'c')),
      },
    }),
  );
  const reason = opts.waitingReason ?? 'ImagePullBackOff';
  const status = (images: string[], prefix: string, first: boolean) =>
    images.map((image, i) => ({
      name: `${prefix}${i}`,
      image,
      imageID: '',
      ready: false,
      restartCount: 0,
      state: {
        waiting: first && i === 0 ? { reason, message: `${reason} for ${image}` } : { reason: 'PodInitializing' },
      },
    }));
  const hasInit = (opts.initImages ?? []).length > 0;
  await kubectlJson(
    ['patch', 'pod', name, '-n', namespace, '--subresource=status', '--type=merge', '-o', 'json', '-p'],
    undefined,
    JSON.stringify({
      status: {
        phase: 'Pending',
        conditions: [{ type: 'PodScheduled', status: 'True' }],
        ...(hasInit ? { initContainerStatuses: status(opts.initImages!, 'init', true) } : {}),
        containerStatuses: status(opts.images, 'c', !hasInit),
      },
    }),
  );
  return pod.metadata.uid as string;
}

function controllerObject(kind: NonNullable<StuckPodOptions['controller']>, namespace: string, name: string): unknown {
  const template = {
    metadata: { labels: { owner: name } },
    spec: {
      containers: [{ name: 'c', image: 'unused.invalid/none:1' }],
      restartPolicy: kind === 'Job' ? 'Never' : 'Always',
    },
  };
  const selector = { matchLabels: { owner: name } };
  switch (kind) {
    case 'ReplicaSet':
      return { apiVersion: 'apps/v1', kind, metadata: { name, namespace }, spec: { replicas: 0, selector, template } };
    case 'StatefulSet':
      return {
        apiVersion: 'apps/v1',
        kind,
        metadata: { name, namespace },
        spec: { replicas: 0, serviceName: name, selector, template },
      };
    case 'Job':
      return { apiVersion: 'batch/v1', kind, metadata: { name, namespace }, spec: { suspend: true, template } };
  }
}

async function kubectlJson(args: string[], input?: string, patch?: string): Promise<any> {
  const res = await kubectl(patch === undefined ? args : [...args, patch], input === undefined ? {} : { input });
  if (res.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${res.stderr.trim()}`);
  return JSON.parse(res.stdout);
}
