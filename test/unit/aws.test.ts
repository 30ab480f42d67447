// providers/aws.ts, shared by ecr and ecrPublic: who asks (the default chain, or keys from a
// Secret, named by a hash), the token cache key, GetAuthorizationToken's token, and the error
// codes an AWS SDK failure turns into. Pure; ecr.test.ts drives the fetcher.
import type { V1Secret } from '@kubernetes/client-node';
import { awsIdentity, awsTokenKey, decodeAuthorizationToken, toTokenRefreshError } from '../../src/providers/aws.js';
import type { SourceSecrets } from '../../src/providers/provider.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const secrets = (all: Record<string, V1Secret>): SourceSecrets => ({ namespace: 'regcred-system', get: (n) => all[n] });
const keys = (data: Record<string, string>): V1Secret => ({
  data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])),
});

describe('awsIdentity', () => {
  test('no Secret: the default chain', () => {
    expect(awsIdentity({}, secrets({}))).toEqual({ identity: 'default-chain' });
  });

  test('keys from a Secret: a hash of the Secret name and key id, the keys beside it', () => {
    const found = awsIdentity(
      { credentialsSecretName: 'aws' },
      secrets({
        aws: keys({ aws_access_key_id: 'AKIDEXAMPLE', aws_secret_access_key: 'wJalr', aws_session_token: 'tok' }),
      }),
    );
    expect(found).toEqual({
      identity: expect.stringMatching(/^keys:[0-9a-f]{16}$/),
      keys: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalr', sessionToken: 'tok' },
    });
    expect('identity' in found && found.identity).not.toContain('AKIDEXAMPLE');
  });

  test.each<[string, Record<string, V1Secret>, string]>([
    ['the Secret is missing', {}, 'SourceSecretNotFound'],
    ['the secret key is missing', { aws: keys({ aws_access_key_id: 'AKID' }) }, 'InvalidSourceSecret'],
    ['a key is blank', { aws: keys({ aws_access_key_id: ' ', aws_secret_access_key: 'x' }) }, 'InvalidSourceSecret'],
  ])('%s: %s', (_name, all, reason) => {
    expect(awsIdentity({ credentialsSecretName: 'aws' }, secrets(all))).toMatchObject({ ok: false, reason });
  });

  test('another key id in the same Secret is another identity', () => {
    const of = (id: string) =>
      awsIdentity(
        { credentialsSecretName: 'aws' },
        secrets({ aws: keys({ aws_access_key_id: id, aws_secret_access_key: 's' }) }),
      );
    expect((of('A') as { identity: string }).identity).not.toBe((of('B') as { identity: string }).identity);
  });
});

describe('awsTokenKey', () => {
  test.each<[string, [string, string, string, string?], string]>([
    ['without a role', ['ecr', 'eu-west-1', 'default-chain'], 'ecr|eu-west-1|default-chain|'],
    [
      'with a role',
      ['ecrPublic', 'us-east-1', 'keys:ab', 'arn:aws:iam::1:role/pull'],
      'ecrPublic|us-east-1|keys:ab|arn:aws:iam::1:role/pull',
    ],
  ])('%s', (_name, [provider, region, identity, role], expected) => {
    expect(awsTokenKey(provider, region, identity, role)).toBe(expected);
  });
});

describe('decodeAuthorizationToken', () => {
  test.each<[string, string, { username: string; password: string } | string]>([
    ['AWS:password', b64('AWS:pa:ss'), { username: 'AWS', password: 'pa:ss' }],
    ['no colon', b64('AWSpassword'), 'InvalidAuthorizationToken'],
    ['an empty user', b64(':password'), 'InvalidAuthorizationToken'],
  ])('%s', (_name, token, expected) => {
    if (typeof expected === 'string')
      expect(() => decodeAuthorizationToken(token)).toThrow(expect.objectContaining({ code: expected }));
    else expect(decodeAuthorizationToken(token)).toEqual(expected);
  });
});

describe('toTokenRefreshError', () => {
  test.each<[string, unknown, string, string]>([
    [
      'a service error by name, with its status',
      { name: 'AccessDeniedException', message: 'denied', $metadata: { httpStatusCode: 403 } },
      'AccessDeniedException',
      'denied (HTTP 403)',
    ],
    ['an STS error by Code', { name: 'Error', Code: 'ExpiredToken', message: 'expired' }, 'ExpiredToken', 'expired'],
    [
      'an unknown error with a status',
      { name: 'Unknown', message: 'oops', $metadata: { httpStatusCode: 500 } },
      'HTTP500',
      'oops (HTTP 500)',
    ],
    ['a network code', { name: 'Error', code: 'ECONNREFUSED', message: 'refused' }, 'ECONNREFUSED', 'refused'],
    [
      'a status already in the message is not repeated',
      { name: 'ThrottlingException', message: 'rate 429', $metadata: { httpStatusCode: 429 } },
      'ThrottlingException',
      'rate 429',
    ],
    [
      'an access key id in the message is masked',
      { name: 'UnrecognizedClientException', message: 'key AKIAABCDEFGHIJKLMNOP is bad' },
      'UnrecognizedClientException',
      'key <redacted> is bad',
    ],
  ])('%s', (_name, err, code, message) => {
    expect(toTokenRefreshError(err)).toMatchObject({ code, message });
  });
});
