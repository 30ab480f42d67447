// The self-managed webhook certificate's rotation decision (src/webhook/rotation.ts), table-driven.
import {
  decideRotation,
  desiredBundle,
  type RotationInput,
  type StoredCertificates,
} from '../../src/webhook/rotation.js';

const MIN = 60_000;
const policy = { caLifetimeMs: 300 * MIN, servingLifetimeMs: 30 * MIN, propagationMs: MIN, names: ['a.svc'] };
const cert = (fingerprint: string, notBefore: number, lifetime: number) => ({
  fingerprint,
  notBefore,
  notAfter: notBefore + lifetime,
});
const ca = (fp: string, from = 0) => cert(fp, from, policy.caLifetimeMs);
const serving = (fp: string, from = 0, names = ['a.svc']) => ({ ...cert(fp, from, policy.servingLifetimeMs), names });
const stable: StoredCertificates = { ca: ca('A'), serving: serving('s1') };

const input = (
  stored: StoredCertificates | undefined,
  bundle: string[] | undefined,
  now: number,
  configuration: RotationInput['configuration'] = bundle === undefined ? 'absent' : 'owner',
): RotationInput => ({ stored, bundle, configuration, now, policy });

describe('decideRotation', () => {
  test.each<[string, RotationInput, ReturnType<typeof decideRotation>]>([
    ['no Secret: bootstrap', input(undefined, [], 0), { action: 'bootstrap', reason: 'missing' }],
    [
      'no Secret and no configuration: wait for it (a Secret then would have no owner)',
      input(undefined, undefined, 0),
      { action: 'wait', until: MIN, waitingFor: 'configuration' },
    ],
    ['a Secret the configuration does not own: adopt it', input(stable, ['A'], MIN, 'notOwner'), { action: 'adopt' }],
    [
      'not owned and no serving certificate: the renewal (which sets the owner) first',
      input({ ca: ca('A') }, ['A'], MIN, 'notOwner'),
      { action: 'renewServing', reason: 'missing' },
    ],
    [
      'no readable CA: bootstrap',
      input({ serving: serving('s1') }, ['A'], 0),
      { action: 'bootstrap', reason: 'unreadable' },
    ],
    ['expired CA: bootstrap', input(stable, ['A'], 300 * MIN), { action: 'bootstrap', reason: 'expired' }],
    ['no serving certificate', input({ ca: ca('A') }, ['A'], MIN), { action: 'renewServing', reason: 'missing' }],
    [
      'serving certificate for other names',
      input({ ca: ca('A'), serving: serving('s1', 0, ['old.svc']) }, ['A'], MIN),
      { action: 'renewServing', reason: 'names' },
    ],
    ['empty caBundle: patch it', input(stable, [], MIN), { action: 'patchBundle', bundle: ['A'] }],
    ['a foreign CA in the bundle: patch it', input(stable, ['X', 'A'], MIN), { action: 'patchBundle', bundle: ['A'] }],
    [
      'no configuration: wait for one',
      input(stable, undefined, MIN),
      { action: 'wait', until: 2 * MIN, waitingFor: 'configuration' },
    ],
    ['stable: wait for the serving renewal', input(stable, ['A'], MIN), { action: 'wait', until: 20 * MIN }],
    [
      'two thirds of the serving certificate passed: renew',
      input(stable, ['A'], 20 * MIN),
      { action: 'renewServing', reason: 'expiring' },
    ],
    [
      'two thirds of the CA passed: stage a new one',
      input({ ca: ca('A'), serving: serving('s9', 195 * MIN) }, ['A'], 200 * MIN),
      { action: 'stageCa' },
    ],
    [
      'staged CA not in the bundle yet: bundle both, the active one first',
      input(
        { ca: ca('A'), serving: serving('s9', 195 * MIN), nextCa: ca('B', 200 * MIN), nextCaSince: 200 * MIN },
        ['A'],
        200 * MIN,
      ),
      { action: 'patchBundle', bundle: ['A', 'B'] },
    ],
    [
      'both in the bundle, propagation not over: wait',
      input(
        { ca: ca('A'), serving: serving('s9', 195 * MIN), nextCa: ca('B', 200 * MIN), nextCaSince: 200 * MIN },
        ['A', 'B'],
        200 * MIN + 1,
      ),
      { action: 'wait', until: 201 * MIN },
    ],
    [
      'both in the bundle for the propagation time: promote',
      input(
        { ca: ca('A'), serving: serving('s9', 195 * MIN), nextCa: ca('B', 200 * MIN), nextCaSince: 200 * MIN },
        ['A', 'B'],
        201 * MIN,
      ),
      { action: 'promoteCa' },
    ],
    [
      'promoted: the bundle keeps the former CA, wait for the replicas',
      input(
        { ca: ca('B', 200 * MIN), serving: serving('s10', 201 * MIN), previousCa: ca('A'), previousCaSince: 201 * MIN },
        ['B', 'A'],
        201 * MIN + 1,
      ),
      { action: 'wait', until: 202 * MIN },
    ],
    [
      'promoted, bundle still in the staged order: reorder, keeping both',
      input(
        { ca: ca('B', 200 * MIN), serving: serving('s10', 201 * MIN), previousCa: ca('A'), previousCaSince: 201 * MIN },
        ['A', 'B'],
        201 * MIN + 1,
      ),
      { action: 'patchBundle', bundle: ['B', 'A'] },
    ],
    [
      'the replicas had the propagation time: retire the former CA',
      input(
        { ca: ca('B', 200 * MIN), serving: serving('s10', 201 * MIN), previousCa: ca('A'), previousCaSince: 201 * MIN },
        ['B', 'A'],
        202 * MIN,
      ),
      { action: 'retireCa' },
    ],
    [
      'retired from the Secret: the bundle follows',
      input({ ca: ca('B', 200 * MIN), serving: serving('s10', 201 * MIN) }, ['B', 'A'], 202 * MIN),
      { action: 'patchBundle', bundle: ['B'] },
    ],
    [
      'a staged CA waits while a former one is still bundled',
      input(
        {
          ca: ca('B', 0),
          serving: serving('s10', 0),
          previousCa: ca('A'),
          previousCaSince: 0,
          nextCa: ca('C'),
          nextCaSince: 0,
        },
        ['B', 'C', 'A'],
        MIN / 2,
      ),
      { action: 'wait', until: MIN },
    ],
    [
      'a staged CA without its time: promoted at once',
      input({ ca: ca('A'), serving: serving('s1'), nextCa: ca('B') }, ['A', 'B'], MIN),
      { action: 'promoteCa' },
    ],
  ])('%s', (_name, given, expected) => {
    expect(decideRotation(given)).toEqual(expected);
  });

  test('the bundle never lacks the CA of the served certificate through a whole CA rotation', () => {
    // Walk the steps as the leader applies them; before and after each, the bundle trusts the active CA.
    let stored: StoredCertificates = { ca: ca('A'), serving: serving('s1', 195 * MIN) };
    let bundle = ['A'];
    let now = 200 * MIN;
    const seen: string[] = [];
    for (let i = 0; i < 20; i++) {
      const step = decideRotation({ stored, bundle, configuration: 'owner', now, policy });
      seen.push(step.action);
      if (step.action === 'wait') {
        if (seen.filter((action) => action === 'retireCa').length > 0 && bundle.length === 1) break;
        now = step.until;
        continue;
      }
      if (step.action === 'stageCa') stored = { ...stored, nextCa: ca('B', now), nextCaSince: now };
      if (step.action === 'patchBundle') bundle = step.bundle;
      if (step.action === 'promoteCa')
        stored = { ca: stored.nextCa!, serving: serving('s2', now), previousCa: stored.ca!, previousCaSince: now };
      if (step.action === 'retireCa') stored = { ca: stored.ca, serving: stored.serving };
      if (step.action === 'renewServing') stored = { ...stored, serving: serving('s3', now) };
      expect(bundle).toContain(stored.ca!.fingerprint);
    }
    expect(seen).toEqual([
      'stageCa',
      'patchBundle',
      'wait',
      'promoteCa',
      'patchBundle',
      'wait',
      'retireCa',
      'patchBundle',
      'wait',
    ]);
    expect(bundle).toEqual(['B']);
  });

  test('desiredBundle: active, staged, former', () => {
    expect(desiredBundle({ ca: ca('A'), nextCa: ca('B'), previousCa: ca('C') })).toEqual(['A', 'B', 'C']);
  });
});
