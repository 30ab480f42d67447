// Spec semantics 1 and 4 for acr entries (Azure Container Registry), through the real @azure/identity
// (client secret, workload identity, managed identity) and the operator's ACR token exchange over the
// Azure SDK's HTTP pipeline. What is real: the SDK and its MSAL, the exchange request, renewal and
// sharing, and the pull: the issued refresh token, re-keyed onto a real registry (docker-registry +
// htpasswd), is accepted by skopeo. What stands in: Entra ID, the managed identity endpoint and
// ACR's /oauth2/exchange (test/harness/azure.ts behind the egress proxy of stand-ins.ts); no request
// leaves this machine.
import { mkdir, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import type { V1Secret } from '@kubernetes/client-node';
import { AZURE_FAULTS, AZURE_HOSTS, type AzureStandIn, startAzureStandIn, TENANT_ID } from '../harness/azure.js';
import { authsOf } from '../harness/cluster.js';
import { testEnv } from '../../harness/controlplane.js';
import { startRegistry } from '../harness/registry.js';
import { reportedSecrets, type Scenario, startScenario, waitForCondition, waitForSecret } from '../harness/scenario.js';
import { cloudEnvironment, type EgressProxy, startEgressProxy } from '../harness/stand-ins.js';
import { waitFor } from '../../harness/wait.js';

const USERNAME = '00000000-0000-0000-0000-000000000000';
const REGISTRY = 'regcredtest.azurecr.io';
const OTHER = 'regcredother.azurecr.io';
const APP = '11111111-2222-4333-8444-555555555555';
const WORKLOAD = '66666666-7777-4888-8999-000000000000';
const MANAGED = 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee';
const SECRET = 'stand-in-client-secret-value';

let proxy: EgressProxy;
let azure: AzureStandIn;
/** The operator with workload identity in its environment (the AKS webhook's variables). */
let s: Scenario;
/** The stand-ins' environment of every operator here (the egress proxy, IMDS). */
let env: NodeJS.ProcessEnv;
/** The log of the managed-identity scenario's operator (checked by the last test; `s` keeps its own). */
const managedLogs: string[] = [];
beforeAll(async () => {
  proxy = await startEgressProxy(AZURE_HOSTS);
  azure = await startAzureStandIn(proxy);
  const dir = path.join(testEnv().dir, 'acr-workload-identity');
  await mkdir(dir, { recursive: true });
  const tokenFile = path.join(dir, 'azure-identity-token');
  await writeFile(tokenFile, 'projected-service-account-token-for-entra');
  azure.addFederatedCredential(WORKLOAD, 'projected-service-account-token-for-entra');
  azure.addClientSecret(APP, SECRET);
  env = cloudEnvironment(proxy, { azureImds: azure.imdsUrl });
  s = await startScenario('acr', {
    operatorEnv: {
      ...env,
      AZURE_CLIENT_ID: WORKLOAD,
      AZURE_TENANT_ID: TENANT_ID,
      AZURE_FEDERATED_TOKEN_FILE: tokenFile,
    },
  });
});
afterAll(async () => {
  try {
    await s?.cleanup();
  } finally {
    await azure?.stop();
    await proxy?.stop();
  }
});

const clientSecret = (name: string, value: string): V1Secret => ({
  metadata: { name },
  type: 'Opaque',
  stringData: { clientSecret: value },
});
const withSecret = (name: string) => ({ tenantId: TENANT_ID, clientId: APP, credentialsSecretName: name });

/** Waits until every namespace's Secret holds the registry's latest refresh token under `server`. */
async function holdsToken(scenario: Scenario, namespaces: string[], name: string, server: string, registry = server) {
  return Promise.all(
    namespaces.map((ns) =>
      waitForSecret(scenario.cluster, ns, name, (x) => {
        const entry = authsOf(x)?.[server];
        const expected = azure.refreshTokens(registry).at(-1)?.token;
        return (
          expected !== undefined &&
          entry?.username === USERNAME &&
          entry.password === expected &&
          entry.auth === Buffer.from(`${USERNAME}:${expected}`).toString('base64')
        );
      }),
    ),
  );
}

test('a client secret from the source namespace: Entra ID token, exchanged for one ACR refresh token per registry and identity', async () => {
  await s.cluster.createSecret(s.sourceNamespace, clientSecret('acr-sp', SECRET));
  const group = { case: 'sp' };
  const namespaces = [await s.namespace('sp-a', group), await s.namespace('sp-b', group)];
  const first = await s.credential('sp-1', {
    registries: [
      { server: REGISTRY, acr: withSecret('acr-sp') },
      { server: OTHER, acr: withSecret('acr-sp') },
    ],
    namespaceSelector: s.selectorWith(group),
  });
  const second = await s.credential('sp-2', {
    registries: [{ server: REGISTRY, acr: withSecret('acr-sp') }],
    namespaceSelector: s.selectorWith(group),
  });
  await holdsToken(s, namespaces, first, REGISTRY);
  await holdsToken(s, namespaces, first, OTHER);
  await holdsToken(s, namespaces, second, REGISTRY);
  for (const cred of [first, second]) await waitForCondition(s.cluster, cred, 'Ready', { status: 'True' });
  process.stdout.write(
    `[acr sharing] 2 RegistryCredentials x 2 namespaces, 2 registries, one app: ${azure.entraRequests(APP)} Entra ` +
      `token request(s), ${azure.exchanges(REGISTRY, APP)} + ${azure.exchanges(OTHER, APP)} exchange(s)\n`,
  );
  expect(azure.exchanges(REGISTRY, APP)).toBe(1);
  expect(azure.exchanges(OTHER, APP)).toBe(1);
  expect(azure.entraRequests(APP)).toBe(1); // MSAL's own cache serves the second registry's Entra token
  const status = (await s.cluster.getCredential(second))!.status as { credentialsExpireAt?: string };
  expect(Math.abs(Date.parse(status.credentialsExpireAt!) - azure.refreshTokens(REGISTRY)[0]!.expiresAt)).toBeLessThan(
    2000,
  );
  expect(await s.operator.metric('regcred_token_renewals_total', { provider: 'acr', result: 'success' })).toBe(2);
});

test("workload identity (the default chain with the webhook's AZURE_FEDERATED_TOKEN_FILE): the projected token is the client assertion", async () => {
  const group = { case: 'wi' };
  const ns = await s.namespace('wi', group);
  const registry = 'regcredwi.azurecr.io';
  const cred = await s.credential('wi', {
    registries: [{ server: registry, acr: {} }],
    namespaceSelector: s.selectorWith(group),
  });
  await holdsToken(s, [ns], cred, registry);
  expect(azure.entraRequests(WORKLOAD)).toBe(1);
  expect(azure.exchanges(registry, WORKLOAD)).toBe(1);
});

test('managed identity (no workload identity in the environment): IMDS, with the clientId of a user-assigned identity', async () => {
  // An operator without workload identity: its default chain falls through to managed identity. It
  // runs only here, with `s` stopped: both would reconcile every RegistryCredential, and each one's
  // status of the other's credentials (its source namespace lacks their Secrets) would overwrite it.
  await s.operator.stop();
  const managed = await startScenario('acrmi', { operatorEnv: env });
  try {
    const group = { case: 'mi' };
    const ns = await managed.namespace('mi', group);
    const registry = 'regcredmi.azurecr.io';
    const cred = await managed.credential('mi', {
      registries: [{ server: registry, acr: { clientId: MANAGED } }],
      namespaceSelector: managed.selectorWith(group),
    });
    await holdsToken(managed, [ns], cred, registry);
    expect(azure.entraRequests(`mi:${MANAGED}`)).toBe(1);
    expect(azure.exchanges(registry, `mi:${MANAGED}`)).toBe(1);
  } finally {
    await managed.cleanup();
    managedLogs.push(await managed.operator.logs());
    await s.restartOperator();
  }
});

test('renewal: a refresh token is renewed at about half its life, in every namespace, before it expires', async () => {
  const registry = 'regcredrenew.azurecr.io';
  azure.setRefreshLifetime(registry, 40);
  const group = { case: 'renew' };
  const namespaces = [await s.namespace('renew-a', group), await s.namespace('renew-b', group)];
  const cred = await s.credential('renew', {
    registries: [{ server: registry, acr: withSecret('acr-sp') }],
    namespaceSelector: s.selectorWith(group),
    refreshInterval: '1m',
  });
  await holdsToken(s, namespaces, cred, registry);
  await waitFor(() => azure.refreshTokens(registry).length >= 3, { timeoutMs: 90_000, what: 'two renewals' });
  await holdsToken(s, namespaces, cred, registry);
  const [a, b, c] = azure.refreshTokens(registry);
  for (const [previous, next] of [
    [a!, b!],
    [b!, c!],
  ] as const) {
    const issuedAt = next.expiresAt - 40_000;
    expect(issuedAt).toBeLessThan(previous.expiresAt);
    expect(issuedAt - (previous.expiresAt - 40_000)).toBeGreaterThanOrEqual(15_000);
  }
});

test.each<[string, 'entra' | 'exchange', RegExp]>([
  [
    'a wrong client secret (AADSTS7000215)',
    'entra',
    /the ACR token exchange with regcredfail[a-z]*\.azurecr\.io failed: AADSTS7000215/,
  ],
  ['a registry refusing the Entra token (UNAUTHORIZED)', 'exchange', /failed: UNAUTHORIZED: POST \/oauth2\/exchange/],
])('%s: TokenRefreshFailed with the code, an Event, the metric; recovery', async (label, where, message) => {
  const tag = where === 'entra' ? 'entra' : 'exch';
  const registry = `regcredfail${tag}.azurecr.io`;
  const group = { case: `fail-${tag}` };
  const ns = await s.namespace(`fail-${tag}`, group);
  let secretName = 'acr-sp';
  if (where === 'entra') {
    secretName = 'acr-wrong';
    await s.cluster.createSecret(s.sourceNamespace, clientSecret(secretName, 'not-the-secret'));
  } else azure.setExchangeFault(registry, AZURE_FAULTS.exchangeUnauthorized);
  const cred = await s.credential(`fail-${tag}`, {
    registries: [{ server: registry, acr: withSecret(secretName) }],
    namespaceSelector: s.selectorWith(group),
  });
  const sources = await waitForCondition(s.cluster, cred, 'SourcesReady', {
    status: 'False',
    reason: 'TokenRefreshFailed',
  });
  expect(sources.message).toMatch(message);
  expect(sources.message).not.toContain('not-the-secret');
  const event = await waitFor(
    async () =>
      (await s.cluster.eventsFor(cred)).find((e) => e.type === 'Warning' && e.reason === 'TokenRefreshFailed'),
    { what: `a TokenRefreshFailed Event (${label})` },
  );
  expect(event.message).toMatch(message);
  expect(
    await s.operator.metric('regcred_token_renewals_total', { provider: 'acr', result: 'failure' }),
  ).toBeGreaterThanOrEqual(1);
  expect(await s.cluster.getSecret(ns, cred)).toBeUndefined();
  // Fixed at the source: the right secret, or the registry accepting again.
  if (where === 'entra') {
    const current = (await s.cluster.getSecret(s.sourceNamespace, secretName))!;
    await s.cluster.replaceSecret({ ...current, data: { clientSecret: Buffer.from(SECRET).toString('base64') } });
  } else azure.setExchangeFault(registry, undefined);
  await holdsToken(s, [ns], cred, registry);
  await waitForCondition(s.cluster, cred, 'SourcesReady', { status: 'True', reason: 'Resolved' });
});

test('pull check: the refresh token, re-keyed onto a real registry whose htpasswd holds it for 00000000-..., lets skopeo pull', async () => {
  const token = azure.refreshTokens(REGISTRY).at(-1)!.token;
  const registry = await startRegistry({ users: [{ username: USERNAME, password: token }] });
  try {
    const group = { case: 'sp' };
    const [secret] = await holdsToken(s, [await s.namespace('pull', group)], `sp-2-${s.id}`, REGISTRY);
    const ok = await registry.inspect(JSON.stringify({ auths: { [registry.host]: authsOf(secret)![REGISTRY] } }));
    expect({ ok: ok.ok, unauthorized: ok.unauthorized }).toEqual({ ok: true, unauthorized: false });
    const wrong = {
      username: USERNAME,
      password: 'not-the-token',
      auth: Buffer.from(`${USERNAME}:not-the-token`).toString('base64'),
    };
    const refused = await registry.inspect(JSON.stringify({ auths: { [registry.host]: wrong } }));
    expect({ ok: refused.ok, unauthorized: refused.unauthorized }).toEqual({ ok: false, unauthorized: true });
  } finally {
    await registry.stop();
  }
});

test('nothing left this machine, and no secret or token reached the log, metrics, Events or status', async () => {
  expect(proxy.refused).toEqual([]);
  // the process `s` stopped for the managed-identity case (restartOperator kept its log), and that case's own
  expect([s.stoppedLogs.length, managedLogs.length]).toEqual([1, 1]);
  for (const logs of [...s.stoppedLogs, ...managedLogs, await s.operator.logs()])
    expect(logs).not.toContain('[loopback-guard]');
  const issued = [REGISTRY, OTHER].flatMap((registry) => azure.refreshTokens(registry).map((t) => t.token));
  expect(issued.length).toBeGreaterThan(0);
  expect(await reportedSecrets(s, [SECRET, ...issued], managedLogs)).toEqual([]);
});
