// Phase: the floor's fan-out again while a watch of every Secret and ServiceAccount is open (BENCH_WATCHED_FLOOR).
import { Bench, Floor, names } from '../bench.js';
import { record } from '../support.js';

export async function watchedFloor(b: Bench, floor: Floor, n: number, plain: number): Promise<void> {
  const abort = new AbortController();
  let events = 0;
  const streams = await Promise.all(
    (
      [
        ['/api/v1/namespaces', undefined],
        ['/api/v1/serviceaccounts', undefined],
        ['/api/v1/secrets', 'bench-floor=true'],
      ] as const
    ).map(async ([p, labelSelector]) => {
      const rv = (
        await b.req<{ metadata: { resourceVersion: string } }>(
          'GET',
          `${p}?limit=1${labelSelector ? `&labelSelector=${labelSelector}` : ''}`,
        )
      ).metadata.resourceVersion;
      // Wrapped: an async function returning the watch's promise would wait for the watch to end.
      return {
        ended: b.client.watch(
          p,
          { labelSelector, resourceVersion: rv, allowWatchBookmarks: true, timeoutSeconds: 3600 },
          () => events++,
          abort.signal,
        ),
      };
    }),
  );
  const took = await floor.fanOut(names('w', n));
  abort.abort();
  await Promise.allSettled(streams.map((x) => x.ended));
  record({
    size: n,
    mode: 'floor',
    figure: 'fan-out: a floor that also watches, against the plain floor',
    unit: 's',
    operator: took,
    floor: plain,
    note: `${events} watch events received by that floor's client`,
  });
}
