// Targeting and Secret shape: spec.secretTemplate. Its labels and annotations are on every copy,
// next to the operator's own labels and ownerReference; an edit of the template reaches every copy
// within seconds; a key taken out of the template leaves the copies while labels and annotations
// someone else added stay; a template value someone edits on a copy is restored. (The operator's
// own keys cannot be set: the CRD rejects them, see invalid-specs.test.ts.)
import type { V1Secret } from '@kubernetes/client-node';
import { basicAuthSecret } from '../harness/cluster.js';
import {
  type Scenario,
  startScenario,
  waitForCondition,
  waitForCounts,
  waitForPullSecrets,
  waitForSecret,
} from '../harness/scenario.js';
import { waitFor } from '../../harness/wait.js';

let s: Scenario;
beforeAll(async () => {
  s = await startScenario('template');
  await s.cluster.createSecret(s.sourceNamespace, basicAuthSecret('robot', 'u', 'p'));
});
afterAll(async () => s?.cleanup());

const registries = [{ server: 'r.example.com', basicAuth: { secretName: 'robot' } }];
const RECORD = 'regcred.io/templated-keys';

/** Whether a copy carries exactly these values (null: the key must be absent). */
function carries(
  secret: V1Secret,
  labels: Record<string, string | null>,
  annotations: Record<string, string | null> = {},
): boolean {
  const has = (map: Record<string, string> | undefined, want: Record<string, string | null>) =>
    Object.entries(want).every(([key, value]) => (value === null ? !(key in (map ?? {})) : map?.[key] === value));
  return has(secret.metadata?.labels, labels) && has(secret.metadata?.annotations, annotations);
}

test('template keys on every copy; edits follow; removed keys go, foreign keys stay; a copy edited back', async () => {
  const nss = [await s.namespace('a', { case: 'tpl' }), await s.namespace('b', { case: 'tpl' })];
  const cred = await s.credential('tpl', {
    registries,
    namespaceSelector: s.selectorWith({ case: 'tpl' }),
    secretName: 'pull',
    secretTemplate: {
      labels: { team: 'payments', 'argocd.argoproj.io/secret-type': 'repository' },
      annotations: { 'argocd.argoproj.io/compare-options': 'IgnoreExtraneous' },
    },
  });
  for (const ns of nss) {
    const copy = await waitForSecret(s.cluster, ns, 'pull', (x) =>
      carries(
        x,
        {
          team: 'payments',
          'argocd.argoproj.io/secret-type': 'repository',
          'app.kubernetes.io/managed-by': 'regcred-operator',
          'regcred.io/credential': cred,
        },
        { 'argocd.argoproj.io/compare-options': 'IgnoreExtraneous' },
      ),
    );
    expect(copy.metadata?.ownerReferences?.map((o) => [o.kind, o.name, o.controller])).toEqual([
      ['RegistryCredential', cred, true],
    ]);
    expect(JSON.parse(copy.metadata!.annotations![RECORD]!)).toEqual({
      annotations: ['argocd.argoproj.io/compare-options'],
      labels: ['argocd.argoproj.io/secret-type', 'team'],
    });
    await waitForPullSecrets(s.cluster, ns, 'default', ['pull']);
  }
  await waitForCounts(s.cluster, cred, { selected: 2, ready: 2, failed: 0 });

  // Someone else labels and annotates one copy, and changes a template value on it.
  const [first, second] = nss as [string, string];
  const copy = (await s.cluster.getSecret(first, 'pull'))!;
  copy.metadata!.labels = { ...copy.metadata!.labels, backup: 'daily', team: 'hijacked' };
  copy.metadata!.annotations = { ...copy.metadata!.annotations, 'example.com/owner': 'ops' };
  await s.cluster.replaceSecret(copy);
  // The template value comes back; their label and annotation stay.
  await waitForSecret(s.cluster, first, 'pull', (x) =>
    carries(x, { team: 'payments', backup: 'daily' }, { 'example.com/owner': 'ops' }),
  );

  // The template is edited: one label changes, one goes, the annotation goes, a new annotation comes.
  await s.cluster.patchCredentialSpec(cred, {
    secretTemplate: {
      labels: { team: 'payments-eu', 'argocd.argoproj.io/secret-type': null },
      annotations: { 'argocd.argoproj.io/compare-options': null, 'example.com/rotated-by': 'regcred' },
    },
  });
  for (const ns of nss)
    await waitForSecret(s.cluster, ns, 'pull', (x) =>
      carries(
        x,
        { team: 'payments-eu', 'argocd.argoproj.io/secret-type': null, 'regcred.io/credential': cred },
        {
          'argocd.argoproj.io/compare-options': null,
          'example.com/rotated-by': 'regcred',
          [RECORD]: '{"annotations":["example.com/rotated-by"],"labels":["team"]}',
        },
      ),
    );
  expect(
    carries((await s.cluster.getSecret(first, 'pull'))!, { backup: 'daily' }, { 'example.com/owner': 'ops' }),
  ).toBe(true);
  await waitFor(async () => (await s.cluster.eventsFor(cred)).some((e) => e.reason === 'SecretUpdated'), {
    what: `a SecretUpdated Event of ${cred}`,
  });

  // The template is removed: its keys and the record go; the foreign label and annotation stay.
  await s.cluster.patchCredentialSpec(cred, { secretTemplate: null });
  await waitForSecret(s.cluster, first, 'pull', (x) =>
    carries(
      x,
      { team: null, backup: 'daily', 'app.kubernetes.io/managed-by': 'regcred-operator' },
      { 'example.com/rotated-by': null, [RECORD]: null, 'example.com/owner': 'ops' },
    ),
  );
  await waitForSecret(s.cluster, second, 'pull', (x) =>
    carries(x, { team: null }, { 'example.com/rotated-by': null, [RECORD]: null }),
  );
  const ready = await waitForCondition(s.cluster, cred, 'Ready', { status: 'True' });
  expect(ready.observedGeneration).toBe((await s.cluster.getCredential(cred))!.metadata.generation);
  await waitForCounts(s.cluster, cred, { selected: 2, ready: 2, failed: 0 });
});

test('a template on a credential selecting a namespace created later', async () => {
  const cred = await s.credential('later', {
    registries,
    namespaceSelector: s.selectorWith({ case: 'later' }),
    secretTemplate: { labels: { 'argocd.argoproj.io/secret-type': 'repository' } },
  });
  await waitForCondition(s.cluster, cred, 'Ready', { status: 'True' });
  const ns = await s.namespace('later', { case: 'later' });
  await waitForSecret(s.cluster, ns, cred, (x) => carries(x, { 'argocd.argoproj.io/secret-type': 'repository' }));
});
