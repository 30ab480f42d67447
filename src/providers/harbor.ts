// harbor: robot accounts the operator owns at a Harbor (API v2.0), with repository pull access to
// the listed projects, written under the entry's server. The adapter of the owned-credentials
// provider (owned-credentials.ts: identity, ownership, rotation, revocation, restarts): how an
// identity is formed, where the admin is read from, and the three robot requests.
import { type HarborAdmin, HarborClient, type Robot, type RobotCreate, type RobotCreated } from './harbor-api.js';
import {
  type OwnedCredentialsAdapter,
  type OwnedCredentialsApi,
  ownedCredentialsProvider,
  type OwnedCredentialsProvider,
  ownsCredential,
  ownedNamePrefix,
} from './owned-credentials.js';
import type { SourceOf } from './provider.js';
import { readSecretKeys } from './provider.js';
import { identityHash } from './token-provider.js';
import type { Clock } from '../runtime/clock.js';

/** The Harbor requests the adapter makes (HarborClient; replaced in the simulation). */
export interface HarborApi {
  createRobot(robot: RobotCreate): Promise<RobotCreated>;
  listRobots(fragment: string): Promise<Robot[]>;
  deleteRobot(id: number): Promise<void>;
}

export interface HarborDeps {
  clock: Clock;
  random?: () => number;
  requestTimeoutMs: number;
  /** The longest cache duration the kubelet endpoint hands out (0: no kubelet delivery). */
  kubeletCacheMs?: number;
  api?: (url: string, admin: HarborAdmin) => HarborApi;
}

/** "30d" -> 30. The CRD admits only whole days: Harbor's unit for robot lifetimes. */
export function durationDays(text: string): number {
  const match = /^([1-9]\d{0,3})d$/.exec(text);
  if (!match) throw new Error(`invalid Harbor duration ${JSON.stringify(text)}`);
  return Number(match[1]);
}

/** The name prefix of the identity's robots (Harbor adds its robot$ prefix in front). */
export const robotNamePrefix = ownedNamePrefix;

export function ownsRobot(identity: string, robot: Pick<Robot, 'name' | 'description'>): boolean {
  return ownsCredential(identity, robot);
}

export function identityOf(source: SourceOf<'harbor'>, namespace: string): string {
  const projects = [...new Set(source.projects)].sort();
  return identityHash('harbor', source.url, namespace, source.adminSecretName, projects.join(','), source.duration);
}

/** Harbor's epoch seconds (-1: never) as epoch ms (Infinity: never). */
function epochMs(seconds: number): number {
  return seconds < 0 ? Infinity : seconds * 1000;
}

export function harborAdapter(deps: HarborDeps): OwnedCredentialsAdapter<'harbor', HarborAdmin> {
  const client = deps.api ?? ((url, admin) => new HarborClient(url, admin, deps.requestTimeoutMs));
  return {
    kind: 'harbor',
    issuer: 'Harbor',
    sourceSecrets: (source) => [source.adminSecretName],
    identity: identityOf,
    describe: (source) => source.url,
    readAdmin(secrets, source) {
      const admin = readSecretKeys(secrets, source.adminSecretName, ['username', 'password']);
      if (!admin.ok) return { ...admin, reason: 'InvalidAdminSecret' };
      return { ok: true, admin: { username: admin.values.username, password: admin.values.password } };
    },
    api(source, admin): OwnedCredentialsApi<'harbor'> {
      const harbor = client(source.url, admin);
      return {
        async create(name, description, source) {
          const now = deps.clock.now();
          const created = await harbor.createRobot({
            name,
            description,
            level: 'system',
            duration: durationDays(source.duration),
            disable: false,
            permissions: [...new Set(source.projects)].sort().map((namespace) => ({
              kind: 'project',
              namespace,
              access: [{ resource: 'repository', action: 'pull' }],
            })),
          });
          return {
            id: created.id,
            username: created.name,
            password: created.secret,
            createdAt: created.creation_time ? Date.parse(created.creation_time) : now,
            expiresAt: epochMs(created.expires_at),
          };
        },
        async list(namePrefix) {
          const now = deps.clock.now();
          return (await harbor.listRobots(namePrefix)).map((robot) => ({
            id: robot.id,
            name: robot.name,
            description: robot.description,
            createdAt: robot.creation_time ? Date.parse(robot.creation_time) : now,
            expiresAt: epochMs(robot.expires_at),
          }));
        },
        delete: (id) => harbor.deleteRobot(id),
      };
    },
  };
}

export type HarborProvider = OwnedCredentialsProvider<'harbor'>;

export function harborProvider(deps: HarborDeps): HarborProvider {
  return ownedCredentialsProvider(harborAdapter(deps), deps);
}
