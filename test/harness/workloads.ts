// Pods and Deployments on the e2e suite's real node, as a test sees them: through the API server
// (the kubelet's own Pod status and Events), never through the operator's code.
import { AppsV1Api, CoreV1Api, CoreV1Event, KubeConfig, type V1Container, type V1Pod } from '@kubernetes/client-node';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { isNotFound } from './cluster.js';
import { kubectl, type NodeEnv, testEnv } from '../../harness/controlplane.js';
import {
  buildahIn,
  buildOperatorImage,
  busyboxRootfs,
  nodeBaseRootfs,
  ociLayoutFromDir,
  removeBuildahStorage,
} from './images.js';
import { importImage } from './node.js';
import { waitFor } from '../../harness/wait.js';

/** The e2e suite's node (fails when the test runs outside the e2e project). */
export function nodeEnv(): NodeEnv {
  const node = testEnv().node;
  if (!node) throw new Error('no real node: run this test through jest --selectProjects e2e');
  return node;
}

let appRootfs: Promise<void> | undefined;

/**
 * An OCI layout (tag "1") of a busybox image whose default command prints a line and sleeps: what
 * the test Pods run, pushed to the test registries. `variant` goes into the image config (APP_IMAGE),
 * so images pushed under different names have different digests: containerd reports a Pod's
 * containers by image ID, and identical images would all show the first name pulled.
 */
export async function appImageLayout(variant = 'app', node: NodeEnv = nodeEnv()): Promise<string> {
  const dir = path.join(node.dir, 'images', 'app');
  const layout = path.join(dir, `oci-${variant.replace(/[^A-Za-z0-9._-]/g, '_')}`);
  try {
    await stat(path.join(layout, 'index.json'));
    return layout;
  } catch {
    // not made yet
  }
  const rootfs = path.join(dir, 'rootfs');
  // One rootfs for every variant, made once even when layouts are asked for concurrently.
  appRootfs ??= mkdir(dir, { recursive: true }).then(() => busyboxRootfs(rootfs));
  await appRootfs;
  await ociLayoutFromDir(rootfs, layout, '1', {
    cmd: ['/bin/sh', '-c', 'echo "$APP_IMAGE pulled and running"; exec sleep 3600'],
    env: [`APP_IMAGE=${variant}`],
  });
  return layout;
}

export interface PullEvent {
  reason: string;
  message: string;
  type: string;
  component: string;
  count: number;
}

export class Workloads {
  readonly core: CoreV1Api;
  readonly apps: AppsV1Api;

  constructor(kubeconfigPath = testEnv().adminKubeconfig) {
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfigPath);
    this.core = kc.makeApiClient(CoreV1Api);
    this.apps = kc.makeApiClient(AppsV1Api);
  }

  /**
   * A bare Pod (no controller) running `images`, one container each, pulled on every start unless
   * `pullPolicy` says otherwise.
   */
  createPod(
    namespace: string,
    name: string,
    images: string[],
    serviceAccountName = 'default',
    pullPolicy: 'Always' | 'IfNotPresent' = 'Always',
  ): Promise<V1Pod> {
    return this.core.createNamespacedPod({
      namespace,
      body: { metadata: { name }, spec: podSpec(images, serviceAccountName, pullPolicy) },
    });
  }

  /** A one-replica Deployment of `images` (label app=NAME). */
  async createDeployment(
    namespace: string,
    name: string,
    images: string[],
    serviceAccountName = 'default',
  ): Promise<void> {
    await this.apps.createNamespacedDeployment({
      namespace,
      body: {
        metadata: { name },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: name } },
          template: { metadata: { labels: { app: name } }, spec: podSpec(images, serviceAccountName) },
        },
      },
    });
  }

  /** `kubectl rollout restart`: the Deployment replaces its Pods (new ones get the SA's pull secrets). */
  async rolloutRestart(namespace: string, name: string): Promise<void> {
    const res = await kubectl(['-n', namespace, 'rollout', 'restart', `deployment/${name}`]);
    if (res.code !== 0) throw new Error(`rollout restart: ${res.stderr}`);
  }

  async pod(namespace: string, name: string): Promise<V1Pod | undefined> {
    try {
      return await this.core.readNamespacedPod({ namespace, name });
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async podsOf(namespace: string, app: string): Promise<V1Pod[]> {
    return (await this.core.listNamespacedPod({ namespace, labelSelector: `app=${app}` })).items;
  }

  /** The kubelet's Events about a Pod, oldest first. */
  async podEvents(namespace: string, pod: string): Promise<PullEvent[]> {
    const list = await this.core.listNamespacedEvent({
      namespace,
      fieldSelector: `involvedObject.kind=Pod,involvedObject.name=${pod}`,
    });
    return list.items
      .sort((a, b) => eventTime(a) - eventTime(b))
      .map((e) => ({
        reason: e.reason ?? '',
        message: e.message ?? '',
        type: e.type ?? '',
        component: e.source?.component ?? e.reportingComponent ?? '',
        count: e.count ?? 1,
      }));
  }

  /** Wait until a container of the Pod is waiting with one of `reasons` (e.g. ImagePullBackOff); returns the Pod. */
  waitForWaiting(namespace: string, pod: string, reasons: string[], timeoutMs = 120_000): Promise<V1Pod> {
    return waitFor(
      async () => {
        const p = await this.pod(namespace, pod);
        const waiting = (p?.status?.containerStatuses ?? []).some((c) =>
          reasons.includes(c.state?.waiting?.reason ?? ''),
        );
        return waiting ? p : undefined;
      },
      { timeoutMs, intervalMs: 250, what: `a container of ${namespace}/${pod} waiting with ${reasons.join(' or ')}` },
    );
  }

  /** Wait until every container of the Pod runs and is ready; returns the Pod. */
  waitForRunning(namespace: string, pod: string, timeoutMs = 120_000): Promise<V1Pod> {
    return waitFor(
      async () => {
        const p = await this.pod(namespace, pod);
        const statuses = p?.status?.containerStatuses ?? [];
        const running =
          p?.status?.phase === 'Running' && statuses.length > 0 && statuses.every((c) => c.ready && c.state?.running);
        return running ? p : undefined;
      },
      { timeoutMs, intervalMs: 250, what: `every container of ${namespace}/${pod} running` },
    );
  }

  /** Wait for a kubelet Event on the Pod whose reason is `reason` and whose message matches `message`. */
  waitForEvent(
    namespace: string,
    pod: string,
    reason: string,
    message: RegExp,
    timeoutMs = 120_000,
  ): Promise<PullEvent> {
    return waitFor(
      async () => (await this.podEvents(namespace, pod)).find((e) => e.reason === reason && message.test(e.message)),
      {
        timeoutMs,
        intervalMs: 250,
        what: `a ${reason} Event on ${namespace}/${pod} matching ${message}`,
      },
    );
  }

  /** The one Pod of a Deployment that is not being deleted and satisfies `ok`. */
  waitForDeploymentPod(
    namespace: string,
    app: string,
    ok: (pod: V1Pod) => boolean,
    what: string,
    timeoutMs = 120_000,
  ): Promise<V1Pod> {
    return waitFor(
      async () => {
        const pods = (await this.podsOf(namespace, app)).filter((p) => !p.metadata?.deletionTimestamp);
        return pods.length === 1 && ok(pods[0]) ? pods[0] : undefined;
      },
      { timeoutMs, intervalMs: 250, what: `the Pod of deployment ${namespace}/${app}: ${what}` },
    );
  }
}

/** Names of the pull secrets a Pod actually carries (copied from its ServiceAccount when it was created). */
export function podPullSecrets(pod: V1Pod | undefined): string[] {
  return (pod?.spec?.imagePullSecrets ?? []).map((r) => r.name ?? '');
}

export function isRunning(pod: V1Pod): boolean {
  const statuses = pod.status?.containerStatuses ?? [];
  return pod.status?.phase === 'Running' && statuses.length > 0 && statuses.every((c) => c.ready && c.state?.running);
}

export function waitingReasons(pod: V1Pod): string[] {
  return (pod.status?.containerStatuses ?? []).map((c) => c.state?.waiting?.reason ?? '').filter(Boolean);
}

function podSpec(
  images: string[],
  serviceAccountName: string,
  imagePullPolicy = 'Always',
): { containers: V1Container[]; serviceAccountName: string; terminationGracePeriodSeconds: number } {
  return {
    serviceAccountName,
    // the test image's shell does not forward SIGTERM to sleep: do not wait 30 s for it
    terminationGracePeriodSeconds: 1,
    containers: images.map((image, i) => ({ name: `c${i}`, image, imagePullPolicy })),
  };
}

function eventTime(e: CoreV1Event): number {
  const t = e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? e.metadata?.creationTimestamp;
  return t ? new Date(t as unknown as string).getTime() : 0;
}

/** The operator's image as the e2e suite names it on the node. */
export const OPERATOR_IMAGE = 'localhost/regcred-operator:e2e';

let operatorImage: Promise<{ name: string; buildSeconds: number }> | undefined;

/**
 * Build the operator's image from the repository's unmodified Dockerfile (buildah, on a base made
 * from this machine's Node.js: see images.ts) and import it into the node's containerd, once per
 * test file. Returns its name and how long the build took.
 */
export function operatorImageOnNode(): Promise<{ name: string; buildSeconds: number }> {
  operatorImage ??= (async () => {
    const node = nodeEnv();
    const dir = path.join(node.dir, 'images', 'operator');
    await mkdir(dir, { recursive: true });
    const archive = path.join(dir, 'operator.tar');
    const marker = path.join(dir, 'imported');
    try {
      return JSON.parse(await readFile(marker, 'utf8')) as { name: string; buildSeconds: number };
    } catch {
      // not built on this node yet
    }
    await nodeBaseRootfs(path.join(dir, 'base-rootfs'));
    await ociLayoutFromDir(path.join(dir, 'base-rootfs'), path.join(dir, 'base-oci'), 'local', {
      cmd: ['node'],
      env: ['NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt'],
    });
    const buildah = await buildahIn(path.join(dir, 'buildah'));
    let built;
    try {
      built = await buildOperatorImage(buildah, path.join(dir, 'base-oci'), OPERATOR_IMAGE, archive);
    } finally {
      await removeBuildahStorage(buildah, path.join(dir, 'buildah'));
    }
    await importImage(node, archive);
    const result = { name: OPERATOR_IMAGE, buildSeconds: built.seconds };
    await writeFile(marker, JSON.stringify(result));
    await rm(path.join(dir, 'base-rootfs'), { recursive: true, force: true });
    return result;
  })();
  return operatorImage;
}
