// Phase: the Pending-Pods watch among many running Pods (defaults, largest size).
import { sumMetric, type OperatorProcess } from '../../harness/operator.js';
import { waitFor } from '../../harness/wait.js';
import { Bench, type Mode } from '../bench.js';
import { quiet, withoutLeases } from '../common.js';
import { CREDENTIALS, IDLE_SECONDS, MERGE, PODS_PENDING, PODS_RUNNING } from '../config.js';
import {
  auditOffset,
  log,
  memoryOf,
  pool,
  record,
  requestsSince,
  seconds,
  show,
  sleep,
  total,
  WRITES,
} from '../support.js';

/**
 * Issue 15's stuck-pod recovery watches Pending Pods only (field selector, slim copies): Pods that
 * are not Pending must cost the operator nothing. There is no kubelet here, so Pods are created and
 * their status.phase is set to Running through the status subresource; the Pending ones stay as
 * created (unscheduled, not waiting on a pull). The operator restarts with stuck-pod recovery on.
 */
export async function podWatch(
  b: Bench,
  op: OperatorProcess,
  n: number,
  mode: string,
  m: Mode,
  cred: string,
  nss: string[],
): Promise<OperatorProcess> {
  await op.stop();
  const t0 = performance.now();
  const pod = (ns: string, name: string) => ({
    metadata: { name, namespace: ns, labels: { app: 'bench' } },
    spec: {
      automountServiceAccountToken: false,
      containers: [{ name: 'app', image: 'r.example.com/team/app:1' }],
    },
  });
  const running = Array.from({ length: PODS_RUNNING }, (_, i) => [nss[i % n]!, `run-${i}`] as const);
  const pending = Array.from({ length: PODS_PENDING }, (_, i) => [nss[i % n]!, `pending-${i}`] as const);
  await pool([...running, ...pending], 32, ([ns, name]) =>
    b.req('POST', `/api/v1/namespaces/${ns}/pods`, pod(ns, name)),
  );
  await pool(running, 32, ([ns, name]) =>
    b.req('PATCH', `/api/v1/namespaces/${ns}/pods/${name}/status`, { status: { phase: 'Running' } }, MERGE),
  );
  log(`pod-watch: ${PODS_RUNNING} Running and ${PODS_PENDING} Pending Pods in ${seconds(t0).toFixed(1)} s`);
  await b.req('PATCH', `${CREDENTIALS}/${cred}`, { spec: { podRecovery: { enabled: true } } }, MERGE);
  const next = await m.start();
  await waitFor(
    async () =>
      (await next.metric('regcred_reconcile_total', { kind: 'credential' })) >= 1 &&
      (await next.metric('regcred_workqueue_depth')) === 0,
    { timeoutMs: 600_000 },
  );
  await quiet(next);
  const mark = await auditOffset(b.cp);
  await sleep(IDLE_SECONDS * 1000); // a benchmark phase of fixed length
  const everything = await requestsSince(b.cp, mark, m.user);
  const calls = withoutLeases(everything);
  const memory = await memoryOf(next.pid);
  const what = `${n} namespaces, ${PODS_RUNNING} Running + ${PODS_PENDING} Pending Pods, podRecovery on`;
  record({
    size: n,
    mode,
    figure: `pod-watch: peak RSS (${what})`,
    unit: 'MiB',
    operator: memory.peak,
    note: 'VmHWM since the restart',
  });
  record({ size: n, mode, figure: `pod-watch: RSS after ${IDLE_SECONDS} s idle`, unit: 'MiB', operator: memory.rss });
  record({
    size: n,
    mode,
    figure: `pod-watch: idle ${IDLE_SECONDS} s writes`,
    unit: 'writes',
    operator: total(calls, WRITES),
    floor: 0,
    note: show(calls),
  });
  record({
    size: n,
    mode,
    figure: "pod-watch: Pods in the operator's cache",
    unit: 'Pods',
    operator: sumMetric(await next.metrics(), 'regcred_cache_objects', { informer: 'pending-pods' }),
    floor: PODS_PENDING,
  });
  return next;
}
