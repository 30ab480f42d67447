// Spec semantics 4 and 7 for the ecr source when AWS fails: throttling, 5xx, timeouts, expired
// credentials and access denied, produced by our fault-injecting proxy in front of moto and seen
// through the operator's real AWS SDK. Each failure shows as SourcesReady=False, reason
// TokenRefreshFailed with the AWS error code, a Warning Event and the renewal metric; the last
// token keeps being served (and after it expires the condition says so); nothing is deleted; and
// several RegistryCredentials sharing one identity cause one token request.
import type { V1Secret } from '@kubernetes/client-node';
import { authsOf } from '../harness/cluster.js';
import { FAULTS, type Fault, type FaultProxy, startFaultProxy } from '../harness/fault-proxy.js';
import { type Moto, startMoto } from '../harness/moto.js';
import { type Scenario, startScenario, waitForCondition, waitForSecret } from '../harness/scenario.js';
import { waitFor } from '../../harness/wait.js';

const SERVER = '123456789012.dkr.ecr.eu-west-1.amazonaws.com';
const SECRET_ACCESS_KEY = 'fault-test-secret-access-key';

let moto: Moto;
let proxy: FaultProxy;
let s: Scenario;
beforeAll(async () => {
  moto = await startMoto();
  proxy = await startFaultProxy(moto.url);
  s = await startScenario('ecrfault', {
    operatorEnv: { AWS_EC2_METADATA_DISABLED: 'true', AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '' },
    // The endpoint flag this time (ecr.test.ts uses the SDK's AWS_ENDPOINT_URL); a short timeout
    // so the hanging endpoint is noticed quickly.
    operatorArgs: ['--aws-endpoint-url', proxy.url, '--aws-request-timeout-seconds', '2'],
  });
});
afterAll(async () => {
  try {
    await s?.cleanup();
  } finally {
    await proxy?.stop();
    await moto?.stop();
  }
});

/** A keys Secret with its own access key id, so the proxy can fail this identity alone. */
async function keys(name: string, accessKeyId: string): Promise<void> {
  await s.cluster.createSecret(s.sourceNamespace, {
    metadata: { name },
    type: 'Opaque',
    stringData: { aws_access_key_id: accessKeyId, aws_secret_access_key: SECRET_ACCESS_KEY },
  });
}

const hasToken = (x: V1Secret) => authsOf(x)?.[SERVER]?.username === 'AWS';

test.each<[string, Fault, RegExp]>([
  ['throttling (400 ThrottlingException)', FAULTS.throttling, /ThrottlingException/],
  ['500 ServerException', FAULTS.serverError, /ServerException/],
  ['503 without an AWS error body', FAULTS.unavailable, /503/],
  ['a timeout (no answer)', FAULTS.timeout, /Timeout/i],
  ['expired credentials (ExpiredTokenException)', FAULTS.expiredCredentials, /ExpiredTokenException/],
  ['access denied (AccessDeniedException)', FAULTS.accessDenied, /AccessDeniedException/],
])(
  '%s: SourcesReady=False TokenRefreshFailed with the code, a Warning Event, the metric; no Secret made up',
  async (label, fault, code) => {
    const id = `AKIAFAULT${label.replace(/[^a-z0-9]/gi, '').toUpperCase()}`.slice(0, 20).padEnd(20, 'X');
    const secretName = `keys-${label
      .replace(/[^a-z0-9]+/gi, '-')
      .toLowerCase()
      .replace(/-+$/, '')}`.slice(0, 50);
    await keys(secretName, id);
    proxy.setFault(id, fault);
    const group = { case: secretName.slice(5, 30).replace(/-+$/, '') };
    const ns = await s.namespace(`f-${group.case}`, group);
    const cred = await s.credential(`f-${group.case}`.slice(0, 30).replace(/-+$/, ''), {
      registries: [{ server: SERVER, ecr: { credentialsSecretName: secretName } }],
      namespaceSelector: s.selectorWith(group),
    });
    const sources = await waitForCondition(s.cluster, cred, 'SourcesReady', {
      status: 'False',
      reason: 'TokenRefreshFailed',
    });
    expect(sources.message).toMatch(code);
    expect(sources.message).toContain('no token has been obtained yet');
    expect(sources.message).not.toContain(SECRET_ACCESS_KEY);
    await waitForCondition(s.cluster, cred, 'Ready', { status: 'False', reason: 'TokenRefreshFailed' });
    const event = await waitFor(
      async () =>
        (await s.cluster.eventsFor(cred)).find((e) => e.type === 'Warning' && e.reason === 'TokenRefreshFailed'),
      { what: 'a TokenRefreshFailed Event' },
    );
    expect(event.message).toMatch(code);
    expect(
      await s.operator.metric('regcred_token_renewals_total', { provider: 'ecr', result: 'failure' }),
    ).toBeGreaterThanOrEqual(1);
    expect(proxy.ecrRequests(id)).toBeGreaterThanOrEqual(1);
    // Held: nothing is invented while no token exists.
    expect(await s.cluster.getSecret(ns, cred)).toBeUndefined();
    // The identity recovers on its own once AWS answers again (retried with backoff).
    proxy.setFault(id, undefined);
    await waitForSecret(s.cluster, ns, cred, hasToken);
    await waitForCondition(s.cluster, cred, 'SourcesReady', { status: 'True', reason: 'Resolved' });
  },
);

test('a failed renewal keeps serving the last token until it expires, then says it expired; nothing is deleted; recovery', async () => {
  const id = 'AKIARENEWALFAILS0001';
  await keys('keys-renewal', id);
  // refreshInterval is at least 1m (CRD); a 24 s token is renewed at about half its life (~11-12 s).
  proxy.setLifetime(id, 24);
  const group = { case: 'renewal' };
  const namespaces = [await s.namespace('renew-a', group), await s.namespace('renew-b', group)];
  const cred = await s.credential('renewal', {
    registries: [{ server: SERVER, ecr: { credentialsSecretName: 'keys-renewal' } }],
    namespaceSelector: s.selectorWith(group),
    refreshInterval: '1m',
  });
  for (const ns of namespaces) await waitForSecret(s.cluster, ns, cred, hasToken);
  await waitForCondition(s.cluster, cred, 'Ready', { status: 'True' });
  const before = (await s.cluster.getCredential(cred))!.status as {
    credentialsExpireAt?: string;
    lastRefreshTime?: string;
  };
  expect(Date.parse(before.credentialsExpireAt!) - Date.parse(before.lastRefreshTime!)).toBeGreaterThanOrEqual(20_000);
  const uids = await Promise.all(namespaces.map(async (ns) => (await s.cluster.getSecret(ns, cred))!.metadata!.uid));
  expect(await s.operator.metric('regcred_credentials_expiry_seconds', { credential: cred })).toBeGreaterThan(0);

  proxy.setFault(id, FAULTS.throttling);
  const failing = await waitForCondition(
    s.cluster,
    cred,
    'SourcesReady',
    { status: 'False', reason: 'TokenRefreshFailed' },
    30_000,
  );
  expect(failing.message).toMatch(/ThrottlingException.*(served until it expires|expired at)/);
  const expired = await waitFor(
    async () =>
      (await s.cluster.condition(cred, 'SourcesReady'))?.message.includes('the last token expired at')
        ? true
        : undefined,
    {
      timeoutMs: 60_000,
      what: 'the condition to say the last token expired',
    },
  );
  expect(expired).toBe(true);
  // Nothing deleted or emptied during the outage: the same Secrets, still with the token.
  for (const [i, ns] of namespaces.entries()) {
    const secret = await s.cluster.getSecret(ns, cred);
    expect(secret?.metadata?.uid).toBe(uids[i]);
    expect(hasToken(secret!)).toBe(true);
  }
  expect(await s.operator.metric('regcred_credentials_expiry_seconds', { credential: cred })).toBeLessThan(0);

  proxy.setFault(id, undefined);
  await waitForCondition(s.cluster, cred, 'SourcesReady', { status: 'True', reason: 'Resolved' }, 90_000);
  const after = (await s.cluster.getCredential(cred))!.status as { credentialsExpireAt?: string };
  expect(Date.parse(after.credentialsExpireAt!)).toBeGreaterThan(Date.now());
});

test('several RegistryCredentials and namespaces sharing one identity: one GetAuthorizationToken request', async () => {
  const id = 'AKIASHAREDIDENTITY01';
  await keys('keys-shared', id);
  const group = { case: 'shared' };
  const namespaces = [
    await s.namespace('shared-a', group),
    await s.namespace('shared-b', group),
    await s.namespace('shared-c', group),
  ];
  const other = '210987654321.dkr.ecr.eu-west-1.amazonaws.com';
  const creds = [
    await s.credential('shared-1', {
      registries: [{ server: SERVER, ecr: { credentialsSecretName: 'keys-shared' } }],
      namespaceSelector: s.selectorWith(group),
      secretName: 'shared-1',
    }),
    await s.credential('shared-2', {
      registries: [{ server: other, ecr: { credentialsSecretName: 'keys-shared' } }],
      namespaceSelector: s.selectorWith(group),
      secretName: 'shared-2',
    }),
    await s.credential('shared-3', {
      registries: [
        { server: SERVER, ecr: { credentialsSecretName: 'keys-shared' } },
        { server: other, ecr: { credentialsSecretName: 'keys-shared' } },
      ],
      namespaceSelector: s.selectorWith(group),
      secretName: 'shared-3',
    }),
  ];
  for (const c of creds) await waitForCondition(s.cluster, c, 'Ready', { status: 'True' });
  for (const ns of namespaces)
    for (const name of ['shared-1', 'shared-2', 'shared-3'])
      await waitForSecret(s.cluster, ns, name, (x) =>
        Object.values(authsOf(x) ?? {}).every((e) => e.username === 'AWS'),
      );
  process.stdout.write(
    `[ecr sharing] 3 RegistryCredentials x 3 namespaces x 2 registries, one identity: ${proxy.ecrRequests(id)} ` +
      `GetAuthorizationToken request(s)\n`,
  );
  expect(proxy.ecrRequests(id)).toBe(1);
});
