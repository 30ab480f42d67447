// gitlab: a deploy token (scope read_registry) of a GitLab project or group that the operator
// creates, renews and revokes with the REST API v4 (gitlab-api.ts), written under the entry's server
// with the deploy token's username. One set of tokens per identity (url, token Secret, project or
// group, expiresIn), shared by every RegistryCredential naming it: one request per identity however
// many RegistryCredentials and namespaces use it.
// The lifecycle decisions are the pure rules of robot-lifecycle.ts (create at 2/3 of the lifetime,
// revoke a replaced token only once every copy carries its successor, expired or revoked ones at once).
// Ownership: a deploy token is ours when its name is regcred-<identity hash>-<time>; any other token
// is never listed as ours, so never touched.
// Delivery: the readiness controller reports, per RegistryCredential, which of the identity's tokens
// every copy carries (`delivered`); a replaced token is revoked once every RegistryCredential using the
// identity carries the current one. `released` revokes an identity's tokens once no RegistryCredential
// uses it any more.
// Across restarts: a start lists the identity's tokens first; GitLab never returns a token's secret
// again, so it creates a new token and treats the ones found as replaced (revoked by the same rule).
import type { RegistryCredentialSpec } from '../api/v1alpha1.js';
import { iso } from '../api/v1alpha1.js';
import { type Auths, authEntry } from '../dockerconfig.js';
import type { Clock } from '../runtime/clock.js';
import {
  type CreatedDeployToken,
  type DeployToken,
  type DeployTokenCreate,
  GitLabApiError,
  GitLabClient,
  type GitLabTarget,
} from './gitlab-api.js';
import type { EntryResult, Provider, SourceOf } from './provider.js';
import { readSecretKeys } from './provider.js';
import { retryDelayMs } from './renewal.js';
import { decideRobots, type OwnedRobot, renewAt } from './robot-lifecycle.js';
import { identityHash } from './token-provider.js';

const DAY = 86_400_000;
/** How soon to look again while a replaced token waits for every copy to carry its successor. */
const DELIVERY_POLL_MS = 5_000;

/** The GitLab requests the provider makes (GitLabClient; replaceable in tests). */
export interface GitLabApi {
  createDeployToken(target: GitLabTarget, token: DeployTokenCreate): Promise<CreatedDeployToken>;
  listDeployTokens(target: GitLabTarget): Promise<DeployToken[]>;
  deleteDeployToken(target: GitLabTarget, tokenId: number): Promise<void>;
}

export interface GitLabDeps {
  clock: Clock;
  random?: () => number;
  requestTimeoutMs: number;
  api?: (url: string, privateToken: string) => GitLabApi;
}

const UNIT_MS: Record<string, number> = { m: 60_000, h: 3_600_000, d: DAY };

/** "7d" -> 7 days in ms; the CRD admits whole minutes, hours or days. */
export function expiresInMs(text: string): number {
  const match = /^([1-9]\d{0,4})([mhd])$/.exec(text);
  if (!match) throw new Error(`invalid GitLab expiresIn ${JSON.stringify(text)}`);
  return Number(match[1]) * UNIT_MS[match[2]!]!;
}

export function tokenNamePrefix(identity: string): string {
  return `regcred-${identity}-`;
}

export function ownsToken(identity: string, token: Pick<DeployToken, 'name'>): boolean {
  return new RegExp(`^${tokenNamePrefix(identity)}[0-9a-z]+$`).test(token.name);
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

/** A listed token as the lifecycle sees it: revoked or expired ones count as expired (unusable). */
function ownedFrom(token: DeployToken, now: number): OwnedRobot {
  const expiresAt = token.expires_at === null ? Infinity : Date.parse(token.expires_at);
  return { id: token.id, createdAt: now, expiresAt: token.revoked || token.expired ? -Infinity : expiresAt };
}

interface IdentityState {
  source: SourceOf<'gitlab'>;
  namespace: string;
  owned: Map<number, OwnedRobot>;
  /** Usernames of the owned tokens (to tell which one a copy carries). */
  usernames: Map<number, string>;
  listed: boolean;
  listedAt: number;
  current?: { id: number; username: string; password: string; createdAt: number; expiresAt: number };
  /** Per RegistryCredential using the identity: the token every one of its copies carries. */
  deliveredBy: Map<string, number>;
  /** The RegistryCredentials using the identity, as last reported. */
  users: Set<string>;
  error?: GitLabApiError;
  failures: number;
  retryAt: number;
  inflight?: Promise<void>;
  requests: number;
}

export interface GitLabProvider extends Provider<'gitlab'> {
  /** Requests sent to GitLab so far, per identity hash (tests and debugging). */
  requests(): Record<string, number>;
  /**
   * Every copy of RegistryCredential `name` carries `auths` (its spec `spec`); `users` are the specs of
   * every RegistryCredential, by name, so that each identity knows who uses it.
   */
  delivered(name: string, spec: RegistryCredentialSpec, auths: Auths, users: Map<string, RegistryCredentialSpec>): void;
  /**
   * RegistryCredential `name` is being deleted: revokes the tokens of each of its identities that no
   * other RegistryCredential (`remaining`) uses. Rejects when GitLab could not be reached (retry later).
   */
  released(
    name: string,
    spec: RegistryCredentialSpec,
    remaining: Map<string, RegistryCredentialSpec>,
    namespace: string,
    readToken: (secretName: string) => string | undefined,
  ): Promise<void>;
}

export function gitlabProvider(deps: GitLabDeps): GitLabProvider {
  const states = new Map<string, IdentityState>();
  const api = deps.api ?? ((url, token) => new GitLabClient(url, token, deps.requestTimeoutMs));
  const random = deps.random ?? Math.random;

  const stateOf = (identity: string, source: SourceOf<'gitlab'>, namespace: string): IdentityState => {
    let state = states.get(identity);
    if (!state) {
      state = {
        source,
        namespace,
        owned: new Map(),
        usernames: new Map(),
        listed: false,
        listedAt: 0,
        deliveredBy: new Map(),
        users: new Set(),
        failures: 0,
        retryAt: 0,
        requests: 0,
      };
      states.set(identity, state);
    }
    return state;
  };

  /** The token every copy of every RegistryCredential of the identity carries, if they agree. */
  const deliveredId = (state: IdentityState): number | undefined => {
    if (state.users.size === 0) return undefined;
    const ids = new Set([...state.users].map((user) => state.deliveredBy.get(user)));
    return ids.size === 1 ? [...ids][0] : undefined;
  };

  const gitlabEntries = (spec: RegistryCredentialSpec) =>
    spec.registries.flatMap((entry) => (entry.gitlab ? [{ server: entry.server!, source: entry.gitlab }] : []));

  async function step(identity: string, state: IdentityState, client: GitLabApi, listEveryMs: number) {
    const target = targetOf(state.source);
    if (!state.listed || deps.clock.now() >= state.listedAt + listEveryMs) {
      state.requests++;
      const found = new Map<number, OwnedRobot>();
      const now = deps.clock.now();
      for (const token of await client.listDeployTokens(target)) {
        if (!ownsToken(identity, token)) continue;
        found.set(token.id, { ...ownedFrom(token, now), createdAt: state.owned.get(token.id)?.createdAt ?? now });
        state.usernames.set(token.id, token.username);
      }
      state.owned = found;
      state.listed = true;
      state.listedAt = now;
    }
    const now = deps.clock.now();
    const decision = decideRobots(
      {
        owned: [...state.owned.values()],
        currentId: state.current?.id,
        deliveredId: deliveredId(state),
      },
      now,
    );
    if (decision.create) {
      state.requests++;
      const name = `${tokenNamePrefix(identity)}${now.toString(36)}`;
      const expiresAt = now + expiresInMs(state.source.expiresIn);
      const created = await client.createDeployToken(target, {
        name,
        username: name,
        expires_at: new Date(expiresAt).toISOString(),
        scopes: ['read_registry'],
      });
      const expires = created.expires_at === null ? Infinity : Date.parse(created.expires_at);
      const token = { id: created.id, createdAt: now, expiresAt: expires };
      state.owned.set(created.id, token);
      state.usernames.set(created.id, created.username);
      state.current = { ...token, username: created.username, password: created.token };
    }
    for (const id of decision.revoke) {
      if (id === state.current?.id) continue;
      state.requests++;
      await client.deleteDeployToken(target, id);
      state.owned.delete(id);
      state.usernames.delete(id);
    }
  }

  return {
    kind: 'gitlab',
    servers: 'named',
    sourceSecrets: (source) => [source.tokenSecretName],
    requests: () => Object.fromEntries([...states].map(([identity, state]) => [identity, state.requests])),
    delivered(name, spec, auths, users) {
      for (const { server, source } of gitlabEntries(spec)) {
        for (const [identity, state] of states) {
          if (identityOf(source, state.namespace) !== identity) continue;
          const uses = (other: RegistryCredentialSpec) =>
            gitlabEntries(other).some((entry) => identityOf(entry.source, state.namespace) === identity);
          state.users = new Set([name, ...[...users].filter(([, other]) => uses(other)).map(([user]) => user)]);
          for (const user of state.deliveredBy.keys()) if (!state.users.has(user)) state.deliveredBy.delete(user);
          const username = auths[server]?.username;
          const id = [...state.usernames].find(([, candidate]) => candidate === username)?.[0];
          if (id !== undefined) state.deliveredBy.set(name, id);
        }
      }
    },
    async released(name, spec, remaining, namespace, readToken) {
      const problems: GitLabApiError[] = [];
      for (const { source } of gitlabEntries(spec)) {
        const identity = identityOf(source, namespace);
        const stillUsed = [...remaining].some(
          ([other, otherSpec]) =>
            other !== name &&
            gitlabEntries(otherSpec).some((entry) => identityOf(entry.source, namespace) === identity),
        );
        if (stillUsed) continue;
        const privateToken = readToken(source.tokenSecretName);
        if (!privateToken) continue;
        const client = api(source.url, privateToken);
        const target = targetOf(source);
        try {
          await states.get(identity)?.inflight;
          const tokens = (await client.listDeployTokens(target)).filter((token) => ownsToken(identity, token));
          for (const token of tokens) await client.deleteDeployToken(target, token.id);
          states.delete(identity);
        } catch (err) {
          // Only an unreachable GitLab is worth waiting for; refused rights or a gone project never heal by retrying.
          if (err instanceof GitLabApiError && err.reason === 'GitLabUnavailable') problems.push(err);
          else states.delete(identity);
        }
      }
      if (problems.length > 0) throw problems[0];
    },
    async resolve({ server, source }, { secrets, refreshIntervalMs }): Promise<EntryResult> {
      const secret = readSecretKeys(secrets, source.tokenSecretName, ['token']);
      if (!secret.ok) return secret;
      const identity = identityOf(source, secrets.namespace);
      const state = stateOf(identity, source, secrets.namespace);
      const now = deps.clock.now();
      const listEveryMs = Math.max(60_000, refreshIntervalMs);
      const current = state.current;
      const replacedWaiting = [...state.owned.keys()].some((id) => id !== current?.id);
      const due =
        !state.listed ||
        now >= state.listedAt + listEveryMs ||
        !current ||
        !state.owned.has(current.id) ||
        now >= renewAt(current) ||
        [...state.owned.values()].some((token) => token.id !== current.id && now >= token.expiresAt) ||
        (deliveredId(state) === current.id && replacedWaiting);
      if (due && now >= state.retryAt) {
        state.inflight ??= step(identity, state, api(source.url, secret.values.token), listEveryMs)
          .then(() => {
            state.error = undefined;
            state.failures = 0;
            state.retryAt = 0;
          })
          .catch((err: unknown) => {
            state.error =
              err instanceof GitLabApiError
                ? err
                : new GitLabApiError('GitLabError', 0, err instanceof Error ? err.message : String(err));
            state.failures++;
            const remaining = state.current ? state.current.expiresAt - deps.clock.now() : undefined;
            state.retryAt = deps.clock.now() + retryDelayMs(state.failures, random(), remaining);
          })
          .finally(() => {
            state.inflight = undefined;
          });
      }
      await state.inflight;
      const served = state.current;
      const auths = served ? { [server!]: authEntry(served.username, served.password) } : undefined;
      const waiting = [...state.owned.keys()].some((id) => id !== served?.id);
      const timing = {
        expiresAt: served && Number.isFinite(served.expiresAt) ? served.expiresAt : undefined,
        refreshedAt: served?.createdAt,
        nextCheckAt: state.error
          ? state.retryAt
          : served
            ? Math.min(
                renewAt(served),
                state.listedAt + listEveryMs,
                now + DAY,
                waiting ? deps.clock.now() + DELIVERY_POLL_MS : Infinity,
              )
            : undefined,
      };
      if (state.error) {
        const kept = served
          ? `deploy token ${served.username} keeps being served until it expires at ${iso(served.expiresAt)}`
          : 'no deploy token has been created yet';
        const target = targetOf(source);
        return {
          ok: false,
          reason: state.error.reason,
          message:
            `registry ${server}: GitLab ${source.url} ${target.kind} ${target.id}: ${state.error.message}; ` +
            `retrying with backoff; ${kept}`,
          stale: auths,
          ...timing,
        };
      }
      return { ok: true, auths: auths!, ...timing };
    },
  };
}
