import { recordOf, toMicroTime } from '../../src/k8s/leases.js';

test.each<[number, string]>([
  [Date.UTC(2026, 10, 25, 20, 38, 50, 123), '2026-11-25T20:38:50.123000Z'],
  [Date.UTC(2026, 0, 1, 0, 0, 0, 0), '2026-01-01T00:00:00.000000Z'],
])('MicroTime has exactly six fractional digits: %s', (ms, text) => {
  expect(toMicroTime(ms)).toBe(text);
});

test.each<[string, object, object]>([
  [
    'a full Lease',
    {
      metadata: { name: 'l', namespace: 'n', resourceVersion: '7' },
      spec: {
        holderIdentity: 'pod-a_1',
        leaseDurationSeconds: 15,
        acquireTime: '2026-11-25T20:38:50.123456Z',
        renewTime: '2026-11-25T20:39:00.000000Z',
        leaseTransitions: 2,
      },
    },
    {
      version: '7',
      record: {
        holderIdentity: 'pod-a_1',
        leaseDurationSeconds: 15,
        acquireTime: Date.UTC(2026, 10, 25, 20, 38, 50, 123),
        renewTime: Date.UTC(2026, 10, 25, 20, 39, 0),
        leaseTransitions: 2,
      },
    },
  ],
  [
    'a Lease without spec (created by someone else)',
    { metadata: { name: 'l', namespace: 'n', resourceVersion: '1' } },
    {
      version: '1',
      record: { holderIdentity: '', leaseDurationSeconds: 0, acquireTime: 0, renewTime: 0, leaseTransitions: 0 },
    },
  ],
])('recordOf: %s', (_name, lease, expected) => {
  expect(recordOf(lease as never)).toEqual(expected);
});
