// Credentials the operator owns at a registry's API (Harbor robot accounts, GitLab deploy tokens):
// it creates them, writes them into every copy, renews them at 2/3 of their lifetime and revokes
// (deletes) the old ones once nothing can use them any more. One generic provider over an adapter
// that knows the one API; the lifecycle decisions are pure (robot-lifecycle.ts).
//
// Identity: an adapter maps an entry's source (and the source namespace) to an identity hash; every
// RegistryCredential naming the same identity shares its credentials, one request per identity.
// Ownership: a credential is ours when its name starts with regcred-<identity hash>- and its
// description names the identity hash; anything else is never listed as ours, so never touched.
// Delivery: a credential that is not current is revoked only after every RegistryCredential using
// the identity confirmed that every copy carries the current one (confirmDelivered), and after the
// last kubelet cache duration handed out for it passed (noteKubeletCache); an expired one at once.
// Restarts: memory is lost, the copies are not. A start lists the identity's credentials and adopts
// the newest one still valid whose username an existing copy carries (its secret is read back from
// that copy: no new credential, no request but the listing). The other ones found are orphans,
// revoked by the same rule; with kubelet delivery they wait for the longest cache duration the
// endpoint hands out, counted from this start (what the previous process handed out is unknown).
import { iso, type SourceKind } from '../api/v1alpha1.js';
import { type Auths, authEntry } from '../dockerconfig.js';
import type { Clock } from '../runtime/clock.js';
import type { EntryFailure, EntryResult, Provider, SourceOf, SourceSecrets } from './provider.js';
import { retryDelayMs } from './renewal.js';
import { decideRobots, type OwnedRobot, renewAt } from './robot-lifecycle.js';

const DAY = 86_400_000;

/** What the API answers to a create: the credential's id and the registry username and password. */
export interface CreatedCredential {
  id: number;
  username: string;
  /** Secret: never logged, never part of an error or status. */
  password: string;
  /** Epoch ms. */
  createdAt: number;
  /** Epoch ms; Infinity for one that never expires. */
  expiresAt: number;
}

/** One credential as the API lists it (never with its secret). */
export interface ListedCredential {
  id: number;
  /** The name it was created with (ownership is decided from it and the description). */
  name: string;
  /** The registry username, when it differs from `name` (e.g. Harbor's robot$ prefix is in both). */
  username?: string;
  description?: string;
  /** Epoch ms. */
  createdAt: number;
  /** Epoch ms; Infinity for one that never expires. */
  expiresAt: number;
}

/** The three requests of an API, bound to one source and admin. */
export interface OwnedCredentialsApi<K extends SourceKind> {
  create(name: string, description: string, source: SourceOf<K>): Promise<CreatedCredential>;
  /** Every credential whose name contains `namePrefix` (the caller filters ownership). */
  list(namePrefix: string): Promise<ListedCredential[]>;
  /** Deletes one; one already gone (404) counts as deleted. */
  delete(id: number): Promise<void>;
}

/** A failed API request, described without any credential; `reason` is what the condition says. */
export class OwnedCredentialsApiError extends Error {
  override name = 'OwnedCredentialsApiError';
  constructor(
    /** CamelCase with the issuer's prefix, e.g. HarborForbidden, GitLabUnavailable. */
    readonly reason: string,
    /** The API's error code or the transport error's name. */
    readonly code: string,
    message: string,
    /** Whether trying again later may succeed (unreachable, 5xx, 429). */
    readonly transient = false,
  ) {
    super(message);
  }
}

/** What a provider needs to know of one API. */
export interface OwnedCredentialsAdapter<K extends SourceKind, Admin> {
  readonly kind: K;
  /** Shown in messages: Harbor, GitLab. */
  readonly issuer: string;
  sourceSecrets(source: SourceOf<K>): string[];
  /** The identity hash of a source (identityHash of every field that changes what is minted). */
  identity(source: SourceOf<K>, namespace: string): string;
  /** The admin credential from the source Secrets, or the failure (reason and message) that stops the entry. */
  readAdmin(secrets: SourceSecrets, source: SourceOf<K>): { ok: true; admin: Admin } | EntryFailure;
  api(source: SourceOf<K>, admin: Admin): OwnedCredentialsApi<K>;
  /** Where the API is, for messages (e.g. the Harbor URL). */
  describe(source: SourceOf<K>): string;
}

export interface OwnedCredentialsDeps {
  clock: Clock;
  random?: () => number;
  /** The longest cache duration the kubelet endpoint hands out (0: no kubelet delivery). */
  kubeletCacheMs?: number;
}

/** Outcome of deleting every credential of an identity. */
export type ReleaseOutcome =
  | { ok: true; deleted: number }
  | { ok: false; reason: string; message: string; /** trying again later may succeed */ retry: boolean };

export interface OwnedCredentialsProvider<K extends SourceKind = SourceKind> extends Provider<K> {
  readonly owned: true;
  readonly issuer: string;
  identityOf(source: SourceOf<K>, namespace: string): string;
  /** Requests sent so far, per identity hash (tests and debugging). */
  requests(): Record<string, number>;
  /**
   * `credential` (a RegistryCredential name) has every selected copy written with `auths`; `users`
   * are every RegistryCredential whose spec names the identity. Returns true when a revocation is
   * now due (the caller resolves the credential again, which revokes).
   */
  confirmDelivered(identity: string, credential: string, auths: Auths, users: ReadonlySet<string>): boolean;
  /** The kubelet endpoint handed out `auths` to be cached until `untilMs`. */
  noteKubeletCache(auths: Readonly<Record<string, { username?: string }>>, untilMs: number): void;
  /** Deletes every credential of the identity we own (no RegistryCredential uses it any more). */
  release(identity: string, source: SourceOf<K>, secrets: SourceSecrets): Promise<ReleaseOutcome>;
}

export function ownedNamePrefix(identity: string): string {
  return `regcred-${identity.slice(0, 8)}-`;
}

export function ownedDescription(identity: string): string {
  return (
    `managed by regcred-operator, identity ${identity}; ` +
    'deleted when rotated or when its RegistryCredentials are deleted'
  );
}

/** Ours: the name carries the identity's prefix and the description names the identity. */
export function ownsCredential(identity: string, item: Pick<ListedCredential, 'name' | 'description'>): boolean {
  return item.name.includes(ownedNamePrefix(identity)) && (item.description ?? '').includes(`identity ${identity}`);
}

interface Held extends OwnedRobot {
  username: string;
}

interface IdentityState {
  owned: Map<number, Held>;
  listed: boolean;
  /** When the identity's credentials were last listed (one deleted by hand is noticed at the next listing). */
  listedAt: number;
  current?: Held & { password: string };
  deliveredId?: number;
  /** Per RegistryCredential: the usernames its copies carry, as last confirmed. */
  carriedBy: Map<string, Set<string>>;
  kubeletCacheUntil: Record<number, number>;
  error?: OwnedCredentialsApiError;
  failures: number;
  retryAt: number;
  inflight?: Promise<void>;
  requests: number;
}

function asApiError(err: unknown, issuer: string): OwnedCredentialsApiError {
  if (err instanceof OwnedCredentialsApiError) return err;
  return new OwnedCredentialsApiError(`${issuer}Error`, 'Error', err instanceof Error ? err.message : String(err));
}

export function ownedCredentialsProvider<K extends SourceKind, Admin>(
  adapter: OwnedCredentialsAdapter<K, Admin>,
  deps: OwnedCredentialsDeps,
): OwnedCredentialsProvider<K> {
  const states = new Map<string, IdentityState>();
  const random = deps.random ?? Math.random;
  const startedAt = deps.clock.now();
  const { issuer } = adapter;

  const stateOf = (identity: string): IdentityState => {
    let state = states.get(identity);
    if (!state) {
      state = {
        owned: new Map(),
        listed: false,
        listedAt: 0,
        carriedBy: new Map(),
        kubeletCacheUntil: {},
        failures: 0,
        retryAt: 0,
        requests: 0,
      };
      states.set(identity, state);
    }
    return state;
  };

  const decide = (state: IdentityState, now: number) =>
    decideRobots(
      {
        owned: [...state.owned.values()],
        currentId: state.current?.id,
        deliveredId: state.deliveredId,
        kubeletCacheUntil: state.kubeletCacheUntil,
      },
      now,
    );

  async function list(identity: string, state: IdentityState, api: OwnedCredentialsApi<K>, carried: Auths[]) {
    state.requests++;
    const found = new Map<number, Held>();
    for (const item of await api.list(ownedNamePrefix(identity))) {
      if (!ownsCredential(identity, item)) continue;
      found.set(item.id, {
        id: item.id,
        username: item.username ?? item.name,
        createdAt: item.createdAt,
        expiresAt: item.expiresAt,
      });
    }
    const firstListing = !state.listed;
    state.owned = found;
    state.listed = true;
    state.listedAt = deps.clock.now();
    if (state.current && !found.has(state.current.id)) state.current = undefined; // deleted by hand
    if (!firstListing) return;
    const now = deps.clock.now();
    if (!state.current) state.current = adopt(found, carried, now);
    // Orphans of a previous process may sit in kubelet caches it handed out: wait for the longest one.
    const kubeletCacheMs = deps.kubeletCacheMs ?? 0;
    if (kubeletCacheMs > 0)
      for (const id of found.keys())
        if (id !== state.current?.id)
          state.kubeletCacheUntil[id] = Math.max(state.kubeletCacheUntil[id] ?? 0, startedAt + kubeletCacheMs);
  }

  async function step(identity: string, state: IdentityState, source: SourceOf<K>, admin: Admin, context: Step) {
    const api = adapter.api(source, admin);
    if (!state.listed || deps.clock.now() >= state.listedAt + context.listEveryMs)
      await list(identity, state, api, context.carried);
    const now = deps.clock.now();
    const decision = decide(state, now);
    if (decision.create) {
      state.requests++;
      const created = await api.create(
        `${ownedNamePrefix(identity)}${now.toString(36)}`,
        ownedDescription(identity),
        source,
      );
      const held = {
        id: created.id,
        username: created.username,
        createdAt: created.createdAt,
        expiresAt: created.expiresAt,
      };
      state.owned.set(created.id, held);
      state.current = { ...held, password: created.password };
    }
    for (const id of decision.revoke) {
      if (id === state.current?.id) continue;
      state.requests++;
      await api.delete(id);
      state.owned.delete(id);
      delete state.kubeletCacheUntil[id];
    }
  }

  return {
    kind: adapter.kind,
    servers: 'named',
    owned: true,
    issuer,
    sourceSecrets: (source) => adapter.sourceSecrets(source),
    identityOf: (source, namespace) => adapter.identity(source, namespace),
    requests: () => Object.fromEntries([...states].map(([identity, state]) => [identity, state.requests])),

    confirmDelivered(identity, credential, auths, users) {
      const state = stateOf(identity);
      state.carriedBy.set(credential, new Set(Object.values(auths).map((entry) => entry.username ?? '')));
      for (const name of [...state.carriedBy.keys()]) if (!users.has(name)) state.carriedBy.delete(name);
      const current = state.current;
      if (!current) return false;
      const everyone = [...users].every((user) => state.carriedBy.get(user)?.has(current.username));
      if (!everyone || state.deliveredId === current.id) return false;
      state.deliveredId = current.id;
      return state.owned.size > 1;
    },

    noteKubeletCache(auths, untilMs) {
      const usernames = new Set(Object.values(auths).map((entry) => entry.username));
      for (const state of states.values())
        for (const held of state.owned.values())
          if (usernames.has(held.username))
            state.kubeletCacheUntil[held.id] = Math.max(state.kubeletCacheUntil[held.id] ?? 0, untilMs);
    },

    async release(identity, source, secrets) {
      const admin = adapter.readAdmin(secrets, source);
      if (!admin.ok) return { ok: false, reason: admin.reason, message: admin.message, retry: false };
      const state = stateOf(identity);
      const api = adapter.api(source, admin.admin);
      let deleted = 0;
      try {
        state.requests++;
        for (const item of await api.list(ownedNamePrefix(identity))) {
          if (!ownsCredential(identity, item)) continue;
          state.requests++;
          await api.delete(item.id);
          deleted++;
        }
      } catch (err) {
        const error = asApiError(err, issuer);
        return { ok: false, reason: error.reason, message: error.message, retry: error.transient };
      }
      states.delete(identity);
      return { ok: true, deleted };
    },

    async resolve({ server, source }, { secrets, refreshIntervalMs, carried = [] }): Promise<EntryResult> {
      const admin = adapter.readAdmin(secrets, source);
      if (!admin.ok) return admin;
      const identity = adapter.identity(source, secrets.namespace);
      const state = stateOf(identity);
      const now = deps.clock.now();
      const listEveryMs = Math.max(60_000, refreshIntervalMs);
      const pending = decide(state, now);
      const due =
        !state.listed ||
        now >= state.listedAt + listEveryMs ||
        !state.current ||
        !state.owned.has(state.current.id) ||
        pending.create ||
        pending.revoke.length > 0;
      if (due && now >= state.retryAt) {
        state.inflight ??= step(identity, state, source, admin.admin, { listEveryMs, carried })
          .then(() => {
            state.error = undefined;
            state.failures = 0;
            state.retryAt = 0;
          })
          .catch((err: unknown) => {
            state.error = asApiError(err, issuer);
            state.failures++;
            const remaining = state.current ? state.current.expiresAt - deps.clock.now() : undefined;
            state.retryAt = deps.clock.now() + retryDelayMs(state.failures, random(), remaining);
          })
          .finally(() => {
            state.inflight = undefined;
          });
      }
      await state.inflight;
      const current = state.current;
      const auths = current ? { [server!]: authEntry(current.username, current.password) } : undefined;
      const after = deps.clock.now();
      const timing = {
        expiresAt: current && Number.isFinite(current.expiresAt) ? current.expiresAt : undefined,
        refreshedAt: current?.createdAt,
        nextCheckAt: state.error
          ? state.retryAt
          : current
            ? Math.min(decide(state, after).nextAt, state.listedAt + listEveryMs, after + DAY)
            : undefined,
      };
      if (state.error) {
        const served = current
          ? `${current.username} keeps being served until it expires at ${iso(current.expiresAt)}`
          : 'none has been created yet';
        return {
          ok: false,
          reason: state.error.reason,
          message:
            `registry ${server}: ${issuer} ${adapter.describe(source)}: ${state.error.message}; ` +
            `retrying with backoff; ${served}`,
          stale: auths,
          ...timing,
        };
      }
      return { ok: true, auths: auths!, ...timing };
    },
  };
}

interface Step {
  listEveryMs: number;
  carried: Auths[];
}

/** The newest listed credential still valid whose username a copy carries, with the password it carries. */
function adopt(found: Map<number, Held>, carried: Auths[], now: number): (Held & { password: string }) | undefined {
  let best: (Held & { password: string }) | undefined;
  for (const auths of carried)
    for (const entry of Object.values(auths)) {
      if (!entry.username || !entry.password) continue;
      for (const held of found.values())
        if (held.username === entry.username && now < renewAt(held) && (!best || held.createdAt > best.createdAt))
          best = { ...held, password: entry.password };
    }
  return best;
}
