import type { V1ObjectMeta } from '@kubernetes/client-node';
import { ANNOTATION_TEMPLATED } from '../../src/api/v1alpha1.js';
import { templatedKeysOf, templatedMetadata, withTemplate } from '../../src/controller/secrettemplate.js';

const MANAGED = { 'app.kubernetes.io/managed-by': 'regcred-operator', 'regcred.io/credential': 'harbor' };
const record = (labels: string[], annotations: string[] = []) =>
  JSON.stringify({ ...(annotations.length ? { annotations } : {}), ...(labels.length ? { labels } : {}) });

describe('templatedMetadata', () => {
  test('no template: the operator labels only, no annotations', () => {
    expect(templatedMetadata(undefined, MANAGED)).toEqual({ labels: MANAGED });
  });

  test('an empty template is no template', () => {
    expect(templatedMetadata({ labels: {}, annotations: {} }, MANAGED)).toEqual({ labels: MANAGED });
  });

  test('labels and annotations of the template, and the record of their keys', () => {
    expect(
      templatedMetadata(
        {
          labels: { team: 'payments', 'argocd.argoproj.io/secret-type': 'repository' },
          annotations: { 'argocd.argoproj.io/compare-options': 'IgnoreExtraneous' },
        },
        MANAGED,
      ),
    ).toEqual({
      labels: { team: 'payments', 'argocd.argoproj.io/secret-type': 'repository', ...MANAGED },
      annotations: {
        'argocd.argoproj.io/compare-options': 'IgnoreExtraneous',
        [ANNOTATION_TEMPLATED]: record(
          ['argocd.argoproj.io/secret-type', 'team'],
          ['argocd.argoproj.io/compare-options'],
        ),
      },
    });
  });

  test("the operator's labels win over the template's", () => {
    const { labels } = templatedMetadata({ labels: { 'regcred.io/credential': 'other', team: 'a' } }, MANAGED);
    expect(labels).toEqual({ ...MANAGED, team: 'a' });
  });
});

describe('templatedKeysOf', () => {
  const meta = (raw?: string): V1ObjectMeta =>
    raw === undefined ? {} : { annotations: { [ANNOTATION_TEMPLATED]: raw } };
  test.each<[string, V1ObjectMeta | undefined, { labels: string[]; annotations: string[] }]>([
    ['no metadata', undefined, { labels: [], annotations: [] }],
    ['no record', meta(), { labels: [], annotations: [] }],
    ['a record', meta(record(['a', 'b'], ['c'])), { labels: ['a', 'b'], annotations: ['c'] }],
    ['labels only', meta(record(['a'])), { labels: ['a'], annotations: [] }],
    ['not JSON', meta('{labels'), { labels: [], annotations: [] }],
    ['JSON null', meta('null'), { labels: [], annotations: [] }],
    ['wrong shapes', meta('{"labels":"a","annotations":[1,"b"]}'), { labels: [], annotations: ['b'] }],
  ])('%s', (_name, metadata, expected) => {
    expect(templatedKeysOf(metadata)).toEqual(expected);
  });
});

describe('withTemplate', () => {
  const desired = (labels: Record<string, string>, annotations?: Record<string, string>) =>
    templatedMetadata({ labels, annotations }, MANAGED);

  test.each<
    [
      string,
      V1ObjectMeta,
      V1ObjectMeta,
      { labels: Record<string, string>; annotations?: Record<string, string>; changed: boolean },
    ]
  >([
    [
      'nothing to do without a template',
      { labels: { ...MANAGED } },
      desired({}),
      { labels: MANAGED, annotations: undefined, changed: false },
    ],
    [
      'foreign labels and annotations are kept',
      { labels: { ...MANAGED, theirs: 'x' }, annotations: { note: 'n' } },
      desired({}),
      { labels: { ...MANAGED, theirs: 'x' }, annotations: { note: 'n' }, changed: false },
    ],
    [
      'a template label is added with its record',
      { labels: { ...MANAGED, theirs: 'x' } },
      desired({ team: 'a' }),
      {
        labels: { ...MANAGED, theirs: 'x', team: 'a' },
        annotations: { [ANNOTATION_TEMPLATED]: record(['team']) },
        changed: true,
      },
    ],
    [
      'already applied',
      { labels: { ...MANAGED, team: 'a' }, annotations: { [ANNOTATION_TEMPLATED]: record(['team']) } },
      desired({ team: 'a' }),
      { labels: { ...MANAGED, team: 'a' }, annotations: { [ANNOTATION_TEMPLATED]: record(['team']) }, changed: false },
    ],
    [
      'a template value someone edited is restored',
      { labels: { ...MANAGED, team: 'b' }, annotations: { [ANNOTATION_TEMPLATED]: record(['team']) } },
      desired({ team: 'a' }),
      { labels: { ...MANAGED, team: 'a' }, annotations: { [ANNOTATION_TEMPLATED]: record(['team']) }, changed: true },
    ],
    [
      'a label taken out of the template goes, a foreign one stays',
      {
        labels: { ...MANAGED, team: 'a', tier: 'gold', theirs: 'x' },
        annotations: { [ANNOTATION_TEMPLATED]: record(['team', 'tier']) },
      },
      desired({ team: 'a' }),
      {
        labels: { ...MANAGED, team: 'a', theirs: 'x' },
        annotations: { [ANNOTATION_TEMPLATED]: record(['team']) },
        changed: true,
      },
    ],
    [
      'the whole template removed: its keys and the record go',
      {
        labels: { ...MANAGED, team: 'a', theirs: 'x' },
        annotations: { a: '1', note: 'n', [ANNOTATION_TEMPLATED]: record(['team'], ['a']) },
      },
      desired({}),
      { labels: { ...MANAGED, theirs: 'x' }, annotations: { note: 'n' }, changed: true },
    ],
    [
      'a label someone else added with the same key as a removed template key is not told apart: it goes',
      { labels: { ...MANAGED, team: 'theirs-now' }, annotations: { [ANNOTATION_TEMPLATED]: record(['team']) } },
      desired({}),
      { labels: MANAGED, annotations: {}, changed: true },
    ],
    [
      'annotation changes',
      { labels: { ...MANAGED }, annotations: { a: 'old', [ANNOTATION_TEMPLATED]: record([], ['a']) } },
      desired({}, { a: 'new' }),
      { labels: MANAGED, annotations: { a: 'new', [ANNOTATION_TEMPLATED]: record([], ['a']) }, changed: true },
    ],
    [
      'the operator labels are restored whatever the record says',
      {
        labels: { team: 'a' },
        annotations: { [ANNOTATION_TEMPLATED]: record(['app.kubernetes.io/managed-by', 'team']) },
      },
      desired({ team: 'a' }),
      { labels: { ...MANAGED, team: 'a' }, annotations: { [ANNOTATION_TEMPLATED]: record(['team']) }, changed: true },
    ],
    [
      'a mangled record removes nothing',
      { labels: { ...MANAGED, team: 'a' }, annotations: { [ANNOTATION_TEMPLATED]: 'garbage' } },
      desired({}),
      { labels: { ...MANAGED, team: 'a' }, annotations: {}, changed: true },
    ],
    [
      'label keys that are Object.prototype names',
      { labels: { ...MANAGED, constructor: 'x' }, annotations: { [ANNOTATION_TEMPLATED]: record(['constructor']) } },
      desired({}),
      { labels: MANAGED, annotations: {}, changed: true },
    ],
  ])('%s', (_name, existing, wanted, expected) => {
    expect(withTemplate(existing, wanted)).toEqual(expected);
  });
});
