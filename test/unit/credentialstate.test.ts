// What the operator remembers about a RegistryCredential between reconciles: the credential key's
// decision (decide / rejectSpec / setSources), whether it holds for the object a namespace key read
// (isCurrentFor), the namespaces' failures and changes, and one state per name and uid.
import type { NamespaceFailure } from '../../src/api/v1alpha1.js';
import { CredentialState, CredentialStates } from '../../src/controller/credentialstate.js';
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

describe('CredentialState failures', () => {
  test('one failure per namespace: a later one replaces the earlier', () => {
    const state = new CredentialState('uid-1', 'harbor');
    state.fail(failure('team-a', 'Forbidden'));
    state.fail(failure('team-b'));
    state.fail(failure('team-a', 'SecretConflict'));
    expect(state.failureList()).toEqual([failure('team-a', 'SecretConflict'), failure('team-b')]);
    expect(state.failureIn('team-a')?.reason).toBe('SecretConflict');
    expect([state.hasFailureIn('team-b'), state.hasFailureIn('team-c')]).toEqual([true, false]);
  });

  test.each<[string, string, boolean, string[]]>([
    ['clearing a failed namespace says there was one', 'team-a', true, ['team-b']],
    ['clearing a healthy namespace says there was none', 'team-c', false, ['team-a', 'team-b']],
  ])('%s', (_name, cleared, answer, left) => {
    const state = new CredentialState('uid-1', 'harbor');
    state.fail(failure('team-a'));
    state.fail(failure('team-b'));
    expect(state.clearFailure(cleared)).toBe(answer);
    expect(state.failureList().map((f) => f.namespace)).toEqual(left);
  });

  test('retainFailures keeps only the namespaces `keep` says yes to', () => {
    const state = new CredentialState('uid-1', 'harbor');
    for (const namespace of ['team-a', 'gone-1', 'team-b', 'gone-2']) state.fail(failure(namespace));
    state.retainFailures((namespace) => namespace.startsWith('team-'));
    expect(state.failureList().map((f) => f.namespace)).toEqual(['team-a', 'team-b']);
  });
});

describe('CredentialState changes', () => {
  test('drainChanges reports every change once, then nothing', () => {
    const state = new CredentialState('uid-1', 'harbor');
    state.recordChange('SecretCreated', 'team-a');
    state.recordChange('SecretCreated', 'team-b');
    state.recordChange('PullSecretAdded', 'team-a/default');
    expect(state.drainChanges()).toEqual([
      { reason: 'SecretCreated', message: 'created the pull secret in 2 namespaces: team-a, team-b', count: 2 },
      {
        reason: 'PullSecretAdded',
        message: 'added the pull secret to ServiceAccounts (1): team-a/default',
        count: 1,
      },
    ]);
    expect(state.drainChanges()).toEqual([]);
  });

  test('drainDueChanges paces a reason: at once after a quiet interval, then once per interval', () => {
    const state = new CredentialState('uid-1', 'harbor');
    state.recordChange('SecretUpdated', 'team-a');
    expect(state.drainDueChanges(1_000, 60_000).reports.map((r) => r.count)).toEqual([1]);
    state.recordChange('SecretUpdated', 'team-b');
    expect(state.drainDueChanges(2_000, 60_000)).toEqual({ reports: [], nextDueAt: 61_000 });
    expect(state.drainDueChanges(61_000, 60_000).reports.map((r) => r.message)).toEqual([
      'updated the pull secret in 1 namespace: team-b',
    ]);
  });
});

describe('CredentialStates', () => {
  test('the same name and uid: the same state, with what it remembers', () => {
    const states = new CredentialStates();
    const first = states.of(credential('harbor', { uid: 'uid-1' }));
    first.fail(failure('team-a'));
    expect(states.of(credential('harbor', { uid: 'uid-1' }))).toBe(first);
    expect(states.get('harbor')?.hasFailureIn('team-a')).toBe(true);
  });

  test('the same name with another uid starts afresh: nothing of the old object carries over', () => {
    const states = new CredentialStates();
    const old = states.of(credential('harbor', { uid: 'uid-1' }));
    old.fail(failure('team-a'));
    old.lastGood.set('{}', {});
    const fresh = states.of(credential('harbor', { uid: 'uid-2' }));
    expect(fresh).not.toBe(old);
    expect({ uid: fresh.uid, failures: fresh.failureList(), lastGood: fresh.lastGood.size }).toEqual({
      uid: 'uid-2',
      failures: [],
      lastGood: 0,
    });
    expect(states.get('harbor')).toBe(fresh);
  });

  test.each<[string, number | undefined, number]>([
    ['a new state takes the recovered-Pod count from status (it survives restarts)', 7, 7],
    ['no count in status: zero', undefined, 0],
  ])('%s', (_name, recoveredPods, expected) => {
    const states = new CredentialStates();
    const state = states.of(credential('harbor', { status: recoveredPods === undefined ? {} : { recoveredPods } }));
    expect(state.recoveredPods).toBe(expected);
  });

  test('an existing state keeps its own recovered-Pod count, whatever status says', () => {
    const states = new CredentialStates();
    states.of(credential('harbor', { status: { recoveredPods: 2 } })).recoveredPods = 5;
    expect(states.of(credential('harbor', { status: { recoveredPods: 2 } })).recoveredPods).toBe(5);
  });

  test('forget drops the state: the next of() starts afresh', () => {
    const states = new CredentialStates();
    const first = states.of(credential('harbor'));
    states.forget('harbor');
    expect(states.get('harbor')).toBeUndefined();
    expect(states.of(credential('harbor'))).not.toBe(first);
  });
});
