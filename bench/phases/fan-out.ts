// Phase: the fan-out. A RegistryCredential over n namespaces, from its create until its status
// says every one is ready, beside the floor's same writes: the time, the operator's writes from the
// audit log, apiserver_request_total, API priority and fairness, CPU.
import type { OperatorProcess } from '../../harness/operator.js';
import type { Bench, Mode } from '../bench.js';
import { apfFigures, cpuFigure, leaseNote, withoutLeases } from '../common.js';
import {
  API_WRITES,
  apiserverMetrics,
  apiserverRequests,
  auditOffset,
  cpuMeter,
  delta,
  record,
  requestsSince,
  show,
  total,
  WRITES,
} from '../support.js';
export interface FanOutRun {
  n: number;
  cred: string;
  sets: string[];
  cpPids: Record<string, number>;
  fanoutFloor: number;
  fanoutFloorCpu: Record<string, number>;
}

export async function fanOut(b: Bench, op: OperatorProcess, mode: Mode, run: FanOutRun): Promise<void> {
  const { n, cred, sets, cpPids, fanoutFloor, fanoutFloorCpu } = run;
  const modeName = mode.name;
  const mark = await auditOffset(b.cp);
  const api = await apiserverMetrics(b.cp);
  const fanoutCpu = await cpuMeter({ operator: op.pid, ...cpPids });
  const fanout = await b.applyAndConverge(b.credential(cred, sets), n);
  if (fanout === undefined) throw new Error(`${modeName}: the fan-out did not converge within an hour`);
  const everything = await requestsSince(b.cp, mark, mode.user);
  const calls = withoutLeases(everything);
  const after = await apiserverMetrics(b.cp);
  const m = modeName;
  record({
    size: n,
    mode: m,
    figure: 'fan-out: apply to every namespace converged',
    unit: 's',
    operator: fanout,
    floor: fanoutFloor,
    target: '<= 1.5x',
  });
  record({
    size: n,
    mode: m,
    figure: 'fan-out: writes',
    unit: 'writes',
    operator: total(calls, WRITES),
    floor: 4 * n,
    note: `${show(calls)}${leaseNote(everything)}`,
  });
  const apiWrites = delta(apiserverRequests(after), apiserverRequests(api));
  record({
    size: n,
    mode: m,
    figure: 'fan-out: apiserver_request_total writes',
    unit: 'writes',
    operator: total(apiWrites, API_WRITES),
    floor: 4 * n + 1,
    note: `${show(apiWrites)} (the minimum counts the bench's own create of the RegistryCredential)`,
  });
  apfFigures(n, m, api, after, await op.metric('regcred_api_requests_total', { code: '429' }));
  cpuFigure(n, m, 'fan-out', await fanoutCpu(), fanoutFloorCpu);
}
