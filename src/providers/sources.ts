// Where credentials come from. basicAuth and dockerConfig read Secrets of the source namespace
// (from the informer cache: no API call per reconcile); ecr asks AWS for a token (ecr.ts).
// Each registry entry resolves on its own, so one broken source does not hide the others.
import type { V1Secret } from '@kubernetes/client-node';
import type { RegistryCredentialSpec, RegistryEntry } from '../api/v1alpha1.js';
import {
  authEntry,
  type Auths,
  credentialProblem,
  decodeUtf8,
  InvalidDockerConfigError,
  parseDockerConfigSecret,
} from '../dockerconfig.js';

export type SourceFailureReason =
  'SourceSecretNotFound' | 'InvalidSourceSecret' | 'TokenRefreshFailed' | 'InvalidEcrEntry' | 'SecretTooLarge';

/** For short-lived tokens: when the one served expires (if known), when it was obtained, when to look again. */
export interface TokenTiming {
  expiresAt?: number;
  refreshedAt?: number;
  nextCheckAt?: number;
}

export type EntryResult =
  | ({ ok: true; auths: Auths; warning?: { reason: string; message: string } } & TokenTiming)
  | ({
      ok: false;
      reason: SourceFailureReason;
      message: string;
      /** The last good value, still served. */ stale?: Auths;
    } & TokenTiming);

export interface SourceSecrets {
  /** A Secret of the source namespace, from the cache. */
  get(name: string): V1Secret | undefined;
  namespace: string;
}

/** Resolves a basicAuth or dockerConfig entry (ecr entries go through resolveEcrEntry). */
export function resolveEntry(entry: RegistryEntry, secrets: SourceSecrets): EntryResult {
  if (entry.basicAuth) {
    const { secretName, usernameKey, passwordKey } = entry.basicAuth;
    const secret = secrets.get(secretName);
    if (!secret) return notFound(secretName, secrets.namespace);
    const username = decodeKey(secret, usernameKey);
    const password = decodeKey(secret, passwordKey);
    const missing = [username === undefined ? usernameKey : '', password === undefined ? passwordKey : ''].filter(
      Boolean,
    );
    if (missing.length > 0) {
      return invalid(
        secretName,
        secrets.namespace,
        `has no ${missing.map((key) => JSON.stringify(key)).join(' or ')} key`,
      );
    }
    if (!username || !password)
      return invalid(secretName, secrets.namespace, `has an empty ${!username ? usernameKey : passwordKey}`);
    if (username === NOT_UTF8 || password === NOT_UTF8) {
      return invalid(
        secretName,
        secrets.namespace,
        `key ${JSON.stringify(username === NOT_UTF8 ? usernameKey : passwordKey)} is not valid UTF-8 text`,
      );
    }
    for (const [field, key, value] of [
      ['username', usernameKey, username],
      ['password', passwordKey, password],
    ] as const) {
      const problem = credentialProblem(field, value);
      if (problem) return invalid(secretName, secrets.namespace, `key ${JSON.stringify(key)} holds ${problem}`);
    }
    return { ok: true, auths: { [entry.server!]: authEntry(username, password) } };
  }
  if (entry.dockerConfig) {
    const { secretName } = entry.dockerConfig;
    const secret = secrets.get(secretName);
    if (!secret) return notFound(secretName, secrets.namespace);
    try {
      return { ok: true, auths: parseDockerConfigSecret(secret.type, secret.data) };
    } catch (err) {
      if (err instanceof InvalidDockerConfigError) return invalid(secretName, secrets.namespace, err.message);
      throw err;
    }
  }
  throw new Error(`registry ${entry.server}: ecr entries are resolved by resolveEcrEntry (providers/ecr.ts)`);
}

/**
 * Merges per-entry auths into one document. Entries naming a server explicitly (basicAuth, ecr)
 * win over imported dockerConfig entries for the same server; among imports, the earlier wins.
 */
export function mergeAuths(spec: RegistryCredentialSpec, perEntry: Auths[]): Auths {
  const merged: Auths = Object.create(null) as Auths; // no prototype: any server key is an ordinary key
  spec.registries.forEach((entry, i) => {
    if (!entry.dockerConfig) return;
    for (const [server, auth] of Object.entries(perEntry[i] ?? {}))
      if (!Object.hasOwn(merged, server)) merged[server] = auth;
  });
  spec.registries.forEach((entry, i) => {
    if (entry.dockerConfig) return;
    Object.assign(merged, perEntry[i] ?? {});
  });
  return merged;
}

/** Stands for a value whose bytes are not UTF-8 (a binary file, a wrong encoding): never replaced silently. */
const NOT_UTF8 = Symbol('not UTF-8');

function decodeKey(secret: V1Secret, key: string): string | typeof NOT_UTF8 | undefined {
  const encoded = secret.data?.[key];
  return encoded === undefined ? undefined : (decodeUtf8(encoded) ?? NOT_UTF8);
}

function notFound(name: string, namespace: string): EntryResult {
  return { ok: false, reason: 'SourceSecretNotFound', message: `Secret ${namespace}/${name} not found` };
}

function invalid(name: string, namespace: string, what: string): EntryResult {
  return { ok: false, reason: 'InvalidSourceSecret', message: `Secret ${namespace}/${name} ${what}` };
}
