// Spec semantics 1 and 4 for ecrPublic entries (public.ecr.aws), through the real
// @aws-sdk/client-ecr-public and the SDK's credential providers (STS AssumeRole against moto). moto
// (5.2.x) does not implement ECR Public, so ECR Public's GetAuthorizationToken is answered by a
// stand-in in our fault proxy (test/harness/fault-proxy.ts: a fresh token per request, the 12 h
// expiry ECR Public reports, the request's SigV4 scope checked to be us-east-1/ecr-public); STS goes
// to moto through the same proxy. What is real: the SDK and its signing, the identities, renewal and
// sharing, and the pull: the token, re-keyed onto a real registry, is accepted by skopeo.
import type { V1Secret } from '@kubernetes/client-node';
import { authsOf } from '../harness/cluster.js';
import { FAULTS, type FaultProxy, startFaultProxy } from '../harness/fault-proxy.js';
import { type Moto, startMoto } from '../harness/moto.js';
import { startRegistry } from '../harness/registry.js';
import { reportedSecrets, type Scenario, startScenario, waitForCondition, waitForSecret } from '../harness/scenario.js';
import { cloudEnvironment, type EgressProxy, startEgressProxy } from '../harness/stand-ins.js';
import { waitFor } from '../../harness/wait.js';

const SERVER = 'public.ecr.aws';
const ROLE_ARN = 'arn:aws:iam::111122223333:role/ecr-public-pull';
const chain = { accessKeyId: 'AKIAPUBLICCHAIN00001', secretAccessKey: 'public-chain-secret' };
const staticKeys = { accessKeyId: 'AKIAPUBLICSTATIC0001', secretAccessKey: 'public-static-secret' };

let moto: Moto;
let proxy: FaultProxy;
let egress: EgressProxy;
let s: Scenario;
beforeAll(async () => {
  moto = await startMoto();
  proxy = await startFaultProxy(moto.url);
  egress = await startEgressProxy(['nothing.invalid']); // no HTTPS stand-in here: only the guard and its refusals
  s = await startScenario('ecrpub', {
    // The SDK's documented per-service endpoint variables: ECR Public and STS both through the proxy.
    operatorEnv: {
      ...cloudEnvironment(egress),
      AWS_ENDPOINT_URL_ECR_PUBLIC: proxy.url,
      AWS_ENDPOINT_URL_STS: proxy.url,
      AWS_ACCESS_KEY_ID: chain.accessKeyId,
      AWS_SECRET_ACCESS_KEY: chain.secretAccessKey,
      AWS_SESSION_TOKEN: '',
      AWS_PROFILE: '',
    },
  });
});
afterAll(async () => {
  try {
    await s?.cleanup();
  } finally {
    await egress?.stop();
    await proxy?.stop();
    await moto?.stop();
  }
});

const keysSecret = (name: string, keys: { accessKeyId: string; secretAccessKey: string }): V1Secret => ({
  metadata: { name },
  type: 'Opaque',
  stringData: { aws_access_key_id: keys.accessKeyId, aws_secret_access_key: keys.secretAccessKey },
});

/** Waits until every namespace's Secret holds `password()` for public.ecr.aws with username AWS. */
async function holdsToken(namespaces: string[], name: string, password: () => string | undefined) {
  return Promise.all(
    namespaces.map((ns) =>
      waitForSecret(s.cluster, ns, name, (x) => {
        const entry = authsOf(x)?.[SERVER];
        const expected = password();
        return (
          expected !== undefined &&
          entry?.username === 'AWS' &&
          entry.password === expected &&
          entry.auth === Buffer.from(`AWS:${expected}`).toString('base64')
        );
      }),
    ),
  );
}

const latest = (accessKeyId: string) => () => proxy.ecrPublicTokens(accessKeyId).at(-1);

test('default chain (the operator environment): one token for every RegistryCredential and namespace, with its expiry', async () => {
  const group = { case: 'chain' };
  const namespaces = [await s.namespace('chain-a', group), await s.namespace('chain-b', group)];
  const creds = [
    await s.credential('chain-1', {
      registries: [{ server: SERVER, ecrPublic: {} }],
      namespaceSelector: s.selectorWith(group),
    }),
    await s.credential('chain-2', {
      registries: [{ server: `${SERVER}/regcred`, ecrPublic: {} }],
      namespaceSelector: s.selectorWith(group),
    }),
  ];
  await holdsToken(namespaces, creds[0]!, latest(chain.accessKeyId));
  for (const c of creds) await waitForCondition(s.cluster, c, 'SourcesReady', { status: 'True', reason: 'Resolved' });
  process.stdout.write(
    `[ecr-public sharing] 2 RegistryCredentials x 2 namespaces, one identity: ` +
      `${proxy.ecrPublicRequests(chain.accessKeyId)} GetAuthorizationToken request(s)\n`,
  );
  expect(proxy.ecrPublicRequests(chain.accessKeyId)).toBe(1);
  const status = (await s.cluster.getCredential(creds[0]!))!.status as { credentialsExpireAt?: string };
  expect(Date.parse(status.credentialsExpireAt!) - Date.now()).toBeGreaterThan(11 * 3600_000);
  expect(await s.operator.metric('regcred_token_renewals_total', { provider: 'ecrPublic', result: 'success' })).toBe(1);
});

test('static keys from credentialsSecretName, and roleArn (STS AssumeRole at moto first)', async () => {
  await s.cluster.createSecret(s.sourceNamespace, keysSecret('public-keys', staticKeys));
  const group = { case: 'keys' };
  const ns = await s.namespace('keys', group);
  const keys = await s.credential('keys', {
    registries: [{ server: SERVER, ecrPublic: { credentialsSecretName: 'public-keys' } }],
    namespaceSelector: s.selectorWith(group),
  });
  await holdsToken([ns], keys, latest(staticKeys.accessKeyId));
  const role = await s.credential('role', {
    registries: [{ server: SERVER, ecrPublic: { credentialsSecretName: 'public-keys', roleArn: ROLE_ARN } }],
    namespaceSelector: s.selectorWith({ case: 'role' }),
    secretName: 'role-pull',
  });
  const roleNs = await s.namespace('role', { case: 'role' });
  // The token request is signed with the role's temporary keys (moto's ASIA...), not the static ones.
  const secret = await waitForSecret(s.cluster, roleNs, 'role-pull', (x) => authsOf(x)?.[SERVER]?.username === 'AWS');
  const password = authsOf(secret)![SERVER]!.password;
  expect(password).toMatch(/^ecr-public-/);
  expect(proxy.ecrPublicTokens(staticKeys.accessKeyId)).not.toContain(password);
  expect(proxy.ecrPublicTokens(chain.accessKeyId)).not.toContain(password);
  await waitForCondition(s.cluster, role, 'Ready', { status: 'True' });
});

test('a failure carries the AWS error code (TokenRefreshFailed), with an Event and the metric; the identity recovers', async () => {
  const failing = { accessKeyId: 'AKIAPUBLICTHROTTLE01', secretAccessKey: 'throttled-secret' };
  await s.cluster.createSecret(s.sourceNamespace, keysSecret('public-throttled', failing));
  proxy.setFault(failing.accessKeyId, FAULTS.throttling);
  const group = { case: 'fail' };
  const ns = await s.namespace('fail', group);
  const cred = await s.credential('fail', {
    registries: [{ server: SERVER, ecrPublic: { credentialsSecretName: 'public-throttled' } }],
    namespaceSelector: s.selectorWith(group),
  });
  const sources = await waitForCondition(s.cluster, cred, 'SourcesReady', {
    status: 'False',
    reason: 'TokenRefreshFailed',
  });
  expect(sources.message).toContain('ECR Public GetAuthorizationToken in us-east-1 failed: ThrottlingException');
  const event = await waitFor(
    async () =>
      (await s.cluster.eventsFor(cred)).find((e) => e.type === 'Warning' && e.reason === 'TokenRefreshFailed'),
    { what: 'a TokenRefreshFailed Event' },
  );
  expect(event.message).toContain('ThrottlingException');
  expect(
    await s.operator.metric('regcred_token_renewals_total', { provider: 'ecrPublic', result: 'failure' }),
  ).toBeGreaterThanOrEqual(1);
  expect(await s.cluster.getSecret(ns, cred)).toBeUndefined();
  proxy.setFault(failing.accessKeyId, undefined);
  await holdsToken([ns], cred, latest(failing.accessKeyId));
});

test('pull check: the ECR Public token, re-keyed onto a real registry whose htpasswd holds AWS:<token>, lets skopeo pull', async () => {
  const token = latest(chain.accessKeyId)()!;
  const registry = await startRegistry({ users: [{ username: 'AWS', password: token }] });
  try {
    const [secret] = await holdsToken([await s.namespace('pull', { case: 'chain' })], `chain-1-${s.id}`, () => token);
    const ok = await registry.inspect(JSON.stringify({ auths: { [registry.host]: authsOf(secret)![SERVER] } }));
    expect({ ok: ok.ok, unauthorized: ok.unauthorized }).toEqual({ ok: true, unauthorized: false });
    const wrong = {
      username: 'AWS',
      password: 'not-the-token',
      auth: Buffer.from('AWS:not-the-token').toString('base64'),
    };
    const refused = await registry.inspect(JSON.stringify({ auths: { [registry.host]: wrong } }));
    expect({ ok: refused.ok, unauthorized: refused.unauthorized }).toEqual({ ok: false, unauthorized: true });
  } finally {
    await registry.stop();
  }
});

test('nothing left this machine, and no secret key reached the log, metrics, Events or status', async () => {
  expect(egress.refused).toEqual([]);
  expect(await s.operator.logs()).not.toContain('[loopback-guard]');
  expect(await reportedSecrets(s, [chain.secretAccessKey, staticKeys.secretAccessKey])).toEqual([]);
});
