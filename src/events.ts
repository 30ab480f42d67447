// Kubernetes Events, correlated the way client-go's EventCorrelator does, so that an operator
// serving thousands of namespaces adds few writes of its own:
// - one Event per object, type, reason and message: a repeat adds to its count (a merge patch of
//   count, lastTimestamp and message) instead of a new Event;
// - beyond 10 distinct messages for one object, type and reason within 10 minutes, the rest are
//   combined into one Event, "(combined from similar events): <latest message>";
// - counts of repeats are written at most once per SERIES_INTERVAL_MS for each Event (client-go's
//   spam filter drops what exceeds its rate; this one adds it to the next write instead);
// - a Warning whose message is new is written at once, whatever the pace: failures are never held;
// - summaries (summarize): one Event per object and reason whose message the caller replaces and
//   whose count grows by the occurrences it reports; the caller paces them (controller/changes.ts).
// An Event that the API server has dropped meanwhile (its TTL, 1 h by default) is created again.
// Failures to record an Event are logged and never fail a reconcile.
import type { Logger } from 'pino';
import { API_VERSION, KIND } from './api/v1alpha1.js';
import { isKubeError } from './k8s/errors.js';
import type { Resources } from './k8s/resources.js';
import type { Clock, Timer } from './runtime/clock.js';

/** A RegistryCredential (the default), or another object given with its kind and namespace (a Pod). */
export interface EventTarget {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; uid: string; resourceVersion?: string; namespace?: string };
}

export type EventType = 'Normal' | 'Warning';

export interface EventSink {
  record(target: EventTarget, type: EventType, reason: string, message: string): void;
  /** The latest summary of the (object, reason) series, `count` more occurrences; written at once. */
  summarize(target: EventTarget, reason: string, message: string, count: number): void;
}

/** Repeats of one Event are written at most this often. */
export const SERIES_INTERVAL_MS = 60_000;
/** client-go's aggregation: this many distinct messages per object, type and reason within the window... */
const MAX_SIMILAR = 10;
const SIMILAR_WINDOW_MS = 10 * 60_000;
/** ...an Event not written for this long is taken as gone (the API server's default event TTL). */
const SERIES_LIFETIME_MS = 60 * 60_000;
const MAX_SERIES = 4096;

interface Series {
  target: EventTarget;
  type: EventType;
  reason: string;
  /** The Event's name once created. */
  name?: string;
  count: number;
  message: string;
  firstTimestamp?: string;
  /** Occurrences not written yet, and the message to write with them. */
  pending: number;
  pendingMessage: string;
  lastWriteAt: number;
  timer?: Timer;
  /** The writes of this Event, one after another. */
  writing: Promise<void>;
}

export class EventRecorder implements EventSink {
  private readonly series = new Map<string, Series>();
  private readonly similar = new Map<string, { since: number; messages: Set<string> }>();

  constructor(
    private readonly resources: Resources,
    private readonly clock: Clock,
    private readonly logger: Logger,
    /** Events about cluster-scoped objects live in this namespace (like client-go: "default"). */
    private readonly namespace = 'default',
    private readonly intervalMs = SERIES_INTERVAL_MS,
  ) {}

  record(target: EventTarget, type: EventType, reason: string, message: string): void {
    const now = this.clock.now();
    const text = message.slice(0, 1024);
    const similarKey = `${target.metadata.uid}|${type}|${reason}`;
    let group = this.similar.get(similarKey);
    if (!group || now - group.since >= SIMILAR_WINDOW_MS)
      this.similar.set(similarKey, (group = { since: now, messages: new Set() }));
    if (!group.messages.has(text) && group.messages.size < MAX_SIMILAR) group.messages.add(text);
    const combined = !group.messages.has(text);
    const key = combined ? `${similarKey}|combined` : `${similarKey}|${text}`;
    const shown = combined ? `(combined from similar events): ${text}`.slice(0, 1024) : text;
    const series = this.live(key, now);
    if (!series) {
      this.start(key, target, type, reason, shown, 1);
      return;
    }
    series.pending++;
    const news = type === 'Warning' && shown !== series.message;
    series.pendingMessage = shown;
    if (news) this.writeNow(series);
    else this.writeLater(series, now);
  }

  summarize(target: EventTarget, reason: string, message: string, count: number): void {
    const now = this.clock.now();
    const key = `${target.metadata.uid}|Normal|${reason}|summary`;
    const text = message.slice(0, 1024);
    const series = this.live(key, now);
    if (!series) {
      this.start(key, target, 'Normal', reason, text, count);
      return;
    }
    series.pending += count;
    series.pendingMessage = text;
    this.writeNow(series);
  }

  /** Writes every pending count now (on shutdown), and waits for the writes under way. */
  async flush(): Promise<void> {
    for (const series of this.series.values()) if (series.pending > 0) this.writeNow(series);
    await Promise.all([...this.series.values()].map((series) => series.writing));
  }

  /** The series of `key` if its Event is still there to update. */
  private live(key: string, now: number): Series | undefined {
    const series = this.series.get(key);
    if (!series) return undefined;
    if (now - series.lastWriteAt < SERIES_LIFETIME_MS) return series;
    series.timer?.cancel();
    this.series.delete(key);
    return undefined;
  }

  private start(key: string, target: EventTarget, type: EventType, reason: string, message: string, count: number) {
    const series: Series = {
      target,
      type,
      reason,
      count: 0,
      message,
      pending: count,
      pendingMessage: message,
      lastWriteAt: this.clock.now(),
      writing: Promise.resolve(),
    };
    this.series.set(key, series);
    if (this.series.size > MAX_SERIES) this.prune();
    this.writeNow(series);
  }

  private writeLater(series: Series, now: number): void {
    if (series.timer) return;
    const due = Math.max(0, series.lastWriteAt + this.intervalMs - now);
    series.timer = this.clock.setTimer(due, () => {
      series.timer = undefined;
      this.writeNow(series);
    });
  }

  private writeNow(series: Series): void {
    series.timer?.cancel();
    series.timer = undefined;
    series.lastWriteAt = this.clock.now();
    series.writing = series.writing.then(() => this.write(series));
  }

  private async write(series: Series): Promise<void> {
    if (series.pending === 0) return;
    const pending = series.pending;
    const message = series.pendingMessage;
    series.pending = 0;
    const time = new Date(this.clock.now()).toISOString();
    try {
      if (series.name) {
        try {
          await this.resources.patchEvent(this.namespaceOf(series.target), series.name, {
            count: series.count + pending,
            lastTimestamp: time,
            message,
          });
          series.count += pending;
          series.message = message;
          return;
        } catch (err) {
          if (!isKubeError(err, 'NotFound')) throw err;
          series.name = undefined; // expired meanwhile: a new Event carries the whole count
        }
      }
      series.firstTimestamp ??= time;
      const created = await this.resources.createEvent(
        this.eventOf(series, series.count + pending, message, series.firstTimestamp, time) as never,
      );
      series.name = created.metadata?.name;
      series.count += pending;
      series.message = message;
    } catch (err) {
      this.logger.warn({ err: (err as Error).message, reason: series.reason }, 'could not record event');
    }
  }

  private namespaceOf(target: EventTarget): string {
    // Events about a namespaced object live in its namespace; about a RegistryCredential, in `default`.
    return target.metadata.namespace ?? this.namespace;
  }

  private eventOf(series: Series, count: number, message: string, first: string, last: string) {
    const { target } = series;
    return {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { generateName: `${target.metadata.name}.`, namespace: this.namespaceOf(target) },
      involvedObject: {
        apiVersion: target.apiVersion ?? API_VERSION,
        kind: target.kind ?? KIND,
        ...(target.metadata.namespace ? { namespace: target.metadata.namespace } : {}),
        name: target.metadata.name,
        uid: target.metadata.uid,
        resourceVersion: target.metadata.resourceVersion,
      },
      type: series.type,
      reason: series.reason,
      message,
      source: { component: 'regcred-operator' },
      reportingComponent: 'regcred-operator',
      reportingInstance: process.env.HOSTNAME ?? 'regcred-operator',
      firstTimestamp: first,
      lastTimestamp: last,
      count,
    };
  }

  /** Forgets the Events written longest ago (their later repeats start new Events). */
  private prune(): void {
    const now = this.clock.now();
    for (const [key, series] of this.series) {
      if (this.series.size <= MAX_SERIES * 0.75) break;
      if (series.pending === 0 || now - series.lastWriteAt >= SERIES_LIFETIME_MS) {
        series.timer?.cancel();
        this.series.delete(key);
      }
    }
    for (const [key, group] of this.similar) if (now - group.since >= SIMILAR_WINDOW_MS) this.similar.delete(key);
  }
}
