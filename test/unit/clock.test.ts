import type { Timer } from '../../src/runtime/clock.js';
import { FakeClock } from '../support/fake-clock.js';

const START = Date.UTC(2026, 10, 22, 0, 0, 0);

/** A FakeClock at 0 with timers that record `name@now` when they fire. */
function recording(start = 0) {
  const clock = new FakeClock(start);
  const fired: string[] = [];
  const at = (name: string, delayMs: number) =>
    clock.setTimer(delayMs, () => fired.push(`${name}@${clock.now() - start}`));
  return { clock, fired, at };
}

describe('FakeClock', () => {
  test.each<[string, number | undefined, number]>([
    ['starts at 2026-11-22T00:00:00Z by default', undefined, START],
    ['starts where it is told', 1234, 1234],
  ])('%s', (_name, start, expected) => {
    expect((start === undefined ? new FakeClock() : new FakeClock(start)).now()).toBe(expected);
  });

  test('time moves only when advanced', () => {
    const clock = new FakeClock(0);
    expect(clock.now()).toBe(0);
    expect(clock.now()).toBe(0);
    clock.advance(250);
    expect(clock.now()).toBe(250);
    clock.advance(0);
    expect(clock.now()).toBe(250);
  });

  // [timers as name:delay, advance steps, fired (name@time)]
  test.each<[string, Array<[string, number]>, number[], string[]]>([
    ['a due timer fires at its time', [['a', 100]], [100], ['a@100']],
    ['a timer not yet due does not fire', [['a', 100]], [99], []],
    [
      'fires in due order, not creation order',
      [
        ['late', 300],
        ['early', 100],
        ['mid', 200],
      ],
      [1000],
      ['early@100', 'mid@200', 'late@300'],
    ],
    [
      'timers due at the same time fire in creation order',
      [
        ['x', 50],
        ['y', 50],
        ['z', 50],
      ],
      [50],
      ['x@50', 'y@50', 'z@50'],
    ],
    [
      'over several advances',
      [
        ['a', 100],
        ['b', 250],
      ],
      [150, 50, 50],
      ['a@100', 'b@250'],
    ],
    ['zero delay fires on advance(0)', [['now', 0]], [0], ['now@0']],
    ['negative delay is treated as zero', [['neg', -10]], [0], ['neg@0']],
    ['each timer fires once', [['once', 10]], [10, 10, 100], ['once@10']],
  ])('%s', (_name, timers, steps, expected) => {
    const { clock, fired, at } = recording();
    for (const [name, delay] of timers) at(name, delay);
    for (const step of steps) clock.advance(step);
    expect(fired).toEqual(expected);
  });

  test('now() inside a timer is its due time; after advance it is the target', () => {
    const { clock, fired, at } = recording(START);
    at('a', 40);
    clock.advance(100);
    expect(fired).toEqual(['a@40']);
    expect(clock.now()).toBe(START + 100);
  });

  test('timers set by timers fire within the same advance when due', () => {
    const { clock, fired, at } = recording();
    clock.setTimer(10, () => {
      fired.push(`outer@${clock.now()}`);
      at('inner-due', 20); // due at 30
      at('inner-late', 200); // due at 210
      at('inner-now', 0); // due at 10
    });
    clock.advance(100);
    expect(fired).toEqual(['outer@10', 'inner-now@10', 'inner-due@30']);
    expect(clock.pendingTimers()).toBe(1);
    clock.advance(110);
    expect(fired.at(-1)).toBe('inner-late@210');
  });

  test('a chain of timers rescheduling themselves runs until the target', () => {
    const clock = new FakeClock(0);
    const ticks: number[] = [];
    const tick = () => {
      ticks.push(clock.now());
      clock.setTimer(100, tick);
    };
    clock.setTimer(100, tick);
    clock.advance(450);
    expect(ticks).toEqual([100, 200, 300, 400]);
    expect(clock.pendingTimers()).toBe(1);
  });

  test.each<[string, (victim: Timer, clock: FakeClock) => void]>([
    ['cancelled before it is due', (victim) => victim.cancel()],
    [
      'cancelled by an earlier timer in the same advance',
      (victim, clock) => void clock.setTimer(5, () => victim.cancel()),
    ],
  ])('a timer %s never fires', (_name, cancel) => {
    const { clock, fired, at } = recording();
    const victim = at('a', 10);
    at('b', 20);
    cancel(victim, clock);
    clock.advance(100);
    expect(fired).toEqual(['b@20']);
  });

  test('pendingTimers counts live timers only', () => {
    const { clock, at } = recording();
    expect(clock.pendingTimers()).toBe(0);
    const a = at('a', 10);
    at('b', 20);
    at('c', 30);
    expect(clock.pendingTimers()).toBe(3);
    a.cancel();
    expect(clock.pendingTimers()).toBe(2);
    a.cancel(); // idempotent
    expect(clock.pendingTimers()).toBe(2);
    clock.advance(20);
    expect(clock.pendingTimers()).toBe(1);
    clock.advance(10);
    expect(clock.pendingTimers()).toBe(0);
  });
});
