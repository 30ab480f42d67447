// Pure: adding our entry to a ServiceAccount's imagePullSecrets and taking it out again, keeping
// every other entry and its order. What we added is recorded in an annotation on the SA, so that
// cleanup removes exactly that and never an entry someone else put there.
import type { V1ServiceAccount } from '@kubernetes/client-node';
import { ANNOTATION_INJECTED } from '../api/v1alpha1.js';
import { parsedOnce } from '../runtime/parsecache.js';

export interface PullSecretsEdit {
  imagePullSecrets: Array<{ name?: string }>;
  /** The new annotation value, or null to remove the annotation. */
  injected: string | null;
}

/** {secretName: credentialName} of the entries this operator added to the SA (a fresh object). */
export function injectedBy(sa: V1ServiceAccount): Record<string, string> {
  const raw = sa.metadata?.annotations?.[ANNOTATION_INJECTED];
  return raw ? { ...parsedAnnotation(raw) } : {};
}

// A credential key's scan reads this annotation on every cached ServiceAccount; clusters hold few
// distinct values (one per combination of credentials), so each is parsed once.
const parsedAnnotation = parsedOnce((raw): Readonly<Record<string, string>> => Object.freeze(parseAnnotation(raw)));

function parseAnnotation(raw: string): Record<string, string> {
  try {
    const parsed = JSON.parse(raw) as unknown;
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
      return Object.fromEntries(
        Object.entries(parsed as Record<string, unknown>).filter(([, value]) => typeof value === 'string'),
      ) as Record<string, string>;
    }
  } catch {
    // an annotation someone mangled: treat as "we added nothing" (never remove foreign entries)
  }
  return {};
}

function serialize(injected: Record<string, string>): string | null {
  const keys = Object.keys(injected).sort();
  return keys.length === 0 ? null : JSON.stringify(Object.fromEntries(keys.map((key) => [key, injected[key]])));
}

/** Adds {name: secretName} once. Returns undefined when nothing has to change. */
export function withPullSecret(
  sa: V1ServiceAccount,
  secretName: string,
  credentialName: string,
): PullSecretsEdit | undefined {
  const list = sa.imagePullSecrets ?? [];
  const injected = injectedBy(sa);
  const present = list.some((entry) => entry.name === secretName);
  if (present) {
    // Already there: if we put it there, make sure the record names us; if someone else did, it is theirs.
    if (injected[secretName] === undefined || injected[secretName] === credentialName) return undefined;
    return { imagePullSecrets: list, injected: serialize({ ...injected, [secretName]: credentialName }) };
  }
  return {
    imagePullSecrets: [...list, { name: secretName }],
    injected: serialize({ ...injected, [secretName]: credentialName }),
  };
}

/** Removes the entries this credential added (and only those). Undefined when nothing has to change. */
export function withoutPullSecret(
  sa: V1ServiceAccount,
  credentialName: string,
  onlySecretName?: string,
): PullSecretsEdit | undefined {
  const injected = injectedBy(sa);
  const ours = Object.keys(injected).filter(
    (secretName) =>
      injected[secretName] === credentialName && (onlySecretName === undefined || secretName === onlySecretName),
  );
  if (ours.length === 0) return undefined;
  const list = sa.imagePullSecrets ?? [];
  const rest = { ...injected };
  for (const secretName of ours) delete rest[secretName];
  return { imagePullSecrets: list.filter((entry) => !ours.includes(entry.name ?? '')), injected: serialize(rest) };
}

/** Secret names this credential added to the SA. */
export function injectedFor(sa: V1ServiceAccount, credentialName: string): string[] {
  const raw = sa.metadata?.annotations?.[ANNOTATION_INJECTED];
  if (!raw) return [];
  const injected = parsedAnnotation(raw);
  return Object.keys(injected).filter((secretName) => injected[secretName] === credentialName);
}

/**
 * The one edit that brings an SA in line for this credential: our entry named `wanted` (or none
 * when the SA is no longer selected), and none of ours under any other name (a renamed
 * secretName). Undefined when the SA is already right.
 */
export function serviceAccountEdit(
  sa: V1ServiceAccount,
  credentialName: string,
  wanted: string | undefined,
): PullSecretsEdit | undefined {
  let current: V1ServiceAccount = sa;
  let edit: PullSecretsEdit | undefined;
  for (const stale of injectedFor(sa, credentialName)) {
    if (stale === wanted) continue;
    const next = withoutPullSecret(current, credentialName, stale);
    if (next) current = applyEdit(current, (edit = next));
  }
  if (wanted !== undefined) {
    const next = withPullSecret(current, wanted, credentialName);
    if (next) edit = next;
  }
  return edit;
}

/** The SA as it looks after an edit (for chaining edits and for write-through). */
export function applyEdit(sa: V1ServiceAccount, edit: PullSecretsEdit): V1ServiceAccount {
  const annotations = { ...(sa.metadata?.annotations ?? {}) };
  if (edit.injected === null) delete annotations[ANNOTATION_INJECTED];
  else annotations[ANNOTATION_INJECTED] = edit.injected;
  return { ...sa, metadata: { ...sa.metadata, annotations }, imagePullSecrets: edit.imagePullSecrets };
}
