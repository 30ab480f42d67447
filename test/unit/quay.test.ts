// providers/quay.ts without Quay: the host rule, the token request (one per host and robot), the
// federation request (basic auth robot:<ServiceAccount token>, audience the host), the answer's
// expiry, and Quay's errors as reasons, over a scripted HTTP client and ServiceAccount token source.
import { jwtExpiry, quayError, quayHost, quayProvider, quayTokenFetcher } from '../../src/providers/quay.js';
import { serviceAccountOf } from '../../src/k8s/service-account-token.js';
import { TokenRefreshError } from '../../src/providers/token-cache.js';
import { FakeClock } from '../support/fake-clock.js';

const base64url = (text: string) => Buffer.from(text).toString('base64url');
const jwt = (payload: unknown) => `${base64url('{"alg":"none"}')}.${base64url(JSON.stringify(payload))}.sig`;
const secrets = { namespace: 'regcred-system', get: () => undefined };

describe('quayHost', () => {
  test.each([
    ['quay.io', 'quay.io'],
    ['quay.io/payments', 'quay.io'],
    ['127.0.0.1:8443/x', '127.0.0.1:8443'],
  ])('%s -> %s', (server, host) => expect(quayHost(server)).toBe(host));
});

describe('jwtExpiry', () => {
  test.each([
    [jwt({ exp: 1_800_000_000 }), 1_800_000_000_000],
    [jwt({ sub: 'x' }), undefined],
    ['opaque-robot-token', undefined],
    ['a.b.c', undefined],
  ])('%s -> %s', (token, expected) => expect(jwtExpiry(token)).toBe(expected));
});

describe('quayError', () => {
  test.each([
    [401, '{"error":"unauthorized"}', 'QuayFederationRefused'],
    [403, '', 'QuayFederationRefused'],
    [404, '', 'QuayRobotNotFound'],
    [500, '', 'QuayHTTP500'],
  ])('%d -> %s', (status, body, code) => expect(quayError(status, body).code).toBe(code));
});

describe('serviceAccountOf', () => {
  test.each([
    [
      'system:serviceaccount:regcred-system:regcred-operator',
      { namespace: 'regcred-system', name: 'regcred-operator' },
    ],
    ['kubernetes-admin', undefined],
    ['system:serviceaccount:ns', undefined],
  ])('%s', (username, expected) => expect(serviceAccountOf(username)).toEqual(expected));
});

describe('quayTokenFetcher and quayProvider', () => {
  const clock = new FakeClock(Date.UTC(2026, 11, 7, 7));
  const robotToken = jwt({ exp: Date.UTC(2026, 11, 7, 8) / 1000 });

  test('GET /oauth2/federation/robot/token with basic auth robot:<SA token for the host>', async () => {
    const audiences: string[] = [];
    const calls: Array<{ url: string; init: RequestInit }> = [];
    const http = (async (url: string, init: RequestInit) => {
      calls.push({ url, init });
      return new Response(JSON.stringify({ token: robotToken }), { status: 200 });
    }) as unknown as typeof fetch;
    const fetcher = quayTokenFetcher({
      clock,
      requestTimeoutMs: 1000,
      fetch: http,
      serviceAccountToken: async (audience) => {
        audiences.push(audience);
        return 'sa-token';
      },
    });
    const token = await fetcher({ host: 'quay.io', robotAccount: 'payments+puller' });
    expect(token).toEqual({ username: 'payments+puller', password: robotToken, expiresAt: Date.UTC(2026, 11, 7, 8) });
    expect(audiences).toEqual(['quay.io']);
    expect(calls[0]!.url).toBe('https://quay.io/oauth2/federation/robot/token');
    expect((calls[0]!.init.headers as Record<string, string>).authorization).toBe(
      `Basic ${Buffer.from('payments+puller:sa-token').toString('base64')}`,
    );
  });

  test('a refused federation is a condition QuayFederationRefused; the SA token is nowhere in it', async () => {
    const http = (async () => new Response('{"error":"unauthorized"}', { status: 401 })) as unknown as typeof fetch;
    const provider = quayProvider({
      clock,
      requestTimeoutMs: 1000,
      http,
      serviceAccountToken: async () => 'sa-token-value',
    });
    const result = await provider.resolve(
      { server: 'quay.io', source: { robotAccount: 'payments+puller' } },
      { secrets, refreshIntervalMs: 3_600_000 },
    );
    expect(result).toMatchObject({ ok: false, reason: 'QuayFederationRefused' });
    expect(JSON.stringify(result)).not.toContain('sa-token-value');
  });

  test('a failed TokenRequest is QuayServiceAccountToken, and Quay is not asked', async () => {
    let asked = 0;
    const http = (async () => {
      asked++;
      return new Response('{}', { status: 200 });
    }) as unknown as typeof fetch;
    const fetcher = quayTokenFetcher({
      clock,
      requestTimeoutMs: 1000,
      fetch: http,
      serviceAccountToken: async () => {
        throw new Error('serviceaccounts/token is forbidden');
      },
    });
    const failure = await fetcher({ host: 'quay.io', robotAccount: 'a+b' }).catch((err: unknown) => err);
    expect((failure as TokenRefreshError).code).toBe('QuayServiceAccountToken');
    expect(asked).toBe(0);
  });
});
