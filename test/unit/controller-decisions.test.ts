// The controllers' pure decisions, each on a literal input (no API, no queue): the survey of a
// credential's namespaces (namespacescan.ts), the namespace keys a fan-out queues
// (credentialcontroller.ts) and what a namespace key does (namespacecontroller.ts).
import type { V1Secret, V1ServiceAccount } from '@kubernetes/client-node';
import type { RegistryCredential } from '../../src/api/v1alpha1.js';
import { namespacesToQueue } from '../../src/controller/credentialcontroller.js';
import type { CredentialDecision } from '../../src/controller/credentialstate.js';
import { desiredSecret } from '../../src/controller/desired.js';
import {
  FIRST_SERVICE_ACCOUNT_WAIT_MS,
  firstServiceAccountWait,
  namespaceAction,
} from '../../src/controller/namespacecontroller.js';
import { mergeSurveys, type NamespaceView, surveyNamespaces } from '../../src/controller/namespacescan.js';
import { credential, deletingNamespace, namespace, ownedCopy, serviceAccount, spec } from '../support/builders.js';

const DOC = '{"auths":{"harbor.example.com":{"auth":"dTpw"}}}';
const cred: RegistryCredential = credential('harbor', { uid: 'uid-harbor', generation: 2 });
const decision = (extra: Record<string, unknown> = {}, over: Partial<CredentialDecision> = {}): CredentialDecision => ({
  uid: 'uid-harbor',
  generation: 2,
  spec: spec({ namespaceSelector: { matchLabels: { team: 'x' } }, ...extra }),
  secretName: 'harbor',
  sources: { document: DOC, tokens: {} },
  ...over,
});
const copy = (ns: string, name = 'harbor') => desiredSecret(cred, ns, name, DOC) as V1Secret;
const sa = (ns: string, entries: string[], injected?: Record<string, string>) =>
  serviceAccount(ns, 'default', entries, injected ? { injected } : {}) as V1ServiceAccount;
/** A namespace of the team (selected) or not, holding `secrets` and a default SA with `entries`. */
const view = (
  name: string,
  options: { selected?: boolean; secrets?: V1Secret[]; entries?: string[]; ours?: boolean; failed?: boolean } = {},
): NamespaceView => ({
  name,
  namespace: namespace(name, options.selected === false ? {} : { team: 'x' }) as never,
  secrets: options.secrets ?? [],
  serviceAccounts: [sa(name, options.entries ?? [], options.ours ? { harbor: 'harbor' } : undefined)],
  failed: options.failed ?? false,
});
const converged = (name: string) => view(name, { secrets: [copy(name)], entries: ['harbor'], ours: true });

describe('surveyNamespaces', () => {
  test.each<
    [
      string,
      NamespaceView[],
      { selected: string[]; ready: number; unconverged: string[]; leftovers: string[]; stale: string[] },
    ]
  >([
    ['converged: ready', [converged('a')], { selected: ['a'], ready: 1, unconverged: [], leftovers: ['a'], stale: [] }],
    [
      'no copy yet: not ready',
      [view('a')],
      { selected: ['a'], ready: 0, unconverged: ['a'], leftovers: [], stale: [] },
    ],
    [
      'converged but failed: not ready',
      [{ ...converged('a'), failed: true }],
      { selected: ['a'], ready: 0, unconverged: ['a'], leftovers: ['a'], stale: [] },
    ],
    [
      'out of the selection with our copy: a leftover, not selected',
      [{ ...converged('a'), namespace: namespace('a', {}) as never }],
      { selected: [], ready: 0, unconverged: [], leftovers: ['a'], stale: [] },
    ],
    [
      'a copy under a previous secretName: stale, and not converged',
      [view('a', { secrets: [copy('a', 'old')], entries: ['old'], ours: false })],
      { selected: ['a'], ready: 0, unconverged: ['a'], leftovers: ['a'], stale: ['a'] },
    ],
    [
      'a foreign Secret of that name is not ours',
      [view('a', { secrets: [ownedCopy('a', 'harbor', 'other', DOC) as never] })],
      { selected: ['a'], ready: 0, unconverged: ['a'], leftovers: [], stale: [] },
    ],
  ])('%s', (_name, namespaces, expected) => {
    const survey = surveyNamespaces({ cred, decision: decision(), namespaces });
    expect({
      selected: survey.selected,
      ready: survey.ready,
      unconverged: survey.unconverged.map((u) => u.name),
      leftovers: [...survey.withLeftovers],
      stale: [...survey.withStaleSecret],
    }).toEqual(expected);
  });

  test('secretless (kubelet delivery only): a selected namespace is ready once nothing of ours is in it', () => {
    const secretless = decision({ delivery: { secrets: false, kubelet: true } });
    const survey = surveyNamespaces({ cred, decision: secretless, namespaces: [view('clean'), converged('left')] });
    expect({ ready: survey.ready, unconverged: survey.unconverged.map((u) => u.name) }).toEqual({
      ready: 1,
      unconverged: ['left'],
    });
  });

  test('surveyed slice by slice and merged: the same as in one go', () => {
    const all = [converged('a'), view('b'), view('c', { selected: false }), converged('d')];
    const whole = surveyNamespaces({ cred, decision: decision(), namespaces: all });
    const merged = mergeSurveys(
      surveyNamespaces({ cred, decision: decision(), namespaces: all.slice(0, 2) }),
      surveyNamespaces({ cred, decision: decision(), namespaces: all.slice(2) }),
    );
    expect(merged).toEqual(whole);
  });
});

describe('namespacesToQueue: the namespace keys a fan-out queues', () => {
  const survey = surveyNamespaces({
    cred,
    decision: decision(),
    namespaces: [
      converged('ready'),
      view('new'),
      view('failing', { failed: true }),
      { ...converged('left'), namespace: namespace('left', {}) as never },
      view('renamed', { secrets: [copy('renamed', 'old'), copy('renamed')], entries: ['harbor'], ours: true }),
    ],
  });
  test.each<[string, Record<string, unknown>, boolean, string[]]>([
    [
      'the same spec: the new one, the renamed one and the one that left; a failing one waits for its backoff',
      {},
      false,
      ['new', 'left', 'renamed'],
    ],
    ['a new spec: the failing one too', {}, true, ['new', 'failing', 'left', 'renamed']],
    ['suspended: none', { suspend: true }, true, []],
  ])('%s', (_name, extra, specChanged, expected) => {
    expect([...namespacesToQueue(survey, decision(extra).spec!, specChanged)]).toEqual(expected);
  });
});

describe('namespaceAction: what a namespace key does', () => {
  const deleting = {
    ...cred,
    metadata: { ...cred.metadata, deletionTimestamp: '2026-12-07T00:00:00Z' },
  } as RegistryCredential;
  test.each<[string, Parameters<typeof namespaceAction>[0], string]>([
    ['the namespace is gone', { cred, decision: decision() }, 'leave'],
    [
      'the namespace is being deleted',
      { cred, namespace: deletingNamespace('a', { team: 'x' }), decision: decision() },
      'leave',
    ],
    ['the credential is gone: clean', { namespace: namespace('a', { team: 'x' }) as never }, 'clean'],
    [
      'the credential is being deleted: clean',
      { cred: deleting, namespace: namespace('a') as never, decision: decision() },
      'clean',
    ],
    [
      'no decision yet: the credential key first',
      { cred, namespace: namespace('a', { team: 'x' }) as never },
      'decideFirst',
    ],
    [
      'a decision for an older generation: the credential key first',
      { cred, namespace: namespace('a', { team: 'x' }) as never, decision: decision({}, { generation: 1 }) },
      'decideFirst',
    ],
    [
      'an invalid spec: hold',
      {
        cred,
        namespace: namespace('a', { team: 'x' }) as never,
        decision: decision({}, { spec: undefined, specError: 'bad' }),
      },
      'hold',
    ],
    [
      'suspended: hold',
      { cred, namespace: namespace('a', { team: 'x' }) as never, decision: decision({ suspend: true }) },
      'hold',
    ],
    [
      'out of the selection: deselect',
      { cred, namespace: namespace('a', {}) as never, decision: decision() },
      'deselect',
    ],
    [
      'selected: converge',
      { cred, namespace: namespace('a', { team: 'x' }) as never, decision: decision() },
      'converge',
    ],
  ])('%s', (_name, input, kind) => {
    expect(namespaceAction(input).kind).toBe(kind);
  });
});

describe("firstServiceAccountWait: a new namespace's Secret waits for its first ServiceAccount", () => {
  const W = FIRST_SERVICE_ACCOUNT_WAIT_MS;
  test.each<[string, Parameters<typeof firstServiceAccountWait>[0], number]>([
    ['the Secret exists: write now', { secretExists: true, serviceAccounts: 0, waitingSinceMs: 0, nowMs: 0 }, 0],
    ['a ServiceAccount exists: write now', { secretExists: false, serviceAccounts: 1, waitingSinceMs: 0, nowMs: 0 }, 0],
    [
      'none yet, just found: the whole wait',
      { secretExists: false, serviceAccounts: 0, waitingSinceMs: 5, nowMs: 5 },
      W,
    ],
    [
      'none yet, some time later: the rest',
      { secretExists: false, serviceAccounts: 0, waitingSinceMs: 0, nowMs: 300 },
      W - 300,
    ],
    [
      'none after the whole wait: write now',
      { secretExists: false, serviceAccounts: 0, waitingSinceMs: 0, nowMs: W },
      0,
    ],
    ['none long after: write now', { secretExists: false, serviceAccounts: 0, waitingSinceMs: 0, nowMs: 10 * W }, 0],
  ])('%s', (_name, input, expected) => {
    expect(firstServiceAccountWait(input)).toBe(expected);
  });
});
