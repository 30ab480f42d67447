// Phase: ServiceAccounts relabelled out of serviceAccountSelector (BENCH_TARGETING).
import { type OperatorProcess } from '../../harness/operator.js';
import { waitFor } from '../../harness/wait.js';
import { Bench, type Mode, names } from '../bench.js';
import { quiet, withoutLeases } from '../common.js';
import { MERGE, NEW_NAMESPACES, PULL_LABEL } from '../config.js';
import { auditOffset, percentile, pool, record, requestsSince, show, total, WRITES } from '../support.js';

/**
 * BENCH_TARGETING: ServiceAccounts relabelled out of serviceAccountSelector one after another, from
 * the label PATCH until our entry is gone; floor: a minimal reactor removing it itself. The phase's
 * writes are counted until the operator is quiet (its paced status recount and Event summary). The
 * labels are put back afterwards (not measured), so that later modes select every ServiceAccount.
 */
export async function relabelledOut(b: Bench, op: OperatorProcess, n: number, mode: string, m: Mode): Promise<void> {
  const count = Math.min(NEW_NAMESPACES, n);
  const label = (ns: string, value: string | null) =>
    b.req(
      'PATCH',
      `/api/v1/namespaces/${ns}/serviceaccounts/ci`,
      { metadata: { labels: { [PULL_LABEL]: value } } },
      MERGE,
    );
  const relabelled = async (prefix: string, react?: (ns: string) => Promise<unknown>) => {
    const out: number[] = [];
    for (let i = 0; i < count; i++) {
      const ns = `${prefix}-${i}`;
      const start = performance.now();
      await label(ns, null);
      if (react) void react(ns);
      await waitFor(
        async () =>
          !(
            await b.req<{ imagePullSecrets?: Array<{ name: string }> }>(
              'GET',
              `/api/v1/namespaces/${ns}/serviceaccounts/ci`,
            )
          ).imagePullSecrets?.some((e) => e.name === 'pull'),
        { timeoutMs: 120_000, intervalMs: 5, what: `${ns}/ci without our entry` },
      );
      out.push((performance.now() - start) / 1000);
    }
    return out;
  };
  const floorLat = await relabelled('f', (ns) =>
    b.req('PATCH', `/api/v1/namespaces/${ns}/serviceaccounts/ci`, { imagePullSecrets: [] }, MERGE),
  );
  const mark = await auditOffset(b.cp);
  const opLat = await relabelled('o');
  await quiet(op);
  const calls = withoutLeases(await requestsSince(b.cp, mark, m.user));
  for (const p of [50, 95, 99])
    record({
      size: n,
      mode,
      figure: `SA relabelled out p${p}`,
      unit: 's',
      operator: percentile(opLat, p),
      floor: percentile(floorLat, p),
    });
  record({
    size: n,
    mode,
    figure: 'SA relabelled out: writes',
    unit: 'writes',
    operator: total(calls, WRITES),
    floor: opLat.length,
    note: show(calls),
  });
  await pool(names('f', count).concat(names('o', count)), 8, (ns) => label(ns, 'bench'));
  await quiet(op);
}
