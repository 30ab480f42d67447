// Pure: the labels and annotations spec.secretTemplate puts on every copy. Which keys the template
// put there is recorded on the copy (annotation regcred.io/templated-keys), so that a key taken out
// of the template is removed from the copies while keys someone else added are kept, also across
// restarts. The operator's own labels are applied after the template's and always win.
import type { V1ObjectMeta } from '@kubernetes/client-node';
import { ANNOTATION_TEMPLATED, type SecretTemplate } from '../api/v1alpha1.js';
import { parsedOnce } from '../runtime/parsecache.js';

export interface TemplatedKeys {
  labels: string[];
  annotations: string[];
}

type StringMap = Record<string, string>;

/** The labels and annotations of a copy made from `template`, with the operator's `managedLabels` on top. */
export function templatedMetadata(
  template: SecretTemplate | undefined,
  managedLabels: StringMap,
): { labels: StringMap; annotations?: StringMap } {
  const labels = { ...template?.labels, ...managedLabels };
  const record = serializeKeys({
    labels: Object.keys(template?.labels ?? {}),
    annotations: Object.keys(template?.annotations ?? {}),
  });
  if (record === undefined) return { labels };
  return { labels, annotations: { ...template?.annotations, [ANNOTATION_TEMPLATED]: record } };
}

const NO_KEYS: TemplatedKeys = Object.freeze({ labels: [], annotations: [] });

// A credential key's scan compares every copy with its desired state, which reads this record;
// copies of one credential share one value, so each distinct value is parsed once.
const parsedRecord = parsedOnce((raw): TemplatedKeys => Object.freeze(parseRecord(raw)));

/** The keys the template put on a copy, as recorded on it (nothing when the record is missing or mangled). */
export function templatedKeysOf(metadata: V1ObjectMeta | undefined): TemplatedKeys {
  const raw = metadata?.annotations?.[ANNOTATION_TEMPLATED];
  return raw ? parsedRecord(raw) : NO_KEYS;
}

function parseRecord(raw: string): TemplatedKeys {
  const keys: TemplatedKeys = { labels: [], annotations: [] };
  try {
    const parsed = JSON.parse(raw) as Partial<Record<keyof TemplatedKeys, unknown>>;
    for (const kind of ['labels', 'annotations'] as const) {
      const list = parsed?.[kind];
      if (Array.isArray(list)) keys[kind] = list.filter((key): key is string => typeof key === 'string');
    }
  } catch {
    // someone mangled the record: remove nothing we cannot tell is ours
  }
  return keys;
}

function serializeKeys(keys: TemplatedKeys): string | undefined {
  if (keys.labels.length === 0 && keys.annotations.length === 0) return undefined;
  const record: Partial<TemplatedKeys> = {};
  if (keys.annotations.length > 0) record.annotations = [...keys.annotations].sort();
  if (keys.labels.length > 0) record.labels = [...keys.labels].sort();
  return JSON.stringify(record);
}

/**
 * The labels and annotations an existing copy should have: everything it has, less the template
 * keys recorded on it that the desired metadata no longer has, plus the desired ones (the
 * operator's labels, the template's keys and the record). `changed` tells whether that differs.
 */
export function withTemplate(
  existing: V1ObjectMeta,
  desired: V1ObjectMeta,
): { labels: StringMap; annotations: StringMap | undefined; changed: boolean } {
  const previous = templatedKeysOf(existing);
  const wantedLabels = desired.labels ?? {};
  const wantedAnnotations = desired.annotations ?? {};
  const labels = { ...existing.labels };
  for (const key of previous.labels) if (!Object.hasOwn(wantedLabels, key)) delete labels[key];
  Object.assign(labels, wantedLabels);
  const annotations = { ...existing.annotations };
  for (const key of previous.annotations) if (!Object.hasOwn(wantedAnnotations, key)) delete annotations[key];
  if (!Object.hasOwn(wantedAnnotations, ANNOTATION_TEMPLATED)) delete annotations[ANNOTATION_TEMPLATED];
  Object.assign(annotations, wantedAnnotations);
  const changed = !sameMap(labels, existing.labels) || !sameMap(annotations, existing.annotations);
  const keepAnnotations = existing.annotations !== undefined || Object.keys(annotations).length > 0;
  return { labels, annotations: keepAnnotations ? annotations : undefined, changed };
}

function sameMap(a: StringMap, b: StringMap | undefined): boolean {
  const other = b ?? {};
  const keys = Object.keys(a);
  return keys.length === Object.keys(other).length && keys.every((key) => other[key] === a[key]);
}
