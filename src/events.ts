// Kubernetes Events on RegistryCredentials. Identical events within a window are sent once, so a
// failure that repeats on every retry does not flood the API server. Failures to record an
// Event are logged and never fail a reconcile.
import type { Logger } from 'pino';
import { API_VERSION, KIND } from './api/v1alpha1.js';
import type { Resources } from './k8s/resources.js';
import type { Clock } from './runtime/clock.js';

/** A RegistryCredential (the default), or another object given with its kind and namespace (a Pod). */
export interface EventTarget {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; uid: string; resourceVersion?: string; namespace?: string };
}

export interface EventSink {
  record(target: EventTarget, type: 'Normal' | 'Warning', reason: string, message: string): void;
}

export class EventRecorder implements EventSink {
  private readonly recent = new Map<string, number>();

  constructor(
    private readonly resources: Resources,
    private readonly clock: Clock,
    private readonly logger: Logger,
    /** Events about cluster-scoped objects live in this namespace (like client-go: "default"). */
    private readonly namespace = 'default',
    private readonly dedupWindowMs = 10 * 60_000,
  ) {}

  record(target: EventTarget, type: 'Normal' | 'Warning', reason: string, message: string): void {
    const now = this.clock.now();
    const key = `${target.metadata.uid}|${type}|${reason}|${message}`;
    const last = this.recent.get(key);
    if (last !== undefined && now - last < this.dedupWindowMs) return;
    this.recent.set(key, now);
    if (this.recent.size > 10_000) this.prune(now);
    const time = new Date(now).toISOString();
    const event = {
      apiVersion: 'v1',
      kind: 'Event',
      // Events about a namespaced object live in its namespace; about a RegistryCredential, in `default`.
      metadata: { generateName: `${target.metadata.name}.`, namespace: target.metadata.namespace ?? this.namespace },
      involvedObject: {
        apiVersion: target.apiVersion ?? API_VERSION,
        kind: target.kind ?? KIND,
        ...(target.metadata.namespace ? { namespace: target.metadata.namespace } : {}),
        name: target.metadata.name,
        uid: target.metadata.uid,
        resourceVersion: target.metadata.resourceVersion,
      },
      type,
      reason,
      message: message.slice(0, 1024),
      source: { component: 'regcred-operator' },
      reportingComponent: 'regcred-operator',
      reportingInstance: process.env.HOSTNAME ?? 'regcred-operator',
      firstTimestamp: time,
      lastTimestamp: time,
      count: 1,
    };
    this.resources
      .createEvent(event as never)
      .catch((err: Error) => this.logger.warn({ err: err.message, reason }, 'could not record event'));
  }

  private prune(now: number): void {
    for (const [key, recordedAt] of this.recent) if (now - recordedAt >= this.dedupWindowMs) this.recent.delete(key);
  }
}
