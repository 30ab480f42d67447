// Pure: the lifecycle of credentials the operator owns at a registry (Harbor robot accounts; the same
// rules fit GitLab deploy tokens). One identity owns a set of robots; at most one is current.
//   create  when there is no current robot, when the current one is gone (deleted by hand) or
//           expired, or when 2/3 of its lifetime has passed (renewal long before expiry);
//   revoke  a robot that is not current only once every copy carries the current one (`deliveredId`)
//           and every kubelet cache duration handed out for it has passed (`kubeletCacheUntil`);
//           a robot that has expired is revoked at once (nobody can use it any more).
// Robots not owned by the identity never enter `owned` (ownership is decided by the caller from the
// robot's name and description), so they are never revoked.

export const RENEW_AT_FRACTION = 2 / 3;

export interface OwnedRobot {
  id: number;
  /** Epoch ms. */
  createdAt: number;
  /** Epoch ms; Infinity for a robot that never expires. */
  expiresAt: number;
}

export interface RobotState {
  /** Every robot of this identity found at the registry (or created since the last listing). */
  owned: readonly OwnedRobot[];
  /** The robot the copies are meant to carry. */
  currentId?: number;
  /** The robot every copy of every RegistryCredential of the identity carries (confirmed after writing). */
  deliveredId?: number;
  /** Per robot id: until when a kubelet may still use it from a cache duration handed out (epoch ms). */
  kubeletCacheUntil?: Readonly<Record<number, number>>;
}

export interface RobotDecision {
  create: boolean;
  /** Robot ids to DELETE now. */
  revoke: number[];
  /** When to decide again (epoch ms); Infinity when nothing is due. */
  nextAt: number;
}

export function renewAt(robot: OwnedRobot): number {
  if (!Number.isFinite(robot.expiresAt)) return Infinity;
  return robot.createdAt + (robot.expiresAt - robot.createdAt) * RENEW_AT_FRACTION;
}

export function decideRobots(state: RobotState, now: number): RobotDecision {
  const current = state.owned.find((robot) => robot.id === state.currentId);
  const create = !current || now >= current.expiresAt || now >= renewAt(current);
  const revoke: number[] = [];
  let nextAt = current && !create ? renewAt(current) : Infinity;
  const everyCopyCarriesCurrent = current !== undefined && !create && state.deliveredId === current.id;
  for (const robot of state.owned) {
    if (robot.id === current?.id) continue;
    if (now >= robot.expiresAt) {
      revoke.push(robot.id);
      continue;
    }
    const cachedUntil = state.kubeletCacheUntil?.[robot.id] ?? -Infinity;
    if (everyCopyCarriesCurrent && now >= cachedUntil) revoke.push(robot.id);
    else if (everyCopyCarriesCurrent) nextAt = Math.min(nextAt, cachedUntil);
    else nextAt = Math.min(nextAt, robot.expiresAt);
  }
  return { create, revoke, nextAt };
}
