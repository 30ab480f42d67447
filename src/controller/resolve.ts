// Resolves every registry entry of a spec through its provider (providers/: the source-Secret cache,
// the shared token caches) and renders the one document all copies carry.
// A broken entry keeps serving its last good value if it had one; without one, the document is
// held (undefined): no Secret is created or changed until the source is fixed, and nothing is
// deleted.
import { parseDuration, type RegistryCredentialSpec } from '../api/v1alpha1.js';
import { type Auths, documentSizeProblem, renderDockerConfig } from '../dockerconfig.js';
import type { Providers } from '../providers/index.js';
import type { SourceProblem, SourceSecrets } from '../providers/provider.js';
import type { SourceResolution, TokenTimes } from './credentialstate.js';

export interface ResolveOptions {
  source: SourceSecrets;
  /** Last good auths per entry (keyed by the entry's JSON): read, updated and pruned here. */
  lastGood: Map<string, Auths>;
  providers: Providers;
  /** The auths the credential's existing copies carry (ResolveContext.carried). */
  carried?: Auths[];
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
    const result = await options.providers.resolve(entry, {
      secrets: source,
      refreshIntervalMs,
      carried: options.carried,
    });
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
  const auths = held ? undefined : options.providers.mergeAuths(spec, perEntry);
  let document = auths === undefined ? undefined : renderDockerConfig(auths);
  const tooLarge = document === undefined ? undefined : documentSizeProblem(document);
  if (tooLarge) {
    // No partial or truncated write: every existing copy stays as it is, none is created.
    failure ??= { reason: 'SecretTooLarge', message: `${tooLarge}; use fewer or smaller credentials` };
    document = undefined;
  }
  const merged = document === undefined ? {} : { auths, origins: options.providers.originsOf(spec, perEntry) };
  return { resolution: { document, failure, warning, tokens, ...merged }, held };
}

function earliest(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined ? b : b === undefined ? a : Math.min(a, b);
}
