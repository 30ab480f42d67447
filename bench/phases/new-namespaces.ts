// Phase: new namespaces one after another, creation to copy and default ServiceAccount entry, beside the floor.
import { waitFor } from '../../harness/wait.js';
import { Bench, Floor } from '../bench.js';
import { NEW_NAMESPACES } from '../config.js';
import { percentile, record } from '../support.js';

export async function newNamespaces(b: Bench, floor: Floor, n: number, mode: string): Promise<void> {
  const latencies = async (prefix: string, label: string, react?: (ns: string) => void) => {
    const out: number[] = [];
    for (let i = 0; i < NEW_NAMESPACES; i++) {
      const ns = `${prefix}-${i}`;
      const start = performance.now();
      await b.req('POST', '/api/v1/namespaces', { metadata: { name: ns, labels: { bench: label } } });
      react?.(ns);
      await waitFor(
        async () => {
          const [s, sa] = await Promise.all([
            b.req('GET', `/api/v1/namespaces/${ns}/secrets/pull`).then(
              () => true,
              () => false,
            ),
            b
              .req<{ imagePullSecrets?: Array<{ name: string }> }>(
                'GET',
                `/api/v1/namespaces/${ns}/serviceaccounts/default`,
              )
              .then(
                (x) => !!x.imagePullSecrets?.some((e) => e.name === 'pull'),
                () => false,
              ),
          ]);
          return s && sa;
        },
        { timeoutMs: 120_000, intervalMs: 5, what: `namespace ${ns} converged` },
      );
      out.push((performance.now() - start) / 1000);
    }
    return out;
  };
  const floorLat = await latencies('fnew', 'fnew', (ns) => floor.react(ns));
  const opLat = await latencies('onew', 'onew');
  for (const p of [50, 95, 99])
    record({
      size: n,
      mode,
      figure: `new namespace p${p}`,
      unit: 's',
      operator: percentile(opLat, p),
      floor: percentile(floorLat, p),
    });
}
