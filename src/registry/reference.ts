// Image references, normalized the way the kubelet and containerd do before they pull
// (github.com/distribution/reference v0.6.0, ParseNormalizedNamed, which the kubelet's
// parsers.ParseImageName calls): "busybox" is docker.io/library/busybox:latest, "localhost/x" and
// anything whose first component has a "." or ":" names its registry, "index.docker.io" is
// docker.io. Pure: no I/O.

/** The registry Docker Hub images are pulled from, and its legacy name. */
export const DOCKER_HUB_DOMAIN = 'docker.io';
const LEGACY_DOCKER_HUB_DOMAIN = 'index.docker.io';
/** The host containerd actually contacts for docker.io (its built-in default for that domain). */
export const DOCKER_HUB_REGISTRY_HOST = 'registry-1.docker.io';
const OFFICIAL_REPOSITORY_PREFIX = 'library/';
const NAME_MAX_LENGTH = 255;

export interface ImageReference {
  /** As written in the Pod spec. */
  original: string;
  /** The registry part: "docker.io", "127.0.0.1:5000", "ghcr.io", "[::1]:5000". */
  domain: string;
  /** The repository path within the registry: "library/busybox". */
  path: string;
  /** domain/path: what the kubelet looks credentials up for. */
  repository: string;
  tag?: string;
  digest?: string;
  /** The repository with its tag or digest ("latest" when neither was given). */
  normalized: string;
}

export class InvalidImageReference extends Error {
  override name = 'InvalidImageReference';
}

// The grammar of distribution/reference's regexp.go.
const ALPHANUMERIC = '[a-z0-9]+';
const SEPARATOR = '(?:[._]|__|[-]+)';
const PATH_COMPONENT = `${ALPHANUMERIC}(?:${SEPARATOR}${ALPHANUMERIC})*`;
const DOMAIN_NAME_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN_NAME = `${DOMAIN_NAME_COMPONENT}(?:\\.${DOMAIN_NAME_COMPONENT})*`;
const IPV6_ADDRESS = '\\[(?:[a-fA-F0-9:]+)\\]';
const DOMAIN_AND_PORT = `(?:${DOMAIN_NAME}|${IPV6_ADDRESS})(?::[0-9]+)?`;
const TAG = '[\\w][\\w.-]{0,127}';
const DIGEST = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}';
const REFERENCE = new RegExp(
  `^((?:${DOMAIN_AND_PORT}/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*)(?::(${TAG}))?(?:@(${DIGEST}))?$`,
);
const IDENTIFIER = /^[a-f0-9]{64}$/;
/** Digest algorithms whose encoded length is known (go-digest): anything else fails to pull. */
const DIGEST_LENGTHS: Record<string, number> = { sha256: 64, sha384: 96, sha512: 128 };

/** Parse and normalize an image reference; throws InvalidImageReference with the runtime's reason. */
export function parseImageReference(image: string): ImageReference {
  if (IDENTIFIER.test(image)) {
    throw new InvalidImageReference(`invalid repository name (${image}), cannot specify 64-byte hexadecimal strings`);
  }
  const [domain, remainder] = splitDockerDomain(image);
  const tagSeparator = remainder.indexOf(':');
  const remote = tagSeparator > -1 ? remainder.slice(0, tagSeparator) : remainder;
  if (remote.toLowerCase() !== remote) {
    throw new InvalidImageReference(`invalid reference format: repository name (${remote}) must be lowercase`);
  }
  const match = REFERENCE.exec(`${domain}/${remainder}`);
  if (!match) throw new InvalidImageReference(`invalid reference format: ${JSON.stringify(image)}`);
  const [, name, tag, digest] = match;
  if (name.length > NAME_MAX_LENGTH) {
    throw new InvalidImageReference(`repository name must not be more than ${NAME_MAX_LENGTH} characters`);
  }
  if (digest) {
    const [algorithm, encoded] = digest.split(':');
    const length = DIGEST_LENGTHS[algorithm];
    if (length === undefined) throw new InvalidImageReference(`unsupported digest algorithm: ${algorithm}`);
    if (encoded.length !== length || !/^[a-f0-9]+$/.test(encoded)) {
      throw new InvalidImageReference(`invalid checksum digest format: ${digest}`);
    }
  }
  const path = name.slice(domain.length + 1);
  const suffix = digest ? (tag ? `:${tag}@${digest}` : `@${digest}`) : `:${tag ?? 'latest'}`;
  return {
    original: image,
    domain,
    path,
    repository: name,
    ...(tag ? { tag } : digest ? {} : { tag: 'latest' }),
    ...(digest ? { digest } : {}),
    normalized: `${name}${suffix}`,
  };
}

/** The host:port a container runtime contacts for a reference's domain (docker.io is registry-1.docker.io). */
export function registryHostFor(domain: string): string {
  return domain === DOCKER_HUB_DOMAIN ? DOCKER_HUB_REGISTRY_HOST : domain;
}

/** distribution/reference's splitDockerDomain (v0.6.0). */
function splitDockerDomain(name: string): [string, string] {
  const slash = name.indexOf('/');
  if (slash === -1) return [DOCKER_HUB_DOMAIN, OFFICIAL_REPOSITORY_PREFIX + name];
  const maybeDomain = name.slice(0, slash);
  const maybeRemote = name.slice(slash + 1);
  let domain: string;
  let remote: string;
  if (maybeDomain === 'localhost') [domain, remote] = [maybeDomain, maybeRemote];
  else if (maybeDomain === LEGACY_DOCKER_HUB_DOMAIN) [domain, remote] = [DOCKER_HUB_DOMAIN, maybeRemote];
  else if (/[.:]/.test(maybeDomain)) [domain, remote] = [maybeDomain, maybeRemote];
  else if (maybeDomain.toLowerCase() !== maybeDomain) [domain, remote] = [maybeDomain, maybeRemote];
  else [domain, remote] = [DOCKER_HUB_DOMAIN, name];
  if (domain === DOCKER_HUB_DOMAIN && !remote.includes('/')) remote = OFFICIAL_REPOSITORY_PREFIX + remote;
  return [domain, remote];
}
