// Every token provider (ecr, ecrPublic, gcp, acr, github, quay) over 72 simulated hours with an injected clock:
// RegistryCredentials resolve their entries through the real providers (createProviders: their
// token caches, plans and declared schedules) the way the reconciler does — when their requeue time
// comes, concurrently when several are due — and write what they get into each of their namespaces,
// never removing anything. Only the network side is replaced: each provider's fetcher issues tokens
// of that provider's real lifetime (ECR and ECR Public 12 h, Google 1 h, ACR refresh tokens 3 h,
// GitHub App installation tokens 1 h, Quay federated robot tokens 1 h)
// unless the simulated cloud is down. Prints the requests per identity.
import { generateKeyPairSync } from 'node:crypto';
import type { V1Secret } from '@kubernetes/client-node';
import type { RegistryEntry } from '../../src/api/v1alpha1.js';
import { createProviders, type Providers } from '../../src/providers/index.js';
import type { EntryResult, SourceSecrets } from '../../src/providers/provider.js';
import { RETRY_MAX_MS } from '../../src/providers/renewal.js';
import { type Token, TokenRefreshError } from '../../src/providers/token-cache.js';
import { registryEntry } from '../support/builders.js';
import { FakeClock } from '../support/fake-clock.js';

const H = 3_600_000;
const M = 60_000;
const b64 = (s: string) => Buffer.from(s).toString('base64');

/** Lifetimes the providers report in reality. */
const LIFETIME = { ecr: 12 * H, ecrPublic: 12 * H, gcp: 1 * H, acr: 3 * H, github: 1 * H, quay: 1 * H } as const;
type Kind = keyof typeof LIFETIME;

/** Source Secrets the entries read: a Google service account key and an Azure client secret. */
const secrets: Record<string, V1Secret> = {
  'gcp-sa': {
    data: {
      'credentials.json': b64(
        JSON.stringify({ type: 'service_account', client_email: 'puller@p.iam.gserviceaccount.com', private_key: 'k' }),
      ),
    },
  },
  'acr-sp': { data: { clientSecret: b64('client-secret') } },
  'gh-app': {
    data: {
      'private-key.pem': b64(
        generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({
          type: 'pkcs1',
          format: 'pem',
        }) as string,
      ),
    },
  },
};
const source: SourceSecrets = { namespace: 'regcred-system', get: (name) => secrets[name] };

interface SimCredential {
  name: string;
  refreshIntervalMs: number;
  entries: RegistryEntry[];
  namespaces: string[];
  nextCheckAt: number;
}

interface SimOutcome {
  /** Requests per token identity (the token cache key). */
  requestsByIdentity: Record<string, number>;
  failures: number;
  /** Minutes during which some namespace held an expired token while the cloud answered. */
  lapsedWhileUp: number;
  /** Minutes during which some namespace held an expired token (outage included). */
  lapsed: number;
  /** Namespace-minutes where a Secret lacked an entry it had held (nothing may ever disappear). */
  lost: number;
  /** Longest time from the end of an outage until every namespace held an unexpired token. */
  recoveryMs: number;
}

/** A fake network side for one provider: a fresh token of its lifetime, or a 503 while `down`. */
function fakeFetch(kind: Kind, clock: FakeClock, down: (now: number) => boolean) {
  let n = 0;
  return async (): Promise<Token> => {
    await Promise.resolve(); // answers on a later microtask, like a network call: concurrent callers overlap
    if (down(clock.now())) throw new TokenRefreshError('ServiceUnavailable', 'Service Unavailable (HTTP 503)');
    return { username: kind, password: `${kind}-${++n}`, expiresAt: clock.now() + LIFETIME[kind] };
  };
}

function credentials(start: number): SimCredential[] {
  const ns = (prefix: string) => Array.from({ length: 40 }, (_, i) => `${prefix}-${i}`);
  const euA = '123456789012.dkr.ecr.eu-west-1.amazonaws.com';
  const euB = '210987654321.dkr.ecr.eu-west-1.amazonaws.com';
  const us = '123456789012.dkr.ecr.us-east-1.amazonaws.com';
  const acr = (server: string) => ({
    server,
    acr: {
      tenantId: 'contoso.onmicrosoft.com',
      clientId: '11111111-2222-4333-8444-555555555555',
      credentialsSecretName: 'acr-sp',
    },
  });
  const ghApp = { appId: '12345', installationId: '67890', privateKeySecretName: 'gh-app' };
  const make = (name: string, refreshIntervalMs: number, entries: Array<Record<string, unknown>>): SimCredential => ({
    name,
    refreshIntervalMs,
    entries: entries.map((entry) => registryEntry(entry)),
    namespaces: ns(name),
    nextCheckAt: start,
  });
  return [
    make('team-a', 6 * H, [
      { server: euA, ecr: {} },
      { server: euB, ecr: {} },
      { server: 'europe-west1-docker.pkg.dev', gcp: {} },
      { server: 'gcr.io', gcp: {} },
      { server: 'ghcr.io', github: ghApp },
    ]),
    make('team-b', 6 * H, [
      { server: euA, ecr: {} },
      { server: 'public.ecr.aws', ecrPublic: {} },
      acr('one.azurecr.io'),
      { server: 'quay.io', quay: { robotAccount: 'payments+puller' } },
    ]),
    make('team-c', 4 * H, [
      { server: euB, ecr: {} },
      { server: us, ecr: {} },
      { server: 'eu.gcr.io', gcp: { credentialsSecretName: 'gcp-sa' } },
      acr('two.azurecr.io'),
      { server: 'ghcr.io', github: ghApp },
    ]),
    make('team-d', 6 * H, [
      { server: us, ecr: { region: 'us-east-1' } },
      { server: 'public.ecr.aws', ecrPublic: {} },
      { server: 'us-docker.pkg.dev', gcp: {} },
      acr('one.azurecr.io'),
      { server: 'quay.io', quay: { robotAccount: 'payments+puller' } },
    ]),
  ];
}

async function simulate(hours: number, down: (now: number) => boolean): Promise<SimOutcome> {
  const clock = new FakeClock();
  const start = clock.now();
  let random = 0.37;
  let failures = 0;
  const providers: Providers = createProviders({
    clock,
    requestTimeoutMs: 10_000,
    random: () => (random = (random * 9301 + 49297) % 1),
    onRenewal: (_provider, result) => void (result === 'failure' && failures++),
    fetchers: {
      ecr: fakeFetch('ecr', clock, down),
      ecrPublic: fakeFetch('ecrPublic', clock, down),
      gcp: fakeFetch('gcp', clock, down),
      acr: fakeFetch('acr', clock, down),
      github: fakeFetch('github', clock, down),
      quay: fakeFetch('quay', clock, down),
    },
  });
  const creds = credentials(start);
  /** namespace -> server -> expiry of the token its Secret holds. */
  const held = new Map<string, Map<string, number>>();
  const expiryOf = new Map<string, number>(); // password -> expiry
  const outcome: SimOutcome = {
    requestsByIdentity: {},
    failures: 0,
    lapsedWhileUp: 0,
    lapsed: 0,
    lost: 0,
    recoveryMs: 0,
  };
  let outageEndedAt: number | undefined;
  let wasDown = false;

  const reconcile = async (c: SimCredential): Promise<void> => {
    const results: EntryResult[] = [];
    for (const entry of c.entries)
      results.push(await providers.resolve(entry, { secrets: source, refreshIntervalMs: c.refreshIntervalMs }));
    for (const r of results) {
      const auths = r.ok ? r.auths : r.stale;
      if (!auths) continue; // held: nothing written, nothing removed
      for (const [server, a] of Object.entries(auths)) {
        if (r.expiresAt !== undefined) expiryOf.set(a.password, r.expiresAt);
        for (const n of c.namespaces) {
          const s = held.get(n) ?? new Map<string, number>();
          s.set(server, expiryOf.get(a.password)!);
          held.set(n, s);
        }
      }
    }
    const next = Math.min(...results.map((r) => r.nextCheckAt ?? Infinity));
    c.nextCheckAt = Math.max(clock.now() + 1000, next);
  };

  const expected = new Map<string, number>();
  for (const c of creds) for (const n of c.namespaces) expected.set(n, c.entries.length);
  for (let t = 0; t <= hours * 60; t++) {
    const now = clock.now();
    const isDown = down(now);
    if (wasDown && !isDown) outageEndedAt = now;
    wasDown = isDown;
    await Promise.all(creds.filter((c) => now >= c.nextCheckAt).map(reconcile));
    let anyLapse = false;
    for (const [n, count] of expected) {
      const s = held.get(n);
      if (t > 0 && (!s || s.size !== count)) outcome.lost++;
      for (const expiry of s?.values() ?? []) if (expiry <= now) anyLapse = true;
    }
    if (anyLapse) outcome.lapsed++;
    if (anyLapse && !isDown && outageEndedAt === undefined) outcome.lapsedWhileUp++;
    if (outageEndedAt !== undefined && !anyLapse && !isDown) {
      outcome.recoveryMs = Math.max(outcome.recoveryMs, now - outageEndedAt);
      outageEndedAt = undefined;
    }
    clock.advance(M);
  }
  outcome.requestsByIdentity = providers.tokenRequests();
  outcome.failures = failures;
  return outcome;
}

/** The identities of the scenario, by provider. */
const IDENTITIES: Array<[Kind, RegExp, number]> = [
  // [provider, cache key, the shortest refreshInterval among its users]
  ['ecr', /^ecr\|eu-west-1\|default-chain\|$/, 4 * H],
  ['ecr', /^ecr\|us-east-1\|default-chain\|$/, 4 * H],
  ['ecrPublic', /^ecr-public\|us-east-1\|default-chain\|$/, 6 * H],
  ['gcp', /^gcp\|adc$/, 6 * H],
  ['gcp', /^gcp\|sa:[0-9a-f]{16}$/, 4 * H],
  ['acr', /^acr\|one\.azurecr\.io\|secret:[0-9a-f]{16}$/, 6 * H],
  ['acr', /^acr\|two\.azurecr\.io\|secret:[0-9a-f]{16}$/, 4 * H],
  ['github', /^github\|https:\/\/api\.github\.com\|app:12345:67890:[0-9a-f]{16}$/, 4 * H],
  ['quay', /^quay\|quay\.io\|payments\+puller$/, 6 * H],
];

/** Requests of an identity in `hours` without an outage: the first, then one per interval (up to 10 % shorter). */
function expectedRange(kind: Kind, refreshMs: number, hours: number): [number, number] {
  const interval = Math.min(refreshMs, LIFETIME[kind] / 2);
  return [Math.floor((hours * H) / interval) + 1, Math.ceil((hours * H) / (interval * 0.9)) + 1];
}

describe('renewal over 72 simulated hours: ecr, ecrPublic, gcp, acr, github and quay; 4 RegistryCredentials, 160 namespaces, 9 identities', () => {
  const at = (h: number) => Date.UTC(2026, 10, 22) + h * H;
  const report = (name: string, o: SimOutcome) =>
    process.stdout.write(
      `[token renewal] ${name}: ${Object.values(o.requestsByIdentity).reduce((a, b) => a + b, 0)} requests ` +
        `(${o.failures} failed) ${JSON.stringify(o.requestsByIdentity)}; lapsed minutes ${o.lapsed} (while the ` +
        `cloud answered: ${o.lapsedWhileUp}); recovery ${o.recoveryMs / M} min\n`,
    );
  const byIdentity = (o: SimOutcome) =>
    IDENTITIES.map(([kind, key, refreshMs]) => {
      const found = Object.entries(o.requestsByIdentity).filter(([k]) => key.test(k));
      expect(found).toHaveLength(1);
      return { kind, refreshMs, requests: found[0]![1] };
    });

  test('the cloud always answers: one request per identity per renewal, no token ever lapses', async () => {
    const o = await simulate(72, () => false);
    report('no outage', o);
    expect(o.lapsed).toBe(0);
    expect(o.lost).toBe(0);
    expect(Object.keys(o.requestsByIdentity)).toHaveLength(IDENTITIES.length);
    for (const { kind, refreshMs, requests } of byIdentity(o)) {
      const [low, high] = expectedRange(kind, refreshMs, 72);
      expect({ kind, requests, inRange: requests >= low && requests <= high }).toEqual({
        kind,
        requests,
        inRange: true,
      });
    }
  });

  test('30-minute outages (the last half hour of every 4 h, so renewals fall into them): retried with backoff, no lapse, nothing lost', async () => {
    const o = await simulate(72, (now) => (now - at(0)) % (4 * H) >= 3.5 * H);
    report('30 min outages every 4 h', o);
    expect(o.failures).toBeGreaterThan(0);
    expect(o.lapsed).toBe(0);
    expect(o.lost).toBe(0);
    // Not a retry storm: at most 8 failed tries per outage (5 s doubling), 18 outages, on top of the renewals.
    for (const { kind, refreshMs, requests } of byIdentity(o))
      expect(requests).toBeLessThanOrEqual(expectedRange(kind, refreshMs, 72)[1] + 18 * 8);
  });

  test('a 13-hour outage: tokens lapse only inside it, Secrets keep the last token, renewal within the backoff cap after it', async () => {
    const o = await simulate(72, (now) => now >= at(30) && now < at(43));
    report('13 h outage', o);
    expect(o.failures).toBeGreaterThan(0);
    expect(o.lost).toBe(0);
    expect(o.lapsedWhileUp).toBe(0);
    expect(o.lapsed).toBeGreaterThan(0);
    expect(o.lapsed).toBeLessThan(13 * 60);
    expect(o.recoveryMs).toBeLessThanOrEqual(RETRY_MAX_MS + M);
    // Backoff capped at 10 min: about 13 h x 6/h, the short first steps, and the retries at a quarter of
    // the remaining life before the served token expires (about 25), per identity; not a loop.
    for (const { kind, refreshMs, requests } of byIdentity(o))
      expect(requests).toBeLessThan(expectedRange(kind, refreshMs, 72)[1] + 115);
  });
});
