// Phase: the source rotated; every copy updated, beside the floor.
import { type OperatorProcess } from '../../harness/operator.js';
import { Bench, documentFor, Floor, type Mode } from '../bench.js';
import { cpuFigure, leaseNote, withoutLeases } from '../common.js';
import { MANAGED, ROTATIONS } from '../config.js';
import {
  API_WRITES,
  apiserverMetrics,
  apiserverRequests,
  auditOffset,
  controlPlanePids,
  cpuMeter,
  delta,
  fmt,
  percentile,
  record,
  requestsSince,
  seconds,
  show,
  total,
  WRITES,
} from '../support.js';

export async function rotation(
  b: Bench,
  floor: Floor,
  n: number,
  mode: string,
  m: Mode,
  copies: number,
  floorCopies: string[],
  passwords: () => string,
  op: OperatorProcess,
): Promise<void> {
  const cpPids = await controlPlanePids(b.cp);
  const rounds: Array<{ operator: number; floor: number }> = [];
  for (let round = 0; round < ROTATIONS; round++) {
    const password = passwords();
    const first = round === 0;
    const mark = first ? await auditOffset(b.cp) : 0;
    const api = first ? apiserverRequests(await apiserverMetrics(b.cp)) : {};
    const document = documentFor(password);
    // Completion is seen through a watch of the copies (what the operator itself receives), not by
    // polling lists: a list of every copy every few hundred ms would load the API server during
    // the operator's phase only, and skew the comparison with the floor.
    const rotated = new Set<string>();
    const watch = await b.watchUntil<{ metadata: { namespace: string; name: string }; data?: Record<string, string> }>(
      '/api/v1/secrets',
      { labelSelector: MANAGED },
      (x) => {
        if (x.data?.['.dockerconfigjson'] === document) rotated.add(`${x.metadata.namespace}/${x.metadata.name}`);
        return rotated.size >= copies;
      },
    );
    const operatorCpu = await cpuMeter({ operator: op.pid, ...cpPids });
    const t0 = performance.now();
    await b.setSource(password);
    await watch.done;
    const took = seconds(t0);
    const cpu = await operatorCpu();
    await watch.stop();
    // Checked once more by a list, outside the timed window.
    const now = await b.req<{ items: Array<{ data?: Record<string, string> }> }>(
      'GET',
      `/api/v1/secrets?labelSelector=${encodeURIComponent(MANAGED)}`,
    );
    if (now.items.filter((x) => x.data?.['.dockerconfigjson'] === document).length < copies)
      throw new Error('rotation: a copy is not rotated after the watch saw all of them');
    // The operator's writes are settled once every copy is seen; its last status write may still
    // come (the audit log of the first round is read after the floor's round, by user).
    const apiWrites = first ? delta(apiserverRequests(await apiserverMetrics(b.cp)), api) : {};
    const floorCpu = await cpuMeter(cpPids);
    const floorTook = await floor.rotate(floorCopies, password);
    rounds.push({ operator: took, floor: floorTook });
    if (!first) continue;
    cpuFigure(n, mode, 'rotation', cpu, await floorCpu());
    const everything = await requestsSince(b.cp, mark, m.user);
    const calls = withoutLeases(everything);
    record({
      size: n,
      mode,
      figure: 'rotation: writes',
      unit: 'writes',
      operator: total(calls, WRITES),
      floor: copies,
      note: `${show(calls)}${leaseNote(everything)} (the first rotation)`,
    });
    record({
      size: n,
      mode,
      figure: 'rotation: apiserver_request_total writes',
      unit: 'writes',
      operator: total(apiWrites, API_WRITES),
      floor: copies + 1,
      note: `${show(apiWrites)} (the first rotation; the minimum counts the bench's own PATCH of the source)`,
    });
  }
  // Each round: the operator's rotation, then the floor's same writes; the medians are compared
  // (one rotation of 500 copies takes well under a second, where one-off delays on a shared
  // machine move a single reading by a third).
  const median = (xs: number[]) => percentile(xs, 50);
  record({
    size: n,
    mode,
    figure: `rotation: every copy updated (median of ${rounds.length})`,
    unit: 's',
    operator: median(rounds.map((r) => r.operator)),
    floor: median(rounds.map((r) => r.floor)),
    target: n === 2000 ? '<= 1.2x' : '<= 1.5x',
    note: `rounds (operator / floor): ${rounds.map((r) => `${fmt(r.operator)} / ${fmt(r.floor)} s`).join(', ')}`,
  });
}
