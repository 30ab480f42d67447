// Phase: a restart on a converged cluster (qps0).
import { type OperatorProcess } from '../../harness/operator.js';
import { waitFor } from '../../harness/wait.js';
import { Bench, type Mode } from '../bench.js';
import { leaseNote, quiet, withoutLeases } from '../common.js';
import { auditOffset, record, requestsSince, seconds, show, total, WRITES } from '../support.js';

export async function restart(
  b: Bench,
  op: OperatorProcess,
  n: number,
  mode: string,
  m: Mode,
): Promise<OperatorProcess> {
  await quiet(op);
  await op.stop();
  const mark = await auditOffset(b.cp);
  const t0 = performance.now();
  const next = await m.start();
  const ready = seconds(t0);
  await waitFor(
    async () =>
      (await next.metric('regcred_reconcile_total', { kind: 'credential' })) >= 1 &&
      (await next.metric('regcred_workqueue_depth')) === 0,
    { timeoutMs: 600_000 },
  );
  const everything = await requestsSince(b.cp, mark, m.user);
  const calls = withoutLeases(everything);
  record({ size: n, mode, figure: 'restart: time to ready', unit: 's', operator: ready });
  record({
    size: n,
    mode,
    figure: 'restart: writes',
    unit: 'writes',
    operator: total(calls, WRITES),
    floor: 0,
    note: `${show(calls)}${leaseNote(everything)}`,
  });
  return next;
}
