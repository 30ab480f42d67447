// jest globalSetup of the e2e project: the control plane of the integration suite, started so a
// node can join it (controlplane.ts `forNode`: Node authorizer, kube-scheduler, the workload
// controllers), plus one real node (node.ts: containerd + runc + bridge CNI + kubelet). Test files
// find both through REGCRED_TEST_ENV, whose `node` field describes the node.
import { writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import type { ControlPlane, TestEnv } from './controlplane.js';
import type { RealNode } from './node.js';

declare global {
  /** The e2e suite's node, from globalSetup to globalTeardown (same JS context). */
  var __REGCRED_NODE__: RealNode | undefined;
}

export default async function e2eSetup(): Promise<void> {
  // See global-setup.ts: Node's own loader runs this file's imports, so register the .ts hook first.
  await import('../../hack/ts-loader.mjs');
  const { ensureControlPlaneBinaries, startControlPlane, kubectl, runOk } = await import('./controlplane.js');
  const { NODE_NAME, nodePreflight, startNode } = await import('./node.js');
  const repoRoot = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
  await runOk(
    process.execPath,
    [createRequire(import.meta.url).resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json'],
    { cwd: repoRoot },
  );

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
    node = await startNode(cp.env);
    const env: TestEnv = { ...cp.env, node: node.env };
    const envFile = path.join(cp.dir, 'test-env.json');
    await writeFile(envFile, JSON.stringify(env, null, 2));
    process.env.REGCRED_TEST_ENV = envFile;
    for (const args of [
      ['apply', '-f', path.join(repoRoot, 'crds')],
      ['wait', '--for=condition=Established', '--timeout=60s', 'crd/registrycredentials.regcred.io'],
    ]) {
      const res = await kubectl(args, {}, env);
      if (res.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed: ${res.stderr}`);
    }
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
