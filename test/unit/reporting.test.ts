// The reporting layer (src/controller/reporting.ts): when the readiness key recounts, whether a
// status write may go or is held (and why), what the end of a burst releases, and the change
// summaries written as Events. A recording queue and a recording EventSink; time is a number.
import type { EventSink } from '../../src/events.js';
import { Reporting, STATUS_WRITE_BURST, STATUS_WRITE_INTERVAL_MS } from '../../src/controller/reporting.js';
import { credential } from '../support/builders.js';

const T0 = Date.UTC(2026, 10, 22);

function setup(baseDelayMs = 500) {
  const calls: string[] = [];
  const delayed = new Set<string>();
  const queue = {
    add: (key: string) => void calls.push(`add ${key}`),
    addAfter: (key: string, ms: number) => {
      delayed.add(key);
      calls.push(`addAfter ${key} ${ms}`);
    },
    expedite: (key: string) => {
      const had = delayed.delete(key);
      calls.push(`expedite ${key}`);
      return had;
    },
  };
  const summaries: string[] = [];
  const events: EventSink = {
    record: () => undefined,
    summarize: (_target, reason, message, count) => void summaries.push(`${reason} +${count}: ${message}`),
  };
  let now = T0;
  const reporting = new Reporting(queue, events, () => now, baseDelayMs);
  const spend = (credential = 'a') => {
    for (let i = 0; i < STATUS_WRITE_BURST; i++) reporting.statusWrite(credential, true, now);
  };
  return { reporting, calls, summaries, spend, at: (t: number) => (now = t) };
}

describe('statusWrite: routine status writes per credential', () => {
  test(`a burst of ${STATUS_WRITE_BURST}, then one per ${STATUS_WRITE_INTERVAL_MS / 1000} s, per credential`, () => {
    const { reporting } = setup();
    const wait = (credential: string, at: number) => {
      const decision = reporting.statusWrite(credential, true, at);
      return decision.write ? 0 : decision.heldMs;
    };
    expect(Array.from({ length: STATUS_WRITE_BURST }, () => wait('a', T0))).toEqual(Array(STATUS_WRITE_BURST).fill(0));
    expect(wait('a', T0)).toBe(STATUS_WRITE_INTERVAL_MS);
    expect(wait('b', T0)).toBe(0); // another credential has its own budget
    expect(wait('a', T0 + STATUS_WRITE_INTERVAL_MS / 2)).toBe(STATUS_WRITE_INTERVAL_MS / 2);
    expect(wait('a', T0 + STATUS_WRITE_INTERVAL_MS)).toBe(0);
    expect(wait('a', T0 + STATUS_WRITE_INTERVAL_MS)).toBe(STATUS_WRITE_INTERVAL_MS);
    // an hour of trickle: one write per interval, not one per namespace
    let writes = 0;
    for (let t = 0; t < 3600_000; t += 1000) if (wait('c', T0 + t) === 0) writes++;
    expect(writes).toBe(STATUS_WRITE_BURST + 3600_000 / STATUS_WRITE_INTERVAL_MS - 1);
  });

  test('news is never held and spends nothing; a held write says why', () => {
    const { reporting, spend } = setup();
    spend();
    expect(reporting.statusWrite('a', false, T0)).toEqual({ write: true });
    expect(reporting.statusWrite('a', true, T0)).toEqual({
      write: false,
      heldMs: STATUS_WRITE_INTERVAL_MS,
      why: 'routine write budget spent',
    });
  });
});

describe('namespaceChanged, then the end of the burst', () => {
  test.each<[string, { settled: boolean; spent: boolean; news: boolean }, string[], string[]]>([
    // [case, situation, asked of the queue at once, asked when the burst ends]
    [
      'not settled: after the pause, at once when the burst ends',
      { settled: false, spent: true, news: false },
      ['addAfter r/a 500'],
      ['expedite r/a'],
    ],
    [
      'settled, writes left: the same',
      { settled: true, spent: false, news: false },
      ['addAfter r/a 500'],
      ['expedite r/a'],
    ],
    [
      'settled, writes spent: when the next may go, the burst end does not cut it short',
      { settled: true, spent: true, news: false },
      [`addAfter r/a ${STATUS_WRITE_INTERVAL_MS}`],
      [],
    ],
    [
      'settled, writes spent, but news (a failure): after the pause, at once when the burst ends',
      { settled: true, spent: true, news: true },
      ['addAfter r/a 500'],
      ['expedite r/a'],
    ],
  ])('%s', (_case, { settled, spent, news }, atOnce, atBurstEnd) => {
    const t = setup();
    t.reporting.recounted('a', 0, settled);
    if (spent) t.spend();
    t.reporting.namespaceChanged('a', news);
    expect(t.calls).toEqual(atOnce);
    t.calls.length = 0;
    t.reporting.burstEnded();
    expect(t.calls).toEqual(atBurstEnd);
  });

  test('the pause follows what the last recount cost', () => {
    const t = setup();
    t.reporting.recounted('a', 100, false);
    t.reporting.namespaceChanged('a', false);
    expect(t.calls).toEqual(['addAfter r/a 2000']);
  });

  test('a burst end releases each waiting recount once', () => {
    const t = setup();
    t.reporting.namespaceChanged('a', false);
    t.reporting.namespaceChanged('b', false);
    t.reporting.burstEnded();
    t.reporting.burstEnded();
    expect(t.calls).toEqual(['addAfter r/a 500', 'addAfter r/b 500', 'expedite r/a', 'expedite r/b']);
  });

  test('namespaceUnchanged: a pending recount runs when the burst ends, unless it is held', () => {
    const t = setup();
    t.reporting.namespaceUnchanged('a');
    t.reporting.burstEnded();
    expect(t.calls).toEqual(['expedite r/a']);
    t.calls.length = 0;
    t.reporting.recounted('a', 0, true);
    t.spend();
    t.reporting.namespaceUnchanged('a');
    t.reporting.burstEnded();
    expect(t.calls).toEqual([]);
    expect(t.reporting.delayFor('a')).toBe(STATUS_WRITE_INTERVAL_MS); // the mappers wait as long
    t.reporting.recounted('a', 0, false);
    expect(t.reporting.delayFor('a')).toBe(500);
  });

  test('cleanedUp: the credential key (the finalizer) after the pause, at once when the burst ends', () => {
    const t = setup();
    t.reporting.cleanedUp('a');
    t.reporting.burstEnded();
    expect(t.calls).toEqual(['addAfter c/a 500', 'expedite c/a']);
  });

  test('statusMayChange waits as long as a recount woken by namespace work; recountNow does not wait', () => {
    const t = setup();
    t.reporting.recounted('a', 0, true);
    t.spend();
    t.reporting.statusMayChange('a');
    t.reporting.recountNow('b');
    expect(t.calls).toEqual([`addAfter r/a ${STATUS_WRITE_INTERVAL_MS}`, 'add r/b']);
  });

  test('forget: a forgotten credential starts with a full budget and is not released by a burst end', () => {
    const t = setup();
    t.spend();
    t.reporting.namespaceChanged('a', false);
    t.reporting.forget('a');
    t.calls.length = 0;
    t.reporting.burstEnded();
    expect(t.calls).toEqual([]);
    expect(t.reporting.statusWrite('a', true, T0)).toEqual({ write: true });
  });
});

describe('change summaries', () => {
  const cred = credential('a');

  test('the first changes after a quiet interval at once, later ones once the interval has passed', () => {
    const t = setup();
    t.reporting.changed('a', 'SecretCreated', 'team-a');
    t.reporting.changed('a', 'SecretCreated', 'team-b');
    expect(t.reporting.reportDueChanges(cred)).toBeUndefined();
    t.reporting.changed('a', 'SecretCreated', 'team-c');
    expect(t.reporting.reportDueChanges(cred)).toBe(T0 + 60_000);
    t.at(T0 + 60_000);
    expect(t.reporting.reportDueChanges(cred)).toBeUndefined();
    expect(t.summaries).toEqual([
      'SecretCreated +2: created the pull secret in 2 namespaces: team-a, team-b',
      'SecretCreated +1: created the pull secret in 1 namespace: team-c',
    ]);
  });

  test('reportAllChanges writes what is held, whatever the pace (a credential being released)', () => {
    const t = setup();
    t.reporting.changesOf('a').recordChange('PullSecretRemoved', 'team-a/default');
    t.reporting.reportDueChanges(cred);
    t.reporting.changed('a', 'PullSecretRemoved', 'team-b/default');
    t.reporting.reportAllChanges(cred);
    expect(t.summaries).toEqual([
      'PullSecretRemoved +1: removed the pull secret from ServiceAccounts (1): team-a/default',
      'PullSecretRemoved +1: removed the pull secret from ServiceAccounts (1): team-b/default',
    ]);
  });

  test('credentials have their own summaries', () => {
    const t = setup();
    t.reporting.changed('b', 'SecretCreated', 'team-a');
    t.reporting.reportDueChanges(cred);
    expect(t.summaries).toEqual([]);
  });
});
