// The provider interface: one module per source kind of a registry entry (basicAuth, dockerConfig,
// ecr, ecrPublic, gcp, acr). A provider declares the kind it serves, whether its credentials go
// under the entry's server or bring their own servers, the source Secrets an entry reads, and how
// an entry resolves to `auths` entries. Token providers (token-provider.ts) add a shared token cache
// and a renewal schedule. The controller resolves entries through Providers (index.ts) without
// knowing any kind.
import type { V1Secret } from '@kubernetes/client-node';
import type { RegistryEntry, SourceKind } from '../api/v1alpha1.js';
import type { Auths } from '../dockerconfig.js';
import { decodeUtf8 } from '../dockerconfig.js';

/** The spec fragment of kind K, e.g. SourceOf<'gcp'> = {credentialsSecretName?}. */
export type SourceOf<K extends SourceKind> = NonNullable<RegistryEntry[K]>;

/** For short-lived tokens: when the one served expires (if known), when it was obtained, when to look again. */
export interface TokenTiming {
  expiresAt?: number;
  refreshedAt?: number;
  nextCheckAt?: number;
}

export interface SourceProblem {
  /** CamelCase, e.g. SourceSecretNotFound, InvalidSourceSecret, TokenRefreshFailed. */
  reason: string;
  /** Names Secrets, servers and error codes; never secret material. */
  message: string;
}

export type EntryResult =
  | ({ ok: true; auths: Auths; warning?: SourceProblem } & TokenTiming)
  | ({ ok: false; /** The last good value, still served. */ stale?: Auths } & SourceProblem & TokenTiming);

/** A failed EntryResult (a problem found before any request). */
export type EntryFailure = Extract<EntryResult, { ok: false }>;

export interface SourceSecrets {
  /** A Secret of the source namespace, from the cache. */
  get(name: string): V1Secret | undefined;
  namespace: string;
}

export interface ResolveContext {
  secrets: SourceSecrets;
  /** The RegistryCredential's refreshInterval: how often token providers renew at most. */
  refreshIntervalMs: number;
  /**
   * The auths the RegistryCredential's existing copies carry (one per distinct document): providers
   * that own their credentials adopt the one they find there after a restart instead of minting anew.
   */
  carried?: Auths[];
}

/** One entry of kind K: its server (absent for importing kinds) and its spec fragment. */
export interface SourceEntry<K extends SourceKind> {
  server?: string;
  source: SourceOf<K>;
}

export interface Provider<K extends SourceKind = SourceKind> {
  readonly kind: K;
  /**
   * 'named': the credentials are written under the entry's server; 'imported': the source brings its
   * own servers, and an entry naming the same server explicitly wins over them.
   */
  readonly servers: 'named' | 'imported';
  /** Secrets of the source namespace an entry reads (a change to one of them re-resolves the entry). */
  sourceSecrets(source: SourceOf<K>): string[];
  resolve(entry: SourceEntry<K>, context: ResolveContext): EntryResult | Promise<EntryResult>;
}

// ---- shared by the providers -------------------------------------------------------------------

/** Stands for a value whose bytes are not UTF-8 (a binary file, a wrong encoding): never replaced silently. */
export const NOT_UTF8 = Symbol('not UTF-8');

/** A key of a Secret as UTF-8 text; undefined when absent, NOT_UTF8 when its bytes are not text. */
export function secretText(secret: V1Secret, key: string): string | typeof NOT_UTF8 | undefined {
  const encoded = secret.data?.[key];
  return encoded === undefined ? undefined : (decodeUtf8(encoded) ?? NOT_UTF8);
}

export function notFound(name: string, namespace: string): EntryFailure {
  return { ok: false, reason: 'SourceSecretNotFound', message: `Secret ${namespace}/${name} not found` };
}

export function invalid(name: string, namespace: string, what: string): EntryFailure {
  return { ok: false, reason: 'InvalidSourceSecret', message: `Secret ${namespace}/${name} ${what}` };
}

/**
 * The named keys of a source Secret as text (surrounding whitespace trimmed: a trailing newline from
 * a file is common and never part of a key), or the failure that stops the entry: the Secret is
 * missing, a key is not text, or a key in `required` is missing or empty (the message names them all).
 */
export function readSecretKeys<Key extends string>(
  secrets: SourceSecrets,
  name: string,
  required: readonly Key[],
  optional: readonly string[] = [],
): { ok: true; values: Record<Key, string> & Record<string, string | undefined> } | EntryFailure {
  const secret = secrets.get(name);
  if (!secret) return notFound(name, secrets.namespace);
  const values: Record<string, string | undefined> = {};
  for (const key of [...required, ...optional]) {
    const text = secretText(secret, key);
    if (text === NOT_UTF8)
      return invalid(name, secrets.namespace, `key ${JSON.stringify(key)} is not valid UTF-8 text`);
    values[key] = text?.trim() || undefined;
  }
  if (required.some((key) => values[key] === undefined)) {
    const keys = required.map((key) => JSON.stringify(key)).join(' and ');
    return invalid(
      name,
      secrets.namespace,
      `needs ${required.length === 1 ? 'a non-empty key' : 'non-empty keys'} ${keys}`,
    );
  }
  return { ok: true, values: values as Record<Key, string> & Record<string, string | undefined> };
}
