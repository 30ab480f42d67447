// The kubelet's credential matching, row by row from the kubelet's own tests
// (k8s.io/kubernetes v1.33.13 pkg/credentialprovider/keyring_test.go; the function named in each
// table) plus rows for the cases this project's users hit (each says why).
import { isDefaultRegistryMatch, keyringIndexKey, lookupCredentials, urlsMatch } from '../../src/registry/keyring.js';

describe('urlsMatch (keyring_test.go TestURLsMatch)', () => {
  it.each([
    ['*.kubernetes.io', 'prefix.kubernetes.io', true],
    ['prefix.*.io', 'prefix.kubernetes.io', true],
    ['prefix.kubernetes.*', 'prefix.kubernetes.io', true],
    ['*-good.kubernetes.io', 'prefix-good.kubernetes.io', true],
    ['*.kubernetes.io/blah', 'prefix.kubernetes.io/blah', true],
    ['prefix.*.io/foo', 'prefix.kubernetes.io/foo/bar', true],
    ['*.kubernetes.io:1111/blah', 'prefix.kubernetes.io:1111/blah', true],
    ['prefix.*.io:1111/foo', 'prefix.kubernetes.io:1111/foo/bar', true],
    ['*.kubernetes.io', 'kubernetes.io', false],
    ['*.*.kubernetes.io', 'prefix.kubernetes.io', false],
    ['*.*.kubernetes.io', 'kubernetes.io', false],
    ['*kubernetes.io', 'a.kubernetes.io', false],
    ['*kubernetes.io', 'kubernetes.io', true],
    ['*.*.*.kubernetes.io', 'a.b.c.kubernetes.io', true],
    ['kubernetes.io', 'kubernetes.com', false],
    ['k*.io', 'quay.io', false],
    ['*.kubernetes.io:1234/blah', 'prefix.kubernetes.io:1111/blah', false],
    ['prefix.*.io/foo', 'prefix.kubernetes.io:1111/foo/bar', false],
    // this project's: a port must match exactly, also when the image has one and the key has none
    ['127.0.0.1', '127.0.0.1:5000/team/app', false],
    ['127.0.0.1:5000', '127.0.0.1:5000/team/app', true],
    // the path is a string prefix, not a path-segment prefix: "team" covers "teamx"
    ['127.0.0.1:5000/team', '127.0.0.1:5000/teamx/app', true],
    ['127.0.0.1:5000/team', '127.0.0.1:5000/other/app', false],
    // a malformed glob matches nothing (filepath.Match returns ErrBadPattern)
    ['[a.example.com', 'a.example.com', false],
    ['[a-c].example.com', 'b.example.com', true],
    ['[^a-c].example.com', 'b.example.com', false],
  ])('%s covers %s: %s', (glob, target, expected) => {
    expect(urlsMatch(glob, target)).toBe(expected);
  });
});

describe('keyringIndexKey (keyring.go Add: the key the kubelet indexes an auths key under)', () => {
  it.each([
    ['https://index.docker.io/v1/', 'index.docker.io'],
    ['index.docker.io', 'index.docker.io'],
    ['docker.io', 'docker.io'],
    ['https://quay.io/v1/', 'quay.io'], // TestIssue3797
    ['http://registry.example.com/v2/', 'registry.example.com'],
    ['harbor.example.com/team', 'harbor.example.com/team'],
    ['harbor.example.com/v2/team', 'harbor.example.com/team'],
    ['harbor.example.com/', 'harbor.example.com'],
    ['127.0.0.1:5000', '127.0.0.1:5000'],
    ['bad key with spaces', undefined],
    // Go's url.Parse: "?" starts a query, so a "?" glob in a key cuts the host there
    ['registry-?.example.com', 'registry-'],
  ])('%s -> %s', (key, expected) => {
    expect(keyringIndexKey(key)).toBe(expected);
  });
});

describe('isDefaultRegistryMatch (keyring_test.go TestIsDefaultRegistryMatch)', () => {
  it.each([
    ['foo/bar', true],
    ['docker.io/foo/bar', true],
    ['index.docker.io/foo/bar', true],
    ['foo', true],
    ['', false],
    ['registry.tld/foo/bar', false],
    ['registry:5000/foo/bar', false],
    ['myhostdocker.io/foo/bar', false],
  ])('%s: %s', (image, expected) => {
    expect(isDefaultRegistryMatch(image)).toBe(expected);
  });
});

describe('lookupCredentials (keyring.go Lookup)', () => {
  // TestDockerKeyringLookup: more specific keys first, each matching key contributes.
  const entries = [
    { key: 'bar.example.com/pong', value: 'grace' },
    { key: 'bar.example.com', value: 'ada' },
  ];
  it.each([
    ['bar.example.com', ['ada']],
    ['bar.example.com/pong', ['grace', 'ada']],
    ['bar.example.com/ping', ['ada']],
    ['bar.example.com/pongz', ['grace', 'ada']],
    ['bar.example.com/pong/pang', ['grace', 'ada']],
    ['example.com', []],
    ['foo.example.com', []],
  ])('TestDockerKeyringLookup: %s -> %j', (image, expected) => {
    expect(lookupCredentials(entries, image).map((m) => m.value)).toEqual(expected);
  });

  it.each([
    // TestKeyringHitWithUnqualifiedDockerHub / ...LibraryDockerHub / ...QualifiedDockerHub: the legacy key, through the
    // fallback
    ['https://index.docker.io/v1/', 'docker.io/google/docker-registry', true],
    ['https://index.docker.io/v1/', 'docker.io/library/jenkins', true],
    // TestKeyringMissWithDockerHubCredentials: the legacy key is not used for another registry
    ['https://index.docker.io/v1/', 'world.mesos.org/foo/bar', false],
  ])('Docker Hub fallback: key %s for %s: %s', (key, repository, expected) => {
    const matches = lookupCredentials([{ key, value: 'hub' }], repository);
    expect(matches.length > 0).toBe(expected);
    if (expected) expect(matches[0]).toMatchObject({ dockerHubFallback: true, indexKey: 'index.docker.io' });
  });

  it('a "docker.io" key matches docker.io images directly (no fallback needed)', () => {
    expect(lookupCredentials([{ key: 'docker.io', value: 1 }], 'docker.io/library/busybox')).toEqual([
      { key: 'docker.io', value: 1, indexKey: 'docker.io', dockerHubFallback: false },
    ]);
  });

  it("credentials of several pull secrets under one key are tried in the Pods' order", () => {
    const matches = lookupCredentials(
      [
        { key: '127.0.0.1:5000', value: 'first-secret' },
        { key: 'https://127.0.0.1:5000', value: 'second-secret' },
      ],
      '127.0.0.1:5000/team/app',
    );
    expect(matches.map((m) => m.value)).toEqual(['first-secret', 'second-secret']);
  });

  it('the fallback is used only when nothing matched', () => {
    const matches = lookupCredentials(
      [
        { key: 'https://index.docker.io/v1/', value: 'legacy' },
        { key: 'docker.io/team', value: 'team' },
      ],
      'docker.io/team/app',
    );
    expect(matches.map((m) => m.value)).toEqual(['team']);
  });
});
