// providers/acr.ts without Entra ID: the login server of an entry, the token request an entry
// becomes (one per registry and identity, no secret in its key), a JWT's expiry, and the error
// codes an @azure/identity failure turns into. Fetches are scripted; nothing is contacted.
import type { V1Secret } from '@kubernetes/client-node';
import { type AcrContext, acrLoginServer, acrProvider, jwtExpiry, toAzureError } from '../../src/providers/acr.js';
import type { SourceSecrets } from '../../src/providers/provider.js';
import { FakeClock } from '../support/fake-clock.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const secrets = (all: Record<string, V1Secret> = {}): SourceSecrets => ({
  namespace: 'regcred-system',
  get: (n) => all[n],
});
const base64url = (text: string) => Buffer.from(text).toString('base64url');
const jwt = (payload: unknown) => `${base64url('{"alg":"none"}')}.${base64url(JSON.stringify(payload))}.sig`;

describe('acrLoginServer', () => {
  test.each([
    ['team.azurecr.io', 'team.azurecr.io'],
    ['team.azurecr.io/apps/web', 'team.azurecr.io'],
    ['127.0.0.1:5000/x', '127.0.0.1:5000'],
  ])('%s -> %s', (server, expected) => expect(acrLoginServer(server)).toBe(expected));
});

describe('the token request of an entry', () => {
  async function contexts(
    entries: Array<{ server: string; source: Record<string, string> }>,
    all: Record<string, V1Secret> = {},
  ) {
    const asked: AcrContext[] = [];
    const provider = acrProvider({
      clock: new FakeClock(0),
      requestTimeoutMs: 1000,
      fetch: async (context) => {
        asked.push(context);
        return { username: 'u', password: 'refresh-token', expiresAt: 3_600_000 };
      },
    });
    const results = [];
    for (const entry of entries)
      results.push(await provider.resolve(entry, { secrets: secrets(all), refreshIntervalMs: 3_600_000 }));
    return { asked, results };
  }

  test('the default identity: the login server, tenant and client, no secret', async () => {
    const { asked } = await contexts([{ server: 'team.azurecr.io/apps', source: { tenantId: 't', clientId: 'c' } }]);
    expect(asked).toEqual([
      { registry: 'team.azurecr.io', identity: 'default:t:c', tenantId: 't', clientId: 'c', clientSecret: undefined },
    ]);
  });

  test('a client secret from a Secret: the identity is a hash, never the secret', async () => {
    const { asked } = await contexts(
      [{ server: 'team.azurecr.io', source: { tenantId: 't', clientId: 'c', credentialsSecretName: 'sp' } }],
      { sp: { data: { clientSecret: b64('s3cret') } } },
    );
    expect(asked[0]).toMatchObject({ clientSecret: 's3cret' });
    expect(asked[0]!.identity).toMatch(/^secret:[0-9a-f]{16}$/);
    expect(asked[0]!.identity).not.toContain('s3cret');
  });

  test('two entries of one registry and identity share one token; another registry asks again', async () => {
    const { asked } = await contexts([
      { server: 'team.azurecr.io/a', source: {} },
      { server: 'team.azurecr.io/b', source: {} },
      { server: 'other.azurecr.io', source: {} },
    ]);
    expect(asked.map((context) => context.registry)).toEqual(['team.azurecr.io', 'other.azurecr.io']);
  });

  test.each<[string, Record<string, V1Secret>, string]>([
    ['the Secret is missing', {}, 'SourceSecretNotFound'],
    ['the Secret lacks clientSecret', { sp: { data: { other: b64('x') } } }, 'InvalidSourceSecret'],
  ])('%s: nothing is requested, the entry fails with %s', async (_name, all, reason) => {
    const { asked, results } = await contexts(
      [{ server: 'team.azurecr.io', source: { credentialsSecretName: 'sp' } }],
      all,
    );
    expect(asked).toEqual([]);
    expect(results[0]).toMatchObject({ ok: false, reason });
  });
});

describe('jwtExpiry', () => {
  test.each<[string, string, number | undefined]>([
    ['exp in seconds', jwt({ exp: 1_700_000_000 }), 1_700_000_000_000],
    ['no exp', jwt({ sub: 'x' }), undefined],
    ['exp not a number', jwt({ exp: 'soon' }), undefined],
    ['not a JWT', 'opaque-token', undefined],
    ['a payload that is not JSON', 'a.bm90IGpzb24.c', undefined],
  ])('%s', (_name, token, expected) => expect(jwtExpiry(token)).toBe(expected));
});

describe('toAzureError', () => {
  test.each<[string, unknown, string, string | RegExp]>([
    [
      'an AADSTS code in the description wins',
      {
        name: 'AuthenticationError',
        message: 'failed',
        errorResponse: { error: 'invalid_client', errorDescription: 'AADSTS7000215: Invalid client secret' },
      },
      'AADSTS7000215',
      'failed',
    ],
    [
      'the OAuth error',
      { name: 'AuthenticationError', message: 'failed', errorResponse: { error: 'invalid_client' } },
      'invalid_client',
      'failed',
    ],
    ['an HTTP status', { name: 'RestError', message: 'nope', statusCode: 403 }, 'HTTP403', 'nope'],
    ['a code', { message: 'refused', code: 'ECONNREFUSED' }, 'ECONNREFUSED', 'refused'],
    ['a plain Error', new Error('boom'), 'Error', 'boom'],
    [
      'every credential of the chain unavailable: their reasons, first lines only',
      {
        name: 'AggregateAuthenticationError',
        message: 'chain failed',
        errors: [
          { name: 'CredentialUnavailableError', message: 'WorkloadIdentityCredential: no token file\nmore' },
          { name: 'CredentialUnavailableError', message: 'ManagedIdentityCredential: no endpoint' },
        ],
      },
      'CredentialUnavailable',
      'WorkloadIdentityCredential: no token file; ManagedIdentityCredential: no endpoint',
    ],
    [
      'one credential of the chain failed for real: its error',
      {
        name: 'AggregateAuthenticationError',
        message: 'chain failed',
        errors: [
          { name: 'CredentialUnavailableError', message: 'no token file' },
          { name: 'AuthenticationError', message: 'AADSTS700016: unknown application' },
        ],
      },
      'AADSTS700016',
      'AADSTS700016: unknown application',
    ],
    [
      'a secret-looking string in the message is masked',
      { name: 'AuthenticationError', message: 'token eyJhbGciOi.eyJzdWIi.sig rejected', statusCode: 401 },
      'HTTP401',
      /^token <redacted> rejected$/,
    ],
  ])('%s', (_name, err, code, message) => {
    const error = toAzureError(err);
    expect(error.code).toBe(code);
    if (typeof message === 'string') expect(error.message).toBe(message);
    else expect(error.message).toMatch(message);
  });
});
