// Work-queue keys. A credential key resolves sources and decides which namespaces need work; a
// namespace key converges one (credential, namespace) pair. Names cannot contain "/".

export type Key =
  { kind: 'credential'; credential: string } | { kind: 'namespace'; credential: string; namespace: string };

export const credentialKey = (credential: string): string => `c/${credential}`;
export const namespaceKey = (credential: string, namespace: string): string => `n/${credential}/${namespace}`;

export function parseKey(key: string): Key {
  const [kind, credential = '', namespace = ''] = key.split('/');
  if (kind === 'n') return { kind: 'namespace', credential, namespace };
  return { kind: 'credential', credential };
}
