import type { V1Secret } from '@kubernetes/client-node';
import { parseSpec, type RegistryEntry } from '../../src/api/v1alpha1.js';
import {
  decodeAuthorizationToken,
  type EcrContext,
  ecrTokenKey,
  parseEcrServer,
  resolveEcrEntry,
  toTokenRefreshError,
} from '../../src/providers/ecr.js';
import type { EntryResult, SourceSecrets } from '../../src/providers/sources.js';
import { type Token, TokenCache, TokenRefreshError } from '../../src/providers/token-cache.js';
import { RETRY_MAX_MS } from '../../src/providers/renewal.js';
import { FakeClock } from '../support/fake-clock.js';

const H = 3_600_000;
const M = 60_000;
const b64 = (s: string) => Buffer.from(s).toString('base64');
const entryOf = (e: Record<string, unknown>): RegistryEntry => {
  const r = parseSpec({ registries: [e] });
  if (!r.ok) throw new Error(r.message);
  return r.spec.registries[0]!;
};
const source = (secrets: Record<string, V1Secret> = {}): SourceSecrets => ({
  namespace: 'regcred-system',
  get: (n) => secrets[n],
});
const keysSecret = (id: string, secret: string, session?: string): V1Secret => ({
  type: 'Opaque',
  data: {
    aws_access_key_id: b64(id),
    aws_secret_access_key: b64(secret),
    ...(session ? { aws_session_token: b64(session) } : {}),
  },
});

/**
 * An in-memory ECR: answers GetAuthorizationToken with a fresh 12 h token unless `down` says it is
 * in an outage. Resolves on a later microtask, like a network call, so concurrent callers overlap.
 */
function fakeEcr(
  clock: FakeClock,
  down: (now: number) => boolean = () => false,
  lifetimeMs: number | undefined = 12 * H,
) {
  const calls: EcrContext[] = [];
  let n = 0;
  const fetch = async (ctx: EcrContext): Promise<Token> => {
    calls.push(ctx);
    await Promise.resolve();
    if (down(clock.now())) throw new TokenRefreshError('ServiceUnavailableException', 'Service Unavailable (HTTP 503)');
    n++;
    return {
      username: 'AWS',
      password: `token-${ctx.region}-${n}`,
      expiresAt: lifetimeMs === undefined ? undefined : clock.now() + lifetimeMs,
    };
  };
  return { fetch, calls };
}

describe('parseEcrServer', () => {
  test.each<[string, ReturnType<typeof parseEcrServer>]>([
    ['123456789012.dkr.ecr.eu-west-1.amazonaws.com', { account: '123456789012', region: 'eu-west-1', fips: false }],
    [
      '123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com',
      { account: '123456789012', region: 'us-gov-west-1', fips: true },
    ],
    [
      '123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn',
      { account: '123456789012', region: 'cn-north-1', fips: false },
    ],
    [
      '123456789012.dkr.ecr.ap-southeast-2.amazonaws.com/team/app',
      { account: '123456789012', region: 'ap-southeast-2', fips: false },
    ],
    [
      'https://123456789012.dkr.ecr.us-east-1.amazonaws.com',
      { account: '123456789012', region: 'us-east-1', fips: false },
    ],
    ['public.ecr.aws', undefined],
    ['12345.dkr.ecr.eu-west-1.amazonaws.com', undefined],
    ['123456789012.dkr.ecr.eu-west-1.amazonaws.com.evil.io', undefined],
  ])('%s', (server, expected) => expect(parseEcrServer(server)).toEqual(expected));
});

describe('decodeAuthorizationToken', () => {
  test('AWS:<password>', () =>
    expect(decodeAuthorizationToken(b64('AWS:eyJwYXlsb2FkIjoi:x='))).toEqual({
      username: 'AWS',
      password: 'eyJwYXlsb2FkIjoi:x=',
    }));
  test('no colon is an error', () => expect(() => decodeAuthorizationToken(b64('garbage'))).toThrow(TokenRefreshError));
});

describe('toTokenRefreshError', () => {
  test.each<[string, unknown, string]>([
    [
      'AWS service error',
      Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $metadata: { httpStatusCode: 400 } }),
      'ThrottlingException',
    ],
    [
      'network error',
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }),
      'ECONNREFUSED',
    ],
    [
      'unknown with status',
      Object.assign(new Error('UnknownError'), { name: 'Unknown', $metadata: { httpStatusCode: 503 } }),
      'HTTP503',
    ],
    ['not an Error', 'boom', 'Error'],
  ])('%s', (_c, err, code) => expect(toTokenRefreshError(err).code).toBe(code));

  test('access key ids are redacted', () => {
    const e = toTokenRefreshError(
      Object.assign(new Error('The security token AKIAIOSFODNN7EXAMPLE is invalid'), {
        name: 'UnrecognizedClientException',
      }),
    );
    expect(e.message).not.toContain('AKIAIOSFODNN7EXAMPLE');
  });
});

describe('resolveEcrEntry', () => {
  const server = '123456789012.dkr.ecr.eu-west-1.amazonaws.com';
  const setup = (lifetime?: number) => {
    const clock = new FakeClock();
    const ecr = fakeEcr(clock, () => false, lifetime);
    const cache = new TokenCache<EcrContext>({ clock, fetch: ecr.fetch, random: () => 0 });
    return { clock, ecr, cache, opts: { cache, refreshIntervalMs: 6 * H, now: () => clock.now() } };
  };

  test('region from the server, token under the server key, username AWS, expiry and refresh time', async () => {
    const { clock, ecr, opts } = setup(12 * H);
    const r = await resolveEcrEntry(entryOf({ server, ecr: {} }), source(), opts);
    expect(r).toEqual({
      ok: true,
      auths: { [server]: { username: 'AWS', password: 'token-eu-west-1-1', auth: b64('AWS:token-eu-west-1-1') } },
      expiresAt: clock.now() + 12 * H,
      refreshedAt: clock.now(),
      nextCheckAt: clock.now() + 6 * H,
    });
    expect(ecr.calls).toEqual([{ region: 'eu-west-1', roleArn: undefined, keys: undefined }]);
  });

  test('an explicit region wins; static keys and role reach the fetcher; the cache key holds no secret', async () => {
    const { ecr, cache, opts } = setup();
    const secrets = source({ 'aws-keys': keysSecret('AKIAIOSFODNN7EXAMPLE', 'wJalrXUtnFEMI/K7MDENG', 'session-tok') });
    await resolveEcrEntry(
      entryOf({
        server,
        ecr: { region: 'us-west-2', credentialsSecretName: 'aws-keys', roleArn: 'arn:aws:iam::111122223333:role/pull' },
      }),
      secrets,
      opts,
    );
    expect(ecr.calls).toEqual([
      {
        region: 'us-west-2',
        roleArn: 'arn:aws:iam::111122223333:role/pull',
        keys: {
          accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
          secretAccessKey: 'wJalrXUtnFEMI/K7MDENG',
          sessionToken: 'session-tok',
        },
      },
    ]);
    const [key] = [...cache.requests.keys()];
    expect(key).toMatch(/^ecr\|us-west-2\|keys:[0-9a-f]{16}\|arn:aws:iam::111122223333:role\/pull$/);
    expect(key).not.toContain('AKIA');
    expect(key).not.toContain('wJalr');
  });

  test.each<[string, Record<string, V1Secret>, string]>([
    ['missing Secret', {}, 'SourceSecretNotFound'],
    ['missing secret key', { 'aws-keys': { data: { aws_access_key_id: b64('AKIA') } } }, 'InvalidSourceSecret'],
  ])('%s: a source failure, no request', async (_c, secrets, reason) => {
    const { ecr, opts } = setup();
    const r = await resolveEcrEntry(
      entryOf({ server, ecr: { credentialsSecretName: 'aws-keys' } }),
      source(secrets),
      opts,
    );
    expect(r).toMatchObject({ ok: false, reason });
    expect(ecr.calls).toHaveLength(0);
  });

  test('a server without a region and no ecr.region: InvalidEcrEntry', async () => {
    const { opts } = setup();
    expect(await resolveEcrEntry(entryOf({ server: 'registry.example.com', ecr: {} }), source(), opts)).toMatchObject({
      ok: false,
      reason: 'InvalidEcrEntry',
    });
  });

  test('an expiry in the past (as moto reports): served, with a warning, renewed on a floor, not in a loop', async () => {
    const clock = new FakeClock();
    const ecr = fakeEcr(clock, () => false, -11 * 365 * 24 * H);
    const cache = new TokenCache<EcrContext>({ clock, fetch: ecr.fetch, random: () => 0 });
    const opts = { cache, refreshIntervalMs: 6 * H, now: () => clock.now() };
    const entry = entryOf({ server, ecr: {} });
    const r = await resolveEcrEntry(entry, source(), opts);
    expect(r).toMatchObject({
      ok: true,
      warning: { reason: 'TokenExpiryUnknown' },
      expiresAt: undefined,
      nextCheckAt: clock.now() + 10 * M,
    });
    // A thousand reconciles within the floor: no further request.
    for (let i = 0; i < 1000; i++) await resolveEcrEntry(entry, source(), opts);
    expect(ecr.calls).toHaveLength(1);
    clock.advance(10 * M);
    await resolveEcrEntry(entry, source(), opts);
    expect(ecr.calls).toHaveLength(2);
  });
});

describe('TokenCache', () => {
  test('concurrent callers share one in-flight request', async () => {
    const clock = new FakeClock();
    const ecr = fakeEcr(clock);
    const cache = new TokenCache<EcrContext>({ clock, fetch: ecr.fetch });
    const req = { key: ecrTokenKey('eu-west-1', 'default-chain'), context: { region: 'eu-west-1' } };
    const results = await Promise.all(Array.from({ length: 50 }, () => cache.get(req, 6 * H)));
    expect(ecr.calls).toHaveLength(1);
    expect(new Set(results.map((r) => r.token?.password))).toEqual(new Set(['token-eu-west-1-1']));
  });

  test('a failure keeps the last token, backs off exponentially, and a success resets', async () => {
    const clock = new FakeClock();
    let down = false;
    const ecr = fakeEcr(clock, () => down);
    const results: Array<'success' | 'failure'> = [];
    const cache = new TokenCache<EcrContext>({
      clock,
      fetch: ecr.fetch,
      random: () => 0.5,
      onResult: (r) => results.push(r),
    });
    const req = { key: 'k', context: { region: 'eu-west-1' } };
    const first = await cache.get(req, 6 * H);
    clock.advance(6 * H);
    down = true;
    const gaps: number[] = [];
    let last = await cache.get(req, 6 * H);
    for (let i = 0; i < 8; i++) {
      expect(last.token?.password).toBe(first.token?.password);
      expect(last.error?.code).toBe('ServiceUnavailableException');
      gaps.push(last.nextCheckAt - clock.now());
      clock.advance(last.nextCheckAt - clock.now() - 1);
      await cache.get(req, 6 * H); // not due yet: no request
      clock.advance(1);
      last = await cache.get(req, 6 * H);
    }
    expect(ecr.calls).toHaveLength(1 + 9);
    expect(gaps).toEqual([3750, 7500, 15_000, 30_000, 60_000, 120_000, 240_000, 450_000]);
    down = false;
    clock.advance(last.nextCheckAt - clock.now());
    const ok = await cache.get(req, 6 * H);
    expect(ok.error).toBeUndefined();
    expect(ok.token?.password).not.toBe(first.token?.password);
    expect(results.filter((r) => r === 'failure')).toHaveLength(9);
  });
});

// ---- the renewal schedule over days, with an injected clock ------------------------------------

interface SimCredential {
  name: string;
  refreshIntervalMs: number;
  entries: RegistryEntry[];
  namespaces: string[];
  nextCheckAt: number;
}

interface SimOutcome {
  requestsByKey: Record<string, number>;
  totalRequests: number;
  /** Minutes during which some namespace held an expired token while AWS was answering. */
  lapsedWhileUp: number;
  /** Minutes during which some namespace held an expired token (outage included). */
  lapsed: number;
  /** Namespace Secrets that disappeared or lost their ECR entry at some point. */
  lost: number;
  /** Requests that failed (the outage was noticed). */
  failures: number;
  /** Longest time from the end of an outage until every namespace held a fresh token. */
  recoveryMs: number;
}

/**
 * Runs several RegistryCredentials the way the reconciler does: each resolves its entries when its
 * requeue time comes (concurrently when several are due at once), writes the resulting auths into
 * every one of its namespaces (a Secret per namespace), and never removes one. Time moves in
 * one-minute steps for `hours`; AWS is down while `down(now)`.
 */
async function simulate(hours: number, down: (now: number) => boolean): Promise<SimOutcome> {
  const clock = new FakeClock();
  const start = clock.now();
  const ecr = fakeEcr(clock, down);
  let random = 0.37;
  let failures = 0;
  const cache = new TokenCache<EcrContext>({
    clock,
    fetch: ecr.fetch,
    random: () => (random = (random * 9301 + 49297) % 1),
    onResult: (r) => void (r === 'failure' && failures++),
  });
  const ns = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);
  const euA = '123456789012.dkr.ecr.eu-west-1.amazonaws.com';
  const euB = '210987654321.dkr.ecr.eu-west-1.amazonaws.com';
  const us = '123456789012.dkr.ecr.us-east-1.amazonaws.com';
  const credentials: SimCredential[] = [
    {
      name: 'team-a',
      refreshIntervalMs: 6 * H,
      entries: [entryOf({ server: euA, ecr: {} }), entryOf({ server: euB, ecr: {} })],
      namespaces: ns('a', 40),
      nextCheckAt: start,
    },
    {
      name: 'team-b',
      refreshIntervalMs: 6 * H,
      entries: [entryOf({ server: euA, ecr: {} })],
      namespaces: ns('b', 40),
      nextCheckAt: start,
    },
    {
      name: 'team-c',
      refreshIntervalMs: 4 * H,
      entries: [entryOf({ server: euB, ecr: {} }), entryOf({ server: us, ecr: {} })],
      namespaces: ns('c', 40),
      nextCheckAt: start,
    },
    {
      name: 'team-d',
      refreshIntervalMs: 6 * H,
      entries: [entryOf({ server: us, ecr: { region: 'us-east-1' } })],
      namespaces: ns('d', 40),
      nextCheckAt: start,
    },
  ];
  /** namespace -> server -> expiry of the token its Secret holds. */
  const secrets = new Map<string, Map<string, number>>();
  const outcome: SimOutcome = {
    requestsByKey: {},
    totalRequests: 0,
    failures: 0,
    lapsedWhileUp: 0,
    lapsed: 0,
    lost: 0,
    recoveryMs: 0,
  };
  const tokenExpiry = new Map<string, number>(); // password -> expiry
  let outageEndedAt: number | undefined;
  let wasDown = false;

  const reconcile = async (c: SimCredential): Promise<void> => {
    const results: EntryResult[] = [];
    for (const entry of c.entries)
      results.push(
        await resolveEcrEntry(entry, source(), {
          cache,
          refreshIntervalMs: c.refreshIntervalMs,
          now: () => clock.now(),
        }),
      );
    for (const r of results) {
      const auths = r.ok ? r.auths : r.stale;
      if (!auths) continue; // held: nothing written, nothing removed
      for (const [server, a] of Object.entries(auths)) {
        if (r.expiresAt !== undefined) tokenExpiry.set(a.password, r.expiresAt);
        for (const n of c.namespaces) {
          const s = secrets.get(n) ?? new Map<string, number>();
          s.set(server, tokenExpiry.get(a.password)!);
          secrets.set(n, s);
        }
      }
    }
    const next = Math.min(...results.map((r) => r.nextCheckAt ?? Infinity));
    c.nextCheckAt = Math.max(clock.now() + 1000, next);
  };

  const expected = new Map<string, number>(); // namespace -> how many servers it must hold
  for (const c of credentials) for (const n of c.namespaces) expected.set(n, c.entries.length);

  for (let t = 0; t <= hours * 60; t++) {
    const now = clock.now();
    const isDown = down(now);
    if (wasDown && !isDown) outageEndedAt = now;
    wasDown = isDown;
    await Promise.all(credentials.filter((c) => now >= c.nextCheckAt).map(reconcile));
    let anyLapse = false;
    for (const [n, count] of expected) {
      const s = secrets.get(n);
      if (t > 0 && (!s || s.size !== count)) outcome.lost++;
      for (const exp of s?.values() ?? []) if (exp <= now) anyLapse = true;
    }
    if (anyLapse) outcome.lapsed++;
    if (anyLapse && !isDown && outageEndedAt === undefined) outcome.lapsedWhileUp++;
    if (outageEndedAt !== undefined && !anyLapse && !isDown) {
      outcome.recoveryMs = Math.max(outcome.recoveryMs, now - outageEndedAt);
      outageEndedAt = undefined;
    }
    clock.advance(M);
  }
  outcome.requestsByKey = Object.fromEntries(cache.requests);
  outcome.totalRequests = ecr.calls.length;
  outcome.failures = failures;
  return outcome;
}

describe('renewal over 72 simulated hours: 4 RegistryCredentials, 160 namespaces, 2 identities (eu-west-1, us-east-1)', () => {
  const at = (h: number) => Date.UTC(2026, 10, 22) + h * H;
  const report = (name: string, o: SimOutcome) =>
    process.stdout.write(
      `[ecr renewal] ${name}: ${o.totalRequests} GetAuthorizationToken requests (${o.failures} failed) ` +
        `${JSON.stringify(o.requestsByKey)}; lapsed minutes ${o.lapsed} (while AWS answered: ${o.lapsedWhileUp}); ` +
        `recovery ${o.recoveryMs / M} min\n`,
    );

  test('AWS always answers: one request per identity per renewal, no token ever lapses', async () => {
    const o = await simulate(72, () => false);
    report('no outage', o);
    expect(o.lapsed).toBe(0);
    expect(o.lost).toBe(0);
    // Both identities are used by a credential renewing every 4h (jittered up to 10% earlier):
    // 72 h / 3.6..4 h = 18..20 renewals, +1 for the first token, per identity.
    for (const n of Object.values(o.requestsByKey)) {
      expect(n).toBeGreaterThanOrEqual(19);
      expect(n).toBeLessThanOrEqual(21);
    }
    expect(Object.keys(o.requestsByKey)).toHaveLength(2);
  });

  test('30-minute outages (the last half hour of every 4 h, so renewals fall into them): retried with backoff, no lapse, nothing lost', async () => {
    const o = await simulate(72, (now) => (now - at(0)) % (4 * H) >= 3.5 * H);
    report('30 min outages every 4 h', o);
    expect(o.failures).toBeGreaterThan(0);
    expect(o.lapsed).toBe(0);
    expect(o.lost).toBe(0);
    for (const n of Object.values(o.requestsByKey)) expect(n).toBeLessThanOrEqual(21 + 18 * 8);
  });

  test('a 13-hour outage: tokens lapse only inside the outage, Secrets keep the last token, renewal within the backoff cap after it ends', async () => {
    const o = await simulate(72, (now) => now >= at(30) && now < at(43));
    report('13 h outage', o);
    expect(o.failures).toBeGreaterThan(0);
    expect(o.lost).toBe(0);
    expect(o.lapsedWhileUp).toBe(0);
    expect(o.lapsed).toBeGreaterThan(0);
    expect(o.lapsed).toBeLessThan(13 * 60);
    expect(o.recoveryMs).toBeLessThanOrEqual(RETRY_MAX_MS + M);
    // Backoff capped at 10 min: ~13 h * 6/h plus the short first steps, per identity; not a loop.
    for (const n of Object.values(o.requestsByKey)) expect(n).toBeLessThan(21 + 100);
  });
});
