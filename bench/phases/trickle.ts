// Phase: namespaces created one at a time at a steady rate (defaults mode): the latency from a
// namespace's creation to its default ServiceAccount carrying the entry, beside a direct-write
// floor trickled the same way, and the writes the operator makes per namespace.
import { waitFor } from '../../harness/wait.js';
import { type Bench, converged, type Floor, type Mode, type Status } from '../bench.js';
import { leaseNote, withoutLeases } from '../common.js';
import { CREDENTIALS, TRICKLE, TRICKLE_INTERVAL_MS, TRICKLE_SETTLE_SECONDS } from '../config.js';
import { auditOffset, percentile, record, requestsSince, show, sleep, total, WRITES } from '../support.js';

/**
 * Namespaces created one at a time at a steady rate, each served by the operator: the writes it
 * makes per namespace, by resource, from the audit log, through a settle time that lets held Event
 * summaries and status writes happen. Only the `default` ServiceAccount exists in them: 2 writes
 * are necessary (the Secret, the SA patch).
 */
export async function trickle(b: Bench, floor: Floor, n: number, mode: string, m: Mode, cred: string): Promise<void> {
  // When each trickled namespace's default ServiceAccount first carries the entry, seen on a watch
  // as it happens (no polling interval).
  const created = new Map<string, number>();
  const served = new Map<string, number>();
  const watch = await b.watchUntil<{ metadata?: { namespace?: string }; imagePullSecrets?: Array<{ name?: string }> }>(
    '/api/v1/serviceaccounts',
    { fieldSelector: 'metadata.name=default' },
    (sa) => {
      const ns = sa.metadata?.namespace ?? '';
      if (created.has(ns) && !served.has(ns) && sa.imagePullSecrets?.some((entry) => entry.name === 'pull'))
        served.set(ns, performance.now());
      return served.size >= 2 * TRICKLE;
    },
  );
  const mark = await auditOffset(b.cp);
  const t0 = performance.now();
  for (let i = 0; i < TRICKLE; i++) {
    const due = t0 + i * TRICKLE_INTERVAL_MS;
    if (due > performance.now()) await sleep(due - performance.now()); // the arrival rate, not a wait for a condition
    // named like the other namespaces of the set `o` (BENCH_TARGETING selects them by name too)
    const ns = `o-tr-${i}`;
    created.set(ns, performance.now());
    await b.req('POST', '/api/v1/namespaces', { metadata: { name: ns, labels: { bench: 'o' } } });
    // the floor's namespace half an interval later: the two never compete for the same moment
    const floorDue = due + TRICKLE_INTERVAL_MS / 2;
    if (floorDue > performance.now()) await sleep(floorDue - performance.now());
    const floorNs = `ftr-${i}`;
    created.set(floorNs, performance.now());
    await b.req('POST', '/api/v1/namespaces', { metadata: { name: floorNs, labels: { bench: 'ftr' } } });
    floor.react(floorNs);
  }
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`trickle: ${served.size} of ${2 * TRICKLE} namespaces served`)), 300_000);
  });
  try {
    await Promise.race([watch.done, timeout]);
  } finally {
    clearTimeout(timer);
    await watch.stop();
  }
  const latency = (prefix: string) =>
    [...served].filter(([ns]) => ns.startsWith(prefix)).map(([ns, at]) => (at - created.get(ns)!) / 1000);
  const operatorLatency = latency('o-tr-');
  const floorLatency = latency('ftr-');
  const slowest = Math.max(...operatorLatency).toFixed(3);
  for (const p of [50, 95, 99])
    record({
      size: n,
      mode,
      figure: `trickle: namespace created -> default SA carries the entry p${p}`,
      unit: 's',
      operator: percentile(operatorLatency, p),
      floor: percentile(floorLatency, p),
      note: `${TRICKLE} namespaces ${TRICKLE_INTERVAL_MS} ms apart; the slowest ${slowest} s`,
    });
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
