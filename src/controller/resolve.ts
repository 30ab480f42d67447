// Resolves every registry entry of a spec (basicAuth and dockerConfig from the source-Secret
// cache, ecr through the shared token cache) and renders the one document all copies carry.
// A broken entry keeps serving its last good value if it had one; without one, the document is
// held (undefined): no Secret is created or changed until the source is fixed, and nothing is
// deleted.
import { parseDuration, type RegistryCredentialSpec } from '../api/v1alpha1.js';
import { type Auths, documentSizeProblem, renderDockerConfig } from '../dockerconfig.js';
import { type EcrTokenCache, resolveEcrEntry } from '../providers/ecr.js';
import { type EntryResult, mergeAuths, resolveEntry, type SourceSecrets } from '../providers/sources.js';
import type { SourceProblem, SourceResolution, TokenTimes } from './credentialstate.js';

export interface ResolveOptions {
  source: SourceSecrets;
  /** Last good auths per entry (keyed by the entry's JSON): read, updated and pruned here. */
  lastGood: Map<string, Auths>;
  /** ECR tokens, shared by every RegistryCredential (undefined: ecr entries cannot be served). */
  ecrTokens?: EcrTokenCache;
  now: () => number;
}

/** The resolution, and whether an entry without a last good value held the document back. */
export async function resolveSources(
  spec: RegistryCredentialSpec,
  options: ResolveOptions,
): Promise<{ resolution: SourceResolution; held: boolean }> {
  const { source, lastGood } = options;
  const perEntry: Auths[] = [];
  let failure: SourceProblem | undefined;
  let warning: SourceProblem | undefined;
  let held = false;
  const keys = new Set<string>();
  const tokens: TokenTimes = {};
  const refreshIntervalMs = parseDuration(spec.refreshInterval);
  for (const [index, entry] of spec.registries.entries()) {
    const key = JSON.stringify(entry);
    keys.add(key);
    let result: EntryResult;
    if (entry.ecr) {
      if (!options.ecrTokens) throw new Error('the reconciler was built without an ECR token cache');
      result = await resolveEcrEntry(entry, source, { cache: options.ecrTokens, refreshIntervalMs, now: options.now });
    } else result = resolveEntry(entry, source);
    tokens.expiresAt = earliest(tokens.expiresAt, result.expiresAt);
    tokens.refreshedAt = earliest(tokens.refreshedAt, result.refreshedAt);
    tokens.nextCheckAt = earliest(tokens.nextCheckAt, result.nextCheckAt);
    if (result.ok) {
      perEntry[index] = result.auths;
      lastGood.set(key, result.auths);
      warning ??= result.warning;
      continue;
    }
    failure ??= { reason: result.reason, message: result.message };
    const last = result.stale ?? lastGood.get(key);
    if (last) perEntry[index] = last;
    else held = true;
  }
  for (const key of [...lastGood.keys()]) if (!keys.has(key)) lastGood.delete(key);
  const auths = held ? undefined : mergeAuths(spec, perEntry);
  let document = auths === undefined ? undefined : renderDockerConfig(auths);
  const tooLarge = document === undefined ? undefined : documentSizeProblem(document);
  if (tooLarge) {
    // No partial or truncated write: every existing copy stays as it is, none is created.
    failure ??= { reason: 'SecretTooLarge', message: `${tooLarge}; use fewer or smaller credentials` };
    document = undefined;
  }
  const merged = document === undefined ? {} : { auths, origins: originsOf(spec, perEntry) };
  return { resolution: { document, failure, warning, tokens, ...merged }, held };
}

/** Which entry each merged key came from, with mergeAuths' precedence: a server entry wins, else the first import. */
function originsOf(spec: RegistryCredentialSpec, perEntry: Auths[]): Record<string, number> {
  const origins: Record<string, number> = Object.create(null) as Record<string, number>;
  spec.registries.forEach((entry, index) => {
    if (!entry.dockerConfig) return;
    for (const server of Object.keys(perEntry[index] ?? {}))
      if (!Object.hasOwn(origins, server)) origins[server] = index;
  });
  spec.registries.forEach((entry, index) => {
    if (entry.dockerConfig) return;
    for (const server of Object.keys(perEntry[index] ?? {})) origins[server] = index;
  });
  return origins;
}

function earliest(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined ? b : b === undefined ? a : Math.min(a, b);
}
