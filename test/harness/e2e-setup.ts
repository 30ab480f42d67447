// jest globalSetup of the e2e project: the control plane of the integration suite, started so a
// node can join it (controlplane.ts `forNode`: Node authorizer, kube-scheduler, the workload
// controllers), plus one real node (node.ts: containerd + runc + bridge CNI + kubelet). Test files
// find both through REGCRED_TEST_ENV, whose `node` field describes the node.
import * as path from 'node:path';
import type { ControlPlane, TestEnv } from '../../harness/controlplane.js';
import type { RealNode } from './node.js';

declare global {
  /** The e2e suite's node, from globalSetup to globalTeardown (same JS context). */
  var __REGCRED_NODE__: RealNode | undefined;
}

export default async function e2eSetup(): Promise<void> {
  // See global-setup.ts: Node's own loader runs this file's imports, so register the .ts hook first.
  await import('../../hack/ts-loader.mjs');
  const { buildOperator, ensureControlPlaneBinaries, publishTestEnv, startControlPlane } =
    await import('../../harness/controlplane.js');
  const { NODE_NAME, nodePreflight, startNode } = await import('./node.js');
  const repoRoot = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
  await buildOperator(repoRoot);

  const binDir = await ensureControlPlaneBinaries();
  // Say why before starting anything: the suite fails (never skips) on a machine that cannot run a node.
  const problem = await nodePreflight(binDir);
  if (problem) throw new Error(`the e2e suite needs a real node, which this machine cannot run: ${problem}`);

  const started = Date.now();
  let cp: ControlPlane | undefined;
  let node: RealNode | undefined;
  try {
    cp = await startControlPlane({ binDir, withControllerManager: true, forNode: { nodeName: NODE_NAME } });
    const cpReady = Date.now();
    // The kubelet's image credential provider is configured as the installer does it (kubelet-node.ts):
    // it asks only for the registry ports the kubelet-delivery tests reserve, so other pulls are untouched.
    node = await startNode(cp.env, { kubeletDelivery: true });
    const env: TestEnv = { ...cp.env, node: node.env };
    await publishTestEnv(env, cp.dir, repoRoot);
    globalThis.__REGCRED_CP__ = cp;
    globalThis.__REGCRED_NODE__ = node;
    process.stderr.write(
      `\n[harness] control plane ${cp.server} ready in ${((cpReady - started) / 1000).toFixed(1)} s, ` +
        `node ${NODE_NAME} Ready ${((Date.now() - cpReady) / 1000).toFixed(1)} s later (dirs ${cp.dir}, ` +
        `${node.env.dir})\n`,
    );
  } catch (err) {
    await node?.stop().catch(() => undefined);
    await cp?.stop().catch(() => undefined);
    throw err;
  }
}
