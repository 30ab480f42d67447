// The leader-election lock as a coordination.k8s.io/v1 Lease: get, create, and update guarded by
// resourceVersion (a concurrent writer makes the update fail with Conflict).
import type { LockRecord, LockStore, StoredRecord } from '../runtime/leaderelection.js';
import type { KubeApi } from './client.js';
import { isKubeError } from './errors.js';

interface Lease {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace: string; resourceVersion?: string; labels?: Record<string, string> };
  spec?: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

export const leasePaths = {
  leases: (ns: string) => `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases`,
  lease: (ns: string, name: string) =>
    `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/${encodeURIComponent(name)}`,
};

/** MicroTime wants exactly six fractional digits (RFC3339Micro); Date gives three. */
export function toMicroTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

function fromTime(value: string | undefined): number {
  const time = value ? Date.parse(value) : NaN;
  return Number.isFinite(time) ? time : 0;
}

export function recordOf(lease: Lease): StoredRecord {
  const spec = lease.spec ?? {};
  return {
    version: lease.metadata.resourceVersion ?? '',
    record: {
      holderIdentity: spec.holderIdentity ?? '',
      leaseDurationSeconds: spec.leaseDurationSeconds ?? 0,
      acquireTime: fromTime(spec.acquireTime),
      renewTime: fromTime(spec.renewTime),
      leaseTransitions: spec.leaseTransitions ?? 0,
    },
  };
}

export class LeaseStore implements LockStore {
  readonly description: string;

  constructor(
    private readonly client: KubeApi,
    private readonly namespace: string,
    private readonly name: string,
    /** Per request: a hung request must not outlive the renew deadline by much. */
    private readonly timeoutMs = 5_000,
  ) {
    this.description = `lease ${namespace}/${name}`;
  }

  async get(): Promise<StoredRecord | undefined> {
    try {
      return recordOf(
        await this.client.request<Lease>({
          method: 'GET',
          path: leasePaths.lease(this.namespace, this.name),
          timeoutMs: this.timeoutMs,
        }),
      );
    } catch (err) {
      if (isKubeError(err, 'NotFound')) return undefined;
      throw err;
    }
  }

  async create(record: LockRecord): Promise<StoredRecord> {
    const body = this.lease(record);
    return recordOf(
      await this.client.request<Lease>({
        method: 'POST',
        path: leasePaths.leases(this.namespace),
        body,
        timeoutMs: this.timeoutMs,
      }),
    );
  }

  async update(record: LockRecord, version: string): Promise<StoredRecord> {
    const body = this.lease(record, version);
    return recordOf(
      await this.client.request<Lease>({
        method: 'PUT',
        path: leasePaths.lease(this.namespace, this.name),
        body,
        timeoutMs: this.timeoutMs,
      }),
    );
  }

  private lease(record: LockRecord, resourceVersion?: string): Lease {
    return {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: this.name, namespace: this.namespace, resourceVersion },
      spec: {
        holderIdentity: record.holderIdentity,
        leaseDurationSeconds: record.leaseDurationSeconds,
        acquireTime: toMicroTime(record.acquireTime),
        renewTime: toMicroTime(record.renewTime),
        leaseTransitions: record.leaseTransitions,
      },
    };
  }
}
