// The verification scheduler with a fake clock and a fake check: sharing, intervals, a changed
// credential checked at once, bounded concurrency, owners told only of changes.
import { checkKey, Verifier } from '../../src/registry/verifier.js';
import type { CheckRequest, CheckResult } from '../../src/registry/v2.js';
import { FakeClock } from '../support/fake-clock.js';

const HOUR = 3_600_000;
const ok: CheckResult = { state: 'Verified', reason: 'Verified', message: 'ok', requests: 2 };
const refused: CheckResult = { state: 'Failed', reason: 'Unauthorized', message: '401', requests: 2 };

function setup(answer: (request: CheckRequest) => CheckResult | Promise<CheckResult> = () => ok, concurrency = 4) {
  const clock = new FakeClock();
  const calls: CheckRequest[] = [];
  const changed: string[][] = [];
  const verifier = new Verifier({
    clock,
    concurrency,
    check: async (request) => {
      calls.push(request);
      return answer(request);
    },
    onChange: (owners) => changed.push(owners.sort()),
  });
  return { clock, calls, changed, verifier };
}
const settle = () => new Promise((resolve) => setImmediate(resolve));
const check = (password = 'pw', intervalMs = HOUR) => ({
  server: 'r.example.com',
  username: 'u',
  password,
  intervalMs,
});

test('one check for two credentials with the same server and credential; both told of its result', async () => {
  const { calls, changed, verifier } = setup();
  expect(verifier.want('a', [check()])).toEqual([undefined]);
  expect(verifier.want('b', [check()])).toEqual([undefined]);
  await settle();
  expect(calls).toHaveLength(1);
  expect(changed).toEqual([['a', 'b']]);
  expect(verifier.want('a', [check()])[0]).toMatchObject({ state: 'Verified' });
});

test('checked again every interval (the shortest wanted); an unchanged result tells nobody', async () => {
  const { clock, calls, changed, verifier } = setup();
  verifier.want('a', [check('pw', HOUR)]);
  await settle();
  verifier.want('b', [check('pw', HOUR / 4)]);
  clock.advance(HOUR / 4 - 1);
  await settle();
  expect(calls).toHaveLength(1);
  clock.advance(1);
  await settle();
  expect(calls).toHaveLength(2);
  expect(changed).toHaveLength(1);
});

test('a changed credential is another check: run at once, the old one dropped', async () => {
  const { calls, verifier } = setup((r) => (r.password === 'new' ? ok : refused));
  verifier.want('a', [check('old')]);
  await settle();
  expect(verifier.want('a', [check('old')])[0]).toMatchObject({ reason: 'Unauthorized' });
  expect(verifier.want('a', [check('new')])).toEqual([undefined]);
  await settle();
  expect(calls.map((c) => c.password)).toEqual(['old', 'new']);
  expect(verifier.size).toBe(1);
  expect(verifier.want('a', [check('new')])[0]).toMatchObject({ state: 'Verified' });
});

test('at most `concurrency` checks at once; a hanging registry holds only its own slot', async () => {
  let release!: () => void;
  const hanging = new Promise<CheckResult>((resolve) => (release = () => resolve(ok)));
  const { calls, verifier } = setup((r) => (r.server === 'hang.example.com' ? hanging : ok), 2);
  verifier.want('a', [
    { ...check(), server: 'hang.example.com' },
    { ...check(), server: 'x.example.com' },
    { ...check(), server: 'y.example.com' },
  ]);
  await settle();
  expect(calls.map((c) => c.server)).toEqual(['hang.example.com', 'x.example.com', 'y.example.com']);
  const outcomes = verifier.want('a', [
    { ...check(), server: 'hang.example.com' },
    { ...check(), server: 'x.example.com' },
    { ...check(), server: 'y.example.com' },
  ]);
  expect(outcomes.map((o) => o?.state)).toEqual([undefined, 'Verified', 'Verified']);
  release();
  await settle();
});

test('forget: the checks nobody wants any more stop', async () => {
  const { clock, calls, verifier } = setup();
  verifier.want('a', [check()]);
  await settle();
  verifier.forget('a');
  expect(verifier.size).toBe(0);
  clock.advance(2 * HOUR);
  await settle();
  expect(calls).toHaveLength(1);
});

test('checkKey holds no secret and differs when anything that changes the answer differs', () => {
  const base = { server: 's', username: 'u', password: 'p4ssw0rd' };
  expect(checkKey(base)).not.toContain('p4ssw0rd');
  const keys = new Set(
    [
      base,
      { ...base, password: 'q' },
      { ...base, repository: 'r' },
      { ...base, ca: 'pem' },
      { ...base, server: 't' },
    ].map(checkKey),
  );
  expect(keys.size).toBe(5);
});
