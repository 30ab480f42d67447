// The operator's Prometheus series: the work queue's metrics wired to a real queue, the
// per-registry verification gauge (only Verified and Failed have samples; a registry gone is
// removed), forgetting a deleted credential's series, and the default process metrics.
import { Metrics } from '../../src/metrics.js';
import { WorkQueue } from '../../src/runtime/workqueue.js';
import { FakeClock } from '../support/fake-clock.js';

type Sample = { labels: Record<string, string | number>; value: number; metricName?: string };

async function samples(metrics: Metrics, name: string): Promise<Sample[]> {
  const metric = metrics.registry.getSingleMetric(name);
  if (!metric) throw new Error(`no metric ${name}`);
  return (await metric.get()).values as Sample[];
}

/** label=value pairs of a series' samples, e.g. ["credential=a,server=r.io 1"]. */
async function series(metrics: Metrics, name: string): Promise<string[]> {
  return (await samples(metrics, name)).map(
    (sample) =>
      `${Object.entries(sample.labels)
        .map(([key, value]) => `${key}=${value}`)
        .join(',')} ${sample.value}`,
  );
}

describe('Metrics.workQueue on a real queue', () => {
  test("client-go's queue metrics: adds, depth, queue latency, work duration, retries", async () => {
    const metrics = new Metrics(false);
    const clock = new FakeClock(0);
    const queue = new WorkQueue({ clock, metrics: metrics.workQueue() });
    queue.add('a');
    queue.add('b');
    queue.add('a'); // already waiting: not an add
    clock.advance(2_000);
    const key = (await queue.get())!;
    clock.advance(500);
    queue.done(key);
    queue.addRateLimited('b');

    expect(await series(metrics, 'regcred_workqueue_adds_total')).toEqual([' 2']);
    expect(await series(metrics, 'regcred_workqueue_depth')).toEqual([' 1']);
    expect(await series(metrics, 'regcred_workqueue_retries_total')).toEqual([' 1']);
    const sums = async (name: string) =>
      (await samples(metrics, name)).filter((s) => s.metricName?.endsWith('_sum') || s.metricName?.endsWith('_count'));
    expect((await sums('regcred_workqueue_queue_duration_seconds')).map((s) => [s.metricName, s.value])).toEqual([
      ['regcred_workqueue_queue_duration_seconds_sum', 2],
      ['regcred_workqueue_queue_duration_seconds_count', 1],
    ]);
    expect((await sums('regcred_workqueue_work_duration_seconds')).map((s) => [s.metricName, s.value])).toEqual([
      ['regcred_workqueue_work_duration_seconds_sum', 0.5],
      ['regcred_workqueue_work_duration_seconds_count', 1],
    ]);
  });
});

describe('Metrics.setRegistryVerification', () => {
  test.each<[string, Array<Array<{ server: string; state: string }>>, string[]]>([
    [
      'Verified is 1, Failed is 0',
      [
        [
          { server: 'a.io', state: 'Verified' },
          { server: 'b.io', state: 'Failed' },
        ],
      ],
      ['credential=c,server=a.io 1', 'credential=c,server=b.io 0'],
    ],
    [
      'Unknown and Skipped registries have no sample',
      [
        [
          { server: 'a.io', state: 'Unknown' },
          { server: 'b.io', state: 'Skipped' },
        ],
      ],
      [],
    ],
    [
      'a registry no longer Verified or Failed loses its sample',
      [
        [
          { server: 'a.io', state: 'Verified' },
          { server: 'b.io', state: 'Verified' },
        ],
        [
          { server: 'a.io', state: 'Failed' },
          { server: 'b.io', state: 'Skipped' },
        ],
      ],
      ['credential=c,server=a.io 0'],
    ],
    [
      'a registry gone from the rows loses its sample',
      [
        [
          { server: 'a.io', state: 'Verified' },
          { server: 'b.io', state: 'Verified' },
        ],
        [{ server: 'b.io', state: 'Verified' }],
      ],
      ['credential=c,server=b.io 1'],
    ],
  ])('%s', async (_name, calls, expected) => {
    const metrics = new Metrics(false);
    for (const rows of calls) metrics.setRegistryVerification('c', rows);
    expect(await series(metrics, 'regcred_registry_verified')).toEqual(expected);
  });

  test("one credential's rows leave another's samples alone", async () => {
    const metrics = new Metrics(false);
    metrics.setRegistryVerification('c', [{ server: 'a.io', state: 'Verified' }]);
    metrics.setRegistryVerification('d', [{ server: 'a.io', state: 'Failed' }]);
    metrics.setRegistryVerification('c', []);
    expect(await series(metrics, 'regcred_registry_verified')).toEqual(['credential=d,server=a.io 0']);
  });
});

describe('Metrics.forgetCredential', () => {
  test("removes every series of that credential's name and keeps the others'", async () => {
    const metrics = new Metrics(false);
    for (const credential of ['gone', 'kept']) {
      for (const state of ['selected', 'ready', 'failed']) metrics.namespaces.set({ credential, state }, 3);
      metrics.secondsUntilExpiry.set({ credential }, 60);
      metrics.setRegistryVerification(credential, [{ server: 'a.io', state: 'Verified' }]);
    }
    metrics.forgetCredential('gone');
    expect(await series(metrics, 'regcred_namespaces')).toEqual([
      'credential=kept,state=selected 3',
      'credential=kept,state=ready 3',
      'credential=kept,state=failed 3',
    ]);
    expect(await series(metrics, 'regcred_credentials_expiry_seconds')).toEqual(['credential=kept 60']);
    expect(await series(metrics, 'regcred_registry_verified')).toEqual(['credential=kept,server=a.io 1']);
  });

  test('a credential forgotten and seen again starts with no verification samples', async () => {
    const metrics = new Metrics(false);
    metrics.setRegistryVerification('c', [{ server: 'a.io', state: 'Verified' }]);
    metrics.forgetCredential('c');
    metrics.setRegistryVerification('c', [{ server: 'b.io', state: 'Failed' }]);
    expect(await series(metrics, 'regcred_registry_verified')).toEqual(['credential=c,server=b.io 0']);
  });
});

describe('Metrics registry', () => {
  test.each<[string, boolean, boolean]>([
    ['with defaults: the process metrics, prefixed regcred_', true, true],
    ['without defaults: only the operator series', false, false],
  ])('%s', async (_name, withDefaults, expected) => {
    const text = await new Metrics(withDefaults).registry.metrics();
    expect(text.includes('regcred_process_cpu_user_seconds_total')).toBe(expected);
    expect(text).toContain('# TYPE regcred_reconcile_total counter');
  });

  test('two instances do not share series (each has its own registry)', async () => {
    const first = new Metrics(false);
    const second = new Metrics(false);
    first.reconciles.inc({ kind: 'credential', result: 'success' });
    expect(await series(first, 'regcred_reconcile_total')).toEqual(['kind=credential,result=success 1']);
    expect(await series(second, 'regcred_reconcile_total')).toEqual([]);
  });
});
