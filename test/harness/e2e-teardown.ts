// jest globalTeardown of the e2e project: the node first (its Pods drained, every process, mount,
// rule and the bridge removed), then the control plane.
export default async function e2eTeardown(): Promise<void> {
  const node = globalThis.__REGCRED_NODE__;
  const cp = globalThis.__REGCRED_CP__;
  globalThis.__REGCRED_NODE__ = undefined;
  globalThis.__REGCRED_CP__ = undefined;
  delete process.env.REGCRED_TEST_ENV;
  try {
    if (node) await node.stop();
  } finally {
    if (cp) await cp.stop();
  }
}
