// jest globalTeardown of the integration project: stop the shared control plane started by
// global-setup.ts (it also removes the work dir unless REGCRED_KEEP_TEST_DIRS=1).
import type { ControlPlane } from '../../harness/controlplane.js';

export default async function globalTeardown(): Promise<void> {
  const cp: ControlPlane | undefined = globalThis.__REGCRED_CP__;
  globalThis.__REGCRED_CP__ = undefined;
  delete process.env.REGCRED_TEST_ENV;
  if (cp) await cp.stop();
}
