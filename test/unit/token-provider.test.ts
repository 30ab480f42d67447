// providers/token-provider.ts: what every token provider shares. A definition whose fetch is
// scripted, a fake clock: the EntryResult of each situation (a fresh token, a failure with and
// without one served, an expired one, an expiry that cannot be trusted), and the helpers.
import type { V1Secret } from '@kubernetes/client-node';
import type { EntryFailure, SourceSecrets } from '../../src/providers/provider.js';
import { STANDARD_SCHEDULE } from '../../src/providers/renewal.js';
import {
  asTokenRefreshError,
  ClientCache,
  credentialsSecret,
  identityHash,
  loadOnce,
  type TokenPlan,
  tokenProvider,
  TokenRefreshError,
  withDeadline,
} from '../../src/providers/token-provider.js';
import type { Token } from '../../src/providers/token-cache.js';
import { FakeClock } from '../support/fake-clock.js';

const H = 3_600_000;
const T0 = Date.UTC(2026, 10, 22);
const SERVER = 'tokens.example.com';
const secrets: SourceSecrets = { namespace: 'regcred-system', get: (): V1Secret | undefined => undefined };
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

/** A provider over `answers`: each fetch takes the next one (a token, or an error to throw). */
function scripted(answers: Array<Token | Error>, plan?: (server: string) => TokenPlan<string> | EntryFailure) {
  const clock = new FakeClock(T0);
  const renewals: string[] = [];
  let fetches = 0;
  const provider = tokenProvider<'gcp', string>(
    {
      kind: 'gcp',
      issuer: 'Google',
      schedule: STANDARD_SCHEDULE,
      sourceSecrets: credentialsSecret,
      plan: ({ server }) => plan?.(server) ?? { key: `k|${server}`, context: server, operation: 'the token request' },
      fetch: async () => {
        fetches++;
        const answer = answers.shift();
        if (!answer || answer instanceof Error) throw answer ?? new Error('no answer scripted');
        return answer;
      },
    },
    {
      clock,
      random: () => 0,
      onRenewal: (kind, result, error) => renewals.push(`${kind} ${result} ${error?.code ?? ''}`),
    },
  );
  const resolve = () => provider.resolve({ server: SERVER, source: {} }, { secrets, refreshIntervalMs: 6 * H });
  return { clock, provider, resolve, renewals, fetches: () => fetches };
}

const token = (expiresIn: number | undefined, password = 'p1'): Token => ({
  username: 'u',
  password,
  expiresAt: expiresIn === undefined ? undefined : T0 + expiresIn,
});

describe('tokenProvider: the EntryResult of each situation', () => {
  test('a fresh token with a reliable expiry: its auths, expiry, refresh time and next check', async () => {
    const t = scripted([token(H)]);
    const result = await t.resolve();
    expect(result).toMatchObject({ ok: true, expiresAt: T0 + H, refreshedAt: T0 });
    expect(result.ok && result.auths[SERVER]).toMatchObject({ username: 'u', password: 'p1' });
    expect(result.ok && result.warning).toBeUndefined();
    expect(result.nextCheckAt).toBe(T0 + H / 2);
    expect(t.renewals).toEqual(['gcp success ']);
  });

  test.each<[string, number | undefined, string]>([
    ['no expiry reported', undefined, 'Google reported no expiry'],
    [
      'an expiry not after the issue time',
      -H,
      `Google reported expiry ${iso(T0 - H)}, not after the time it was issued`,
    ],
  ])('%s: served, with a TokenExpiryUnknown warning and no expiresAt', async (_name, expiresIn, reported) => {
    const t = scripted([token(expiresIn)]);
    const result = await t.resolve();
    expect(result.ok).toBe(true);
    expect(result.expiresAt).toBeUndefined();
    expect(result.ok && result.warning).toEqual({
      reason: 'TokenExpiryUnknown',
      message: `registry ${SERVER}: ${reported}; the token is served and renewed on a short fixed interval`,
    });
  });

  test('the first request fails: TokenRefreshFailed with the code, nothing served yet', async () => {
    const t = scripted([new TokenRefreshError('PERMISSION_DENIED', 'no access')]);
    const result = await t.resolve();
    expect(result).toMatchObject({
      ok: false,
      reason: 'TokenRefreshFailed',
      message:
        `registry ${SERVER}: the token request failed: PERMISSION_DENIED: no access; retrying with backoff; ` +
        'no token has been obtained yet',
    });
    expect(!result.ok && result.stale).toBeUndefined();
    expect(t.renewals).toEqual(['gcp failure PERMISSION_DENIED']);
  });

  test.each<[string, number, string]>([
    [
      'a renewal fails while the last token lives: it is served until it expires',
      4 * H,
      `the last token is served until it expires at ${iso(T0 + 4 * H)}`,
    ],
    [
      'a renewal fails after the last token expired: it stays until a renewal succeeds',
      H,
      `the last token expired at ${iso(T0 + H)} and stays in the Secrets until a renewal succeeds`,
    ],
  ])('%s', async (_name, lifetime, served) => {
    const t = scripted([token(lifetime), new TokenRefreshError('HTTP503', 'unavailable')]);
    await t.resolve();
    t.clock.advance(lifetime * 0.75);
    if (lifetime === H) t.clock.advance(H);
    const result = await t.resolve();
    expect(result.ok).toBe(false);
    expect(!result.ok && result.message).toContain(`HTTP503: unavailable; retrying with backoff; ${served}`);
    expect(!result.ok && result.stale?.[SERVER]).toMatchObject({ password: 'p1' });
  });

  test('an entry the plan refuses is answered without a request', async () => {
    const refusal: EntryFailure = { ok: false, reason: 'SourceSecretNotFound', message: 'Secret x not found' };
    const t = scripted([token(H)], () => refusal);
    expect(await t.resolve()).toBe(refusal);
    expect(t.fetches()).toBe(0);
  });

  test('two resolutions within the token life share one request', async () => {
    const t = scripted([token(H)]);
    await t.resolve();
    t.clock.advance(60_000);
    await t.resolve();
    expect(t.fetches()).toBe(1);
  });
});

describe('the helpers', () => {
  test.each<[string, { credentialsSecretName?: string }, string[]]>([
    ['a credentials Secret', { credentialsSecretName: 'gcp-key' }, ['gcp-key']],
    ['the default identity', {}, []],
  ])('credentialsSecret: %s', (_name, source, expected) => {
    expect(credentialsSecret(source)).toEqual(expected);
  });

  test('identityHash: stable, 16 hex digits, different for different parts, part boundaries matter', () => {
    expect(identityHash('a', 'b')).toMatch(/^[0-9a-f]{16}$/);
    expect(identityHash('a', 'b')).toBe(identityHash('a', 'b'));
    expect(identityHash('a', 'b')).not.toBe(identityHash('ab'));
    expect(identityHash('a', 'b')).not.toBe(identityHash('b', 'a'));
  });

  test('loadOnce: one load for every caller; a failed load is tried again', async () => {
    let loads = 0;
    const load = loadOnce(async () => {
      loads++;
      if (loads === 1) throw new Error('not yet');
      return loads;
    });
    await expect(load()).rejects.toThrow('not yet');
    expect(await Promise.all([load(), load()])).toEqual([2, 2]);
    expect(loads).toBe(2);
  });

  test('withDeadline: the answer when it comes in time; a TimeoutError and an aborted signal when not', async () => {
    expect(await withDeadline(1000, async () => 'answer')).toBe('answer');
    let signal: AbortSignal | undefined;
    const late = withDeadline(1, (s) => {
      signal = s;
      return new Promise<string>(() => undefined);
    });
    await expect(late).rejects.toMatchObject({ code: 'TimeoutError', message: 'no answer within 1 ms' });
    expect(signal?.aborted).toBe(true);
  });

  test('ClientCache: one client per identity, replaced (and the old one destroyed) when its secret changes', () => {
    const destroyed: string[] = [];
    const cache = new ClientCache<string>((client) => destroyed.push(client));
    let made = 0;
    const make = () => `client-${++made}`;
    expect(cache.get('id', 'secret-1', make)).toBe('client-1');
    expect(cache.get('id', 'secret-1', make)).toBe('client-1');
    expect(cache.get('other', 'secret-1', make)).toBe('client-2');
    expect(cache.get('id', 'secret-2', make)).toBe('client-3');
    expect(destroyed).toEqual(['client-1']);
  });

  test('asTokenRefreshError: a TokenRefreshError as it is, anything else described', () => {
    const own = new TokenRefreshError('Code', 'message');
    const describe = (err: unknown) => new TokenRefreshError('Described', String((err as Error).message));
    expect(asTokenRefreshError(own, describe)).toBe(own);
    expect(asTokenRefreshError(new Error('raw'), describe)).toMatchObject({ code: 'Described', message: 'raw' });
  });
});
