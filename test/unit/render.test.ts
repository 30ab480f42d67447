// cli/render.ts: what `kubectl regcred doctor` prints for people: the verdict first, then the chain.
import type { Diagnosis, Step } from '../../src/cli/diagnosis.js';
import { renderDiagnoses } from '../../src/cli/render.js';

const step = (status: Step['status'], title: string, extra: Partial<Step> = {}): Step => ({
  id: 'secrets',
  title,
  status,
  details: [],
  ...extra,
});
const diagnosis = (verdict: Diagnosis['verdict'], steps: Step[], container?: string): Diagnosis => ({
  image: 'harbor.example.com/team/app:1',
  ...(container ? { container } : {}),
  verdict,
  summary: `the pull ${verdict === 'broken' ? 'fails' : 'works'}`,
  steps,
});

describe('renderDiagnoses', () => {
  test.each<[string, Diagnosis[], string]>([
    ['nothing broken', [diagnosis('ok', [])], '✔ pod/x: no broken link'],
    [
      'nothing broken, one image not checked',
      [diagnosis('ok', []), diagnosis('unknown', [])],
      '✔ pod/x: no broken link (not checked against the registry)',
    ],
    ['one of one broken', [diagnosis('broken', [])], '✘ pod/x: 1 of 1 image would not pull'],
    ['one of two broken', [diagnosis('broken', []), diagnosis('ok', [])], '✘ pod/x: 1 of 2 images would not pull'],
  ])('the verdict first: %s', (_name, diagnoses, first) => {
    expect(renderDiagnoses('pod/x', diagnoses).split('\n')[0]).toBe(first);
  });

  test('each image: its verdict, summary, the chain with a mark per step, details and the fix under the broken link', () => {
    const text = renderDiagnoses('pod/x', [
      diagnosis(
        'broken',
        [
          step('ok', 'the image reference parses'),
          step('broken', 'the Secret exists', {
            details: ['Secret harbor not found in team-a'],
            fix: 'label the namespace',
          }),
          step('skipped', 'the registry accepts it'),
        ],
        'web',
      ),
    ]);
    expect(text).toBe(
      [
        '✘ pod/x: 1 of 1 image would not pull',
        '',
        '✘ container web: harbor.example.com/team/app:1',
        '  the pull fails',
        '  ✔ the image reference parses',
        '  ✘ the Secret exists',
        '      Secret harbor not found in team-a',
        '      fix: label the namespace',
        '  - the registry accepts it',
        '',
      ].join('\n'),
    );
  });

  test.each<[Step['status'], string]>([
    ['warning', '!'],
    ['info', '·'],
  ])('a %s step is marked %s', (status, mark) => {
    expect(renderDiagnoses('x', [diagnosis('unknown', [step(status, 't')])])).toContain(`  ${mark} t\n`);
  });
});
