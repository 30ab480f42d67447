// providers/gcp.ts without Google: which credentials.json the operator accepts (a service account
// key, a workload identity federation config that only talks to Google and runs no program), the
// token request an entry becomes, and the error codes a google-auth-library failure turns into.
import type { V1Secret } from '@kubernetes/client-node';
import {
  CREDENTIALS_KEY,
  type GcpContext,
  gcpProvider,
  parseGoogleCredentials,
  toGoogleError,
} from '../../src/providers/gcp.js';
import type { SourceSecrets } from '../../src/providers/provider.js';
import { FakeClock } from '../support/fake-clock.js';

const NAMESPACE = 'regcred-system';
const withJson = (text: string): SourceSecrets => ({
  namespace: NAMESPACE,
  get: (name) =>
    name === 'gcp' ? ({ data: { [CREDENTIALS_KEY]: Buffer.from(text).toString('base64') } } as V1Secret) : undefined,
});
const key = {
  type: 'service_account',
  client_email: 'puller@p.iam.gserviceaccount.com',
  private_key: 'PEM',
  private_key_id: 'k1',
};
const federation = (extra: Record<string, unknown> = {}) => ({
  type: 'external_account',
  audience: '//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/k8s',
  credential_source: { file: '/var/run/secrets/tokens/gcp' },
  token_url: 'https://sts.googleapis.com/v1/token',
  ...extra,
});

describe('parseGoogleCredentials', () => {
  test.each<[string, unknown, RegExp]>([
    ['a service account key', key, /^sa:[0-9a-f]{16}$/],
    ['a workload identity federation config', federation(), /^wif:[0-9a-f]{16}$/],
    [
      'federation in another universe, on its endpoints',
      federation({ universe_domain: 'example.goog', token_url: 'https://sts.example.goog/v1/token' }),
      /^wif:/,
    ],
  ])('accepted: %s', (_name, json, identity) => {
    const parsed = parseGoogleCredentials('gcp', withJson(JSON.stringify(json)));
    expect('identity' in parsed && parsed.identity).toMatch(identity);
    expect('identity' in parsed && parsed.identity).not.toContain('PEM');
  });

  test.each<[string, string, string]>([
    ['not JSON', '{', 'is not valid JSON'],
    ['not an object', '[1]', 'is not a JSON object'],
    [
      'a key without its private key',
      JSON.stringify({ ...key, private_key: undefined }),
      'is a service account key without "client_email" or "private_key"',
    ],
    [
      'federation without audience',
      JSON.stringify(federation({ audience: undefined })),
      'without "audience" or "credential_source"',
    ],
    [
      'an executable credential source',
      JSON.stringify(federation({ credential_source: { executable: { command: '/bin/sh' } } })),
      'uses an executable credential source',
    ],
    [
      'a token_url off Google',
      JSON.stringify(federation({ token_url: 'https://collector.example.com/token' })),
      'has a token_url that is not an https endpoint of googleapis.com',
    ],
    [
      'an http token_url',
      JSON.stringify(federation({ token_url: 'http://sts.googleapis.com/v1/token' })),
      'has a token_url that is not an https endpoint',
    ],
    [
      'an impersonation URL off Google',
      JSON.stringify(
        federation({ service_account_impersonation_url: 'https://iamcredentials.googleapis.com.example.com/x' }),
      ),
      'has a service_account_impersonation_url that is not an https endpoint',
    ],
    [
      'another type',
      JSON.stringify({ type: 'authorized_user' }),
      'has type "authorized_user"; expected "service_account"',
    ],
  ])('refused: %s', (_name, text, message) => {
    const parsed = parseGoogleCredentials('gcp', withJson(text));
    expect(parsed).toMatchObject({ ok: false, reason: 'InvalidSourceSecret' });
    expect('message' in parsed && parsed.message).toContain(message);
  });

  test('a missing Secret', () => {
    expect(parseGoogleCredentials('absent', withJson('{}'))).toMatchObject({
      ok: false,
      reason: 'SourceSecretNotFound',
    });
  });
});

describe('the token request of an entry', () => {
  test('Application Default Credentials without a Secret; one token per identity for every server', async () => {
    const asked: GcpContext[] = [];
    const provider = gcpProvider({
      clock: new FakeClock(0),
      requestTimeoutMs: 1000,
      fetch: async (context) => {
        asked.push(context);
        return { username: 'oauth2accesstoken', password: 'ya29.x', expiresAt: 3_600_000 };
      },
    });
    const context = { secrets: withJson(JSON.stringify(key)), refreshIntervalMs: 3_600_000 };
    await provider.resolve({ server: 'europe-docker.pkg.dev', source: {} }, context);
    await provider.resolve({ server: 'gcr.io', source: {} }, context);
    await provider.resolve({ server: 'gcr.io', source: { credentialsSecretName: 'gcp' } }, context);
    expect(asked.map((c) => c.kind)).toEqual(['adc', 'json']);
  });
});

describe('toGoogleError', () => {
  test.each<[string, unknown, string, string]>([
    [
      'an OAuth error',
      { message: 'bad', response: { status: 400, data: { error: 'invalid_grant', error_description: 'Invalid JWT' } } },
      'invalid_grant',
      'Invalid JWT (HTTP 400)',
    ],
    [
      'a Google API error',
      {
        message: 'bad',
        response: { status: 403, data: { error: { status: 'PERMISSION_DENIED', message: 'denied' } } },
      },
      'PERMISSION_DENIED',
      'denied (HTTP 403)',
    ],
    [
      'no default credentials',
      new Error('Could not load the default credentials. Browse to ...'),
      'NoDefaultCredentials',
      'Could not load the default credentials. Browse to ...',
    ],
    ['an HTTP status only', { message: 'unavailable', status: 503 }, 'HTTP503', 'unavailable (HTTP 503)'],
    ['a network code', { message: 'refused', code: 'ECONNREFUSED' }, 'ECONNREFUSED', 'refused'],
    ['anything else', new Error('boom'), 'Error', 'boom'],
  ])('%s', (_name, err, code, message) => {
    expect(toGoogleError(err)).toMatchObject({ code, message });
  });
});
