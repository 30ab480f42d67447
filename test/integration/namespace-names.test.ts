// Targeting and Secret shape: namespaceNames (globs * and ?) ANDed with namespaceSelector, and globs
// in excludeNamespaces. Namespaces created later that match are served; a namespace that leaves
// the patterns, or an exclusion pattern added later, is cleaned up exactly (our Secret and our SA
// entries go, everything else stays); status counts and the Namespaces column follow.
import { basicAuthSecret } from '../harness/cluster.js';
import { kubectl } from '../../harness/controlplane.js';
import {
  type Scenario,
  startScenario,
  waitForCounts,
  waitForPullSecrets,
  waitForSecret,
  waitForSecretGone,
} from '../harness/scenario.js';

let s: Scenario;
beforeAll(async () => {
  s = await startScenario('names');
  await s.cluster.createSecret(s.sourceNamespace, basicAuthSecret('robot', 'u', 'p'));
});
afterAll(async () => s?.cleanup());

const registries = [{ server: 'r.example.com', basicAuth: { secretName: 'robot' } }];

/** The Namespaces printer column of `kubectl get regcred`. */
async function namespacesColumn(cred: string): Promise<string | undefined> {
  const res = await kubectl(['get', 'regcred', cred, '--no-headers']);
  return res.stdout.trim().split(/\s+/)[2];
}

test('namespaceNames globs ANDed with the selector; later namespaces; a namespace leaving the patterns', async () => {
  const group = { case: 'globs' };
  // Scenario namespaces are named <prefix>-<scenario id>.
  const teamA = await s.namespace('team-a', group);
  const teamB = await s.namespace('team-b', group);
  const other = await s.namespace('ops', group); // labelled, but its name does not match
  const unlabelled = await s.namespace('team-c'); // its name matches, but not the selector
  await s.cluster.createServiceAccount(teamB, 'app', ['foreign-a']);
  const cred = await s.credential('globs', {
    registries,
    namespaceSelector: s.selectorWith(group),
    namespaceNames: [`team-?-${s.id}`],
    serviceAccounts: ['default', 'app'],
  });
  for (const ns of [teamA, teamB]) await waitForSecret(s.cluster, ns, cred);
  await waitForPullSecrets(s.cluster, teamB, 'app', ['foreign-a', cred]);
  await waitForPullSecrets(s.cluster, teamB, 'default', [cred]);
  await waitForCounts(s.cluster, cred, { selected: 2, ready: 2, failed: 0 });
  expect(await namespacesColumn(cred)).toBe('2/2');
  for (const ns of [other, unlabelled]) expect(await s.cluster.getSecret(ns, cred)).toBeUndefined();

  // Created later: a matching one is served; one whose name does not match is not.
  const teamD = await s.namespace('team-d', group);
  const teamLong = await s.namespace('team-long', group); // '?' is exactly one character
  await waitForSecret(s.cluster, teamD, cred);
  await waitForCounts(s.cluster, cred, { selected: 3, ready: 3, failed: 0 });
  expect(await s.cluster.getSecret(teamLong, cred)).toBeUndefined();

  // The patterns change: team-b leaves (exact cleanup), team-long joins.
  const app = (await s.cluster.getServiceAccount(teamB, 'app'))!;
  app.imagePullSecrets = [...app.imagePullSecrets!, { name: 'foreign-b' }];
  await s.cluster.replaceServiceAccount(app);
  await s.cluster.patchCredentialSpec(cred, { namespaceNames: [`team-a-${s.id}`, `team-d-${s.id}`, `*-long-${s.id}`] });
  await waitForSecretGone(s.cluster, teamB, cred);
  await waitForPullSecrets(s.cluster, teamB, 'app', ['foreign-a', 'foreign-b']);
  await waitForPullSecrets(s.cluster, teamB, 'default', []);
  await waitForSecret(s.cluster, teamLong, cred);
  await waitForCounts(s.cluster, cred, { selected: 3, ready: 3, failed: 0 });
  expect(await namespacesColumn(cred)).toBe('3/3');
  expect(await s.cluster.getSecret(teamA, cred)).toBeDefined();
});

test('globs in excludeNamespaces, added later: exactly what was added goes', async () => {
  const group = { case: 'exclude' };
  const sandbox1 = await s.namespace('x1-sandbox', group);
  const sandbox2 = await s.namespace('x2-sandbox', group);
  const kept = await s.namespace('x3-prod', group);
  await s.cluster.createServiceAccount(sandbox1, 'app', ['foreign-a']);
  await s.cluster.createSecret(sandbox1, { metadata: { name: 'unrelated' }, type: 'Opaque', stringData: { a: 'b' } });
  const cred = await s.credential('exclude', {
    registries,
    namespaceSelector: s.selectorWith(group),
    serviceAccounts: ['*'],
  });
  for (const ns of [sandbox1, sandbox2, kept]) await waitForSecret(s.cluster, ns, cred);
  await waitForPullSecrets(s.cluster, sandbox1, 'app', ['foreign-a', cred]);
  await waitForCounts(s.cluster, cred, { selected: 3, ready: 3, failed: 0 });

  await s.cluster.patchCredentialSpec(cred, { excludeNamespaces: [`x?-sandbox-${s.id}`] });
  for (const ns of [sandbox1, sandbox2]) {
    await waitForSecretGone(s.cluster, ns, cred);
    await waitForPullSecrets(s.cluster, ns, 'default', []);
  }
  await waitForPullSecrets(s.cluster, sandbox1, 'app', ['foreign-a']);
  expect(await s.cluster.getSecret(sandbox1, 'unrelated')).toBeDefined();
  await waitForCounts(s.cluster, cred, { selected: 1, ready: 1, failed: 0 });
  expect(await s.cluster.getSecret(kept, cred)).toBeDefined();
  expect(await namespacesColumn(cred)).toBe('1/1');

  // A new namespace matching the exclusion pattern is never touched.
  const sandbox3 = await s.namespace('x4-sandbox', group);
  const prod2 = await s.namespace('x5-prod', group);
  await waitForSecret(s.cluster, prod2, cred);
  await waitForCounts(s.cluster, cred, { selected: 2, ready: 2, failed: 0 });
  expect(await s.cluster.getSecret(sandbox3, cred)).toBeUndefined();
});
