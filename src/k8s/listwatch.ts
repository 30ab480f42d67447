// A collection of the API (a path plus selectors) as the informer's ListerWatcher: pages of a
// list, a watch stream, and the typed errors of k8s/errors.ts turned into what the informer needs
// to know (relist on 410, the server's Retry-After, a reason).
import type { KubeObject, ListerWatcher, ListPage } from '../runtime/informer.js';
import type { KubeApi } from './client.js';
import { isKubeError, retryAfterMs } from './errors.js';

export interface CollectionOptions {
  /** Collection path, e.g. /api/v1/namespaces or /api/v1/namespaces/ops/secrets. */
  path: string;
  labelSelector?: string;
  fieldSelector?: string;
}

export function listWatch<T extends KubeObject>(client: KubeApi, collection: CollectionOptions): ListerWatcher<T> {
  const { path, labelSelector, fieldSelector } = collection;
  return {
    async list({ limit, continue: continueToken }): Promise<ListPage<T>> {
      const page = await client.request<{ items: T[]; metadata: { resourceVersion: string; continue?: string } }>({
        method: 'GET',
        path,
        query: { labelSelector, fieldSelector, limit, continue: continueToken },
        sensitive: true,
      });
      return { items: page.items, resourceVersion: page.metadata.resourceVersion, continue: page.metadata.continue };
    },
    watch(options, onEvent, signal, onOpen) {
      return client.watch<T>(path, { labelSelector, fieldSelector, ...options }, onEvent, signal, onOpen);
    },
    classify(err) {
      const gone = isKubeError(err, 'Gone');
      const reason = gone ? 'Gone' : isKubeError(err) ? err.kind : 'StreamError';
      return { gone, retryAfterMs: retryAfterMs(err), reason };
    },
  };
}
