// The providers of the operator, one per source kind, and what the controller asks of them as a set:
// which kind an entry is, which source Secrets a spec reads, how an entry resolves, and how the
// per-entry results merge into one document. Adding a provider: its module here, its fragment in
// the API schema (api/v1alpha1.ts) and the CRD; nothing in controller/.
import type { RegistryCredentialSpec, RegistryEntry, SourceKind } from '../api/v1alpha1.js';
import { SOURCE_KINDS } from '../api/v1alpha1.js';
import type { Auths } from '../dockerconfig.js';
import { acrProvider, type AcrContext } from './acr.js';
import type { AwsContext } from './aws.js';
import { basicAuthProvider } from './basic-auth.js';
import { dockerConfigProvider } from './docker-config.js';
import { ecrPublicProvider } from './ecr-public.js';
import { ecrProvider } from './ecr.js';
import { gcpProvider, type GcpContext } from './gcp.js';
import { githubProvider, type GitHubContext } from './github.js';
import { type GitLabApi, gitlabProvider } from './gitlab.js';
import { type HarborApi, harborProvider } from './harbor.js';
import type { HarborAdmin } from './harbor-api.js';
import type { OwnedCredentialsProvider, ReleaseOutcome } from './owned-credentials.js';
import type { EntryResult, Provider, ResolveContext, SourceEntry, SourceSecrets } from './provider.js';
import { quayProvider, type QuayContext, type ServiceAccountTokenSource } from './quay.js';
import type { TokenFetcher } from './token-cache.js';
import type { TokenProviderDeps } from './token-provider.js';

export interface ProvidersOptions extends TokenProviderDeps {
  /** Deadline of one token request (every provider; STS, Entra ID and the ACR exchange included). */
  requestTimeoutMs: number;
  /** Overrides the AWS endpoints (ECR, ECR Public, STS); else the SDK's own resolution. */
  awsEndpointUrl?: string;
  /** The operator's own ServiceAccount tokens for an audience (quay robot federation). */
  serviceAccountToken?: ServiceAccountTokenSource;
  /** The longest cache duration the kubelet endpoint hands out (0: no kubelet delivery). */
  kubeletCacheMs?: number;
  /** Replaces the network side of token providers (the fake-clock simulation). */
  fetchers?: {
    ecr?: TokenFetcher<AwsContext>;
    ecrPublic?: TokenFetcher<AwsContext>;
    gcp?: TokenFetcher<GcpContext>;
    acr?: TokenFetcher<AcrContext>;
    github?: TokenFetcher<GitHubContext>;
    quay?: TokenFetcher<QuayContext>;
    harbor?: (url: string, admin: HarborAdmin) => HarborApi;
    gitlab?: (url: string, privateToken: string) => GitLabApi;
  };
}

/** A credential the operator owns, as a spec entry names it: `key` is kind/identity. */
export interface OwnedIdentity {
  key: string;
  kind: SourceKind;
  identity: string;
  source: unknown;
}

/**
 * Every provider of the operator. Token providers each get their own token cache here, shared by
 * every RegistryCredential.
 */
export function createProviders(options: ProvidersOptions): Providers {
  const aws = { endpoint: options.awsEndpointUrl, requestTimeoutMs: options.requestTimeoutMs };
  const { fetchers = {} } = options;
  return new Providers([
    basicAuthProvider,
    dockerConfigProvider,
    ecrProvider({ ...options, aws, fetch: fetchers.ecr }),
    ecrPublicProvider({ ...options, aws, fetch: fetchers.ecrPublic }),
    gcpProvider({ ...options, fetch: fetchers.gcp }),
    acrProvider({ ...options, fetch: fetchers.acr }),
    githubProvider({ ...options, fetch: fetchers.github }),
    quayProvider({ ...options, fetch: fetchers.quay }),
    harborProvider({ ...options, api: fetchers.harbor }),
    gitlabProvider({ ...options, api: fetchers.gitlab }),
  ]);
}

export class Providers {
  private readonly byKind = new Map<SourceKind, Provider>();

  constructor(providers: Provider[]) {
    for (const provider of providers) this.byKind.set(provider.kind, provider);
  }

  /** The provider of an entry and its spec fragment (the schema guarantees exactly one kind per entry). */
  private of(entry: RegistryEntry): { provider: Provider; entry: SourceEntry<SourceKind> } {
    const kind = SOURCE_KINDS.find((candidate) => entry[candidate] !== undefined);
    const provider = kind && this.byKind.get(kind);
    if (!kind || !provider) throw new Error(`registry ${entry.server ?? '(import)'}: no provider for this entry`);
    return { provider, entry: { server: entry.server, source: entry[kind] as never } };
  }

  /** Source Secrets (in the source namespace) a spec reads. */
  sourceSecretNames = (spec: RegistryCredentialSpec): string[] => {
    const names = new Set<string>();
    for (const registry of spec.registries) {
      const { provider, entry } = this.of(registry);
      for (const name of provider.sourceSecrets(entry.source)) names.add(name);
    }
    return [...names];
  };

  async resolve(registry: RegistryEntry, context: ResolveContext): Promise<EntryResult> {
    const { provider, entry } = this.of(registry);
    return provider.resolve(entry, context);
  }

  /**
   * Merges per-entry auths into one document. Entries naming a server explicitly win over imported
   * entries for the same server; among imports, the earlier wins.
   */
  mergeAuths(spec: RegistryCredentialSpec, perEntry: Array<Auths | undefined>): Auths {
    const merged: Auths = Object.create(null) as Auths; // no prototype: any server key is an ordinary key
    for (const [server, index] of Object.entries(this.originsOf(spec, perEntry)))
      merged[server] = perEntry[index]![server]!;
    return merged;
  }

  /** Which entry each merged server comes from, with mergeAuths' precedence. */
  originsOf(spec: RegistryCredentialSpec, perEntry: Array<Auths | undefined>): Record<string, number> {
    const origins: Record<string, number> = Object.create(null) as Record<string, number>;
    const imported = spec.registries.map((registry) => this.of(registry).provider.servers === 'imported');
    spec.registries.forEach((_entry, index) => {
      if (!imported[index]) return;
      for (const server of Object.keys(perEntry[index] ?? {}))
        if (!Object.hasOwn(origins, server)) origins[server] = index;
    });
    spec.registries.forEach((_entry, index) => {
      if (imported[index]) return;
      for (const server of Object.keys(perEntry[index] ?? {})) origins[server] = index;
    });
    return origins;
  }

  private owning(kind: SourceKind): OwnedCredentialsProvider | undefined {
    const provider = this.byKind.get(kind) as Partial<OwnedCredentialsProvider> | undefined;
    return provider?.owned ? (provider as OwnedCredentialsProvider) : undefined;
  }

  /** The owned-credential identities a spec's entries name (kind/identity), once each. */
  ownedIdentities(spec: RegistryCredentialSpec, sourceNamespace: string): OwnedIdentity[] {
    const out = new Map<string, OwnedIdentity>();
    for (const registry of spec.registries) {
      const { provider, entry } = this.of(registry);
      const owning = this.owning(provider.kind);
      if (!owning) continue;
      const identity = owning.identityOf(entry.source as never, sourceNamespace);
      const key = `${provider.kind}/${identity}`;
      if (!out.has(key)) out.set(key, { key, kind: provider.kind, identity, source: entry.source });
    }
    return [...out.values()];
  }

  /**
   * `credential` has every selected copy written with `auths`. `usersOf(key)` names every
   * RegistryCredential using an identity. Returns whether a revocation became due (resolve again).
   */
  confirmDelivered(
    credential: string,
    identities: OwnedIdentity[],
    auths: Auths,
    usersOf: (key: string) => ReadonlySet<string>,
  ): boolean {
    let due = false;
    for (const { key, kind, identity } of identities)
      due = this.owning(kind)!.confirmDelivered(identity, credential, auths, usersOf(key)) || due;
    return due;
  }

  /** The kubelet endpoint handed out `auths`, cached until `untilMs`. */
  noteKubeletCache(auths: Readonly<Record<string, { username?: string }>>, untilMs: number): void {
    for (const provider of this.byKind.values()) this.owning(provider.kind)?.noteKubeletCache(auths, untilMs);
  }

  /** Deletes every credential the operator owns for `owned` (no RegistryCredential uses it any more). */
  release(owned: OwnedIdentity, secrets: SourceSecrets): Promise<ReleaseOutcome> {
    return this.owning(owned.kind)!.release(owned.identity, owned.source as never, secrets);
  }

  /** Token requests sent so far, by token cache key, per token provider (tests and debugging). */
  tokenRequests(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const provider of this.byKind.values()) {
      const cache = (provider as { cache?: { requests: Map<string, number> } }).cache;
      for (const [key, count] of cache?.requests ?? []) counts[key] = count;
      const owned = (provider as { requests?: () => Record<string, number> }).requests?.();
      for (const [key, count] of Object.entries(owned ?? {})) counts[key] = count;
    }
    return counts;
  }
}
