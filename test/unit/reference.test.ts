// Image references as the kubelet normalizes them before it looks up credentials and pulls
// (github.com/distribution/reference v0.6.0 ParseNormalizedNamed, through the kubelet's
// parsers.ParseImageName: repository = Name(), tag "latest" when neither tag nor digest).
import { parseImageReference, registryHostFor } from '../../src/registry/reference.js';

const DIGEST = `sha256:${'a'.repeat(64)}`;

describe('parseImageReference', () => {
  it.each([
    // familiar Docker Hub names (normalize_test.go TestParseNormalizedNamed, ValidateReferenceName)
    ['busybox', 'docker.io', 'library/busybox', 'latest', undefined],
    ['busybox:1.36', 'docker.io', 'library/busybox', '1.36', undefined],
    ['library/busybox', 'docker.io', 'library/busybox', 'latest', undefined],
    ['bitnami/nginx:1', 'docker.io', 'bitnami/nginx', '1', undefined],
    ['docker.io/busybox', 'docker.io', 'library/busybox', 'latest', undefined],
    ['index.docker.io/team/app', 'docker.io', 'team/app', 'latest', undefined],
    // registries with a dot, a port, localhost, IPv6
    ['ghcr.io/org/app:v2', 'ghcr.io', 'org/app', 'v2', undefined],
    ['127.0.0.1:5000/private/app:1', '127.0.0.1:5000', 'private/app', '1', undefined],
    ['registry:5000/app', 'registry:5000', 'app', 'latest', undefined],
    ['localhost/app', 'localhost', 'app', 'latest', undefined],
    ['[::1]:5000/app:1', '[::1]:5000', 'app', '1', undefined],
    [
      'europe-west1-docker.pkg.dev/project/repo/image:tag',
      'europe-west1-docker.pkg.dev',
      'project/repo/image',
      'tag',
      undefined,
    ],
    // digests
    [`ghcr.io/org/app@${DIGEST}`, 'ghcr.io', 'org/app', undefined, DIGEST],
    [`ghcr.io/org/app:v2@${DIGEST}`, 'ghcr.io', 'org/app', 'v2', DIGEST],
    // an uppercase first component is taken as a domain (splitDockerDomain)
    ['Registry/app', 'Registry', 'app', 'latest', undefined],
  ])('%s', (image, domain, path, tag, digest) => {
    const ref = parseImageReference(image);
    expect(ref).toMatchObject({ domain, path, repository: `${domain}/${path}` });
    expect(ref.tag).toBe(tag);
    expect(ref.digest).toBe(digest);
  });

  it('normalized form: repository with its tag or digest', () => {
    expect(parseImageReference('busybox').normalized).toBe('docker.io/library/busybox:latest');
    expect(parseImageReference(`ghcr.io/a/b@${DIGEST}`).normalized).toBe(`ghcr.io/a/b@${DIGEST}`);
    expect(parseImageReference(`ghcr.io/a/b:1@${DIGEST}`).normalized).toBe(`ghcr.io/a/b:1@${DIGEST}`);
  });

  it.each([
    ['Busybox', /must be lowercase/],
    ['ghcr.io/Org/app', /must be lowercase/],
    ['a'.repeat(64), /64-byte hexadecimal/],
    ['ghcr.io/app:', /invalid reference format/],
    ['ghcr.io//app', /invalid reference format/],
    ['ghcr.io/app@sha256:abc', /invalid reference format/], // fewer than 32 hex digits
    [`ghcr.io/app@sha256:${'a'.repeat(63)}0a`, /invalid checksum digest format/],
    [`ghcr.io/app@md5:${'a'.repeat(32)}`, /unsupported digest algorithm/],
    [`ghcr.io/${'a'.repeat(250)}`, /not be more than 255 characters/],
    ['', /invalid reference format/],
  ])('rejects %s', (image, message) => {
    expect(() => parseImageReference(image)).toThrow(message);
  });
});

describe('registryHostFor: the host a runtime contacts', () => {
  it.each([
    ['docker.io', 'registry-1.docker.io'],
    ['ghcr.io', 'ghcr.io'],
    ['127.0.0.1:5000', '127.0.0.1:5000'],
  ])('%s -> %s', (domain, host) => expect(registryHostFor(domain)).toBe(host));
});
