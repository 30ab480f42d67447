// providers/github.ts without GitHub: the token request an entry becomes (App or personal access
// token, no secret in its key, bad keys refused before anything is sent), the App's JWT (verified
// with the public key as GitHub does), the expiry header, GitHub's errors as reasons, and the
// fetcher's requests and answers over a scripted HTTP client.
import { generateKeyPairSync, verify } from 'node:crypto';
import type { V1Secret } from '@kubernetes/client-node';
import {
  appJwt,
  type GitHubContext,
  gitHubError,
  githubProvider,
  gitHubTokenFetcher,
  parseExpirationHeader,
  planGitHub,
} from '../../src/providers/github.js';
import type { SourceSecrets } from '../../src/providers/provider.js';
import { TokenRefreshError } from '../../src/providers/token-cache.js';
import { FakeClock } from '../support/fake-clock.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const otherRsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const pem = (key: typeof rsa.privateKey) => key.export({ type: 'pkcs8', format: 'pem' }) as string;
const all: Record<string, V1Secret> = {
  'gh-app': { data: { 'private-key.pem': b64(pem(rsa.privateKey)) } },
  'gh-other': { data: { 'private-key.pem': b64(pem(otherRsa.privateKey)) } },
  'gh-ec': { data: { 'private-key.pem': b64(pem(ec.privateKey)) } },
  'gh-garbage': { data: { 'private-key.pem': b64('not a key') } },
  'gh-pat': { data: { token: b64('ghp_secretsecretsecret\n') } },
};
const secrets: SourceSecrets = { namespace: 'regcred-system', get: (name) => all[name] };
const app = (privateKeySecretName: string) => ({ appId: '12345', installationId: '67890', privateKeySecretName });

describe('planGitHub', () => {
  test.each([
    ['a missing key Secret', app('nope'), 'SourceSecretNotFound', 'Secret regcred-system/nope not found'],
    ['a key that is no PEM', app('gh-garbage'), 'GitHubAppKeyInvalid', 'is not a PEM private key'],
    ['an EC key', app('gh-ec'), 'GitHubAppKeyInvalid', 'is a ec key; a GitHub App key is RSA'],
    ['a missing token Secret', { tokenSecretName: 'nope' }, 'SourceSecretNotFound', 'not found'],
  ])('%s: %s, nothing requested', (_name, source, reason, message) => {
    const plan = planGitHub(source, secrets);
    expect(plan).toMatchObject({ ok: false, reason });
    expect((plan as { message: string }).message).toContain(message);
  });

  test('an App: one key per (API, App, installation, key), holding no secret', () => {
    const plan = planGitHub(app('gh-app'), secrets);
    expect('ok' in plan).toBe(false);
    const { key, context } = plan as { key: string; context: GitHubContext };
    expect(key).toMatch(/^github\|https:\/\/api\.github\.com\|app:12345:67890:[0-9a-f]{16}$/);
    expect(context).toMatchObject({ kind: 'app', apiUrl: 'https://api.github.com', appId: '12345' });
    const other = planGitHub(app('gh-other'), secrets) as { key: string };
    expect(other.key).not.toBe(key);
    const ghes = planGitHub({ ...app('gh-app'), apiUrl: 'https://git.corp/api/v3/' }, secrets) as { key: string };
    expect(ghes.key).toMatch(/^github\|https:\/\/git\.corp\/api\/v3\|app:/);
  });

  test('a personal access token: trimmed, its key a hash', () => {
    const { key, context } = planGitHub({ tokenSecretName: 'gh-pat' }, secrets) as {
      key: string;
      context: GitHubContext;
    };
    expect(key).toMatch(/^github\|https:\/\/api\.github\.com\|pat:[0-9a-f]{16}$/);
    expect(key).not.toContain('ghp_');
    expect(context).toEqual({ kind: 'pat', apiUrl: 'https://api.github.com', token: 'ghp_secretsecretsecret' });
  });
});

describe('appJwt', () => {
  test('RS256 over header.payload, iat 60 s back, exp 9 min on, iss the App ID', () => {
    const now = Date.UTC(2026, 11, 7, 7, 0, 0);
    const jwt = appJwt('12345', rsa.privateKey, now);
    const [header, payload, signature] = jwt.split('.');
    expect(JSON.parse(Buffer.from(header!, 'base64url').toString())).toEqual({ alg: 'RS256', typ: 'JWT' });
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString()) as Record<string, unknown>;
    expect(claims).toEqual({ iat: now / 1000 - 60, exp: now / 1000 + 540, iss: '12345' });
    expect((claims.exp as number) - (claims.iat as number)).toBeLessThanOrEqual(600);
    const signed = Buffer.from(`${header}.${payload}`);
    expect(verify('sha256', signed, rsa.publicKey, Buffer.from(signature!, 'base64url'))).toBe(true);
    expect(verify('sha256', signed, otherRsa.publicKey, Buffer.from(signature!, 'base64url'))).toBe(false);
  });
});

describe('parseExpirationHeader', () => {
  test.each([
    ['2026-03-01 12:00:00 UTC', Date.UTC(2026, 2, 1, 12)],
    ['2026-03-01 12:00:00 +0000', Date.UTC(2026, 2, 1, 12)],
    ['2026-03-01 14:00:00 +02:00', Date.UTC(2026, 2, 1, 12)],
    ['2026-03-01T12:00:00Z', Date.UTC(2026, 2, 1, 12)],
    ['', undefined],
    [null, undefined],
    ['never', undefined],
  ])('%s -> %s', (value, expected) => expect(parseExpirationHeader(value)).toBe(expected));
});

describe('gitHubError', () => {
  test.each([
    ['app', 404, '{"message":"Not Found"}', 'GitHubAppInstallationNotFound', 'HTTP 404: Not Found'],
    ['app', 401, '{"message":"A JSON web token could not be decoded"}', 'GitHubAppKeyInvalid', 'HTTP 401'],
    [
      'app',
      422,
      '{"message":"The permissions requested are not granted to this installation."}',
      'GitHubAppPermissionDenied',
      '422',
    ],
    ['app', 403, 'nope', 'GitHubAppPermissionDenied', 'HTTP 403'],
    ['app', 500, '', 'GitHubHTTP500', 'HTTP 500'],
    ['pat', 401, '{"message":"Bad credentials"}', 'GitHubTokenInvalid', 'Bad credentials'],
    ['pat', 503, '', 'GitHubHTTP503', 'HTTP 503'],
  ] as const)('%s %d -> %s', (kind, status, body, code, message) => {
    const error = gitHubError(kind, status, body);
    expect(error.code).toBe(code);
    expect(error.message).toContain(message);
  });
});

describe('gitHubTokenFetcher over a scripted HTTP client', () => {
  const clock = new FakeClock(Date.UTC(2026, 11, 7, 7));
  type Call = { url: string; init: RequestInit };
  const scripted = (status: number, body: unknown, headers: Record<string, string> = {}) => {
    const calls: Call[] = [];
    const http = (async (url: string, init: RequestInit) => {
      calls.push({ url, init });
      return new Response(typeof body === 'string' ? body : JSON.stringify(body), { status, headers });
    }) as unknown as typeof fetch;
    return { calls, http };
  };

  test('an App: POST access_tokens with packages:read, the JWT as bearer; x-access-token and expires_at', async () => {
    const { calls, http } = scripted(201, {
      token: 'ghs_installation',
      expires_at: '2026-12-07T08:00:00Z',
      permissions: { packages: 'read' },
    });
    const { context } = planGitHub(app('gh-app'), secrets) as { context: GitHubContext };
    const token = await gitHubTokenFetcher({ clock, requestTimeoutMs: 1000, fetch: http })(context);
    expect(token).toEqual({
      username: 'x-access-token',
      password: 'ghs_installation',
      expiresAt: Date.UTC(2026, 11, 7, 8),
    });
    expect(calls).toHaveLength(1);
    expect(calls[0]!.url).toBe('https://api.github.com/app/installations/67890/access_tokens');
    expect(calls[0]!.init.method).toBe('POST');
    expect(calls[0]!.init.redirect).toBe('manual');
    expect(JSON.parse(calls[0]!.init.body as string)).toEqual({ permissions: { packages: 'read' } });
    const auth = (calls[0]!.init.headers as Record<string, string>).authorization!;
    expect(auth).toMatch(/^Bearer eyJ/);
  });

  test('a personal access token: GET /user; the login as username, the header as expiry', async () => {
    const { calls, http } = scripted(
      200,
      { login: 'octo-puller' },
      { 'github-authentication-token-expiration': '2027-01-31 00:00:00 UTC' },
    );
    const { context } = planGitHub({ tokenSecretName: 'gh-pat' }, secrets) as { context: GitHubContext };
    const token = await gitHubTokenFetcher({ clock, requestTimeoutMs: 1000, fetch: http })(context);
    expect(token).toEqual({
      username: 'octo-puller',
      password: 'ghp_secretsecretsecret',
      expiresAt: Date.UTC(2027, 0, 31),
    });
    expect(calls[0]!.url).toBe('https://api.github.com/user');
  });

  test.each([
    [404, { message: 'Not Found' }, 'GitHubAppInstallationNotFound'],
    [401, { message: 'Integration not found' }, 'GitHubAppKeyInvalid'],
    [201, { nothing: true }, 'GitHubBadAnswer'],
    [201, 'not json', 'GitHubBadAnswer'],
  ])('HTTP %d %j -> %s, the JWT nowhere in the message', async (status, body, code) => {
    const { http } = scripted(status, body);
    const { context } = planGitHub(app('gh-app'), secrets) as { context: GitHubContext };
    const failure = await gitHubTokenFetcher({ clock, requestTimeoutMs: 1000, fetch: http })(context).catch(
      (err: unknown) => err,
    );
    expect(failure).toBeInstanceOf(TokenRefreshError);
    expect((failure as TokenRefreshError).code).toBe(code);
    expect((failure as TokenRefreshError).message).not.toContain('eyJ');
  });

  test('a failed request becomes a condition with the provider reason', async () => {
    const { http } = scripted(404, { message: 'Not Found' });
    const provider = githubProvider({ clock, requestTimeoutMs: 1000, http });
    const result = await provider.resolve(
      { server: 'ghcr.io', source: app('gh-app') },
      { secrets, refreshIntervalMs: 3_600_000 },
    );
    expect(result).toMatchObject({ ok: false, reason: 'GitHubAppInstallationNotFound' });
    expect((result as { message: string }).message).toContain('registry ghcr.io');
  });
});
