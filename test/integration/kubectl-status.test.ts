// `kubectl regcred status` (dist/cli/kubectl-regcred.js, as kubectl runs the plugin) on the real
// control plane: a Ready RegistryCredential with a Pod recovered, and one whose namespace fails
// (SecretConflict), in the table, -o wide and -o json. The rows' rules: test/unit/status.test.ts.
import * as path from 'node:path';
import { basicAuthSecret } from '../harness/cluster.js';
import { run, testEnv } from '../../harness/controlplane.js';
import { createStuckPod } from '../harness/pods.js';
import { type Scenario, startScenario, waitForCondition, waitForCounts } from '../harness/scenario.js';
import { waitFor } from '../../harness/wait.js';
import type { StatusRow } from '../../src/cli/status.js';

const CLI = path.resolve(
  path.dirname(new URL(import.meta.url).pathname),
  '..',
  '..',
  'dist',
  'cli',
  'kubectl-regcred.js',
);
const SERVER = 'status.example.com';

let s: Scenario;
let good: string;
let conflicted: string;

async function status(...args: string[]): Promise<string> {
  const res = await run(process.execPath, [CLI, 'status', '--kubeconfig', testEnv().adminKubeconfig, ...args], {
    timeoutMs: 60_000,
  });
  expect({ code: res.code, stderr: res.stderr }).toEqual({ code: 0, stderr: '' });
  return res.stdout;
}

beforeAll(async () => {
  s = await startScenario('status');
  await s.cluster.createSecret(s.sourceNamespace, basicAuthSecret('robot', 'robot', 'r0bot-status'));
  const ns = await s.namespace('ok', { group: 'ok' });
  await waitFor(() => s.cluster.getServiceAccount(ns, 'default'), { what: 'the default ServiceAccount' });
  // Stuck before its credential existed, owned by a ReplicaSet: recovery evicts it.
  await createStuckPod({ namespace: ns, name: 'stuck', images: [`${SERVER}/app:1`], controller: 'ReplicaSet' });
  good = await s.credential('good', {
    registries: [{ server: SERVER, basicAuth: { secretName: 'robot' } }],
    namespaceSelector: s.selectorWith({ group: 'ok' }),
    podRecovery: { enabled: true },
  });
  const taken = await s.namespace('taken', { group: 'taken' });
  // A Secret of the name the credential wants, which it does not own: SecretConflict.
  await s.cluster.createSecret(taken, basicAuthSecret('someone-elses', 'x', 'y'));
  conflicted = await s.credential('conflict', {
    registries: [{ server: SERVER, basicAuth: { secretName: 'robot' } }],
    namespaceSelector: s.selectorWith({ group: 'taken' }),
    secretName: 'someone-elses',
  });
  await waitForCondition(s.cluster, good, 'Ready', { status: 'True' });
  await waitFor(async () => ((await s.cluster.getCredential(good))?.status as StatusRow | undefined)?.recoveredPods, {
    what: 'status.recoveredPods of the Ready credential',
  });
  await waitForCounts(s.cluster, conflicted, { selected: 1, ready: 0, failed: 1 });
  await waitForCondition(s.cluster, conflicted, 'Ready', { status: 'False' });
}, 180_000);
afterAll(async () => s?.cleanup(), 120_000);

test('-o json: one row per RegistryCredential, with what its status says', async () => {
  const rows = JSON.parse(await status('-o', 'json')) as StatusRow[];
  const row = (name: string) => rows.find((candidate) => candidate.name === name);
  expect(row(good)).toMatchObject({
    ready: 'True',
    namespaces: { selected: 1, ready: 1, failed: 0 },
    recoveredPods: 1,
    failures: [],
    delivery: { secrets: true, kubelet: false },
    // verification is off for this operator: every registry Skipped, none checked
    verified: { verified: 0, failed: 0, total: 1 },
    registries: [{ server: SERVER, state: 'Skipped' }],
  });
  expect(row(conflicted)).toMatchObject({
    ready: 'False',
    namespaces: { selected: 1, ready: 0, failed: 1 },
    failures: [{ namespace: expect.stringMatching(/^taken-/), reason: 'SecretConflict' }],
  });
});

test('the table and -o wide', async () => {
  const line = (text: string, name: string) => text.split('\n').find((candidate) => candidate.startsWith(`${name} `));
  const table = await status();
  expect(table).toMatch(/^NAME\s+READY\s+NAMESPACES\s+EXPIRES\s+VERIFIED\s+RECOVERED\s+REASON\n/);
  expect(line(table, good)).toMatch(new RegExp(`^${good}\\s+True\\s+1/1\\s+-\\s+-/1\\s+1$`));
  expect(line(table, conflicted)).toMatch(/\s+False\s+0\/1\s+-\s+-\/1\s+-\s+\S+$/);
  const wide = await status('-o', 'wide');
  expect(line(wide, conflicted)).toMatch(/taken-\S+:SecretConflict\s+secrets\s+-\s+status\.example\.com=Skipped/);
});

test('-o with anything else is a usage error (exit 2)', async () => {
  const res = await run(process.execPath, [CLI, 'status', '-o', 'yaml', '--kubeconfig', testEnv().adminKubeconfig]);
  expect(res.code).toBe(2);
  expect(res.stderr).toContain('-o supports only json or wide here');
});
