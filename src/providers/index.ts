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
import { type GitLabApi, gitlabProvider, type GitLabProvider } from './gitlab.js';
import { type HarborApi, harborProvider } from './harbor.js';
import type { HarborAdmin } from './harbor-api.js';
import type { EntryResult, Provider, ResolveContext, SourceEntry } from './provider.js';
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

  /** Providers that own credentials at a registry and must hear where they were delivered (gitlab). */
  private owning(): GitLabProvider[] {
    const provider = this.byKind.get('gitlab') as GitLabProvider | undefined;
    return provider ? [provider] : [];
  }

  /**
   * Every copy of RegistryCredential `name` carries `auths`: owned credentials it replaced may be
   * revoked once every RegistryCredential of their identity (`users`: every spec, by name) carries
   * the current one.
   */
  delivered(
    name: string,
    spec: RegistryCredentialSpec,
    auths: Auths,
    users: Map<string, RegistryCredentialSpec>,
  ): void {
    for (const provider of this.owning()) provider.delivered(name, spec, auths, users);
  }

  /**
   * RegistryCredential `name` is being deleted: revokes the owned credentials no other
   * RegistryCredential (`remaining`) uses. Rejects while the registry's API cannot be reached.
   */
  async released(
    name: string,
    spec: RegistryCredentialSpec,
    remaining: Map<string, RegistryCredentialSpec>,
    namespace: string,
    readSecretKey: (secretName: string, key: string) => string | undefined,
  ): Promise<void> {
    for (const provider of this.owning())
      await provider.released(name, spec, remaining, namespace, (secretName) => readSecretKey(secretName, 'token'));
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
