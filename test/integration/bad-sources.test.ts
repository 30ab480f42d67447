// Spec semantics 7 (bad input the operator alone can see): a missing or malformed source Secret
// becomes SourcesReady=False with a reason and a Warning Event; existing copies stay exactly as
// they are (nothing is deleted or overwritten on an error); fixing the source converges again.
import { basicAuthSecret, dockerConfigSecret } from '../harness/cluster.js';
import { passwordFor, type Scenario, startScenario, waitForCondition, waitForSecret } from '../harness/scenario.js';
import { waitFor } from '../../harness/wait.js';

let s: Scenario;
beforeAll(async () => {
  s = await startScenario('badsrc');
});
afterAll(async () => s?.cleanup());

const warning = (cred: string, reason: string) =>
  waitFor(async () => (await s.cluster.eventsFor(cred)).find((e) => e.type === 'Warning' && e.reason === reason), {
    what: `a ${reason} Warning Event for ${cred}`,
  });

test('a missing source Secret: SourceSecretNotFound, no Secret created; creating it converges', async () => {
  const ns = await s.namespace('missing', { case: 'missing' });
  const cred = await s.credential('missing', {
    registries: [{ server: 'r.example.com', basicAuth: { secretName: 'not-yet' } }],
    namespaceSelector: s.selectorWith({ case: 'missing' }),
  });
  const cond = await waitForCondition(s.cluster, cred, 'SourcesReady', {
    status: 'False',
    reason: 'SourceSecretNotFound',
  });
  expect(cond.message).toContain(`${s.sourceNamespace}/not-yet`);
  expect(await s.cluster.condition(cred, 'Ready')).toMatchObject({ status: 'False', reason: 'SourceSecretNotFound' });
  await warning(cred, 'SourceSecretNotFound');
  expect(await s.cluster.getSecret(ns, cred)).toBeUndefined();

  await s.cluster.createSecret(s.sourceNamespace, basicAuthSecret('not-yet', 'u', 'p'));
  await waitForCondition(s.cluster, cred, 'Ready', { status: 'True' });
  await waitForSecret(s.cluster, ns, cred);
});

test('a source broken after convergence: the copies are kept unchanged, the status says why', async () => {
  const nss = await Promise.all(['k1', 'k2'].map((p) => s.namespace(p, { case: 'keep' })));
  await s.cluster.createSecret(
    s.sourceNamespace,
    dockerConfigSecret('legacy', JSON.stringify({ auths: { 'ghcr.io': { username: 'u', password: 'good' } } })),
  );
  const cred = await s.credential('keep', {
    registries: [{ dockerConfig: { secretName: 'legacy' } }],
    namespaceSelector: s.selectorWith({ case: 'keep' }),
  });
  const copies = await Promise.all(
    nss.map((ns) => waitForSecret(s.cluster, ns, cred, (x) => passwordFor(x, 'ghcr.io') === 'good')),
  );

  // malformed: valid JSON (the API server checks that much) but an entry without credentials
  const source = (await s.cluster.getSecret(s.sourceNamespace, 'legacy'))!;
  source.data = {
    '.dockerconfigjson': Buffer.from('{"auths":{"ghcr.io":{"email":"x@example.com"}}}').toString('base64'),
  };
  await s.cluster.replaceSecret(source);
  const cond = await waitForCondition(s.cluster, cred, 'SourcesReady', {
    status: 'False',
    reason: 'InvalidSourceSecret',
  });
  expect(cond.message).toContain('has neither username/password nor auth');
  expect(cond.message).toContain('The last good value of this source keeps being served');
  await warning(cred, 'InvalidSourceSecret');
  // deleted altogether
  await s.cluster.deleteSecret(s.sourceNamespace, 'legacy');
  await waitForCondition(s.cluster, cred, 'SourcesReady', { status: 'False', reason: 'SourceSecretNotFound' });
  for (const [i, ns] of nss.entries()) {
    expect((await s.cluster.getSecret(ns, cred))?.metadata?.resourceVersion).toBe(copies[i]!.metadata?.resourceVersion);
  }

  // fixed with a new password: every copy follows
  await s.cluster.createSecret(
    s.sourceNamespace,
    dockerConfigSecret('legacy', JSON.stringify({ auths: { 'ghcr.io': { username: 'u', password: 'fixed' } } })),
  );
  for (const ns of nss) await waitForSecret(s.cluster, ns, cred, (x) => passwordFor(x, 'ghcr.io') === 'fixed');
  await waitForCondition(s.cluster, cred, 'Ready', { status: 'True' });
});

test.each([
  [
    'a basicAuth Secret without the password key',
    basicAuthSecret('nopw', 'u', 'p'),
    { basicAuth: { secretName: 'nopw', passwordKey: 'token' } },
    'InvalidSourceSecret',
    'has no "token" key',
  ],
  [
    'a dockerConfig source of the wrong type',
    { metadata: { name: 'opaque' }, type: 'Opaque', stringData: { x: 'y' } },
    { dockerConfig: { secretName: 'opaque' } },
    'InvalidSourceSecret',
    'expected kubernetes.io/dockerconfigjson',
  ],
  [
    'a dockerconfigjson without auths',
    dockerConfigSecret('noauths', '{"credsStore":"desktop"}'),
    { dockerConfig: { secretName: 'noauths' } },
    'InvalidSourceSecret',
    'has no "auths" object',
  ],
])('%s is reported with a reason', async (_name, secret, entry, reason, message) => {
  await s.cluster.createSecret(s.sourceNamespace, secret);
  const registry = 'basicAuth' in entry ? { server: 'r.example.com', ...entry } : entry;
  const cred = await s.credential(`bad-${secret.metadata!.name}`, {
    registries: [registry],
    namespaceSelector: s.selectorWith({ case: 'none' }),
  });
  const cond = await waitForCondition(s.cluster, cred, 'SourcesReady', { status: 'False', reason });
  expect(cond.message).toContain(message);
});
