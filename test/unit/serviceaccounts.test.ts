import type { V1ServiceAccount } from '@kubernetes/client-node';
import { ANNOTATION_INJECTED } from '../../src/api/v1alpha1.js';
import {
  applyEdit,
  injectedBy,
  injectedFor,
  type PullSecretsEdit,
  serviceAccountEdit,
  withoutPullSecret,
  withPullSecret,
} from '../../src/controller/serviceaccounts.js';

// ---- builders ----------------------------------------------------------------------------------

/** An SA listing `pullSecrets` (in order); `injected` is the raw annotation value (or a map to serialize). */
function sa(
  pullSecrets: string[] | undefined,
  injected?: string | Record<string, unknown>,
  otherAnnotations: Record<string, string> = {},
): V1ServiceAccount {
  const annotations = { ...otherAnnotations };
  if (injected !== undefined)
    annotations[ANNOTATION_INJECTED] = typeof injected === 'string' ? injected : JSON.stringify(injected);
  return {
    metadata: { name: 'default', namespace: 'team-a', annotations },
    ...(pullSecrets ? { imagePullSecrets: pullSecrets.map((name) => ({ name })) } : {}),
  };
}

const names = (edit: PullSecretsEdit | undefined) => edit?.imagePullSecrets.map((e) => e.name);
const record = (edit: PullSecretsEdit | undefined) =>
  edit?.injected == null ? edit?.injected : (JSON.parse(edit.injected) as unknown);

/** Mangled annotation values: none of them records anything. */
const MANGLED: Array<[string, string]> = [
  ['not JSON', '{harbor: harbor'],
  ['a JSON array', '["harbor"]'],
  ['a JSON string', '"harbor"'],
  ['JSON null', 'null'],
  ['a JSON number', '42'],
  ['empty string', ''],
];

// ---- injectedBy --------------------------------------------------------------------------------

describe('injectedBy', () => {
  test.each<[string, V1ServiceAccount, Record<string, string>]>([
    ['no metadata', {}, {}],
    ['no annotation', sa(['a']), {}],
    ['a valid record', sa(['a'], { a: 'harbor', b: 'quay' }), { a: 'harbor', b: 'quay' }],
    [
      'non-string values are dropped',
      sa(['a'], { a: 'harbor', b: 1, c: null, d: { x: 1 }, e: ['x'] }),
      { a: 'harbor' },
    ],
    ...MANGLED.map(([name, raw]): [string, V1ServiceAccount, Record<string, string>] => [
      `mangled: ${name}`,
      sa(['a'], raw),
      {},
    ]),
  ])('%s', (_name, account, expected) => {
    expect(injectedBy(account)).toEqual(expected);
  });

  test('injectedFor lists only the entries of one credential', () => {
    expect(injectedFor(sa([], { a: 'harbor', b: 'quay', c: 'harbor' }), 'harbor').sort()).toEqual(['a', 'c']);
    expect(injectedFor(sa([], '{oops'), 'harbor')).toEqual([]);
  });
});

// ---- withPullSecret ----------------------------------------------------------------------------

describe('withPullSecret', () => {
  test.each<[string, V1ServiceAccount, string[], unknown]>([
    ['no imagePullSecrets at all', sa(undefined), ['harbor'], { harbor: 'harbor' }],
    ['empty list', sa([]), ['harbor'], { harbor: 'harbor' }],
    [
      'appended after foreign entries, their order kept',
      sa(['z-foreign', 'a-foreign', 'm-foreign']),
      ['z-foreign', 'a-foreign', 'm-foreign', 'harbor'],
      { harbor: 'harbor' },
    ],
    ['other records kept', sa(['quay'], { quay: 'quay' }), ['quay', 'harbor'], { harbor: 'harbor', quay: 'quay' }],
    ...MANGLED.map(([name, raw]): [string, V1ServiceAccount, string[], unknown] => [
      `mangled annotation (${name}) is replaced by a valid record`,
      sa(['b', 'a'], raw),
      ['b', 'a', 'harbor'],
      { harbor: 'harbor' },
    ]),
  ])('adds the entry: %s', (_name, account, expectedNames, expectedRecord) => {
    const edit = withPullSecret(account, 'harbor', 'harbor');
    expect(names(edit)).toEqual(expectedNames);
    expect(record(edit)).toEqual(expectedRecord);
  });

  test.each<[string, V1ServiceAccount]>([
    ['already added by us', sa(['a', 'harbor', 'b'], { harbor: 'harbor' })],
    ['listed by someone else (no record)', sa(['a', 'harbor'])],
    ['listed by someone else, records of others present', sa(['harbor', 'quay'], { quay: 'quay' })],
    ['listed, record mangled (treated as foreign)', sa(['harbor'], '{oops')],
  ])('undefined when the entry is already there: %s', (_name, account) => {
    expect(withPullSecret(account, 'harbor', 'harbor')).toBeUndefined();
  });

  test('an entry recorded for another credential is re-recorded for this one, list unchanged', () => {
    const edit = withPullSecret(sa(['a', 'shared'], { shared: 'old-cred' }), 'shared', 'harbor');
    expect(names(edit)).toEqual(['a', 'shared']);
    expect(record(edit)).toEqual({ shared: 'harbor' });
  });

  test('the entry is added once: applying the edit makes it converge', () => {
    let account = sa(['x']);
    const edit = withPullSecret(account, 'harbor', 'harbor')!;
    account = applyEdit(account, edit);
    expect(withPullSecret(account, 'harbor', 'harbor')).toBeUndefined();
    expect(account.imagePullSecrets!.filter((e) => e.name === 'harbor')).toHaveLength(1);
  });

  test('the annotation is serialized with sorted keys', () => {
    const edit = withPullSecret(sa([], { zeta: 'z', alpha: 'a' }), 'mid', 'harbor');
    expect(edit!.injected).toBe('{"alpha":"a","mid":"harbor","zeta":"z"}');
  });

  test('does not mutate the ServiceAccount', () => {
    const account = sa(['a'], { q: 'quay' });
    const before = structuredClone(account);
    withPullSecret(account, 'harbor', 'harbor');
    expect(account).toEqual(before);
  });
});

// ---- withoutPullSecret -------------------------------------------------------------------------

describe('withoutPullSecret', () => {
  test.each<[string, V1ServiceAccount, string | undefined, string[], unknown]>([
    ['our only entry; annotation removed', sa(['a', 'harbor', 'b'], { harbor: 'harbor' }), undefined, ['a', 'b'], null],
    ['foreign order kept', sa(['z', 'harbor', 'a', 'm'], { harbor: 'harbor' }), undefined, ['z', 'a', 'm'], null],
    [
      'records of other credentials kept',
      sa(['quay', 'harbor'], { harbor: 'harbor', quay: 'quay' }),
      undefined,
      ['quay'],
      { quay: 'quay' },
    ],
    ['every name we recorded', sa(['old', 'x', 'new'], { old: 'harbor', new: 'harbor' }), undefined, ['x'], null],
    [
      'only the named one',
      sa(['old', 'x', 'new'], { old: 'harbor', new: 'harbor' }),
      'old',
      ['x', 'new'],
      { new: 'harbor' },
    ],
    [
      'record without list entry (entry already removed by a user)',
      sa(['x'], { harbor: 'harbor' }),
      undefined,
      ['x'],
      null,
    ],
    ['record, no list at all', sa(undefined, { harbor: 'harbor' }), undefined, [], null],
  ])('%s', (_name, account, only, expectedNames, expectedRecord) => {
    const edit = withoutPullSecret(account, 'harbor', only);
    expect(names(edit)).toEqual(expectedNames);
    expect(record(edit)).toEqual(expectedRecord);
  });

  test.each<[string, V1ServiceAccount, string | undefined]>([
    ['no record: a same-named foreign entry is never removed', sa(['harbor']), undefined],
    ['entry recorded for another credential', sa(['harbor'], { harbor: 'quay' }), undefined],
    ['onlySecretName not recorded by us', sa(['harbor', 'x'], { harbor: 'harbor' }), 'x'],
    ...MANGLED.map(([name, raw]): [string, V1ServiceAccount, string | undefined] => [
      `mangled annotation (${name}) removes nothing`,
      sa(['harbor', 'a'], raw),
      undefined,
    ]),
  ])('undefined: %s', (_name, account, only) => {
    expect(withoutPullSecret(account, 'harbor', only)).toBeUndefined();
  });
});

// ---- serviceAccountEdit ------------------------------------------------------------------------

describe('serviceAccountEdit', () => {
  test.each<[string, V1ServiceAccount, string | undefined, string[], unknown]>([
    ['adds the wanted entry at the end', sa(['b', 'a']), 'harbor', ['b', 'a', 'harbor'], { harbor: 'harbor' }],
    [
      'renamed secretName: old entry out, new in, foreign order kept',
      sa(['z', 'old', 'a'], { old: 'harbor' }),
      'new',
      ['z', 'a', 'new'],
      { new: 'harbor' },
    ],
    ['renamed, new name already listed by someone else', sa(['new', 'old'], { old: 'harbor' }), 'new', ['new'], null],
    [
      'renamed twice (two stale entries)',
      sa(['o1', 'x', 'o2'], { o1: 'harbor', o2: 'harbor' }),
      'new',
      ['x', 'new'],
      { new: 'harbor' },
    ],
    [
      'renamed, records of another credential kept',
      sa(['q', 'old'], { q: 'quay', old: 'harbor' }),
      'new',
      ['q', 'new'],
      { new: 'harbor', q: 'quay' },
    ],
    ['no longer selected: our entry removed', sa(['a', 'harbor'], { harbor: 'harbor' }), undefined, ['a'], null],
    [
      'no longer selected: only our records removed',
      sa(['old', 'q', 'harbor'], { old: 'harbor', harbor: 'harbor', q: 'quay' }),
      undefined,
      ['q'],
      { q: 'quay' },
    ],
    [
      'mangled annotation: entry added, foreign list kept',
      sa(['harbor-old', 'x'], 'not json'),
      'harbor',
      ['harbor-old', 'x', 'harbor'],
      { harbor: 'harbor' },
    ],
  ])('%s', (_name, account, wanted, expectedNames, expectedRecord) => {
    const edit = serviceAccountEdit(account, 'harbor', wanted);
    expect(names(edit)).toEqual(expectedNames);
    expect(record(edit)).toEqual(expectedRecord);
    // One edit is enough: applying it converges.
    expect(serviceAccountEdit(applyEdit(account, edit!), 'harbor', wanted)).toBeUndefined();
  });

  test.each<[string, V1ServiceAccount, string | undefined]>([
    ['wanted and already ours', sa(['a', 'harbor'], { harbor: 'harbor' }), 'harbor'],
    ['wanted and listed by someone else', sa(['harbor']), 'harbor'],
    ['not wanted and not ours', sa(['harbor', 'a']), undefined],
    ['not wanted, only other credentials recorded', sa(['q'], { q: 'quay' }), undefined],
    ['not wanted, mangled annotation', sa(['harbor'], '[1,2]'), undefined],
    ['not wanted, nothing at all', sa(undefined), undefined],
  ])('undefined when already right: %s', (_name, account, wanted) => {
    expect(serviceAccountEdit(account, 'harbor', wanted)).toBeUndefined();
  });
});

// ---- applyEdit ---------------------------------------------------------------------------------

describe('applyEdit', () => {
  test.each<[string, PullSecretsEdit, Record<string, string>]>([
    [
      'sets the annotation, keeps other annotations',
      { imagePullSecrets: [{ name: 'x' }], injected: '{"x":"harbor"}' },
      { keep: 'me', [ANNOTATION_INJECTED]: '{"x":"harbor"}' },
    ],
    ['null removes the annotation, keeps other annotations', { imagePullSecrets: [], injected: null }, { keep: 'me' }],
  ])('%s', (_name, edit, annotations) => {
    const account = sa(['old'], { old: 'harbor' }, { keep: 'me' });
    const before = structuredClone(account);
    const next = applyEdit(account, edit);
    expect(next.metadata!.annotations).toEqual(annotations);
    expect(next.imagePullSecrets).toEqual(edit.imagePullSecrets);
    expect(next.metadata!.name).toBe('default');
    expect(account).toEqual(before);
  });
});
