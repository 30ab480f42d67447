// Spec semantics 1 and 4 for the ecr source, through the real @aws-sdk/client-ecr (and STS for
// roleArn) against moto on loopback: the token lands in every selected namespace for each way of
// getting AWS credentials (the SDK default chain from the operator's environment, static keys from
// a Secret, AssumeRole), and the materialized Secret authenticates against a real registry.
import type { V1Secret } from '@kubernetes/client-node';
import { ECRClient, type ECRClientConfig, GetAuthorizationTokenCommand } from '@aws-sdk/client-ecr';
import { fromTemporaryCredentials } from '@aws-sdk/credential-providers';
import { authsOf } from '../harness/cluster.js';
import { type Moto, startMoto } from '../harness/moto.js';
import { startRegistry } from '../harness/registry.js';
import {
  reportedSecrets,
  type Scenario,
  startScenario,
  waitForCondition,
  waitForPullSecrets,
  waitForSecret,
} from '../harness/scenario.js';
import { waitFor } from '../../harness/wait.js';

const REGION = 'eu-west-1';
const SERVER = `123456789012.dkr.ecr.${REGION}.amazonaws.com`;
const ROLE_ARN = 'arn:aws:iam::111122223333:role/ecr-pull';
const defaultChain = { accessKeyId: 'AKIAOPERATORENV00001', secretAccessKey: 'operator-env-secret' };
const staticKeys = { accessKeyId: 'AKIASTATICKEYS000001', secretAccessKey: 'static-secret-access-key' };

let moto: Moto;
let s: Scenario;
beforeAll(async () => {
  moto = await startMoto();
  s = await startScenario('ecr', {
    // The SDK default chain, configured the way the SDK documents it: env credentials and
    // AWS_ENDPOINT_URL (honoured by the SDK for every service: ECR and STS go to moto).
    operatorEnv: {
      AWS_ENDPOINT_URL: moto.url,
      AWS_ACCESS_KEY_ID: defaultChain.accessKeyId,
      AWS_SECRET_ACCESS_KEY: defaultChain.secretAccessKey,
      AWS_SESSION_TOKEN: '',
      AWS_PROFILE: '',
      AWS_EC2_METADATA_DISABLED: 'true',
    },
  });
});
afterAll(async () => {
  await s?.cleanup();
  await moto?.stop();
});

/** What ECR (moto) hands these credentials, decoded the way the operator must: base64 "AWS:<password>". */
async function tokenFromEcr(credentials: ECRClientConfig['credentials']) {
  const client = new ECRClient({ region: REGION, endpoint: moto.url, credentials });
  try {
    const out = await client.send(new GetAuthorizationTokenCommand({}));
    const decoded = Buffer.from(out.authorizationData![0]!.authorizationToken!, 'base64').toString('utf8');
    const [username, ...rest] = decoded.split(':');
    return { username: username!, password: rest.join(':') };
  } finally {
    client.destroy();
  }
}

const awsKeysSecret = (name: string, keys: { accessKeyId: string; secretAccessKey: string }): V1Secret => ({
  metadata: { name },
  type: 'Opaque',
  stringData: { aws_access_key_id: keys.accessKeyId, aws_secret_access_key: keys.secretAccessKey },
});

/** Waits for the Secret in every namespace to carry `password` for SERVER under username AWS. */
async function materializedEverywhere(namespaces: string[], name: string, password: string): Promise<V1Secret[]> {
  return Promise.all(
    namespaces.map((ns) =>
      waitForSecret(s.cluster, ns, name, (x) => {
        const e = authsOf(x)?.[SERVER];
        return (
          e?.username === 'AWS' &&
          e.password === password &&
          e.auth === Buffer.from(`AWS:${password}`).toString('base64')
        );
      }),
    ),
  );
}

test("default chain (operator environment): the token is materialized in every selected namespace, with a warning about moto's past expiry", async () => {
  const expected = await tokenFromEcr(defaultChain);
  expect(expected.username).toBe('AWS');
  const group = { case: 'chain' };
  const namespaces = [
    await s.namespace('chain-a', group),
    await s.namespace('chain-b', group),
    await s.namespace('chain-c', group),
  ];
  const cred = await s.credential('chain', {
    registries: [{ server: SERVER, ecr: {} }],
    namespaceSelector: s.selectorWith(group),
  });
  await materializedEverywhere(namespaces, cred, expected.password);
  for (const ns of namespaces) await waitForPullSecrets(s.cluster, ns, 'default', [cred]);
  // moto reports an expiry in 2015: served, renewed on a short fixed interval, and said so.
  const sources = await waitForCondition(s.cluster, cred, 'SourcesReady', {
    status: 'True',
    reason: 'TokenExpiryUnknown',
  });
  expect(sources.message).toContain('not after the time it was issued');
  await waitForCondition(s.cluster, cred, 'Ready', { status: 'True' });
  const status = (await s.cluster.getCredential(cred))!.status as {
    lastRefreshTime?: string;
    credentialsExpireAt?: string;
  };
  expect(Date.parse(status.lastRefreshTime!)).toBeGreaterThan(Date.now() - 5 * 60_000);
  expect(status.credentialsExpireAt).toBeUndefined();
  expect(
    await s.operator.metric('regcred_token_renewals_total', { provider: 'ecr', result: 'success' }),
  ).toBeGreaterThanOrEqual(1);
});

test('static keys from credentialsSecretName in the source namespace', async () => {
  const expected = await tokenFromEcr(staticKeys);
  await s.cluster.createSecret(s.sourceNamespace, awsKeysSecret('aws-keys', staticKeys));
  const group = { case: 'keys' };
  const namespaces = [await s.namespace('keys-a', group), await s.namespace('keys-b', group)];
  const cred = await s.credential('keys', {
    registries: [{ server: SERVER, ecr: { credentialsSecretName: 'aws-keys' } }],
    namespaceSelector: s.selectorWith(group),
  });
  await materializedEverywhere(namespaces, cred, expected.password);
  await waitForCondition(s.cluster, cred, 'Ready', { status: 'True' });
});

test("roleArn: STS AssumeRole first (moto then issues the token of the role's account)", async () => {
  const expected = await tokenFromEcr(
    fromTemporaryCredentials({
      params: { RoleArn: ROLE_ARN, RoleSessionName: 'test' },
      masterCredentials: staticKeys,
      clientConfig: { region: REGION, endpoint: moto.url },
    }),
  );
  expect(expected.password).toContain('111122223333');
  await s.cluster.createSecret(s.sourceNamespace, awsKeysSecret('aws-keys-role', staticKeys));
  const group = { case: 'role' };
  const namespaces = [await s.namespace('role-a', group), await s.namespace('role-b', group)];
  const cred = await s.credential('role', {
    registries: [
      { server: SERVER, ecr: { region: REGION, roleArn: ROLE_ARN, credentialsSecretName: 'aws-keys-role' } },
    ],
    namespaceSelector: s.selectorWith(group),
  });
  await materializedEverywhere(namespaces, cred, expected.password);
  // The default chain can assume the role too.
  const chainGroup = { case: 'role-chain' };
  const ns = await s.namespace('role-chain', chainGroup);
  const cred2 = await s.credential('role-chain', {
    registries: [{ server: SERVER, ecr: { roleArn: ROLE_ARN } }],
    namespaceSelector: s.selectorWith(chainGroup),
  });
  await materializedEverywhere([ns], cred2, expected.password);
});

test('pull check: the materialized ECR token, re-keyed onto a real registry whose htpasswd holds AWS:<token>, lets skopeo pull', async () => {
  const expected = await tokenFromEcr(defaultChain);
  const registry = await startRegistry({ users: [{ username: 'AWS', password: expected.password }] });
  try {
    const group = { case: 'pull' };
    const ns = await s.namespace('pull', group);
    const cred = await s.credential('pull', {
      registries: [{ server: SERVER, ecr: {} }],
      namespaceSelector: s.selectorWith(group),
    });
    const [secret] = await materializedEverywhere([ns], cred, expected.password);
    const entry = authsOf(secret)![SERVER]!;
    const rekeyed = JSON.stringify({ auths: { [registry.host]: entry } });
    const ok = await registry.inspect(rekeyed);
    expect({ ok: ok.ok, unauthorized: ok.unauthorized }).toEqual({ ok: true, unauthorized: false });
    // And a token that is not the one ECR issued is refused.
    const wrong = JSON.stringify({
      auths: {
        [registry.host]: {
          username: 'AWS',
          password: 'not-the-token',
          auth: Buffer.from('AWS:not-the-token').toString('base64'),
        },
      },
    });
    const refused = await registry.inspect(wrong);
    expect({ ok: refused.ok, unauthorized: refused.unauthorized }).toEqual({ ok: false, unauthorized: true });
  } finally {
    await registry.stop();
  }
});

test('the log, metrics, status and Events never contain the AWS secret keys', async () => {
  await waitFor(async () => (await s.operator.logs()).includes('token renewed'), {
    what: 'a token renewal in the log',
  });
  expect(await reportedSecrets(s, [defaultChain.secretAccessKey, staticKeys.secretAccessKey])).toEqual([]);
});
