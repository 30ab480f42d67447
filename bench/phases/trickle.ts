// Phase: namespaces created one at a time at a steady rate (defaults mode).
import { waitFor } from '../../harness/wait.js';
import { Bench, converged, type Mode, type Status } from '../bench.js';
import { leaseNote, withoutLeases } from '../common.js';
import { CREDENTIALS, TRICKLE, TRICKLE_INTERVAL_MS, TRICKLE_SETTLE_SECONDS } from '../config.js';
import { auditOffset, record, requestsSince, show, sleep, total, WRITES } from '../support.js';

/**
 * Namespaces created one at a time at a steady rate, each served by the operator: the writes it
 * makes per namespace, by resource, from the audit log, through a settle time that lets held Event
 * summaries and status writes happen. Only the `default` ServiceAccount exists in them: 2 writes
 * are necessary (the Secret, the SA patch).
 */
export async function trickle(b: Bench, n: number, mode: string, m: Mode, cred: string): Promise<void> {
  const mark = await auditOffset(b.cp);
  const t0 = performance.now();
  for (let i = 0; i < TRICKLE; i++) {
    const due = t0 + i * TRICKLE_INTERVAL_MS;
    if (due > performance.now()) await sleep(due - performance.now()); // the arrival rate, not a wait for a condition
    // named like the other namespaces of the set `o` (BENCH_TARGETING selects them by name too)
    await b.req('POST', '/api/v1/namespaces', { metadata: { name: `o-tr-${i}`, labels: { bench: 'o' } } });
  }
  await waitFor(async () => converged(n + TRICKLE)(await b.req<Status>('GET', `${CREDENTIALS}/${cred}`)), {
    timeoutMs: 300_000,
    what: 'the trickled namespaces counted in status',
  });
  await sleep(TRICKLE_SETTLE_SECONDS * 1000); // a benchmark phase of fixed length: held writes fall in it
  const everything = await requestsSince(b.cp, mark, m.user);
  const calls = withoutLeases(everything);
  const byResource: Record<string, number> = {};
  for (const [key, count] of Object.entries(calls)) {
    const [verb, resource] = key.split(' ');
    if (!WRITES.includes(verb!)) continue;
    byResource[resource!] = (byResource[resource!] ?? 0) + count;
  }
  const per = (resource: string) => (byResource[resource] ?? 0) / TRICKLE;
  const all = total(calls, WRITES);
  const rate = `${TRICKLE} namespaces ${TRICKLE_INTERVAL_MS} ms apart, ${TRICKLE_SETTLE_SECONDS} s settle`;
  for (const resource of ['secrets', 'serviceaccounts', 'events', 'registrycredentials/status'])
    record({
      size: n,
      mode,
      figure: `trickle: ${resource} writes per namespace`,
      unit: 'writes',
      operator: per(resource),
      note: rate,
    });
  record({
    size: n,
    mode,
    figure: 'trickle: writes per namespace beyond the 2 necessary',
    unit: 'writes',
    operator: all / TRICKLE - 2,
    target: '<= 0.25',
    note: `${all} writes: ${show(calls)}${leaseNote(everything)}`,
  });
}
