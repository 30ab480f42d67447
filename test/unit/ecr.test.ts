import type { V1Secret } from '@kubernetes/client-node';
import type { RegistryEntry } from '../../src/api/v1alpha1.js';
import {
  type AwsContext as EcrContext,
  awsTokenKey,
  decodeAuthorizationToken,
  toTokenRefreshError,
} from '../../src/providers/aws.js';
import { ecrProvider, parseEcrServer } from '../../src/providers/ecr.js';
import type { SourceSecrets } from '../../src/providers/provider.js';
import { STANDARD_SCHEDULE } from '../../src/providers/renewal.js';
import { type Token, TokenCache, TokenRefreshError } from '../../src/providers/token-cache.js';
import { registryEntry } from '../support/builders.js';
import { FakeClock } from '../support/fake-clock.js';

const H = 3_600_000;
const M = 60_000;
const b64 = (s: string) => Buffer.from(s).toString('base64');
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

/** The ecr provider over a fake ECR; `resolve` resolves one entry as the reconciler does. */
function ecrWith(clock: FakeClock, fetch: (ctx: EcrContext) => Promise<Token>) {
  const provider = ecrProvider({ clock, random: () => 0, aws: { requestTimeoutMs: 1000 }, fetch });
  const resolve = (entry: RegistryEntry, secrets: SourceSecrets, refreshIntervalMs = 6 * H) =>
    provider.resolve({ server: entry.server, source: entry.ecr! }, { secrets, refreshIntervalMs });
  return { provider, cache: provider.cache, resolve };
}

describe('the ecr provider', () => {
  const server = '123456789012.dkr.ecr.eu-west-1.amazonaws.com';
  const setup = (lifetime?: number) => {
    const clock = new FakeClock();
    const ecr = fakeEcr(clock, () => false, lifetime);
    return { clock, ecr, ...ecrWith(clock, ecr.fetch) };
  };

  test('region from the server, token under the server key, username AWS, expiry and refresh time', async () => {
    const { clock, ecr, resolve } = setup(12 * H);
    const r = await resolve(registryEntry({ server, ecr: {} }), source());
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
    const { ecr, cache, resolve } = setup();
    const secrets = source({ 'aws-keys': keysSecret('AKIAIOSFODNN7EXAMPLE', 'wJalrXUtnFEMI/K7MDENG', 'session-tok') });
    await resolve(
      registryEntry({
        server,
        ecr: { region: 'us-west-2', credentialsSecretName: 'aws-keys', roleArn: 'arn:aws:iam::111122223333:role/pull' },
      }),
      secrets,
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
    const { ecr, resolve } = setup();
    const r = await resolve(registryEntry({ server, ecr: { credentialsSecretName: 'aws-keys' } }), source(secrets));
    expect(r).toMatchObject({ ok: false, reason });
    expect(ecr.calls).toHaveLength(0);
  });

  test('a server without a region and no ecr.region: InvalidEcrEntry', async () => {
    const { resolve } = setup();
    expect(await resolve(registryEntry({ server: 'registry.example.com', ecr: {} }), source())).toMatchObject({
      ok: false,
      reason: 'InvalidEcrEntry',
    });
  });

  test('an expiry in the past (as moto reports): served, with a warning, renewed on a floor, not in a loop', async () => {
    const clock = new FakeClock();
    const ecr = fakeEcr(clock, () => false, -11 * 365 * 24 * H);
    const { resolve } = ecrWith(clock, ecr.fetch);
    const entry = registryEntry({ server, ecr: {} });
    const r = await resolve(entry, source());
    expect(r).toMatchObject({
      ok: true,
      warning: { reason: 'TokenExpiryUnknown' },
      expiresAt: undefined,
      nextCheckAt: clock.now() + 10 * M,
    });
    // A thousand reconciles within the floor: no further request.
    for (let i = 0; i < 1000; i++) await resolve(entry, source());
    expect(ecr.calls).toHaveLength(1);
    clock.advance(10 * M);
    await resolve(entry, source());
    expect(ecr.calls).toHaveLength(2);
  });
});

describe('TokenCache', () => {
  test('concurrent callers share one in-flight request', async () => {
    const clock = new FakeClock();
    const ecr = fakeEcr(clock);
    const cache = new TokenCache<EcrContext>({ clock, fetch: ecr.fetch, schedule: STANDARD_SCHEDULE });
    const req = { key: awsTokenKey('ecr', 'eu-west-1', 'default-chain'), context: { region: 'eu-west-1' } };
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
      schedule: STANDARD_SCHEDULE,
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
