// Phase: the operator idle on a converged cluster.
import { type OperatorProcess } from '../../harness/operator.js';
import { Bench, type Mode } from '../bench.js';
import { leaseNote, quiet, withoutLeases } from '../common.js';
import { IDLE_SECONDS } from '../config.js';
import {
  API_WRITES,
  apiserverMetrics,
  apiserverRequests,
  auditOffset,
  delta,
  record,
  requestsSince,
  show,
  sleep,
  total,
  WRITES,
} from '../support.js';

export async function idle(
  b: Bench,
  op: OperatorProcess,
  n: number,
  mode: string,
  m: Mode,
  idleSeconds = IDLE_SECONDS,
): Promise<void> {
  await quiet(op);
  const mark = await auditOffset(b.cp);
  const api = apiserverRequests(await apiserverMetrics(b.cp));
  await sleep(idleSeconds * 1000); // a benchmark phase of fixed length, not a test wait
  const calls = await requestsSince(b.cp, mark, m.user);
  const apiCalls = delta(apiserverRequests(await apiserverMetrics(b.cp)), api);
  const ours = withoutLeases(calls);
  record({
    size: n,
    mode,
    figure: `idle ${idleSeconds} s: writes`,
    unit: 'writes',
    operator: total(ours, WRITES),
    floor: 0,
    note: `${show(ours)}${leaseNote(calls)}`,
  });
  record({
    size: n,
    mode,
    figure: `idle ${idleSeconds} s: lists`,
    unit: 'lists',
    operator: total(calls, ['list']),
    floor: 0,
  });
  record({
    size: n,
    mode,
    figure: `idle ${idleSeconds} s: apiserver_request_total writes (Secrets, SAs, RegistryCredentials, Events)`,
    unit: 'requests',
    operator: total(apiCalls, API_WRITES),
    floor: 0,
    note: show(apiCalls),
  });
}
