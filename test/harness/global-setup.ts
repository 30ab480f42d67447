// jest globalSetup of the integration project: one real control plane (etcd, kube-apiserver,
// kube-controller-manager) shared by every test file. Test files run in another JS context, so
// they find it through the JSON file named by REGCRED_TEST_ENV (see testEnv()); tests run in-band,
// in this same OS process, so they see the variable.
import * as path from 'node:path';
import type { TestEnv } from '../../harness/controlplane.js';

/**
 * jest transforms this file with ts-jest but then loads it, and everything it imports, with Node's
 * own ESM loader: no moduleNameMapper (`./x.js` -> `./x.ts`) and no TypeScript there. So before
 * importing the harness, register a tiny Node loader hook (hack/ts-hooks.mjs, through
 * hack/ts-loader.mjs, the same one `npm run demo` runs with) that resolves a missing `./x.js`
 * imported from a .ts file to `./x.ts` and strips types from .ts files with typescript's
 * transpileModule (type checking is `npm run typecheck`'s job). Test files are unaffected: jest
 * loads them itself. Node evaluates ts-loader.mjs once per process, so jest --watch, which runs
 * globalSetup again in the same process, does not register the hook twice.
 */
export default async function globalSetup(): Promise<void> {
  await import('../../hack/ts-loader.mjs');
  const { buildOperator, ensureControlPlaneBinaries, publishTestEnv, startControlPlane } =
    await import('../../harness/controlplane.js');
  const repoRoot = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
  await buildOperator(repoRoot);

  const binDir = await ensureControlPlaneBinaries();
  const started = Date.now();
  const cp = await startControlPlane({ binDir, withControllerManager: true });
  globalThis.__REGCRED_CP__ = cp;
  const env: TestEnv = {
    server: cp.server,
    adminKubeconfig: cp.adminKubeconfig,
    auditLogPath: cp.auditLogPath,
    dir: cp.dir,
    binDir: cp.binDir,
  };
  await publishTestEnv(env, cp.dir, repoRoot);
  process.stderr.write(
    `\n[harness] control plane ${cp.server} ready in ${((Date.now() - started) / 1000).toFixed(1)} s (dir ${cp.dir})\n`,
  );
}
