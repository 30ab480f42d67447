// harbor: a robot account the operator creates, renews and revokes at a Harbor (API v2.0), with
// pull access to the listed projects, written under the entry's server. One set of robots per
// identity (url, admin Secret, projects, duration), shared by every RegistryCredential naming it:
// one request per identity however many RegistryCredentials and namespaces use it.
// The lifecycle decisions are pure (robot-lifecycle.ts); this module does the requests.
// Ownership: a robot is ours when its name carries regcred-<identity hash>- and its description
// names the identity hash; any other robot is never listed as ours, so never touched.
// Where the current robot lives across restarts: in memory and in the copies. A start lists the
// identity's robots at Harbor first; it cannot read a robot's secret back, so it creates a new robot
// and treats the ones found as old (orphans), revoked by the same rule as after a renewal.
import { iso } from '../api/v1alpha1.js';
import { authEntry } from '../dockerconfig.js';
import type { Clock } from '../runtime/clock.js';
import {
  type HarborAdmin,
  HarborApiError,
  HarborClient,
  type Robot,
  type RobotCreate,
  type RobotCreated,
} from './harbor-api.js';
import type { EntryResult, Provider, SourceOf } from './provider.js';
import { readSecretKeys } from './provider.js';
import { retryDelayMs } from './renewal.js';
import { decideRobots, type OwnedRobot, renewAt } from './robot-lifecycle.js';
import { identityHash } from './token-provider.js';

const DAY = 86_400_000;

/** The Harbor requests the provider makes (HarborClient; replaced in the simulation). */
export interface HarborApi {
  createRobot(robot: RobotCreate): Promise<RobotCreated>;
  listRobots(fragment: string): Promise<Robot[]>;
  deleteRobot(id: number): Promise<void>;
}

export interface HarborDeps {
  clock: Clock;
  random?: () => number;
  requestTimeoutMs: number;
  api?: (url: string, admin: HarborAdmin) => HarborApi;
}

/** "30d" -> 30. The CRD admits only whole days: Harbor's unit for robot lifetimes. */
export function durationDays(text: string): number {
  const match = /^([1-9]\d{0,3})d$/.exec(text);
  if (!match) throw new Error(`invalid Harbor duration ${JSON.stringify(text)}`);
  return Number(match[1]);
}

export function robotNamePrefix(identity: string): string {
  return `regcred-${identity.slice(0, 8)}-`;
}

export function ownsRobot(identity: string, robot: Pick<Robot, 'name' | 'description'>): boolean {
  return robot.name.includes(robotNamePrefix(identity)) && (robot.description ?? '').includes(`identity ${identity}`);
}

function epochMs(seconds: number): number {
  return seconds < 0 ? Infinity : seconds * 1000;
}

interface IdentityState {
  owned: Map<number, OwnedRobot>;
  listed: boolean;
  /** When the identity's robots were last listed (a robot deleted by hand is noticed at the next listing). */
  listedAt: number;
  current?: { id: number; username: string; password: string; createdAt: number; expiresAt: number };
  deliveredId?: number;
  kubeletCacheUntil: Record<number, number>;
  error?: HarborApiError;
  failures: number;
  retryAt: number;
  inflight?: Promise<void>;
  requests: number;
}

export interface HarborProvider extends Provider<'harbor'> {
  /** Requests sent to Harbor so far, per identity hash (tests and debugging). */
  requests(): Record<string, number>;
  /** The controller confirms that every copy of the identity carries `robotId`. */
  confirmDelivered(identity: string, robotId: number): void;
  /** The kubelet endpoint reports a cache duration handed out for the identity's current robot. */
  noteKubeletCache(identity: string, untilMs: number): void;
}

export function identityOf(source: SourceOf<'harbor'>, namespace: string): string {
  const projects = [...new Set(source.projects)].sort();
  return identityHash('harbor', source.url, namespace, source.adminSecretName, projects.join(','), source.duration);
}

export function harborProvider(deps: HarborDeps): HarborProvider {
  const states = new Map<string, IdentityState>();
  const api = deps.api ?? ((url, admin) => new HarborClient(url, admin, deps.requestTimeoutMs));
  const random = deps.random ?? Math.random;

  const stateOf = (identity: string): IdentityState => {
    let state = states.get(identity);
    if (!state) {
      state = {
        owned: new Map(),
        listed: false,
        listedAt: 0,
        kubeletCacheUntil: {},
        failures: 0,
        retryAt: 0,
        requests: 0,
      };
      states.set(identity, state);
    }
    return state;
  };

  async function step(
    identity: string,
    state: IdentityState,
    source: SourceOf<'harbor'>,
    admin: HarborAdmin,
    listEveryMs: number,
  ) {
    const client = api(source.url, admin);
    if (!state.listed || deps.clock.now() >= state.listedAt + listEveryMs) {
      state.requests++;
      const found = new Map<number, OwnedRobot>();
      for (const robot of await client.listRobots(robotNamePrefix(identity))) {
        if (!ownsRobot(identity, robot)) continue;
        const createdAt = robot.creation_time ? Date.parse(robot.creation_time) : deps.clock.now();
        found.set(robot.id, { id: robot.id, createdAt, expiresAt: epochMs(robot.expires_at) });
      }
      state.owned = found;
      state.listed = true;
      state.listedAt = deps.clock.now();
    }
    const now = deps.clock.now();
    const decision = decideRobots(
      {
        owned: [...state.owned.values()],
        currentId: state.current?.id,
        deliveredId: state.deliveredId,
        kubeletCacheUntil: state.kubeletCacheUntil,
      },
      now,
    );
    if (decision.create) {
      state.requests++;
      const projects = [...new Set(source.projects)].sort();
      const created = await client.createRobot({
        name: `${robotNamePrefix(identity)}${now.toString(36)}`,
        description:
          `managed by regcred-operator, identity ${identity}; ` +
          'deleted when rotated or when its RegistryCredentials are deleted',
        level: 'system',
        duration: durationDays(source.duration),
        disable: false,
        permissions: projects.map((namespace) => ({
          kind: 'project',
          namespace,
          access: [{ resource: 'repository', action: 'pull' }],
        })),
      });
      const expiresAt = epochMs(created.expires_at);
      const robot = { id: created.id, createdAt: now, expiresAt };
      state.owned.set(created.id, robot);
      state.current = { ...robot, username: created.name, password: created.secret };
    }
    for (const id of decision.revoke) {
      if (id === state.current?.id) continue;
      state.requests++;
      await client.deleteRobot(id);
      state.owned.delete(id);
      delete state.kubeletCacheUntil[id];
    }
  }

  return {
    kind: 'harbor',
    servers: 'named',
    sourceSecrets: (source) => [source.adminSecretName],
    requests: () => Object.fromEntries([...states].map(([identity, state]) => [identity, state.requests])),
    confirmDelivered(identity, robotId) {
      stateOf(identity).deliveredId = robotId;
    },
    noteKubeletCache(identity, untilMs) {
      const state = stateOf(identity);
      if (state.current)
        state.kubeletCacheUntil[state.current.id] = Math.max(state.kubeletCacheUntil[state.current.id] ?? 0, untilMs);
    },
    async resolve({ server, source }, { secrets, refreshIntervalMs }): Promise<EntryResult> {
      const admin = readSecretKeys(secrets, source.adminSecretName, ['username', 'password']);
      if (!admin.ok) return { ...admin, reason: 'InvalidAdminSecret' };
      const identity = identityOf(source, secrets.namespace);
      const state = stateOf(identity);
      const now = deps.clock.now();
      const listEveryMs = Math.max(60_000, refreshIntervalMs);
      const due =
        !state.listed ||
        now >= state.listedAt + listEveryMs ||
        !state.current ||
        !state.owned.has(state.current.id) ||
        now >= renewAt(state.current) ||
        [...state.owned.values()].some((robot) => robot.id !== state.current?.id && now >= robot.expiresAt) ||
        (state.deliveredId === state.current.id && state.owned.size > 1);
      if (due && now >= state.retryAt) {
        state.inflight ??= step(identity, state, source, admin.values, listEveryMs)
          .then(() => {
            state.error = undefined;
            state.failures = 0;
            state.retryAt = 0;
          })
          .catch((err: unknown) => {
            state.error =
              err instanceof HarborApiError
                ? err
                : new HarborApiError('HarborError', 'Error', err instanceof Error ? err.message : String(err));
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
      const timing = {
        expiresAt: current && Number.isFinite(current.expiresAt) ? current.expiresAt : undefined,
        refreshedAt: current?.createdAt,
        nextCheckAt: state.error
          ? state.retryAt
          : current
            ? Math.min(renewAt(current), state.listedAt + listEveryMs, now + DAY)
            : undefined,
      };
      if (state.error) {
        const served = current
          ? `robot ${current.username} keeps being served until it expires at ${iso(current.expiresAt)}`
          : 'no robot has been created yet';
        return {
          ok: false,
          reason: state.error.reason,
          message: `registry ${server}: Harbor ${source.url}: ${state.error.message}; retrying with backoff; ${served}`,
          stale: auths,
          ...timing,
        };
      }
      return { ok: true, auths: auths!, ...timing };
    },
  };
}
