// Pure: what the kubelet is told for one pull. The same selection rules as the copies
// (controller/desired.ts), evaluated at pull time for the Pod's own namespace and ServiceAccount,
// over every RegistryCredential with delivery.kubelet. A credential is concerned by a pull when one
// of its auths keys names the image's registry host (kubelet key semantics); it serves the pull
// when it also selects the Pod's namespace and ServiceAccount. The answer holds for the registry
// host (cacheKeyType Registry), so it carries every key of the serving credentials on that host:
// the kubelet's own keyring then picks by path, as it does with a pull secret.
import type { V1Namespace, V1ServiceAccount } from '@kubernetes/client-node';
import type { RegistryCredentialSpec } from '../api/v1alpha1.js';
import { isNamespaceSelected, isServiceAccountSelected } from '../controller/desired.js';
import type { Auths } from '../dockerconfig.js';
import { keyNamesRegistryOf } from '../registry/keyring.js';
import { InvalidImageReference, parseImageReference } from '../registry/reference.js';

/** A RegistryCredential the endpoint may serve: its parsed spec and its resolved credentials. */
export interface ServableCredential {
  name: string;
  spec: RegistryCredentialSpec;
  /** The merged auths (as in the copies), or undefined while its sources have no good value. */
  auths?: Auths;
  /** Earliest expiry of a short-lived credential in `auths` (epoch ms). */
  expiresAt?: number;
}

export interface DecisionInput {
  namespace: string;
  serviceAccount: string;
  image: string;
  /** From the caches; undefined when the cache does not hold it. */
  namespaceObject?: V1Namespace;
  serviceAccountObject?: V1ServiceAccount;
  /** Every credential with delivery.kubelet that is not suspended, in name order. */
  credentials: ServableCredential[];
  now: number;
  /** The longest the kubelet may cache an answer (bounds how late a change reaches it). */
  maxCacheMs: number;
  /** Kept from the end of a short-lived credential's life, so no cached answer outlives it. */
  expiryMarginMs?: number;
}

/** Why a credential concerned by a pull did not serve it. */
export type NotServedReason = 'NamespaceNotSelected' | 'ServiceAccountNotSelected' | 'SourcesNotReady';

export interface Decision {
  /** The kubelet's auth map: empty when nothing serves the pull (the kubelet then tries its other sources). */
  auth: Record<string, { username: string; password: string }>;
  cacheDurationMs: number;
  /** Credentials that served, and the keys each contributed. */
  servedBy: Array<{ credential: string; keys: string[] }>;
  /** Credentials concerned by the pull that did not serve it, with why. */
  refusedBy: Array<{ credential: string; reason: NotServedReason; message: string }>;
  /** Set when nothing was served: the reason the request as a whole counts under. */
  refusal?: { reason: 'InvalidImage' | 'NoCredentialForRegistry' | NotServedReason; message: string };
}

const DEFAULT_EXPIRY_MARGIN_MS = 60_000;

export function decide(input: DecisionInput): Decision {
  const { namespace, serviceAccount, now, maxCacheMs } = input;
  let repository: string;
  try {
    repository = parseImageReference(input.image).repository;
  } catch (err) {
    if (!(err instanceof InvalidImageReference)) throw err;
    return nothing(0, {
      reason: 'InvalidImage',
      message: `image ${JSON.stringify(input.image.slice(0, 300))}: ${err.message}`,
    });
  }
  const auth: Decision['auth'] = {};
  const servedBy: Decision['servedBy'] = [];
  const refusedBy: Decision['refusedBy'] = [];
  let cacheDurationMs = maxCacheMs;
  for (const credential of input.credentials) {
    if (!credential.auths) {
      if (concernedBySpec(credential.spec, repository))
        refusedBy.push({
          credential: credential.name,
          reason: 'SourcesNotReady',
          message: `RegistryCredential ${credential.name} has no good credentials yet`,
        });
      continue;
    }
    const keys = Object.keys(credential.auths).filter((key) => keyNamesRegistryOf(key, repository));
    if (keys.length === 0) continue;
    const notServed = whyNotServed(input, credential.spec);
    if (notServed) {
      refusedBy.push({ credential: credential.name, ...notServed });
      continue;
    }
    const contributed: string[] = [];
    for (const key of keys) {
      if (auth[key]) continue; // the first credential by name wins a key two of them name
      const { username, password } = credential.auths[key]!;
      auth[key] = { username, password };
      contributed.push(key);
    }
    if (contributed.length === 0) continue;
    servedBy.push({ credential: credential.name, keys: contributed });
    if (credential.expiresAt !== undefined)
      cacheDurationMs = Math.min(
        cacheDurationMs,
        credential.expiresAt - now - (input.expiryMarginMs ?? DEFAULT_EXPIRY_MARGIN_MS),
      );
  }
  cacheDurationMs = Math.max(0, cacheDurationMs);
  if (servedBy.length > 0) return { auth, cacheDurationMs, servedBy, refusedBy };
  const first = refusedBy[0];
  // The kubelet caches an empty answer too. One for a registry that a RegistryCredential names is
  // not cached: the Pod's ServiceAccount may be selected at any moment, and its next pull must ask.
  // Only a registry no RegistryCredential names keeps the bound (the kubelet would otherwise ask for
  // every public image it pulls).
  if (first) return { ...nothing(0, { reason: first.reason, message: first.message }), refusedBy };
  return nothing(maxCacheMs, {
    reason: 'NoCredentialForRegistry',
    message:
      `no RegistryCredential with delivery.kubelet serves the registry of ${repository} ` +
      `(${namespace}/${serviceAccount})`,
  });
}

function whyNotServed(
  input: DecisionInput,
  spec: RegistryCredentialSpec,
): { reason: NotServedReason; message: string } | undefined {
  const { namespace, serviceAccount } = input;
  if (!input.namespaceObject || !isNamespaceSelected(input.namespaceObject, spec))
    return { reason: 'NamespaceNotSelected', message: `namespace ${namespace} is not selected` };
  if (!input.serviceAccountObject || !isServiceAccountSelected(input.serviceAccountObject, spec))
    return {
      reason: 'ServiceAccountNotSelected',
      message: `ServiceAccount ${namespace}/${serviceAccount} is not selected`,
    };
  return undefined;
}

/** Whether a credential whose sources are not resolved yet names the image's registry in its spec. */
function concernedBySpec(spec: RegistryCredentialSpec, repository: string): boolean {
  return spec.registries.some((entry) => entry.server !== undefined && keyNamesRegistryOf(entry.server, repository));
}

function nothing(cacheDurationMs: number, refusal: NonNullable<Decision['refusal']>): Decision {
  return { auth: {}, cacheDurationMs, servedBy: [], refusedBy: [], refusal };
}
