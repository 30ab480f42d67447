// WWW-Authenticate parsing (RFC 7235 4.1) with the headers real registries send, the registry
// endpoint an auths key names, and the words for transport failures.
import { parseChallenges } from '../../src/registry/challenge.js';
import { describeTransportError, registryEndpoint } from '../../src/registry/v2.js';

describe('parseChallenges', () => {
  it.each([
    ['Basic realm="Registry Realm"', [{ scheme: 'basic', parameters: { realm: 'Registry Realm' } }]],
    // distribution's token auth / Docker Hub
    [
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/ubuntu:pull"',
      [
        {
          scheme: 'bearer',
          parameters: {
            realm: 'https://auth.docker.io/token',
            service: 'registry.docker.io',
            scope: 'repository:library/ubuntu:pull',
          },
        },
      ],
    ],
    // insufficient scope on a repository request
    [
      'Bearer realm="https://r.example.com/service/token",service="harbor-registry",scope="repository:a/b:pull",error="insufficient_scope"',
      [
        {
          scheme: 'bearer',
          parameters: {
            realm: 'https://r.example.com/service/token',
            service: 'harbor-registry',
            scope: 'repository:a/b:pull',
            error: 'insufficient_scope',
          },
        },
      ],
    ],
    // two challenges in one header, unquoted token values, spaces around "="
    [
      'Basic realm=x, Bearer realm = "https://t.example.com" , service=reg',
      [
        { scheme: 'basic', parameters: { realm: 'x' } },
        { scheme: 'bearer', parameters: { realm: 'https://t.example.com', service: 'reg' } },
      ],
    ],
    // quoted-pair escapes, scheme case
    ['BASIC realm="a \\"quoted\\" realm"', [{ scheme: 'basic', parameters: { realm: 'a "quoted" realm' } }]],
    // a token68 challenge (Negotiate) beside a Basic one
    [
      'Negotiate YWJjZA==, Basic realm="r"',
      [
        { scheme: 'negotiate', parameters: {} },
        { scheme: 'basic', parameters: { realm: 'r' } },
      ],
    ],
    ['', []],
    // unterminated quote: keep what was understood
    ['Bearer realm="https://t', [{ scheme: 'bearer', parameters: {} }]],
  ])('%s', (header, expected) => {
    expect(parseChallenges(header)).toEqual(expected);
  });
});

describe('registryEndpoint: where the handshake goes for an auths key', () => {
  it.each([
    ['harbor.example.com', 'https://harbor.example.com'],
    ['harbor.example.com/team', 'https://harbor.example.com'],
    ['127.0.0.1:5000', 'https://127.0.0.1:5000'],
    ['https://index.docker.io/v1/', 'https://registry-1.docker.io'],
    ['docker.io', 'https://registry-1.docker.io'],
    ['http://registry.example.com', 'https://registry.example.com'], // never plain HTTP
    ['*.azurecr.io', undefined],
    ['registry-[0-9].example.com', undefined],
  ])('%s -> %s', (server, endpoint) => {
    expect(registryEndpoint(server)).toBe(endpoint);
  });
});

describe('describeTransportError', () => {
  const err = (code: string, message = code): Error => Object.assign(new Error(message), { code });
  it.each([
    [err('DEPTH_ZERO_SELF_SIGNED_CERT'), 'TLSError', /unknown authority \(self-signed\)/],
    [err('UNABLE_TO_VERIFY_LEAF_SIGNATURE'), 'TLSError', /unknown authority/],
    [err('SELF_SIGNED_CERT_IN_CHAIN'), 'TLSError', /unknown authority/],
    [err('CERT_HAS_EXPIRED'), 'TLSError', /certificate has expired/],
    [
      err(
        'ERR_TLS_CERT_ALTNAME_INVALID',
        "Hostname/IP does not match certificate's altnames: IP: 10.0.0.5 is not in the cert's list: 127.0.0.1",
      ),
      'TLSError',
      /not valid for r\.example\.com \(IP: 10\.0\.0\.5 is not in the cert's list: 127\.0\.0\.1\)/,
    ],
    [err('EPROTO', 'write EPROTO ...:wrong version number'), 'TLSError', /does not speak TLS/],
    [err('ECONNREFUSED'), 'Unreachable', /connection refused/],
    [err('ENOTFOUND'), 'Unreachable', /does not resolve/],
    [err('ETIMEDOUT'), 'Unreachable', /timed out/],
    [new Error('socket hang up'), 'Unreachable', /socket hang up/],
  ])('%s', (error, reason, message) => {
    const described = describeTransportError(error, 'r.example.com');
    expect(described.reason).toBe(reason);
    expect(described.message).toMatch(message);
    expect(described.state).toBe('Failed');
  });
});
