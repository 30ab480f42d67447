// Spec semantics 1 and 4 for gcp entries (Google Artifact Registry and Container Registry), through
// the real google-auth-library in the operator process. What is real: the SDK (application default
// credentials with the metadata server, the service account key's signed JWT, workload identity
// federation's token exchange), the operator's renewal and sharing, and the pull: the issued token,
// re-keyed onto a real registry (docker-registry + htpasswd), is accepted by skopeo. What stands in:
// Google's endpoints (test/harness/google.ts behind the egress proxy of stand-ins.ts); no request
// leaves this machine (the harness's loopback guard in the operator process, and the proxy's refusals).
import { mkdir, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import type { V1Secret } from '@kubernetes/client-node';
import { authsOf } from '../harness/cluster.js';
import { testEnv } from '../../harness/controlplane.js';
import {
  GOOGLE_FAULTS,
  GOOGLE_HOSTS,
  type GoogleStandIn,
  METADATA_IDENTITY,
  startGoogleStandIn,
} from '../harness/google.js';
import { startRegistry } from '../harness/registry.js';
import { reportedSecrets, type Scenario, startScenario, waitForCondition, waitForSecret } from '../harness/scenario.js';
import { cloudEnvironment, type EgressProxy, startEgressProxy } from '../harness/stand-ins.js';
import { waitFor } from '../../harness/wait.js';

const AR = 'europe-west1-docker.pkg.dev';
const GCR = 'gcr.io';
const USERNAME = 'oauth2accesstoken';
const SCOPE = 'https://www.googleapis.com/auth/devstorage.read_only';

let proxy: EgressProxy;
let google: GoogleStandIn;
let s: Scenario;
beforeAll(async () => {
  proxy = await startEgressProxy(GOOGLE_HOSTS);
  google = await startGoogleStandIn(proxy);
  s = await startScenario('gcp', { operatorEnv: cloudEnvironment(proxy, { gce: google.metadataHost }) });
});
afterAll(async () => {
  try {
    await s?.cleanup();
  } finally {
    await google?.stop();
    await proxy?.stop();
  }
});

const credentialsSecret = (name: string, json: string): V1Secret => ({
  metadata: { name },
  type: 'Opaque',
  stringData: { 'credentials.json': json },
});

/** Waits until every namespace's Secret holds `token` under each server with username oauth2accesstoken. */
async function holdsToken(namespaces: string[], name: string, servers: string[], token: () => string | undefined) {
  return Promise.all(
    namespaces.map((ns) =>
      waitForSecret(s.cluster, ns, name, (x) =>
        servers.every((server) => {
          const entry = authsOf(x)?.[server];
          const expected = token();
          return (
            expected !== undefined &&
            entry?.username === USERNAME &&
            entry.password === expected &&
            entry.auth === Buffer.from(`${USERNAME}:${expected}`).toString('base64')
          );
        }),
      ),
    ),
  );
}

const latest = (identity: string) => () => google.issued(identity).at(-1)?.token;

test('application default credentials (the GKE metadata server): one token for every Google host and every RegistryCredential', async () => {
  const group = { case: 'adc' };
  const namespaces = [await s.namespace('adc-a', group), await s.namespace('adc-b', group)];
  const both = await s.credential('adc-both', {
    registries: [
      { server: AR, gcp: {} },
      { server: GCR, gcp: {} },
    ],
    namespaceSelector: s.selectorWith(group),
  });
  const other = await s.credential('adc-gcr', {
    registries: [{ server: `eu.${GCR}`, gcp: {} }],
    namespaceSelector: s.selectorWith(group),
  });
  await holdsToken(namespaces, both, [AR, GCR], latest(METADATA_IDENTITY));
  await holdsToken(namespaces, other, [`eu.${GCR}`], latest(METADATA_IDENTITY));
  for (const cred of [both, other]) await waitForCondition(s.cluster, cred, 'Ready', { status: 'True' });
  await waitForCondition(s.cluster, both, 'SourcesReady', { status: 'True', reason: 'Resolved' });
  const issued = google.issued(METADATA_IDENTITY);
  process.stdout.write(
    `[gcp sharing] 2 RegistryCredentials x 2 namespaces x 3 Google hosts, application default credentials: ` +
      `${google.requests(METADATA_IDENTITY)} token request(s)\n`,
  );
  expect(google.requests(METADATA_IDENTITY)).toBe(1);
  expect(issued[0]!.scope).toBe(SCOPE);
  // The expiry Google reported is in status (the Expires column) and in the metric.
  const status = (await s.cluster.getCredential(both))!.status as {
    credentialsExpireAt?: string;
    lastRefreshTime?: string;
  };
  expect(Math.abs(Date.parse(status.credentialsExpireAt!) - issued[0]!.expiresAt)).toBeLessThan(2000);
  expect(await s.operator.metric('regcred_token_renewals_total', { provider: 'gcp', result: 'success' })).toBe(1);
  expect(await s.operator.metric('regcred_credentials_expiry_seconds', { credential: both })).toBeGreaterThan(3000);
});

test('a service account key from credentials.json: the SDK signs the JWT assertion, Google answers with a token', async () => {
  const email = 'puller@regcred-test.iam.gserviceaccount.com';
  await s.cluster.createSecret(s.sourceNamespace, credentialsSecret('gcp-sa', google.serviceAccountKey(email)));
  const group = { case: 'sa' };
  const namespaces = [await s.namespace('sa-a', group), await s.namespace('sa-b', group)];
  const cred = await s.credential('sa', {
    registries: [{ server: AR, gcp: { credentialsSecretName: 'gcp-sa' } }],
    namespaceSelector: s.selectorWith(group),
  });
  await holdsToken(namespaces, cred, [AR], latest(email));
  expect(google.requests(email)).toBe(1);
  expect(google.issued(email)[0]!.scope).toBe(SCOPE);
  await waitForCondition(s.cluster, cred, 'Ready', { status: 'True' });
});

test('a workload identity federation config: the subject token file is exchanged at Google STS', async () => {
  const audience =
    '//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/k8s/providers/regcred-test';
  const dir = path.join(testEnv().dir, 'gcp-wif');
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, 'token');
  await writeFile(file, 'projected-service-account-token-for-google');
  await s.cluster.createSecret(
    s.sourceNamespace,
    credentialsSecret('gcp-wif', google.federationConfig(audience, file, 'projected-service-account-token-for-google')),
  );
  const group = { case: 'wif' };
  const ns = await s.namespace('wif', group);
  const cred = await s.credential('wif', {
    registries: [{ server: GCR, gcp: { credentialsSecretName: 'gcp-wif' } }],
    namespaceSelector: s.selectorWith(group),
  });
  await holdsToken([ns], cred, [GCR], latest(audience));
  expect(google.requests(audience)).toBe(1);
  await waitForCondition(s.cluster, cred, 'Ready', { status: 'True' });
});

test('renewal: a token is renewed at about half its life, in every namespace, without a lapse', async () => {
  const email = 'renewing@regcred-test.iam.gserviceaccount.com';
  google.setLifetime(email, 40); // renewed after 18-20 s (refreshInterval 1m is longer than half the life)
  await s.cluster.createSecret(s.sourceNamespace, credentialsSecret('gcp-renew', google.serviceAccountKey(email)));
  const group = { case: 'renew' };
  const namespaces = [await s.namespace('renew-a', group), await s.namespace('renew-b', group)];
  const cred = await s.credential('renew', {
    registries: [{ server: AR, gcp: { credentialsSecretName: 'gcp-renew' } }],
    namespaceSelector: s.selectorWith(group),
    refreshInterval: '1m',
  });
  await holdsToken(namespaces, cred, [AR], latest(email));
  const first = google.issued(email)[0]!;
  await waitFor(() => google.issued(email).length >= 3, { timeoutMs: 90_000, what: 'two renewals' });
  await holdsToken(namespaces, cred, [AR], latest(email));
  const [a, b, c] = google.issued(email);
  // Each renewal came before the previous token expired, at about half its life.
  for (const [previous, next] of [
    [a!, b!],
    [b!, c!],
  ] as const) {
    expect(next.issuedAt).toBeLessThan(previous.expiresAt);
    expect(next.issuedAt - previous.issuedAt).toBeGreaterThanOrEqual(15_000);
  }
  expect(first.token).not.toBe(c!.token);
});

test("a failure carries Google's error code (TokenRefreshFailed), with an Event and the metric; the identity recovers", async () => {
  const email = 'revoked@regcred-test.iam.gserviceaccount.com';
  await s.cluster.createSecret(s.sourceNamespace, credentialsSecret('gcp-revoked', google.serviceAccountKey(email)));
  google.setFault(email, GOOGLE_FAULTS.invalidGrant);
  const group = { case: 'fail' };
  const ns = await s.namespace('fail', group);
  const cred = await s.credential('fail', {
    registries: [{ server: AR, gcp: { credentialsSecretName: 'gcp-revoked' } }],
    namespaceSelector: s.selectorWith(group),
  });
  const sources = await waitForCondition(s.cluster, cred, 'SourcesReady', {
    status: 'False',
    reason: 'TokenRefreshFailed',
  });
  expect(sources.message).toContain('the Google access token request failed: invalid_grant: Invalid JWT Signature.');
  expect(sources.message).toContain('no token has been obtained yet');
  const event = await waitFor(
    async () =>
      (await s.cluster.eventsFor(cred)).find((e) => e.type === 'Warning' && e.reason === 'TokenRefreshFailed'),
    { what: 'a TokenRefreshFailed Event' },
  );
  expect(event.message).toContain('invalid_grant');
  expect(
    await s.operator.metric('regcred_token_renewals_total', { provider: 'gcp', result: 'failure' }),
  ).toBeGreaterThanOrEqual(1);
  expect(await s.cluster.getSecret(ns, cred)).toBeUndefined();
  google.setFault(email, undefined);
  await holdsToken([ns], cred, [AR], latest(email));
  await waitForCondition(s.cluster, cred, 'SourcesReady', { status: 'True', reason: 'Resolved' });
});

test('pull check: the issued token, re-keyed onto a real registry whose htpasswd holds oauth2accesstoken:<token>, lets skopeo pull', async () => {
  const token = latest(METADATA_IDENTITY)()!;
  const registry = await startRegistry({ users: [{ username: USERNAME, password: token }] });
  try {
    const group = { case: 'pull' };
    const ns = await s.namespace('pull', group);
    const cred = await s.credential('pull', {
      registries: [{ server: AR, gcp: {} }],
      namespaceSelector: s.selectorWith(group),
    });
    const [secret] = await holdsToken([ns], cred, [AR], () => token);
    const rekeyed = JSON.stringify({ auths: { [registry.host]: authsOf(secret)![AR] } });
    const ok = await registry.inspect(rekeyed);
    expect({ ok: ok.ok, unauthorized: ok.unauthorized }).toEqual({ ok: true, unauthorized: false });
    const wrong = {
      username: USERNAME,
      password: 'ya29.not-the-token',
      auth: Buffer.from(`${USERNAME}:ya29.not-the-token`).toString('base64'),
    };
    const refused = await registry.inspect(JSON.stringify({ auths: { [registry.host]: wrong } }));
    expect({ ok: refused.ok, unauthorized: refused.unauthorized }).toEqual({ ok: false, unauthorized: true });
  } finally {
    await registry.stop();
  }
});

test('nothing left this machine, and no token or key reached the log, metrics, Events or status', async () => {
  expect(proxy.refused).toEqual([]);
  expect(await s.operator.logs()).not.toContain('[loopback-guard]');
  const issued = [METADATA_IDENTITY, 'puller@regcred-test.iam.gserviceaccount.com'].flatMap((identity) =>
    google.issued(identity).map((token) => token.token),
  );
  expect(issued.length).toBeGreaterThan(0);
  expect(await reportedSecrets(s, ['PRIVATE KEY', ...issued])).toEqual([]);
});
