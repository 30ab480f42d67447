// Reporting: when a RegistryCredential's status and its change Events are written, and why one
// was held. The controllers say what happened (a namespace changed, a recount ran, a burst of work
// ended); this module decides when the readiness key (r/<credential>) runs and whether its write
// may go. Event correlation itself (repeats, similar messages, series pacing) is the recorder's
// (events.ts); the change summaries it writes are gathered here.
//
// Status recounts (the readiness key scans every namespace and ServiceAccount):
// - After namespace work, the recount waits a pause that grows with what the last recount cost
//   (timing.ts): during a fan-out, recounts take a bounded share of the time.
// - When the worker pool reports that a burst of work has ended (no key waiting, none in flight),
//   a recount waiting for that pause runs at once: the final status is not held back by it.
// - Routine status writes (status.ts: isRoutineChange, counts only) of one credential are paced:
//   a burst of STATUS_WRITE_BURST, then one per STATUS_WRITE_INTERVAL_MS, so namespaces arriving
//   one at a time do not cost a status write each. News (a flip, a failure, a new generation) is not.
// - While a credential is settled (every selected namespace ready, nothing failing) and its routine
//   writes are spent, namespace work that can only change counts does not wake the recount before
//   the next routine write may go: the recount would find a write it must hold anyway. News from a
//   namespace or Pod (a failure that came or went, a Pod recovered) still wakes it.
//
// Change summaries: the namespace and pod-recovery controllers report each change here (Secret
// created, entry added, Pod evicted); the readiness key writes them as one Event per reason
// ("created the pull secret in 40 namespaces: a, b, ..."), paced per reason by changes.ts.
import type { RegistryCredential } from '../api/v1alpha1.js';
import { type EventSink, SERIES_INTERVAL_MS } from '../events.js';
import { ChangeLog } from './changes.js';
import { credentialKey, readinessKey } from './keys.js';
import { STATUS_DELAY_BASE_MS, statusDelayMs } from './timing.js';

export const STATUS_WRITE_BURST = 3;
export const STATUS_WRITE_INTERVAL_MS = 30_000;

/** What the reporting layer asks of the work queue: adds, and turning a delayed add into one now. */
export interface ReportingQueue {
  add(key: string): void;
  addAfter(key: string, delayMs: number): void;
  /** Turns a pending delayed add into an add now; returns whether there was one. */
  expedite(key: string): boolean;
}

/** Why a status write is held, or that it may go. */
export type StatusWriteDecision = { write: true } | { write: false; heldMs: number; why: 'routine write budget spent' };

export class Reporting {
  /** How long the last recount took, per credential (ms). */
  private readonly lastRunMs = new Map<string, number>();
  /** Routine status writes each credential may make now (a token bucket), as of `at`. */
  private readonly writeBudget = new Map<string, { tokens: number; at: number }>();
  /** Credentials whose last recount found every selected namespace ready and nothing failing. */
  private readonly settledCredentials = new Set<string>();
  /** Keys (recounts, a deletion's release) waiting for a pause that the end of a burst cuts short. */
  private readonly atBurstEnd = new Set<string>();
  private readonly changes = new Map<string, ChangeLog>();

  constructor(
    private readonly queue: ReportingQueue,
    readonly events: EventSink,
    private readonly now: () => number,
    private readonly baseDelayMs: number = STATUS_DELAY_BASE_MS,
  ) {}

  // ---- status recounts ----------------------------------------------------------------------

  /**
   * The pause before a recount woken by namespace work: at least the pause that follows the
   * recount's cost; for a settled credential, also until its next routine status write may go.
   */
  delayFor(credential: string): number {
    return Math.max(this.pauseFor(credential), this.heldFor(credential));
  }

  /** The status counts may have changed (a namespace came or went, the kubelet served): recount after the pause. */
  statusMayChange(credential: string): void {
    this.queue.addAfter(readinessKey(credential), this.delayFor(credential));
  }

  /** The status needs a recount now (a new decision, a verification result). */
  recountNow(credential: string): void {
    this.queue.add(readinessKey(credential));
  }

  /**
   * A namespace key changed something the status counts: a write (`news` false: counts only), or
   * a failure that came or went, a Pod recovered, a cleanup step (`news`: the recount is not held).
   */
  namespaceChanged(credential: string, news: boolean): void {
    const key = readinessKey(credential);
    if (!news && this.heldFor(credential) > 0) {
      this.queue.addAfter(key, this.delayFor(credential));
      return;
    }
    this.queue.addAfter(key, this.pauseFor(credential));
    this.atBurstEnd.add(key);
  }

  /**
   * A namespace key removed what a credential being deleted had added there: its credential key
   * (which releases the finalizer once nothing is left) runs after the pause, or when the burst ends.
   */
  cleanedUp(credential: string): void {
    const key = credentialKey(credential);
    this.queue.addAfter(key, this.pauseFor(credential));
    this.atBurstEnd.add(key);
  }

  /** A namespace key found nothing to do: a pending recount runs when the burst ends (unless held). */
  namespaceUnchanged(credential: string): void {
    if (this.heldFor(credential) === 0) this.atBurstEnd.add(readinessKey(credential));
  }

  /**
   * The worker pool has no key waiting and none in flight: a burst of work has just ended. Every
   * recount waiting for its pause runs now, unless its write would be held anyway. A recount that
   * was running when the last namespace write landed counted it as not ready; it runs again here.
   */
  burstEnded(): void {
    const waiting = [...this.atBurstEnd];
    this.atBurstEnd.clear();
    for (const key of waiting) this.queue.expedite(key);
  }

  /** A recount of `credential` took `ms` and found it settled (or not): the next pause follows its cost. */
  recounted(credential: string, ms: number, settled: boolean): void {
    this.lastRunMs.set(credential, ms);
    if (settled) this.settledCredentials.add(credential);
    else this.settledCredentials.delete(credential);
  }

  /** A status write of `credential` at `now`: routine ones spend the credential's budget (and may be held). */
  statusWrite(credential: string, routine: boolean, now: number): StatusWriteDecision {
    if (!routine) return { write: true };
    const tokens = this.tokensAt(credential, now);
    const wait = waitForToken(tokens);
    this.writeBudget.set(credential, { tokens: wait === 0 ? tokens - 1 : tokens, at: now });
    return wait === 0 ? { write: true } : { write: false, heldMs: wait, why: 'routine write budget spent' };
  }

  forget(credential: string): void {
    this.lastRunMs.delete(credential);
    this.writeBudget.delete(credential);
    this.settledCredentials.delete(credential);
    this.atBurstEnd.delete(readinessKey(credential));
    this.changes.delete(credential);
  }

  /** The pause that follows what the credential's last recount cost. */
  private pauseFor(credential: string): number {
    return statusDelayMs(this.baseDelayMs, this.lastRunMs.get(credential));
  }

  /** How long a count-only recount of a settled credential would have to hold its write (0: not held). */
  private heldFor(credential: string): number {
    if (!this.settledCredentials.has(credential)) return 0;
    return waitForToken(this.tokensAt(credential, this.now()));
  }

  /** Routine status writes `credential` may make at `now` (the bucket refilled since its last use). */
  private tokensAt(credential: string, now: number): number {
    const budget = this.writeBudget.get(credential) ?? { tokens: STATUS_WRITE_BURST, at: now };
    return Math.min(STATUS_WRITE_BURST, budget.tokens + (now - budget.at) / STATUS_WRITE_INTERVAL_MS);
  }

  // ---- change summaries ---------------------------------------------------------------------

  /** A controller changed something of `credential` at `where` (a namespace, or namespace/object). */
  changed(credential: string, reason: string, where: string): void {
    let log = this.changes.get(credential);
    if (!log) this.changes.set(credential, (log = new ChangeLog()));
    log.add(reason, where);
  }

  /** What the writers of one credential record their changes into (apply.ts's WriteContext). */
  changesOf(credential: string): { recordChange(reason: string, where: string): void } {
    return { recordChange: (reason, where) => this.changed(credential, reason, where) };
  }

  /**
   * Writes the change summaries due now: the first changes after a quiet minute at once, later ones
   * once a minute (changes.ts). Returns when the next held one is due.
   */
  reportDueChanges(cred: RegistryCredential): number | undefined {
    const log = this.changes.get(cred.metadata.name);
    if (!log) return undefined;
    const { reports, nextDueAt } = log.drainDue(this.now(), SERIES_INTERVAL_MS);
    for (const { reason, message, count } of reports) this.events.summarize(cred, reason, message, count);
    return nextDueAt;
  }

  /** Writes every pending change summary now, whatever the pace (a credential being released). */
  reportAllChanges(cred: RegistryCredential): void {
    const log = this.changes.get(cred.metadata.name);
    for (const { reason, message, count } of log?.drainAll() ?? []) this.events.summarize(cred, reason, message, count);
  }
}

/** How long until a bucket holding `tokens` has a whole one. */
function waitForToken(tokens: number): number {
  return tokens >= 1 ? 0 : Math.ceil((1 - tokens) * STATUS_WRITE_INTERVAL_MS);
}
