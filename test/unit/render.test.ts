// cli/render.ts: what `kubectl regcred doctor` and `kubectl regcred status` print for people.
import { renderDiagnoses, renderStatus } from '../../src/cli/render.js';
import type { CredentialFact, Diagnosis, Step } from '../../src/cli/diagnosis.js';

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

describe('renderStatus', () => {
  const fact = (name: string, status?: Record<string, unknown>): CredentialFact => ({
    name,
    spec: {},
    ...(status ? { status: status as CredentialFact['status'] } : {}),
  });

  test('no credentials', () => {
    expect(renderStatus([])).toBe('No RegistryCredentials.\n');
  });

  test('one row per credential, columns aligned; the reason only when not Ready', () => {
    const text = renderStatus([
      fact('harbor', {
        conditions: [
          { type: 'Ready', status: 'True', reason: 'Ready' },
          { type: 'CredentialsVerified', status: 'True', reason: 'Verified' },
        ],
        namespaces: { selected: 3, ready: 3 },
        credentialsExpireAt: '2026-12-07T12:00:00Z',
        recoveredPods: 2,
      }),
      fact('ecr-long-name', {
        conditions: [
          { type: 'Ready', status: 'False', reason: 'SourceFailed' },
          { type: 'CredentialsVerified', status: 'False', reason: 'Unauthorized' },
        ],
        namespaces: { selected: 2, ready: 0 },
      }),
      fact('fresh'),
    ]);
    expect(text).toBe(
      [
        'NAME           READY    NAMESPACES  EXPIRES               VERIFIED              RECOVERED  REASON',
        'harbor         True     3/3         2026-12-07T12:00:00Z  True                  2',
        'ecr-long-name  False    0/2         -                     False (Unauthorized)  -          SourceFailed',
        'fresh          Unknown  -           -                     -                     -',
        '',
      ].join('\n'),
    );
  });
});
