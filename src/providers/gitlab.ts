// gitlab: deploy tokens (scope read_registry) of a GitLab project or group that the operator owns,
// written under the entry's server with the deploy token's username. The adapter of the
// owned-credentials provider (owned-credentials.ts: identity, ownership, rotation at 2/3, revocation
// after delivery, restarts): how an identity is formed, where the access token is read from, and the
// three deploy token requests (gitlab-api.ts).
// Deploy tokens have no description: the token's GitLab name carries both the owned name prefix and
// the ownership statement with the identity hash, so ownership is decided from the name alone, and
// the username is the owned name (regcred-<identity prefix>-<creation time in base 36>).
import type { Clock } from '../runtime/clock.js';
import {
  type CreatedDeployToken,
  type DeployToken,
  type DeployTokenCreate,
  GitLabClient,
  type GitLabTarget,
} from './gitlab-api.js';
import {
  type OwnedCredentialsAdapter,
  type OwnedCredentialsApi,
  ownedCredentialsProvider,
  type OwnedCredentialsProvider,
} from './owned-credentials.js';
import type { SourceOf } from './provider.js';
import { readSecretKeys } from './provider.js';
import { identityHash } from './token-provider.js';

/** The GitLab requests the adapter makes (GitLabClient; replaceable in tests). */
export interface GitLabApi {
  createDeployToken(target: GitLabTarget, token: DeployTokenCreate): Promise<CreatedDeployToken>;
  listDeployTokens(target: GitLabTarget): Promise<DeployToken[]>;
  deleteDeployToken(target: GitLabTarget, tokenId: number): Promise<void>;
}

export interface GitLabDeps {
  clock: Clock;
  random?: () => number;
  requestTimeoutMs: number;
  /** The longest cache duration the kubelet endpoint hands out (0: no kubelet delivery). */
  kubeletCacheMs?: number;
  api?: (url: string, privateToken: string) => GitLabApi;
}

const UNIT_MS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "7d" -> 7 days in ms; the CRD admits whole minutes, hours or days. */
export function expiresInMs(text: string): number {
  const match = /^([1-9]\d{0,4})([mhd])$/.exec(text);
  if (!match) throw new Error(`invalid GitLab expiresIn ${JSON.stringify(text)}`);
  return Number(match[1]) * UNIT_MS[match[2]!]!;
}

export function targetOf(source: SourceOf<'gitlab'>): GitLabTarget {
  return source.project !== undefined ? { kind: 'project', id: source.project } : { kind: 'group', id: source.group! };
}

export function identityOf(source: SourceOf<'gitlab'>, namespace: string): string {
  const target = targetOf(source);
  return identityHash(
    'gitlab',
    source.url,
    namespace,
    source.tokenSecretName,
    target.kind,
    target.id,
    source.expiresIn,
  );
}

/** The GitLab name of a deploy token: the owned name, then the ownership statement. */
export function deployTokenName(name: string, description: string): string {
  return `${name} (${description})`.slice(0, 255);
}

/** The creation time in an owned name (regcred-<prefix>-<epoch ms in base 36>), if it has one. */
export function createdAtOf(username: string): number | undefined {
  const match = /^regcred-[0-9a-f]{8}-([0-9a-z]+)$/.exec(username);
  const ms = match ? parseInt(match[1]!, 36) : NaN;
  return Number.isFinite(ms) ? ms : undefined;
}

export function gitlabAdapter(deps: GitLabDeps): OwnedCredentialsAdapter<'gitlab', string> {
  const client = deps.api ?? ((url, token) => new GitLabClient(url, token, deps.requestTimeoutMs));
  return {
    kind: 'gitlab',
    issuer: 'GitLab',
    sourceSecrets: (source) => [source.tokenSecretName],
    identity: identityOf,
    describe: (source) => {
      const target = targetOf(source);
      return `${source.url} ${target.kind} ${target.id}`;
    },
    readAdmin(secrets, source) {
      const secret = readSecretKeys(secrets, source.tokenSecretName, ['token']);
      return secret.ok ? { ok: true, admin: secret.values.token } : secret;
    },
    api(source, privateToken): OwnedCredentialsApi<'gitlab'> {
      const gitlab = client(source.url, privateToken);
      const target = targetOf(source);
      return {
        async create(name, description, source) {
          const now = deps.clock.now();
          const created = await gitlab.createDeployToken(target, {
            name: deployTokenName(name, description),
            username: name,
            expires_at: new Date(now + expiresInMs(source.expiresIn)).toISOString(),
            scopes: ['read_registry'],
          });
          return {
            id: created.id,
            username: created.username,
            password: created.token,
            createdAt: now,
            expiresAt: created.expires_at === null ? Infinity : Date.parse(created.expires_at),
          };
        },
        async list() {
          const now = deps.clock.now();
          return (await gitlab.listDeployTokens(target)).map((token) => ({
            id: token.id,
            name: token.name,
            username: token.username,
            description: token.name,
            createdAt: createdAtOf(token.username) ?? now,
            // A token revoked in GitLab's UI, or expired, can no longer pull: it counts as expired.
            expiresAt:
              token.revoked || token.expired
                ? -Infinity
                : token.expires_at === null
                  ? Infinity
                  : Date.parse(token.expires_at),
          }));
        },
        delete: (id) => gitlab.deleteDeployToken(target, id),
      };
    },
  };
}

export type GitLabProvider = OwnedCredentialsProvider<'gitlab'>;

export function gitlabProvider(deps: GitLabDeps): GitLabProvider {
  return ownedCredentialsProvider(gitlabAdapter(deps), deps);
}
