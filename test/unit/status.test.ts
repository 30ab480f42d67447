import type { Condition, NamespaceFailure, RegistryCredentialStatus } from '../../src/api/v1alpha1.js';
import { iso } from '../../src/api/v1alpha1.js';
import {
  computeStatus,
  isRoutineChange,
  MAX_FAILURES,
  sameStatus,
  setCondition,
  type StatusInput,
} from '../../src/controller/status.js';

// ---- builders ----------------------------------------------------------------------------------

const T0 = Date.UTC(2026, 10, 22, 10, 0, 0);
const T0_ISO = '2026-11-22T10:00:00Z';
const T1 = T0 + 60_000;
const T1_ISO = '2026-11-22T10:01:00Z';

/** A healthy reconcile: 3 of 3 namespaces ready, generation 2, at T0. */
function input(patch: Partial<StatusInput> = {}): StatusInput {
  return { generation: 2, now: T0, suspended: false, selected: 3, ready: 3, failures: [], ...patch };
}
const failure = (
  namespace: string,
  reason = 'Forbidden',
  message = `cannot write in ${namespace}`,
): NamespaceFailure => ({ namespace, reason, message });
const condition = (status: RegistryCredentialStatus, type: string): Condition => {
  const c = status.conditions?.find((x) => x.type === type);
  if (!c) throw new Error(`no ${type} condition`);
  return c;
};
/** [status, reason] of Ready, SourcesReady and Propagated. */
const summary = (s: RegistryCredentialStatus) =>
  ['Ready', 'SourcesReady', 'Propagated'].map((t) => `${t}=${condition(s, t).status}/${condition(s, t).reason}`);

// ---- conditions --------------------------------------------------------------------------------

describe('computeStatus conditions', () => {
  test.each<[string, Partial<StatusInput>, string[]]>([
    ['all ready', {}, ['Ready=True/Ready', 'SourcesReady=True/Resolved', 'Propagated=True/AllNamespacesReady']],
    [
      'nothing selected is ready',
      { selected: 0, ready: 0 },
      ['Ready=True/Ready', 'SourcesReady=True/Resolved', 'Propagated=True/AllNamespacesReady'],
    ],
    [
      'progressing',
      { ready: 1 },
      ['Ready=False/Progressing', 'SourcesReady=True/Resolved', 'Propagated=False/Progressing'],
    ],
    [
      'a namespace failed',
      { ready: 2, failures: [failure('b', 'Forbidden')] },
      ['Ready=False/Forbidden', 'SourcesReady=True/Resolved', 'Propagated=False/Forbidden'],
    ],
    [
      'failure reason is the first namespace by name',
      { ready: 1, failures: [failure('z', 'Conflict'), failure('a', 'Forbidden')] },
      ['Ready=False/Forbidden', 'SourcesReady=True/Resolved', 'Propagated=False/Forbidden'],
    ],
    [
      'source failed',
      { sourceFailure: { reason: 'SourceSecretNotFound', message: 'Secret s/x not found' } },
      [
        'Ready=False/SourceSecretNotFound',
        'SourcesReady=False/SourceSecretNotFound',
        'Propagated=True/AllNamespacesReady',
      ],
    ],
    [
      'source failure wins over namespace failures in Ready',
      { sourceFailure: { reason: 'InvalidSourceSecret', message: 'm' }, ready: 2, failures: [failure('a')] },
      ['Ready=False/InvalidSourceSecret', 'SourcesReady=False/InvalidSourceSecret', 'Propagated=False/Forbidden'],
    ],
    [
      'invalid spec',
      { specError: 'spec.registries: Required', selected: 0, ready: 0 },
      ['Ready=False/InvalidSpec', 'SourcesReady=False/InvalidSpec', 'Propagated=False/InvalidSpec'],
    ],
    [
      'invalid spec wins over a source failure',
      { specError: 'bad', sourceFailure: { reason: 'SourceSecretNotFound', message: 'm' } },
      ['Ready=False/InvalidSpec', 'SourcesReady=False/InvalidSpec', 'Propagated=False/InvalidSpec'],
    ],
    [
      'invalid spec wins over failures',
      { specError: 'bad', failures: [failure('a')] },
      ['Ready=False/InvalidSpec', 'SourcesReady=False/InvalidSpec', 'Propagated=False/InvalidSpec'],
    ],
    [
      'suspended',
      { suspended: true },
      ['Ready=False/Suspended', 'SourcesReady=True/Resolved', 'Propagated=True/AllNamespacesReady'],
    ],
    [
      'suspended wins over an invalid spec',
      { suspended: true, specError: 'bad' },
      ['Ready=False/Suspended', 'SourcesReady=False/InvalidSpec', 'Propagated=False/InvalidSpec'],
    ],
    [
      'suspended wins over failures',
      { suspended: true, ready: 0, failures: [failure('a')] },
      ['Ready=False/Suspended', 'SourcesReady=True/Resolved', 'Propagated=False/Forbidden'],
    ],
  ])('%s', (_name, patch, expected) => {
    expect(summary(computeStatus(undefined, input(patch)))).toEqual(expected);
  });

  test.each<[string, Partial<StatusInput>, string, string]>([
    ['Ready when all ready', {}, 'Ready', 'pull secret present in 3 namespaces'],
    [
      'Ready says when nothing is selected (a typo looks the same)',
      { selected: 0, ready: 0 },
      'Ready',
      'no namespace is selected: namespaceSelector and excludeNamespaces match no namespace (yet)',
    ],
    ['SourcesReady when resolved', {}, 'SourcesReady', 'every registry source resolved'],
    ['Propagated when all ready', {}, 'Propagated', '3 of 3 namespaces ready'],
    ['Propagated while progressing', { ready: 1 }, 'Propagated', '1 of 3 namespaces ready'],
    ['Ready repeats the Propagated message', { ready: 1 }, 'Ready', '1 of 3 namespaces ready'],
    [
      'Propagated names the count and the first failure',
      { ready: 1, failures: [failure('z', 'Conflict', 'late'), failure('b', 'Forbidden', 'denied')] },
      'Propagated',
      '2 of 3 namespaces failed; first: b: denied',
    ],
    [
      'SourcesReady says when the last good value is served',
      { sourceFailure: { reason: 'SourceSecretNotFound', message: 'Secret s/x not found' } },
      'SourcesReady',
      'Secret s/x not found The last good value of this source keeps being served.',
    ],
    [
      'SourcesReady says when existing Secrets are held',
      { sourceFailure: { reason: 'SourceSecretNotFound', message: 'Secret s/x not found' }, sourcesHeld: true },
      'SourcesReady',
      'Secret s/x not found Existing Secrets are kept unchanged and none is created until the source is fixed.',
    ],
    [
      'Ready repeats the source message',
      { sourceFailure: { reason: 'SourceSecretNotFound', message: 'Secret s/x not found' }, sourcesHeld: true },
      'Ready',
      'Secret s/x not found Existing Secrets are kept unchanged and none is created until the source is fixed.',
    ],
    [
      'SourcesReady carries the spec error',
      { specError: 'spec.registries: Required' },
      'SourcesReady',
      'spec.registries: Required',
    ],
    [
      'Propagated when the spec is invalid',
      { specError: 'bad' },
      'Propagated',
      'nothing is propagated while the spec is invalid',
    ],
    ['Ready when suspended', { suspended: true }, 'Ready', 'spec.suspend is true: nothing is changed or deleted'],
  ])('message: %s', (_name, patch, type, message) => {
    expect(condition(computeStatus(undefined, input(patch)), type).message).toBe(message);
  });

  test('long messages are cut to 1024 characters with an ellipsis', () => {
    const s = computeStatus(
      undefined,
      input({ sourceFailure: { reason: 'InvalidSourceSecret', message: 'x'.repeat(5000) } }),
    );
    const msg = condition(s, 'SourcesReady').message;
    expect(msg).toHaveLength(1024);
    expect(msg.endsWith('…')).toBe(true);
    expect(msg.slice(0, 1023)).toBe('x'.repeat(1023));
  });

  test('a message of exactly 1024 characters is kept whole', () => {
    const s = computeStatus(undefined, input({ specError: 'y'.repeat(1024) }));
    expect(condition(s, 'SourcesReady').message).toBe('y'.repeat(1024));
  });

  test('conditions are ordered Ready, SourcesReady, Propagated and carry observedGeneration', () => {
    const s = computeStatus(undefined, input({ generation: 7 }));
    expect(s.conditions!.map((c) => c.type)).toEqual(['Ready', 'SourcesReady', 'Propagated']);
    expect(s.conditions!.map((c) => c.observedGeneration)).toEqual([7, 7, 7]);
    expect(s.observedGeneration).toBe(7);
  });
});

// ---- lastTransitionTime ------------------------------------------------------------------------

describe('computeStatus lastTransitionTime', () => {
  const healthy = computeStatus(undefined, input());
  const ltt = (s: RegistryCredentialStatus) =>
    Object.fromEntries(s.conditions!.map((c) => [c.type, c.lastTransitionTime]));

  test('set to now on the first status', () => {
    expect(ltt(healthy)).toEqual({ Ready: T0_ISO, SourcesReady: T0_ISO, Propagated: T0_ISO });
  });

  test.each<[string, Partial<StatusInput>, Record<string, string>]>([
    ['nothing changed', {}, { Ready: T0_ISO, SourcesReady: T0_ISO, Propagated: T0_ISO }],
    [
      'only counts/messages changed',
      { selected: 5, ready: 5 },
      { Ready: T0_ISO, SourcesReady: T0_ISO, Propagated: T0_ISO },
    ],
    ['only the generation changed', { generation: 3 }, { Ready: T0_ISO, SourcesReady: T0_ISO, Propagated: T0_ISO }],
    ['Ready and Propagated flip', { ready: 1 }, { Ready: T1_ISO, SourcesReady: T0_ISO, Propagated: T1_ISO }],
    [
      'Ready and SourcesReady flip',
      { sourceFailure: { reason: 'SourceSecretNotFound', message: 'm' } },
      { Ready: T1_ISO, SourcesReady: T1_ISO, Propagated: T0_ISO },
    ],
    ['only Ready flips (suspend)', { suspended: true }, { Ready: T1_ISO, SourcesReady: T0_ISO, Propagated: T0_ISO }],
    ['all flip (invalid spec)', { specError: 'bad' }, { Ready: T1_ISO, SourcesReady: T1_ISO, Propagated: T1_ISO }],
  ])('one minute later, %s', (_name, patch, expected) => {
    const next = computeStatus(healthy, input({ now: T1, ...patch }));
    expect(ltt(next)).toEqual(expected);
  });

  test('stays put while False with a changing reason, moves again when it flips back', () => {
    const T2 = T1 + 60_000;
    const progressing = computeStatus(healthy, input({ now: T1, ready: 1 }));
    const failing = computeStatus(progressing, input({ now: T2, ready: 1, failures: [failure('a')] }));
    expect(condition(failing, 'Ready')).toMatchObject({
      status: 'False',
      reason: 'Forbidden',
      lastTransitionTime: T1_ISO,
    });
    const back = computeStatus(failing, input({ now: T2 }));
    expect(condition(back, 'Ready')).toMatchObject({
      status: 'True',
      reason: 'Ready',
      lastTransitionTime: '2026-11-22T10:02:00Z',
    });
  });

  test('observedGeneration is updated even when the status did not flip', () => {
    const next = computeStatus(healthy, input({ now: T1, generation: 9 }));
    expect(next.conditions!.map((c) => c.observedGeneration)).toEqual([9, 9, 9]);
  });

  test('timestamps have second precision', () => {
    expect(condition(computeStatus(undefined, input({ now: T0 + 999 })), 'Ready').lastTransitionTime).toBe(T0_ISO);
  });

  test('conditions of other types are kept, ours replaced once each', () => {
    const foreign: Condition = {
      type: 'Custom',
      status: 'True',
      reason: 'X',
      message: 'x',
      lastTransitionTime: T0_ISO,
    };
    const next = computeStatus({ conditions: [foreign, ...healthy.conditions!] }, input({ now: T1 }));
    expect(next.conditions!.map((c) => c.type).sort()).toEqual(['Custom', 'Propagated', 'Ready', 'SourcesReady']);
    expect(next.conditions!.find((c) => c.type === 'Custom')).toEqual(foreign);
  });

  test('does not mutate the previous status', () => {
    const prev = structuredClone(healthy);
    computeStatus(prev, input({ now: T1, specError: 'bad' }));
    expect(prev).toEqual(healthy);
  });
});

// ---- counts, failures, timestamps --------------------------------------------------------------

describe('computeStatus fields', () => {
  test.each<[string, Partial<StatusInput>, Partial<RegistryCredentialStatus>]>([
    [
      'counts and summary',
      { selected: 4, ready: 3, failures: [failure('a')] },
      { namespaces: { selected: 4, ready: 3, failed: 1 }, namespaceSummary: '3/4' },
    ],
    [
      'empty',
      { selected: 0, ready: 0 },
      { namespaces: { selected: 0, ready: 0, failed: 0 }, namespaceSummary: '0/0', failures: [] },
    ],
    [
      'credentialsExpireAt and lastRefreshTime as RFC 3339 seconds',
      { credentialsExpireAt: T1 + 500, lastRefreshTime: T0 },
      { credentialsExpireAt: T1_ISO, lastRefreshTime: T0_ISO },
    ],
  ])('%s', (_name, patch, expected) => {
    expect(computeStatus(undefined, input(patch))).toMatchObject(expected);
  });

  test('optional timestamps are absent when not given', () => {
    const s = computeStatus(undefined, input());
    expect(s).not.toHaveProperty('credentialsExpireAt');
    expect(s).not.toHaveProperty('lastRefreshTime');
  });

  test('failures are sorted by namespace', () => {
    const s = computeStatus(
      undefined,
      input({ selected: 3, ready: 0, failures: [failure('c'), failure('a'), failure('b')] }),
    );
    expect(s.failures!.map((f) => f.namespace)).toEqual(['a', 'b', 'c']);
  });

  test.each<[number, number]>([
    [MAX_FAILURES - 1, MAX_FAILURES - 1],
    [MAX_FAILURES, MAX_FAILURES],
    [MAX_FAILURES + 1, MAX_FAILURES],
    [100, MAX_FAILURES],
  ])('%i failures: %i listed, all counted, the first by name kept', (n, listed) => {
    const failures = Array.from({ length: n }, (_, i) => failure(`ns-${String(n - i).padStart(3, '0')}`));
    const s = computeStatus(undefined, input({ selected: n, ready: 0, failures }));
    expect(MAX_FAILURES).toBe(20);
    expect(s.failures).toHaveLength(listed);
    expect(s.failures![0]!.namespace).toBe('ns-001');
    expect(s.failures!.map((f) => f.namespace)).toEqual([...s.failures!.map((f) => f.namespace)].sort());
    expect(s.namespaces!.failed).toBe(n);
    expect(condition(s, 'Propagated').message).toMatch(new RegExp(`^${n} of ${n} namespaces failed; first: ns-001: `));
  });

  test('failure messages are cut to 1024 characters', () => {
    const s = computeStatus(undefined, input({ ready: 2, failures: [failure('a', 'Forbidden', 'z'.repeat(3000))] }));
    expect(s.failures![0]!.message).toBe('z'.repeat(1024));
  });

  test('does not mutate the failures it was given', () => {
    const failures = [failure('b'), failure('a')];
    computeStatus(undefined, input({ ready: 1, failures }));
    expect(failures.map((f) => f.namespace)).toEqual(['b', 'a']);
  });
});

// ---- setCondition / iso ------------------------------------------------------------------------

describe('setCondition', () => {
  const base: Condition = {
    type: 'Ready',
    status: 'True',
    reason: 'Ready',
    message: 'ok',
    lastTransitionTime: T0_ISO,
    observedGeneration: 1,
  };
  test.each<[string, Condition['status'], string]>([
    ['same status keeps the time', 'True', T0_ISO],
    ['flipped status takes now', 'False', T1_ISO],
    ['Unknown is a flip too', 'Unknown', T1_ISO],
  ])('%s', (_name, status, time) => {
    const [c, ...rest] = setCondition([base], { type: 'Ready', status, reason: 'R', message: 'm' }, 2, T1);
    expect(rest).toEqual([]);
    expect(c).toEqual({
      type: 'Ready',
      status,
      reason: 'R',
      message: 'm',
      observedGeneration: 2,
      lastTransitionTime: time,
    });
  });
});

describe('iso', () => {
  test.each<[number, string]>([
    [0, '1970-01-01T00:00:00Z'],
    [T0, T0_ISO],
    [T0 + 1, T0_ISO],
    [T0 + 999, T0_ISO],
    [T0 + 1000, '2026-11-22T10:00:01Z'],
  ])('%i -> %s', (ms, expected) => {
    expect(iso(ms)).toBe(expected);
  });
});

// ---- sameStatus --------------------------------------------------------------------------------

describe('sameStatus', () => {
  const s = computeStatus(undefined, input({ credentialsExpireAt: T1 }));
  /** The same status with its keys written in reverse order (as an API round trip may do). */
  const reversed = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(reversed)
      : v && typeof v === 'object'
        ? Object.fromEntries(
            Object.entries(v)
              .reverse()
              .map(([k, x]) => [k, reversed(x)]),
          )
        : v;

  test.each<[string, RegistryCredentialStatus | undefined, RegistryCredentialStatus, boolean]>([
    ['identical', s, s, true],
    ['deep copy', structuredClone(s), s, true],
    ['keys in another order', reversed(s) as RegistryCredentialStatus, s, true],
    ['undefined fields ignored', { ...s, lastRefreshTime: undefined }, s, true],
    ['empty failures equal missing failures', { ...s, failures: undefined }, { ...s, failures: [] }, true],
    ['no previous status vs empty status', undefined, {}, true],
    ['no previous status vs a real one', undefined, s, false],
    ['generation differs', { ...s, observedGeneration: 1 }, s, false],
    [
      'a condition time differs',
      { ...s, conditions: s.conditions!.map((c, i) => (i === 0 ? { ...c, lastTransitionTime: T1_ISO } : c)) },
      s,
      false,
    ],
    ['condition order differs', { ...s, conditions: [...s.conditions!].reverse() }, s, false],
    ['a failure differs', { ...s, failures: [failure('a')] }, s, false],
    ['counts differ', { ...s, namespaces: { selected: 3, ready: 2, failed: 0 } }, s, false],
    ['a timestamp added', s, { ...s, lastRefreshTime: T0_ISO }, false],
  ])('%s', (_name, a, b, expected) => {
    expect(sameStatus(a, b)).toBe(expected);
  });

  test('a recomputed status with nothing new is the same', () => {
    const again = computeStatus(s, input({ now: T1, credentialsExpireAt: T1 }));
    expect(sameStatus(s, again)).toBe(true);
  });
});

// ---- isRoutineChange ---------------------------------------------------------------------------

describe('isRoutineChange: what may wait for the status pace', () => {
  const base = computeStatus(undefined, input());
  const next = (patch: Partial<StatusInput>) => computeStatus(base, input({ now: T1, ...patch }));
  test.each<[string, RegistryCredentialStatus | undefined, RegistryCredentialStatus, boolean]>([
    ['a namespace joined and is served: counts only', base, next({ selected: 4, ready: 4 }), true],
    ['a namespace left', base, next({ selected: 2, ready: 2 }), true],
    ['a namespace joined, not served yet: Ready and Propagated to Progressing', base, next({ selected: 4 }), true],
    ['the first status', undefined, base, false],
    ['a new generation', base, next({ generation: 3 }), false],
    ['a namespace failed', base, next({ failures: [failure('a')] }), false],
    ['a source failed', base, next({ sourceFailure: { reason: 'SourceSecretNotFound', message: 'gone' } }), false],
    ['suspended', base, next({ suspended: true }), false],
    ['token times changed', base, next({ credentialsExpireAt: T1 + 3_600_000 }), false],
  ])('%s: %s', (_what, prev, status, expected) => {
    expect(isRoutineChange(prev, status)).toBe(expected);
  });

  test('the end of a fan-out (Progressing to True) is news', () => {
    const progressing = computeStatus(undefined, input({ ready: 1 }));
    expect(isRoutineChange(progressing, computeStatus(progressing, input({ now: T1 })))).toBe(false);
    expect(isRoutineChange(progressing, computeStatus(progressing, input({ now: T1, ready: 2 })))).toBe(true);
  });
});
