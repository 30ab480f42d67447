// Verification's decisions: what is checked with which settings, the status rows, the condition,
// the Events. (The checks against real registries: test/integration/verification.test.ts.)
import type { RegistryVerification } from '../../src/api/v1alpha1.js';
import { authEntry } from '../../src/dockerconfig.js';
import {
  credentialsVerifiedCondition,
  registryRows,
  verificationEvents,
  verificationPlans,
} from '../../src/controller/verification.js';
import type { CheckOutcome } from '../../src/registry/verifier.js';
import { basicAuth, specWith } from '../support/builders.js';

const options = {
  enabled: true,
  timeoutMs: 5000,
  caOf: (name: string) => (name === 'good-ca' ? { pem: 'PEM' } : { problem: `no ${name}` }),
};

describe('verificationPlans', () => {
  const auths = {
    'harbor.example.com': authEntry('robot', 'pw'),
    'imported.example.com': authEntry('imp', 'pw2'),
    '*.azurecr.io': authEntry('glob', 'pw3'),
  };
  const registries = [
    {
      server: 'harbor.example.com',
      basicAuth: { secretName: 's' },
      verify: { repository: 'team/app', caSecretName: 'good-ca', interval: '30m' },
    },
    { dockerConfig: { secretName: 'legacy' }, verify: { enabled: false } },
  ];
  const origins = { 'harbor.example.com': 0, 'imported.example.com': 1, '*.azurecr.io': 1 };

  test("a server entry with its settings; imported keys take the dockerConfig entry's; a glob is not checkable", () => {
    const plans = verificationPlans(specWith(...registries), auths, origins, options);
    expect(plans).toEqual([
      {
        server: '*.azurecr.io',
        row: {
          state: 'Skipped',
          reason: 'Disabled',
          message: 'verify.enabled is false: the registry is not contacted',
        },
      },
      {
        server: 'harbor.example.com',
        check: {
          server: 'harbor.example.com',
          username: 'robot',
          password: 'pw',
          repository: 'team/app',
          ca: 'PEM',
          timeoutMs: 5000,
          intervalMs: 1_800_000,
        },
      },
      {
        server: 'imported.example.com',
        row: {
          state: 'Skipped',
          reason: 'Disabled',
          message: 'verify.enabled is false: the registry is not contacted',
        },
      },
    ]);
  });

  test('defaults: enabled, every hour', () => {
    const plans = verificationPlans(
      specWith(basicAuth('r.example.com', 's')),
      { 'r.example.com': authEntry('u', 'p') },
      { 'r.example.com': 0 },
      options,
    );
    expect(plans).toEqual([
      {
        server: 'r.example.com',
        check: { server: 'r.example.com', username: 'u', password: 'p', timeoutMs: 5000, intervalMs: 3_600_000 },
      },
    ]);
  });

  test('a glob key is NotCheckable; a missing CA Secret fails the row without a check', () => {
    const plans = verificationPlans(
      specWith(basicAuth('*.azurecr.io', 's'), {
        ...basicAuth('r.example.com', 't'),
        verify: { caSecretName: 'missing-ca' },
      }),
      { '*.azurecr.io': authEntry('u', 'p'), 'r.example.com': authEntry('u', 'p') },
      { '*.azurecr.io': 0, 'r.example.com': 1 },
      options,
    );
    expect(plans.map((plan) => ('row' in plan ? plan.row.reason : 'check'))).toEqual([
      'NotCheckable',
      'InvalidCASecret',
    ]);
  });

  test('--verify-registries=false: everything Skipped', () => {
    const plans = verificationPlans(specWith(...registries), auths, origins, { ...options, enabled: false });
    expect(plans.every((plan) => 'row' in plan && plan.row.state === 'Skipped' && plan.row.reason === 'Disabled')).toBe(
      true,
    );
  });
});

const outcome = (
  state: CheckOutcome['state'],
  reason: CheckOutcome['reason'],
  message: string,
  checkedAt: number,
): CheckOutcome => ({ state, reason, message, checkedAt, requests: 2 });
const check = { server: 'r.example.com', username: 'u', password: 'p', intervalMs: 1 };

describe('registryRows', () => {
  test('pending, then a result; lastCheckTime stays while the result is the same, moves when it changes', () => {
    const plans = [{ server: 'r.example.com', check }];
    expect(registryRows(plans, new Map(), undefined)).toEqual([
      { server: 'r.example.com', state: 'Unknown', reason: 'Checking', message: 'the first check is running' },
    ]);
    const first = registryRows(
      plans,
      new Map([['r.example.com', outcome('Verified', 'Verified', 'ok', Date.UTC(2026, 0, 1))]]),
      undefined,
    );
    expect(first[0]).toMatchObject({ state: 'Verified', lastCheckTime: '2026-01-01T00:00:00Z' });
    const again = registryRows(
      plans,
      new Map([['r.example.com', outcome('Verified', 'Verified', 'ok', Date.UTC(2026, 0, 1, 1))]]),
      first,
    );
    expect(again).toEqual(first);
    const changed = registryRows(
      plans,
      new Map([['r.example.com', outcome('Failed', 'Unauthorized', '401', Date.UTC(2026, 0, 1, 2))]]),
      first,
    );
    expect(changed[0]).toMatchObject({
      state: 'Failed',
      reason: 'Unauthorized',
      lastCheckTime: '2026-01-01T02:00:00Z',
    });
  });
});

describe('credentialsVerifiedCondition', () => {
  const row = (
    server: string,
    state: RegistryVerification['state'],
    reason: string,
    message = 'm',
  ): RegistryVerification => ({ server, state, reason, message });
  test.each<[string, RegistryVerification[], boolean, string, string]>([
    ['not resolved yet', [], false, 'Unknown', 'NotResolved'],
    ['all verified', [row('a', 'Verified', 'Verified'), row('b', 'Verified', 'Verified')], true, 'True', 'Verified'],
    [
      'verified and skipped',
      [row('a', 'Verified', 'Verified'), row('b', 'Skipped', 'Disabled')],
      true,
      'True',
      'Verified',
    ],
    [
      'the first failure decides',
      [row('a', 'Verified', 'Verified'), row('b', 'Failed', 'TLSError'), row('c', 'Failed', 'Unauthorized')],
      true,
      'False',
      'TLSError',
    ],
    [
      'a failure beats a pending check',
      [row('a', 'Unknown', 'Checking'), row('b', 'Failed', 'Unreachable')],
      true,
      'False',
      'Unreachable',
    ],
    [
      'still checking',
      [row('a', 'Unknown', 'Checking'), row('b', 'Verified', 'Verified')],
      true,
      'Unknown',
      'Checking',
    ],
    ['everything skipped', [row('a', 'Skipped', 'Disabled')], true, 'Unknown', 'Disabled'],
    ['a realm elsewhere', [row('a', 'Unknown', 'TokenRealmOnOtherHost')], true, 'Unknown', 'TokenRealmOnOtherHost'],
  ])('%s', (_what, rows, resolved, status, reason) => {
    expect(credentialsVerifiedCondition(rows, resolved)).toMatchObject({ status, reason });
  });
  test('the message names the failing server and counts the others', () => {
    const condition = credentialsVerifiedCondition(
      [row('a', 'Failed', 'Unauthorized', '401 from a'), row('b', 'Failed', 'TLSError')],
      true,
    );
    expect(condition.message).toBe('a: 401 from a (1 more failing)');
  });
});

describe('verificationEvents', () => {
  const rows = (state: RegistryVerification['state'], reason: string): RegistryVerification[] => [
    { server: 'r', state, reason, message: 'm' },
  ];
  test.each<[string, RegistryVerification[] | undefined, RegistryVerification[], string[]]>([
    ['first result, a failure', undefined, rows('Failed', 'Unauthorized'), ['Warning CredentialCheckFailed']],
    ['first result, verified: nothing to say', undefined, rows('Verified', 'Verified'), []],
    ['the same failure again: no new Event', rows('Failed', 'Unauthorized'), rows('Failed', 'Unauthorized'), []],
    ['another failure', rows('Failed', 'Unauthorized'), rows('Failed', 'TLSError'), ['Warning CredentialCheckFailed']],
    ['recovered', rows('Failed', 'Unauthorized'), rows('Verified', 'Verified'), ['Normal CredentialVerified']],
    ['pending after a failure: nothing yet', rows('Failed', 'Unauthorized'), rows('Unknown', 'Checking'), []],
  ])('%s', (_what, previous, next, expected) => {
    expect(verificationEvents(previous, next).map((event) => `${event.type} ${event.reason}`)).toEqual(expected);
  });
});

test('while a changed credential is being checked, the row keeps its last result', () => {
  const previous: RegistryVerification[] = [
    {
      server: 'r.example.com',
      state: 'Failed',
      reason: 'Unauthorized',
      message: '401',
      lastCheckTime: '2026-01-01T00:00:00Z',
    },
  ];
  expect(registryRows([{ server: 'r.example.com', check }], new Map(), previous)).toEqual(previous);
});
