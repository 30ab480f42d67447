// The owned-robot lifecycle (providers/robot-lifecycle.ts) as a table, and the harbor provider over
// 72 simulated hours with an injected clock: three RegistryCredentials share one identity, resolve
// when their next check comes, write what they get into their copies and confirm delivery once every
// copy carries the same robot. Only Harbor is replaced, by an in-memory one that issues robots of
// their real lifetime (whole days, Harbor's unit) and can be down. Prints the requests per identity.
import { type Auths, authEntry } from '../../src/dockerconfig.js';
import type { V1Secret } from '@kubernetes/client-node';
import type { HarborApi } from '../../src/providers/harbor.js';
import { harborProvider, identityOf, robotNamePrefix } from '../../src/providers/harbor.js';
import { ownedDescription } from '../../src/providers/owned-credentials.js';
import { HarborApiError, type Robot, type RobotCreate } from '../../src/providers/harbor-api.js';
import type { SourceSecrets } from '../../src/providers/provider.js';
import { decideRobots, type OwnedRobot, type RobotState } from '../../src/providers/robot-lifecycle.js';
import { FakeClock } from '../support/fake-clock.js';

const H = 3_600_000;
const M = 60_000;
const robot = (id: number, createdAt: number, lifetime = 24 * H): OwnedRobot => ({
  id,
  createdAt,
  expiresAt: createdAt + lifetime,
});

describe('decideRobots', () => {
  const rows: Array<[string, RobotState, number, { create: boolean; revoke: number[] }]> = [
    ['nothing yet: create', { owned: [] }, 0, { create: true, revoke: [] }],
    ['current, young: nothing', { owned: [robot(1, 0)], currentId: 1 }, 1 * H, { create: false, revoke: [] }],
    [
      'current at 2/3 of its life: create',
      { owned: [robot(1, 0)], currentId: 1 },
      16 * H,
      { create: true, revoke: [] },
    ],
    ['current deleted by hand: create', { owned: [], currentId: 1 }, 1 * H, { create: true, revoke: [] }],
    [
      'old robot, copies not all on the new one: kept',
      { owned: [robot(1, 0), robot(2, 16 * H)], currentId: 2, deliveredId: 1 },
      17 * H,
      { create: false, revoke: [] },
    ],
    [
      'old robot, every copy on the new one: revoked',
      { owned: [robot(1, 0), robot(2, 16 * H)], currentId: 2, deliveredId: 2 },
      17 * H,
      { create: false, revoke: [1] },
    ],
    [
      'old robot still in a kubelet cache: kept',
      { owned: [robot(1, 0), robot(2, 16 * H)], currentId: 2, deliveredId: 2, kubeletCacheUntil: { 1: 18 * H } },
      17 * H,
      { create: false, revoke: [] },
    ],
    [
      'kubelet cache duration passed: revoked',
      { owned: [robot(1, 0), robot(2, 16 * H)], currentId: 2, deliveredId: 2, kubeletCacheUntil: { 1: 18 * H } },
      18 * H,
      { create: false, revoke: [1] },
    ],
    [
      'orphan after a restart (no current): kept until the new one is delivered',
      { owned: [robot(7, 0)] },
      1 * H,
      { create: true, revoke: [] },
    ],
    [
      'expired old robot: revoked even before delivery',
      { owned: [robot(1, 0), robot(2, 16 * H)], currentId: 2 },
      24 * H,
      { create: false, revoke: [1] },
    ],
  ];
  test.each(rows)('%s', (_name, state, now, expected) => {
    const { create, revoke } = decideRobots(state, now);
    expect({ create, revoke }).toEqual(expected);
  });
});

/** An in-memory Harbor: robots with their real lifetime in days; `down` answers 503. */
class MemoryHarbor implements HarborApi {
  robots = new Map<number, Robot & { secret: string }>();
  private nextId = 1;
  down = false;
  calls = 0;
  constructor(private readonly clock: FakeClock) {}
  private check() {
    this.calls++;
    if (this.down) throw new HarborApiError('HarborUnavailable', 'HTTP503', 'POST /robots: HTTP 503');
  }
  createRobot(body: RobotCreate) {
    this.check();
    const id = this.nextId++;
    const expires_at = Math.floor(this.clock.now() / 1000) + body.duration * 86_400;
    const created = { id, name: `robot$${body.name}`, description: body.description, expires_at, secret: `s${id}` };
    this.robots.set(id, { ...created, creation_time: new Date(this.clock.now()).toISOString() });
    return Promise.resolve({ id, name: created.name, secret: created.secret, expires_at });
  }
  listRobots(fragment: string) {
    this.check();
    return Promise.resolve([...this.robots.values()].filter((r) => r.name.includes(fragment)));
  }
  deleteRobot(id: number) {
    this.check();
    this.robots.delete(id);
    return Promise.resolve();
  }
  /** Whether the registry accepts username/password now. */
  accepts(username: string, password: string): boolean {
    const found = [...this.robots.values()].find((r) => r.name === username);
    return !!found && found.secret === password && this.clock.now() < found.expires_at * 1000;
  }
}

const b64 = (s: string) => Buffer.from(s).toString('base64');
const secrets: Record<string, V1Secret> = {
  'harbor-admin': { data: { username: b64('admin'), password: b64('Harbor12345') } },
};
const source: SourceSecrets = { namespace: 'regcred-system', get: (name) => secrets[name] };
const entry = {
  server: 'harbor.test',
  source: { url: 'http://127.0.0.1:1', adminSecretName: 'harbor-admin', projects: ['payments'], duration: '1d' },
};

test('72 simulated hours, one-day robots, a 2 h Harbor outage: 0 lapses, old robots revoked only after delivery', async () => {
  const clock = new FakeClock();
  const harbor = new MemoryHarbor(clock);
  const provider = harborProvider({ clock, requestTimeoutMs: 1000, random: () => 0.5, api: () => harbor });
  const identity = identityOf(entry.source, source.namespace);
  const credentials = ['a', 'b', 'c'].map((name) => ({ name, copies: new Map<string, string>(), nextAt: 0 }));
  const start = clock.now();
  let lapses = 0;
  let revokedBeforeDelivery = 0;
  const outage = { from: start + 31 * H, to: start + 33 * H };
  for (let t = 0; t <= 72 * H; t += M) {
    clock.advance(t - (clock.now() - start));
    harbor.down = clock.now() >= outage.from && clock.now() < outage.to;
    for (const credential of credentials) {
      if (clock.now() < credential.nextAt) continue;
      const result = await provider.resolve(entry, { secrets: source, refreshIntervalMs: 6 * H });
      const auths = result.ok ? result.auths : result.stale;
      const value = auths?.['harbor.test'];
      if (value) for (const ns of ['ns1', 'ns2']) credential.copies.set(ns, value.auth!);
      credential.nextAt = Math.min(result.nextCheckAt ?? Infinity, clock.now() + 6 * H);
    }
    // Each RegistryCredential confirms once both of its copies carry the same value (the readiness
    // controller's survey); a revocation that becomes due resolves every one of them again.
    const carried = new Set(credentials.flatMap((c) => [...c.copies.values()]));
    const users = new Set(credentials.map((c) => c.name));
    for (const credential of credentials) {
      const values = new Set(credential.copies.values());
      if (values.size !== 1) continue;
      const [username, password] = Buffer.from([...values][0]!, 'base64')
        .toString()
        .split(':') as [string, string];
      const auths = { 'harbor.test': authEntry(username, password) };
      if (provider.confirmDelivered(identity, credential.name, auths, users))
        for (const other of credentials) other.nextAt = clock.now();
    }
    for (const auth of carried) {
      const [username, password] = Buffer.from(auth, 'base64').toString().split(':') as [string, string];
      if (!harbor.accepts(username, password)) {
        lapses++;
        if ([...harbor.robots.values()].every((r) => r.name !== username)) revokedBeforeDelivery++;
      }
    }
  }
  const requests = provider.requests()[identity];
  console.log(
    `harbor, 72 h, 1d robots, 3 RegistryCredentials x 2 copies: ${requests} requests for the identity ` +
      `(${harbor.calls} answered or refused by Harbor), ${harbor.robots.size} robot(s) left, ${lapses} lapses`,
  );
  expect(lapses).toBe(0);
  expect(revokedBeforeDelivery).toBe(0);
  expect(harbor.robots.size).toBeLessThanOrEqual(2);
  // one list, a robot every 16 h (5 in 72 h), the old one deleted after each renewal, retries in the outage
  expect(requests).toBeGreaterThanOrEqual(1 + 5 + 4);
  expect(requests).toBeLessThan(40);
});

describe('owned credentials across users and restarts', () => {
  const users = new Set(['a', 'b']);
  const setup = () => {
    const clock = new FakeClock();
    const harbor = new MemoryHarbor(clock);
    const start = () => harborProvider({ clock, requestTimeoutMs: 1000, random: () => 0.5, api: () => harbor });
    return { clock, harbor, start, identity: identityOf(entry.source, source.namespace) };
  };
  const context = (carried?: Auths[]) => ({ secrets: source, refreshIntervalMs: 6 * H, carried });

  test('the old robot waits for every user of the identity', async () => {
    const { clock, harbor, start, identity } = setup();
    const provider = start();
    const first = await provider.resolve(entry, context());
    clock.advance(17 * H); // past 2/3 of a day
    const second = await provider.resolve(entry, context());
    if (!first.ok || !second.ok) throw new Error('resolve failed');
    expect(harbor.robots.size).toBe(2);
    expect(provider.confirmDelivered(identity, 'a', second.auths, users)).toBe(false);
    expect(provider.confirmDelivered(identity, 'b', first.auths, users)).toBe(false);
    expect(provider.confirmDelivered(identity, 'b', second.auths, users)).toBe(true);
    await provider.resolve(entry, context());
    expect([...harbor.robots.values()].map((r) => r.name)).toEqual([second.auths['harbor.test']!.username]);
  });

  test('a restart adopts the robot the copies carry and revokes the orphan once delivered', async () => {
    const { harbor, start, identity } = setup();
    const before = await start().resolve(entry, context());
    if (!before.ok) throw new Error('resolve failed');
    const orphan = await harbor.createRobot({ ...robotBody(identity), name: `${robotNamePrefix(identity)}orphan` });
    const calls = harbor.calls;
    const restarted = start();
    const after = await restarted.resolve(entry, context([before.auths]));
    expect(after.ok && after.auths).toEqual(before.auths);
    expect(harbor.calls - calls).toBe(1); // the listing only
    expect(restarted.confirmDelivered(identity, 'a', before.auths, new Set(['a']))).toBe(true);
    await restarted.resolve(entry, context([before.auths]));
    expect(harbor.robots.has(orphan.id)).toBe(false);
    expect(harbor.robots.size).toBe(1);
  });
});

function robotBody(identity: string): RobotCreate {
  return {
    name: '',
    description: ownedDescription(identity),
    level: 'system',
    duration: 1,
    disable: false,
    permissions: [],
  };
}
