// Phase: the API server made to throttle, then slow (BENCH_PRESSURE_NAMESPACES).
import { startApiProxy } from '../../harness/api-proxy.js';
import { startOperator } from '../../harness/operator.js';
import { Bench, names } from '../bench.js';
import { verifyAll } from '../common.js';
import { CERT_USER, PRESSURE_TIMEOUT_MS, SYSTEM } from '../config.js';
import { log, record, seconds } from '../support.js';

// ---- pressure: the API server made to throttle, then slow -------------------------------------------

/**
 * The defaults flags through harness/api-proxy.ts with few seats: first it answers 429 beyond
 * 2 requests at once (API Priority and Fairness with full queues), during a fan-out; then it queues
 * beyond 2 seats held 100 ms each (rising latency), during a rotation. Once with the adaptive
 * bound, once with --kube-api-adaptive=false. Nothing may be lost: every copy, every entry.
 */
export async function pressure(n: number): Promise<void> {
  log(`--- pressure: ${n} namespaces, starting a control plane`);
  const b = await Bench.start();
  const proxy = await startApiProxy(1);
  try {
    await b.install();
    await b.namespaces(names('o', n).map((x) => [x, 'o'] as const));
    // the source's password now: the second run starts from what the first one left
    let password = 'p0';
    const rotateTo = async (next: string) => {
      password = next;
      await b.setSource(next);
    };
    for (const adaptive of [true, false]) {
      const mode = adaptive ? 'pressure, adaptive' : 'pressure, --kube-api-adaptive=false';
      // The shipped tuning (all defaults) without leader election: its Lease requests would go
      // through the same crowded proxy, where the shipped FlowSchema would give them a level of their own.
      const op = await startOperator({
        sourceNamespace: SYSTEM,
        user: CERT_USER,
        wrapKubeconfig: (kc) => proxy.kubeconfigFor(kc),
        args: [`--kube-api-adaptive=${adaptive}`, '--log-level=info'],
      });
      let lowest = Infinity;
      const sampler = setInterval(() => {
        op.metric('regcred_api_inflight_limit').then(
          (limit) => (lowest = Math.min(lowest, limit)),
          () => undefined,
        );
      }, 100);
      try {
        const cred = adaptive ? 'pressure-a' : 'pressure-f';
        // 1. throttling during a fan-out
        proxy.setCapacity({ seats: 2, overflow: 'reject', serviceMs: 20 });
        let before = proxy.counts();
        proxy.concurrency();
        const fanout = await b.applyAndConverge(
          b.credential(cred, ['o'], { secretName: cred }),
          n,
          PRESSURE_TIMEOUT_MS,
        );
        let after = proxy.counts();
        const rejected = (after.throttled ?? 0) - (before.throttled ?? 0);
        const forwarded = (after.forwarded ?? 0) - (before.forwarded ?? 0);
        const lowestThrottled = lowest;
        const requests = `${rejected} answered 429 of ${forwarded + rejected} requests`;
        if (fanout === undefined) {
          record({
            size: n,
            mode,
            figure: 'throttled fan-out (2 seats, 429 beyond): not converged',
            unit: 's',
            operator: PRESSURE_TIMEOUT_MS / 1000,
            note: `gave up after ${PRESSURE_TIMEOUT_MS / 1000} s: ${requests}`,
          });
          continue;
        }
        await verifyAll(b, n, cred, password);
        record({
          size: n,
          mode,
          figure: 'throttled fan-out (2 seats, 429 beyond): converged, nothing lost',
          unit: 's',
          operator: fanout,
          note:
            `${requests} (${((100 * rejected) / (forwarded + rejected)).toFixed(1)} %); ` +
            `in-flight bound down to ${lowestThrottled}; at most ${proxy.concurrency().peak} at once at the proxy`,
        });
        // 2. slowness during a rotation
        proxy.setCapacity({ seats: 2, overflow: 'queue', serviceMs: 100 });
        lowest = Infinity;
        before = proxy.counts();
        const t0 = performance.now();
        await rotateTo(adaptive ? 'slow-a' : 'slow-f');
        await verifyAll(b, n, cred, password, 600_000);
        const took = seconds(t0);
        after = proxy.counts();
        record({
          size: n,
          mode,
          figure: 'slow rotation (2 seats held 100 ms, the rest queued): converged, nothing lost',
          unit: 's',
          operator: took,
          note:
            `in-flight bound down to ${lowest}; at most ${proxy.concurrency().peak} requests at once at the proxy ` +
            `(queued there); ${(after.forwarded ?? 0) - (before.forwarded ?? 0)} requests`,
        });
        // 3. the pressure gone: the bound grows back as requests succeed
        proxy.setCapacity(undefined);
        const bound = await op.metric('regcred_api_inflight_limit');
        await rotateTo(adaptive ? 'free-a' : 'free-f');
        await verifyAll(b, n, cred, password);
        record({
          size: n,
          mode,
          figure: 'pressure gone: in-flight bound after one more rotation',
          unit: 'requests',
          operator: await op.metric('regcred_api_inflight_limit'),
          note: `from ${bound}`,
        });
        await b.deleteCredential(cred);
      } finally {
        clearInterval(sampler);
        proxy.setCapacity(undefined);
        await op.stop();
      }
    }
  } finally {
    await proxy.stop();
    await b.stop();
  }
}
