import { STATUS_COST_FACTOR, STATUS_DELAY_MAX_MS, statusDelayMs } from '../../src/controller/timing.js';

describe('statusDelayMs', () => {
  test.each<[string, number, number | undefined, number]>([
    // [case, base, last credential run (ms), expected delay]
    ['never ran: the base', 500, undefined, 500],
    ['a cheap run: the base', 500, 3, 500],
    ['a run of 25 ms (base / factor): still the base', 500, 500 / STATUS_COST_FACTOR, 500],
    ['a 100 ms run: factor times the cost', 500, 100, 100 * STATUS_COST_FACTOR],
    ['a pathological run: capped', 500, 60_000, STATUS_DELAY_MAX_MS],
    ['a fake clock (0 ms runs): the base', 500, 0, 500],
  ])('%s', (_case, base, last, expected) => {
    expect(statusDelayMs(base, last)).toBe(expected);
  });
});
