// What the controllers remember about a RegistryCredential between reconciles: the credential
// controller's decision (decide / rejectSpec / setSources, published whole), whether it holds for
// the object another key read (isCurrentFor, isDecisionFor), one state per name and uid; and the
// namespace controller's failures (namespacefailures.ts).
import type { NamespaceFailure } from '../../src/api/v1alpha1.js';
import { CredentialState, CredentialStates, isDecisionFor } from '../../src/controller/credentialstate.js';
import { NamespaceFailures } from '../../src/controller/namespacefailures.js';
import { credential, spec } from '../support/builders.js';

const failure = (namespace: string, reason = 'Forbidden'): NamespaceFailure => ({
  namespace,
  reason,
  message: `cannot write in ${namespace}`,
});

describe('CredentialState.decide', () => {
  test('a fresh state holds no decision: the secret name is the credential name', () => {
    const state = new CredentialState('uid-1', 'harbor');
    expect({ spec: state.spec, generation: state.generation, secretName: state.secretName }).toEqual({
      spec: undefined,
      generation: -1,
      secretName: 'harbor',
    });
    expect(state.document).toBeUndefined();
  });

  // Each row: the generations decided one after the other (`reject` rejects the spec in between),
  // and what each decide() answered.
  test.each<[string, Array<number | undefined | 'reject'>, boolean[]]>([
    ['the first decision is a change', [1], [true]],
    ['the same generation again is no change', [1, 1], [true, false]],
    ['a new generation is a change', [1, 2], [true, true]],
    ['an object without a generation counts as generation 0', [undefined, 0], [true, false]],
    ['a valid spec after a rejected one is a change, even at the same generation', [1, 'reject', 1], [true, true]],
  ])('%s', (_name, steps, expected) => {
    const state = new CredentialState('uid-1', 'harbor');
    const answers: boolean[] = [];
    for (const step of steps) {
      if (step === 'reject') state.rejectSpec('spec.registries: Required');
      else answers.push(state.decide(credential('harbor', { generation: step }), spec(), 'pull'));
    }
    expect(answers).toEqual(expected);
  });

  test('decide records the spec, the generation and the secret name, and clears an earlier rejection', () => {
    const state = new CredentialState('uid-1', 'harbor');
    const decided = spec({ secretName: 'pull' });
    state.rejectSpec('spec.registries: Required');
    state.decide(credential('harbor', { generation: 4 }), decided, 'pull');
    expect(state).toMatchObject({ spec: decided, specError: undefined, generation: 4, secretName: 'pull' });
  });

  test('rejectSpec forgets the spec and keeps the reason; nothing else changes', () => {
    const state = new CredentialState('uid-1', 'harbor');
    state.decide(credential('harbor', { generation: 2 }), spec(), 'pull');
    state.rejectSpec('spec.registries: Required');
    expect(state).toMatchObject({
      spec: undefined,
      specError: 'spec.registries: Required',
      generation: 2,
      secretName: 'pull',
    });
  });

  test('the document is the one the sources resolved to (undefined while held)', () => {
    const state = new CredentialState('uid-1', 'harbor');
    state.setSources({ document: '{"auths":{}}', tokens: { expiresAt: 5 } });
    expect(state.document).toBe('{"auths":{}}');
    state.setSources({ tokens: {}, failure: { reason: 'SourceSecretNotFound', message: 'gone' } });
    expect(state.document).toBeUndefined();
  });
});

describe('CredentialState.isCurrentFor', () => {
  const decidedAt = (generation: number) => {
    const state = new CredentialState('uid-1', 'harbor');
    state.decide(credential('harbor', { uid: 'uid-1', generation }), spec(), 'harbor');
    return state;
  };

  test.each<[string, { uid: string; generation?: number }, boolean]>([
    ['the object decided on', { uid: 'uid-1', generation: 3 }, true],
    ['a newer generation: the credential key has not decided on it yet', { uid: 'uid-1', generation: 4 }, false],
    ['an older generation (a stale cache)', { uid: 'uid-1', generation: 2 }, false],
    ['another object of the same name (deleted and created again)', { uid: 'uid-2', generation: 3 }, false],
  ])('%s', (_name, read, expected) => {
    expect(decidedAt(3).isCurrentFor(credential('harbor', read))).toBe(expected);
  });

  test('an object without a generation matches a decision at generation 0', () => {
    const state = new CredentialState('uid-1', 'harbor');
    state.decide(credential('harbor', { uid: 'uid-1' }), spec(), 'harbor');
    expect(state.isCurrentFor(credential('harbor', { uid: 'uid-1' }))).toBe(true);
  });

  test('nothing decided yet: no object is current', () => {
    const state = new CredentialState('uid-1', 'harbor');
    expect(state.isCurrentFor(credential('harbor', { uid: 'uid-1', generation: 1 }))).toBe(false);
  });
});

describe('CredentialState publishes its decision whole', () => {
  test('every change is a new frozen object; one read before a change keeps what it saw', () => {
    const state = new CredentialState('uid-1', 'harbor');
    const before = state.decision;
    state.decide(credential('harbor', { uid: 'uid-1', generation: 2 }), spec(), 'pull');
    const after = state.decision;
    expect(after).not.toBe(before);
    expect(Object.isFrozen(after)).toBe(true);
    expect([before.generation, before.secretName]).toEqual([-1, 'harbor']);
    expect([after.generation, after.secretName]).toEqual([2, 'pull']);
  });

  test.each<[string, { uid: string; generation?: number } | undefined, boolean]>([
    ['the same uid and generation', { uid: 'uid-1', generation: 2 }, true],
    ['another generation', { uid: 'uid-1', generation: 3 }, false],
    ['another uid', { uid: 'uid-2', generation: 2 }, false],
  ])('isDecisionFor: %s', (_name, object, expected) => {
    const state = new CredentialState('uid-1', 'harbor');
    state.decide(credential('harbor', { uid: 'uid-1', generation: 2 }), spec(), 'harbor');
    expect(isDecisionFor(state.decision, credential('harbor', object))).toBe(expected);
  });

  test('no decision: nothing is current', () => {
    expect(isDecisionFor(undefined, credential('harbor'))).toBe(false);
  });
});

describe('NamespaceFailures', () => {
  test('one failure per namespace: a later one replaces the earlier', () => {
    const failures = new NamespaceFailures();
    failures.fail('harbor', 'uid-1', failure('team-a', 'Forbidden'));
    failures.fail('harbor', 'uid-1', failure('team-b'));
    failures.fail('harbor', 'uid-1', failure('team-a', 'SecretConflict'));
    expect(failures.failuresOf('harbor', 'uid-1')).toEqual([failure('team-a', 'SecretConflict'), failure('team-b')]);
    expect(failures.failureIn('harbor', 'uid-1', 'team-a')?.reason).toBe('SecretConflict');
    expect(failures.failureIn('harbor', 'uid-1', 'team-c')).toBeUndefined();
  });

  test.each<[string, string, boolean, string[]]>([
    ['clearing a failed namespace says there was one', 'team-a', true, ['team-b']],
    ['clearing a healthy namespace says there was none', 'team-c', false, ['team-a', 'team-b']],
  ])('%s', (_name, cleared, answer, left) => {
    const failures = new NamespaceFailures();
    failures.fail('harbor', 'uid-1', failure('team-a'));
    failures.fail('harbor', 'uid-1', failure('team-b'));
    expect(failures.clear('harbor', cleared)).toBe(answer);
    expect(failures.failuresOf('harbor', 'uid-1').map((f) => f.namespace)).toEqual(left);
  });

  test('the same name with another uid: nothing of the old object is seen, and a new failure starts afresh', () => {
    const failures = new NamespaceFailures();
    failures.fail('harbor', 'uid-1', failure('team-a'));
    expect(failures.failuresOf('harbor', 'uid-2')).toEqual([]);
    failures.fail('harbor', 'uid-2', failure('team-b'));
    expect(failures.failuresOf('harbor', 'uid-2').map((f) => f.namespace)).toEqual(['team-b']);
    expect(failures.failuresOf('harbor', 'uid-1')).toEqual([]);
  });

  test('credentials do not see each other', () => {
    const failures = new NamespaceFailures();
    failures.fail('a', 'uid-a', failure('team-a'));
    expect(failures.failureIn('b', 'uid-a', 'team-a')).toBeUndefined();
  });
});

describe('CredentialStates', () => {
  test('the same name and uid: the same state, with what it remembers', () => {
    const states = new CredentialStates();
    const first = states.of(credential('harbor', { uid: 'uid-1' }));
    first.lastGood.set('{}', {});
    expect(states.of(credential('harbor', { uid: 'uid-1' }))).toBe(first);
    expect(states.get('harbor')?.lastGood.size).toBe(1);
  });

  test('the same name with another uid starts afresh: nothing of the old object carries over', () => {
    const states = new CredentialStates();
    const old = states.of(credential('harbor', { uid: 'uid-1' }));
    old.decide(credential('harbor', { uid: 'uid-1', generation: 4 }), spec(), 'pull');
    old.lastGood.set('{}', {});
    const fresh = states.of(credential('harbor', { uid: 'uid-2' }));
    expect(fresh).not.toBe(old);
    expect({ uid: fresh.uid, generation: fresh.generation, lastGood: fresh.lastGood.size }).toEqual({
      uid: 'uid-2',
      generation: -1,
      lastGood: 0,
    });
    expect(states.decisionOf('harbor')?.uid).toBe('uid-2');
  });

  test('forget drops the state: the next of() starts afresh', () => {
    const states = new CredentialStates();
    const first = states.of(credential('harbor'));
    states.forget('harbor');
    expect(states.get('harbor')).toBeUndefined();
    expect(states.decisionOf('harbor')).toBeUndefined();
    expect(states.of(credential('harbor'))).not.toBe(first);
  });
});
