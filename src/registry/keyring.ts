// Which entry of a Pod's pull secrets the kubelet uses for an image: a faithful copy of the
// kubelet's BasicDockerKeyring (k8s.io/kubernetes v1.33 pkg/credentialprovider/keyring.go), so
// that the operator (stuck-pod recovery, verification) and `kubectl regcred doctor` decide exactly
// as the node does. Pure: no I/O.
//
// How the kubelet does it:
// - every `auths` key of every pull secret of the Pod goes into one keyring; "https://" or
//   "http://" is dropped, a path "/v1/..." or "/v2/..." counts without that prefix, "/" alone is no
//   path: "https://index.docker.io/v1/" is the key "index.docker.io";
// - the keys are sorted in reverse (so "quay.io/team" comes before "quay.io") and each one that
//   matches the image's repository (domain/path, no tag) contributes its credentials, in order;
// - a key matches when the host has the same number of dot-separated parts, each part matching
//   as a glob (`*`, `?`, `[a-z]`), the ports are equal (none = none), and the key's path is a
//   string prefix of the repository's path ("host/team" also covers "host/teamx/app");
// - when nothing matched and the image is a Docker Hub one, the credentials under
//   "index.docker.io" (the legacy key) are used;
// - the kubelet then tries the credentials in that order until a pull succeeds.

import { DOCKER_HUB_DOMAIN } from './reference.js';

const LEGACY_DOCKER_HUB_KEY = 'index.docker.io';

export interface KeyringEntry<T> {
  /** The `auths` key as written in the Secret. */
  key: string;
  /** The value to hand back when it matches (e.g. where it came from, the username). */
  value: T;
}

export interface KeyringMatch<T> extends KeyringEntry<T> {
  /** The key as the kubelet indexes it (scheme and /v1/ /v2/ removed). */
  indexKey: string;
  /** True when it matched only through the Docker Hub fallback (the legacy index.docker.io key). */
  dockerHubFallback: boolean;
}

/** The key the kubelet indexes an `auths` key under, or undefined when it ignores the entry (unparsable). */
export function keyringIndexKey(authsKey: string): string | undefined {
  const withScheme = /^https?:\/\//.test(authsKey) ? authsKey : `https://${authsKey}`;
  const parsed = parseUrl(withScheme);
  if (!parsed) return undefined;
  let effectivePath = parsed.path;
  if (effectivePath.startsWith('/v2/') || effectivePath.startsWith('/v1/')) effectivePath = effectivePath.slice(3);
  return effectivePath.length > 0 && effectivePath !== '/' ? parsed.host + effectivePath : parsed.host;
}

/**
 * The entries the kubelet would use for `repository` (an image's domain/path, as
 * ImageReference.repository), in the order it tries them. Empty: it pulls without credentials.
 */
export function lookupCredentials<T>(entries: Array<KeyringEntry<T>>, repository: string): Array<KeyringMatch<T>> {
  const byIndexKey = new Map<string, Array<KeyringEntry<T>>>();
  for (const entry of entries) {
    const indexKey = keyringIndexKey(entry.key);
    if (indexKey === undefined) continue;
    byIndexKey.set(indexKey, [...(byIndexKey.get(indexKey) ?? []), entry]);
  }
  // Go's sort.Reverse(sort.StringSlice): byte order, descending.
  const index = [...byIndexKey.keys()].sort((a, b) => (a < b ? 1 : a > b ? -1 : 0));
  const matches: Array<KeyringMatch<T>> = [];
  for (const indexKey of index) {
    if (!urlsMatch(indexKey, repository)) continue;
    for (const entry of byIndexKey.get(indexKey)!) matches.push({ ...entry, indexKey, dockerHubFallback: false });
  }
  if (matches.length > 0) return matches;
  if (isDefaultRegistryMatch(repository)) {
    return (byIndexKey.get(LEGACY_DOCKER_HUB_KEY) ?? []).map((entry) => ({
      ...entry,
      indexKey: LEGACY_DOCKER_HUB_KEY,
      dockerHubFallback: true,
    }));
  }
  return [];
}

/** The kubelet's URLsMatchStr: does the (glob) key `glob` cover `target` (both without scheme)? */
export function urlsMatch(glob: string, target: string): boolean {
  const globUrl = parseUrl(`https://${glob}`);
  const targetUrl = parseUrl(`https://${target}`);
  if (!globUrl || !targetUrl) return false;
  const [globParts, globPort] = splitHost(globUrl.host);
  const [targetParts, targetPort] = splitHost(targetUrl.host);
  if (globPort !== targetPort) return false;
  if (globParts.length !== targetParts.length) return false;
  if (!targetUrl.path.startsWith(globUrl.path)) return false;
  return globParts.every((part, i) => globMatch(part, targetParts[i]));
}

/** The kubelet's isDefaultRegistryMatch: would this repository be pulled from Docker Hub? */
export function isDefaultRegistryMatch(image: string): boolean {
  const slash = image.indexOf('/');
  const first = slash === -1 ? image : image.slice(0, slash);
  if (first.length === 0) return false;
  if (slash === -1) return true;
  if (first === DOCKER_HUB_DOMAIN || first === LEGACY_DOCKER_HUB_KEY) return true;
  return !/[.:]/.test(first);
}

// ---------------------------------------------------------------------------------------------

/** The host (with port) and path of an absolute http(s) URL, as Go's url.Parse splits them. */
function parseUrl(url: string): { host: string; path: string } | undefined {
  const match = /^https?:\/\/([^/?#]*)([^?#]*)/.exec(url);
  if (!match) return undefined;
  const [, authority, path] = match;
  // userinfo@host is legal in a URL, and Go drops it from Host
  const host = authority.includes('@') ? authority.slice(authority.lastIndexOf('@') + 1) : authority;
  // Go rejects control characters and spaces in a URL; a "%" must start an escape
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is looked for
  if (/[\u0000-\u0020\u007f]/.test(url) || /%(?![0-9a-fA-F]{2})/.test(url)) return undefined;
  if (/^\[[^\]]*$/.test(host)) return undefined;
  return { host, path: decodeURIComponentSafe(path) };
}

function decodeURIComponentSafe(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

/** Go's net.SplitHostPort on url.Host, falling back to (host, "") when there is no port. */
function splitHost(hostPort: string): [string[], string] {
  let host = hostPort;
  let port = '';
  const bracketed = /^\[([^\]]*)\]:([^:]*)$/.exec(hostPort);
  if (bracketed) [host, port] = [bracketed[1], bracketed[2]];
  else {
    const colon = hostPort.lastIndexOf(':');
    if (colon > -1 && hostPort.indexOf(':') === colon)
      [host, port] = [hostPort.slice(0, colon), hostPort.slice(colon + 1)];
  }
  return [host.split('.'), port];
}

/** Go's filepath.Match for one host part ("/" never occurs in a host); a malformed pattern matches nothing. */
function globMatch(pattern: string, name: string): boolean {
  let regex = '^';
  for (let i = 0; i < pattern.length; i++) {
    const character = pattern[i];
    if (character === '*') regex += '[^/]*';
    else if (character === '?') regex += '[^/]';
    else if (character === '\\') {
      i++;
      if (i >= pattern.length) return false;
      regex += escapeRegExp(pattern[i]);
    } else if (character === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end === -1) return false;
      let body = pattern.slice(i + 1, end);
      if (body.startsWith('^')) body = `^${body.slice(1)}`;
      regex += `[${body.replace(/\\(?!.)/g, '')}]`;
      i = end;
    } else regex += escapeRegExp(character);
  }
  try {
    return new RegExp(`${regex}$`).test(name);
  } catch {
    return false;
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/**
 * Whether an `auths` key names the registry host of `repository` (an image's domain/path), ports
 * and host globs compared as the kubelet does, paths ignored: the keys a kubelet credential
 * provider answers with when it says its answer holds for the whole registry (cacheKeyType Registry).
 */
export function keyNamesRegistryOf(authsKey: string, repository: string): boolean {
  const indexKey = keyringIndexKey(authsKey);
  if (indexKey === undefined) return false;
  const hostOf = (text: string) => text.split('/')[0]!;
  if (urlsMatch(hostOf(indexKey), hostOf(repository))) return true;
  return indexKey === LEGACY_DOCKER_HUB_KEY && isDefaultRegistryMatch(repository);
}
