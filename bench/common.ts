// What the phases share: CPU and API-priority figures, waiting for the operator to be quiet,
// leader-election Leases counted apart, and the check that every namespace holds the copy.
import { sumMetric, type OperatorProcess } from '../harness/operator.js';
import { waitFor } from '../harness/wait.js';
import { Bench, documentFor } from './bench.js';
import { MANAGED } from './config.js';
import { apfView, record, type Samples, showCpu } from './support.js';

/** CPU seconds of the operator and the control plane during a phase, beside the floor's. */
export function cpuFigure(
  n: number,
  mode: string,
  phase: string,
  cpu: Record<string, number>,
  floor: Record<string, number>,
) {
  const controlPlane = (x: Record<string, number>) => (x.apiserver ?? 0) + (x.etcd ?? 0);
  record({
    size: n,
    mode,
    figure: `${phase}: CPU seconds (operator + kube-apiserver + etcd)`,
    unit: 's',
    operator: (cpu.operator ?? 0) + controlPlane(cpu),
    floor: controlPlane(floor),
    note: `${showCpu(cpu)}; floor: ${showCpu(floor)} (the floor's own client not counted)`,
  });
}

export function apfFigures(n: number, mode: string, before: Samples, after: Samples, operator429s: number): void {
  // A ServiceAccount outside kube-system: the suggested FlowSchema service-accounts (priority level
  // workload-low), where no other client of the benchmark lands.
  const view = apfView(before, after, 'service-accounts');
  record({
    size: n,
    mode,
    figure: 'fan-out: API Priority and Fairness',
    unit: 'rejected',
    operator: view.rejected,
    note:
      `FlowSchema ${view.flowSchema}, priority level ${view.priorityLevels.join(', ') || '-'}: ` +
      `${view.dispatched} requests dispatched, ${view.rejected} rejected (429), mean queue wait ` +
      `${view.meanWaitMs.toFixed(3)} ms, ${view.waitedLonger.requests} waited longer than ` +
      `${view.waitedLonger.thanSeconds ?? '?'} s; the operator saw ${operator429s} 429s in its whole life`,
  });
}

/**
 * Waits until the operator has no work queued or delayed (held status writes and Event summaries)
 * and made no write (Lease renewals aside) between two readings: the delayed gauge is refreshed
 * every 2 s, and a key in progress counts in neither gauge.
 */
export async function quiet(op: OperatorProcess): Promise<void> {
  let before = -1;
  let seen = '';
  await waitFor(
    async () => {
      const text = await op.metrics();
      // Lease renewals (leader election, every 2 s) aside
      const writes =
        sumMetric(text, 'regcred_writes_total') - sumMetric(text, 'regcred_writes_total', { resource: 'leases' });
      const depth = sumMetric(text, 'regcred_workqueue_depth');
      const delayed = sumMetric(text, 'regcred_workqueue_delayed');
      seen = `depth ${depth}, delayed ${delayed}, writes ${before} then ${writes}`;
      const idle = writes === before && depth === 0 && delayed === 0;
      before = writes;
      return idle;
    },
    { timeoutMs: 180_000, intervalMs: 2500, what: 'the operator to have no work queued or delayed' },
  ).catch((err: Error) => {
    throw new Error(`${err.message} (last seen: ${seen})`);
  });
}

/**
 * Leader election's Lease renewals (every 2 s, client-go's timing, whatever the cluster does) are
 * counted apart from the operator's other writes.
 */
export function withoutLeases(calls: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(calls).filter(([key]) => !key.endsWith(' leases')));
}
export function leaseNote(calls: Record<string, number>): string {
  const renewals = calls['update leases'] ?? 0;
  return renewals ? `; besides, ${renewals} Lease renewals (leader election)` : '';
}

/** Every namespace holds the copy with `password` and all 3 ServiceAccounts list it. */
export async function verifyAll(
  b: Bench,
  n: number,
  secretName: string,
  password: string,
  timeoutMs = 300_000,
): Promise<void> {
  const document = documentFor(password);
  await waitFor(
    async () => {
      const secrets = await b.req<{ items: Array<{ metadata: { name: string }; data?: Record<string, string> }> }>(
        'GET',
        `/api/v1/secrets?labelSelector=${encodeURIComponent(MANAGED)}`,
      );
      const good = secrets.items.filter(
        (x) => x.metadata.name === secretName && x.data?.['.dockerconfigjson'] === document,
      );
      if (good.length < n) return false;
      const sas = await b.req<{
        items: Array<{ metadata: { namespace: string }; imagePullSecrets?: Array<{ name: string }> }>;
      }>('GET', '/api/v1/serviceaccounts');
      const listing = sas.items.filter(
        (sa) =>
          sa.metadata.namespace.startsWith('o-') &&
          sa.imagePullSecrets?.filter((x) => x.name === secretName).length === 1,
      );
      return listing.length >= 3 * n;
    },
    { timeoutMs, intervalMs: 1000, what: `every copy ${secretName} with password ${password} and every entry` },
  );
}
