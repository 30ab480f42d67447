// Events correlated as client-go's EventCorrelator does (src/events.ts): repeats counted into one
// Event, written at most once a minute; more than 10 distinct messages combined; new Warnings at
// once; summaries replacing the message of their (object, reason) Event.
import { pino } from 'pino';
import { EventRecorder, type EventTarget, SERIES_INTERVAL_MS } from '../../src/events.js';
import { Resources } from '../../src/k8s/resources.js';
import { FakeClock } from '../support/fake-clock.js';
import { apiError, FakeKube } from '../support/fake-kube.js';
import { flush } from '../support/settle.js';

const CRED: EventTarget = { metadata: { name: 'robot', uid: 'uid-robot' } };
const POD: EventTarget = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'app', namespace: 'team', uid: 'uid-pod' },
};

function recorder() {
  const clock = new FakeClock();
  const kube = new FakeKube(clock);
  const events = new EventRecorder(new Resources(kube), clock, pino({ level: 'silent' }));
  const writes = () =>
    kube.requests.filter((r) => r.target.resource === 'events').map((r) => `${r.method} ${r.target.namespace}`);
  const stored = (namespace = 'default') =>
    kube
      .list('events', namespace)
      .map((e) => e as unknown as { reason: string; type: string; message: string; count: number })
      .map(({ reason, type, message, count }) => ({ reason, type, message, count }));
  /** Time passes; due writes happen. */
  const after = async (ms: number) => {
    clock.advance(ms);
    await flush();
  };
  return { clock, kube, events, writes, stored, after };
}

test('a first Event is written at once; repeats add to its count, written at most once a minute', async () => {
  const { events, writes, stored, after } = recorder();
  events.record(CRED, 'Warning', 'SourceSecretNotFound', 'Secret robot not found');
  await after(0);
  expect(stored()).toEqual([
    { reason: 'SourceSecretNotFound', type: 'Warning', message: 'Secret robot not found', count: 1 },
  ]);
  for (let i = 0; i < 5; i++) {
    events.record(CRED, 'Warning', 'SourceSecretNotFound', 'Secret robot not found');
    await after(5_000);
  }
  expect(writes()).toEqual(['POST default']); // held: the minute is not over
  await after(SERIES_INTERVAL_MS);
  expect(writes()).toEqual(['POST default', 'PATCH default']);
  expect(stored()).toEqual([
    { reason: 'SourceSecretNotFound', type: 'Warning', message: 'Secret robot not found', count: 6 },
  ]);
  await after(10 * SERIES_INTERVAL_MS);
  expect(writes()).toHaveLength(2); // nothing pending, nothing written
});

test('a Warning with a new message is written at once, as its own Event', async () => {
  const { events, writes, stored, after } = recorder();
  events.record(CRED, 'Warning', 'SecretConflict', 'namespace a: Secret pull belongs to another');
  events.record(CRED, 'Warning', 'SecretConflict', 'namespace b: Secret pull belongs to another');
  await after(0);
  expect(writes()).toEqual(['POST default', 'POST default']);
  expect(stored().map((e) => [e.message, e.count])).toEqual([
    ['namespace a: Secret pull belongs to another', 1],
    ['namespace b: Secret pull belongs to another', 1],
  ]);
});

test('beyond 10 distinct messages of one reason within 10 minutes, one combined Event; Warnings still at once', async () => {
  const { events, writes, stored, after } = recorder();
  for (let i = 1; i <= 14; i++) {
    events.record(CRED, 'Warning', 'APIConflict', `namespace ns-${i}: conflict`);
    await after(1000);
  }
  // 10 Events of their own, then one combined Event created and patched at once for each new message
  expect(writes().filter((w) => w.startsWith('POST'))).toHaveLength(11);
  expect(writes().filter((w) => w.startsWith('PATCH'))).toHaveLength(3);
  const combined = stored().filter((e) => e.message.startsWith('(combined from similar events)'));
  expect(combined).toEqual([
    {
      reason: 'APIConflict',
      type: 'Warning',
      message: '(combined from similar events): namespace ns-14: conflict',
      count: 4,
    },
  ]);
  // after the window, distinct messages get Events of their own again
  await after(10 * 60_000);
  events.record(CRED, 'Warning', 'APIConflict', 'namespace ns-15: conflict');
  await after(0);
  expect(stored().some((e) => e.message === 'namespace ns-15: conflict')).toBe(true);
});

test('a summary replaces the message of its (object, reason) Event and adds its count, at once', async () => {
  const { events, writes, stored, after } = recorder();
  events.summarize(CRED, 'SecretCreated', 'created the pull secret in 2 namespaces: a, b', 2);
  await after(0);
  events.summarize(CRED, 'SecretCreated', 'created the pull secret in 1 namespace: c', 1);
  await after(0);
  expect(writes()).toEqual(['POST default', 'PATCH default']);
  expect(stored()).toEqual([
    { reason: 'SecretCreated', type: 'Normal', message: 'created the pull secret in 1 namespace: c', count: 3 },
  ]);
});

test('an Event the API server dropped meanwhile is created again with the whole count', async () => {
  const { events, kube, writes, stored, after } = recorder();
  events.summarize(CRED, 'SecretCreated', 'created the pull secret in 1 namespace: a', 1);
  await after(0);
  kube.failNext(
    (request) => request.method === 'PATCH' && request.target.resource === 'events',
    () => apiError(404, 'NotFound', { message: 'events "robot.x" not found' }),
  );
  events.summarize(CRED, 'SecretCreated', 'created the pull secret in 1 namespace: b', 1);
  await after(0);
  expect(writes()).toEqual(['POST default', 'PATCH default', 'POST default']);
  expect(stored().map((e) => e.count)).toContain(2);
});

test('Events about a Pod live in its namespace', async () => {
  const { events, stored, after } = recorder();
  events.record(POD, 'Normal', 'PodRecovered', 'evicted');
  await after(0);
  expect(stored('team')).toEqual([{ reason: 'PodRecovered', type: 'Normal', message: 'evicted', count: 1 }]);
});

test('flush writes the counts still held (on shutdown)', async () => {
  const { events, writes, stored, after } = recorder();
  events.record(CRED, 'Normal', 'CredentialVerified', 'ok');
  await after(0);
  events.record(CRED, 'Normal', 'CredentialVerified', 'ok');
  await after(0);
  expect(writes()).toEqual(['POST default']);
  await events.flush();
  expect(writes()).toEqual(['POST default', 'PATCH default']);
  expect(stored()[0]!.count).toBe(2);
});

test('a failed write is logged, not thrown, and the next occurrence starts afresh', async () => {
  const { events, kube, stored, after } = recorder();
  kube.failNext(
    (request) => request.method === 'POST' && request.target.resource === 'events',
    () => apiError(403, 'Forbidden', { message: 'events is forbidden' }),
  );
  events.record(CRED, 'Warning', 'InvalidSpec', 'bad');
  await after(0);
  expect(stored()).toEqual([]);
  events.record(CRED, 'Warning', 'InvalidSpec', 'bad');
  await after(SERIES_INTERVAL_MS);
  expect(stored()).toEqual([{ reason: 'InvalidSpec', type: 'Warning', message: 'bad', count: 1 }]);
});
