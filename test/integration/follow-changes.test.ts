// Spec semantics 3 (follow changes): a rotated source Secret reaches every copy; a copy someone
// deletes or edits is restored; a spec change (another registry, a new secretName) reaches every
// namespace, the old-named Secret and SA entries being replaced, not left behind.
import { basicAuthSecret, dockerConfigSecret } from '../harness/cluster.js';
import {
  passwordFor,
  type Scenario,
  startScenario,
  waitForPullSecrets,
  waitForSecret,
  waitForSecretGone,
} from '../harness/scenario.js';

let s: Scenario;
beforeAll(async () => {
  s = await startScenario('follow');
});
afterAll(async () => s?.cleanup());

test('a rotated source Secret updates every copy', async () => {
  await s.cluster.createSecret(s.sourceNamespace, basicAuthSecret('rotating', 'bot', 'old-password'));
  const nss = await Promise.all(['r1', 'r2', 'r3'].map((p) => s.namespace(p, { case: 'rotate' })));
  const cred = await s.credential('rotate', {
    registries: [{ server: 'reg.example.com', basicAuth: { secretName: 'rotating' } }],
    namespaceSelector: s.selectorWith({ case: 'rotate' }),
  });
  for (const ns of nss)
    await waitForSecret(s.cluster, ns, cred, (x) => passwordFor(x, 'reg.example.com') === 'old-password');

  await s.cluster.setPassword(s.sourceNamespace, 'rotating', 'new-password');
  for (const ns of nss)
    await waitForSecret(s.cluster, ns, cred, (x) => passwordFor(x, 'reg.example.com') === 'new-password');
});

test('a deleted copy is recreated and an edited copy is restored', async () => {
  await s.cluster.createSecret(s.sourceNamespace, basicAuthSecret('steady', 'bot', 'steady-pw'));
  const ns = await s.namespace('restore', { case: 'restore' });
  const cred = await s.credential('restore', {
    registries: [{ server: 'reg.example.com', basicAuth: { secretName: 'steady' } }],
    namespaceSelector: s.selectorWith({ case: 'restore' }),
  });
  const first = await waitForSecret(s.cluster, ns, cred);

  await s.cluster.deleteSecret(ns, cred);
  const recreated = await waitForSecret(s.cluster, ns, cred, (x) => x.metadata?.uid !== first.metadata?.uid);
  expect(passwordFor(recreated, 'reg.example.com')).toBe('steady-pw');

  // edited payload
  recreated.data = { '.dockerconfigjson': Buffer.from('{"auths":{}}').toString('base64') };
  await s.cluster.replaceSecret(recreated);
  await waitForSecret(s.cluster, ns, cred, (x) => passwordFor(x, 'reg.example.com') === 'steady-pw');

  // our labels edited away: still ours (ownerReference), labels come back, a foreign label stays
  const edited = (await s.cluster.getSecret(ns, cred))!;
  edited.metadata!.labels = { team: 'payments' };
  await s.cluster.replaceSecret(edited);
  const relabelled = await waitForSecret(
    s.cluster,
    ns,
    cred,
    (x) => x.metadata?.labels?.['regcred.io/credential'] === cred,
  );
  expect(relabelled.metadata?.labels).toMatchObject({
    team: 'payments',
    'app.kubernetes.io/managed-by': 'regcred-operator',
  });
  expect(relabelled.metadata?.uid).toBe(recreated.metadata?.uid);
});

test('spec changes: a registry added, then secretName changed', async () => {
  await s.cluster.createSecret(s.sourceNamespace, basicAuthSecret('one', 'u1', 'p1'));
  await s.cluster.createSecret(
    s.sourceNamespace,
    dockerConfigSecret(
      'imported',
      JSON.stringify({ auths: { 'ghcr.io': { auth: Buffer.from('u2:p2').toString('base64') } } }),
    ),
  );
  const nss = await Promise.all(['s1', 's2'].map((p) => s.namespace(p, { case: 'spec' })));
  const cred = await s.credential('spec', {
    registries: [{ server: 'one.example.com', basicAuth: { secretName: 'one' } }],
    namespaceSelector: s.selectorWith({ case: 'spec' }),
  });
  for (const ns of nss) await waitForPullSecrets(s.cluster, ns, 'default', [cred]);

  await s.cluster.patchCredentialSpec(cred, {
    registries: [
      { server: 'one.example.com', basicAuth: { secretName: 'one' } },
      { dockerConfig: { secretName: 'imported' } },
    ],
  });
  for (const ns of nss)
    await waitForSecret(
      s.cluster,
      ns,
      cred,
      (x) => passwordFor(x, 'ghcr.io') === 'p2' && passwordFor(x, 'one.example.com') === 'p1',
    );

  const sa = (await s.cluster.getServiceAccount(nss[0]!, 'default'))!;
  sa.imagePullSecrets = [{ name: 'foreign' }, ...sa.imagePullSecrets!];
  await s.cluster.replaceServiceAccount(sa);
  await s.cluster.patchCredentialSpec(cred, { secretName: 'renamed-pull' });
  for (const ns of nss) {
    await waitForSecret(s.cluster, ns, 'renamed-pull', (x) => passwordFor(x, 'ghcr.io') === 'p2');
    await waitForSecretGone(s.cluster, ns, cred);
  }
  await waitForPullSecrets(s.cluster, nss[0]!, 'default', ['foreign', 'renamed-pull']);
  await waitForPullSecrets(s.cluster, nss[1]!, 'default', ['renamed-pull']);
});

test('a namespace labelled into the selector gets the Secret', async () => {
  await s.cluster.createSecret(s.sourceNamespace, basicAuthSecret('lbl', 'u', 'p'));
  const ns = await s.namespace('late-label');
  const cred = await s.credential('label', {
    registries: [{ server: 'reg.example.com', basicAuth: { secretName: 'lbl' } }],
    namespaceSelector: s.selectorWith({ case: 'label' }),
  });
  await s.cluster.labelNamespace(ns, { case: 'label' });
  await waitForSecret(s.cluster, ns, cred);
  await waitForPullSecrets(s.cluster, ns, 'default', [cred]);
});
