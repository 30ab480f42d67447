// When a credential key runs again to recount status after namespace work: the status side of
// the controller, kept apart from the namespace keys that do the writes (cert-manager splits a
// certificate's controllers the same way: a trigger, the issuing, and the readiness that reports).
//
// - After a namespace key wrote, the recount waits a pause that grows with what the last recount
//   cost (timing.ts), so during a fan-out recounts take a bounded share of the time.
// - When that namespace key was the last key in flight (a burst has just ended), the recount runs
//   at once: the final status is not held back by the pause.
// - A namespace key that ended a burst without writing (the echo of our own write) runs a pending
//   pause at once.
// - Routine status writes (status.ts: isRoutineChange, counts only) of one credential are paced:
//   a burst of STATUS_WRITE_BURST, then one per STATUS_WRITE_INTERVAL_MS, so namespaces arriving one
//   at a time do not cost a status write each. News (a flip, a failure, a new generation) is not.
// - While a credential is settled (every selected namespace ready, nothing failing) and its routine
//   writes are spent, namespace work that can only change counts does not wake the recount before
//   the next routine write may go: the recount (a scan of every namespace and ServiceAccount) would
//   find a write it must hold anyway. Namespaces arriving one at a time then cost one scan per
//   STATUS_WRITE_INTERVAL_MS, not one per namespace. News from a namespace key (a failure that came
//   or went, a Pod recovered) still wakes it.
import { credentialKey } from './keys.js';
import { STATUS_DELAY_BASE_MS, statusDelayMs } from './timing.js';

export const STATUS_WRITE_BURST = 3;
export const STATUS_WRITE_INTERVAL_MS = 30_000;

/** The part of the work queue the pacing uses. */
export interface PacedQueue {
  add(key: string): void;
  addAfter(key: string, delayMs: number): void;
  /** Turns a pending delayed add into an add now; returns whether there was one. */
  expedite(key: string): boolean;
  /** Keys waiting for a worker. */
  len(): number;
  /** Keys being worked on. */
  inProgress(): number;
  /** Whether `key` is being worked on now. */
  isProcessing(key: string): boolean;
}

export class StatusPacer {
  /** How long the last credential reconcile took, per credential (ms). */
  private readonly lastRunMs = new Map<string, number>();
  /** Routine status writes each credential may make now (a token bucket), as of `at`. */
  private readonly writeBudget = new Map<string, { tokens: number; at: number }>();

  /** Credentials whose last recount found every selected namespace ready and nothing failing. */
  private readonly settledCredentials = new Set<string>();

  constructor(
    private readonly queue: PacedQueue,
    private readonly now: () => number,
    private readonly baseDelayMs: number = STATUS_DELAY_BASE_MS,
  ) {}

  /**
   * The pause before a credential key woken by namespace work runs (also used by the mappers): at
   * least the pause that follows the recount's cost; for a settled credential, also until its next
   * routine status write may go.
   */
  delayFor(credential: string): number {
    return Math.max(this.pauseFor(credential), this.heldFor(credential));
  }

  /** The pause that follows what the credential's last recount cost. */
  private pauseFor(credential: string): number {
    return statusDelayMs(this.baseDelayMs, this.lastRunMs.get(credential));
  }

  /** The last recount of `credential` found it settled (or not). */
  settled(credential: string, settled: boolean): void {
    if (settled) this.settledCredentials.add(credential);
    else this.settledCredentials.delete(credential);
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

  /** A credential key finished after `ms`: the next pause follows its cost. */
  ran(credential: string, ms: number): void {
    this.lastRunMs.set(credential, ms);
  }

  forget(credential: string): void {
    this.lastRunMs.delete(credential);
    this.writeBudget.delete(credential);
    this.settledCredentials.delete(credential);
  }

  /**
   * A routine status write of `credential` at `now`: 0 if it may go now (and it is counted), else
   * how long until it may.
   */
  routineWriteWait(credential: string, now: number): number {
    const tokens = this.tokensAt(credential, now);
    const wait = waitForToken(tokens);
    this.writeBudget.set(credential, { tokens: wait === 0 ? tokens - 1 : tokens, at: now });
    return wait;
  }

  /**
   * A namespace key changed something the status counts: a write (`news` false: counts only), or
   * a failure that came or went, a Pod recovered, a cleanup step (`news`: the recount is not held).
   */
  namespaceChanged(credential: string, news: boolean): void {
    const key = credentialKey(credential);
    if (!news && this.heldFor(credential) > 0) this.queue.addAfter(key, this.delayFor(credential));
    else if (!this.lastInFlight(credential)) this.queue.addAfter(key, this.pauseFor(credential));
    else if (!this.queue.expedite(key)) this.queue.add(key);
  }

  /**
   * A namespace key found nothing to do: if it ended a burst, a pending pause runs now (unless
   * held). Here a running recount of the credential still counts as other work: a key that
   * changed nothing gives it nothing new to count, and expediting the credential key while it
   * runs would also cut short its own time-based requeue (a token retry), which with sources
   * failing turned into a loop of recounts.
   */
  namespaceUnchanged(credential: string): void {
    if (this.lastInFlight() && this.heldFor(credential) === 0) this.queue.expedite(credentialKey(credential));
  }

  /**
   * No other key is queued or being worked on: a burst of namespace work has just ended. With
   * `recountOf`, that credential's own recount may be running: it started before this key's write
   * and counted it as not ready, so it is run again at once after (the key is then added while in
   * progress) rather than after a pause: the final count is written right after the last write,
   * never a pause later.
   */
  private lastInFlight(recountOf?: string): boolean {
    const recounting = recountOf !== undefined && this.queue.isProcessing(credentialKey(recountOf)) ? 1 : 0;
    return this.queue.len() === 0 && this.queue.inProgress() <= 1 + recounting;
  }
}

/** How long until a bucket holding `tokens` has a whole one. */
function waitForToken(tokens: number): number {
  return tokens >= 1 ? 0 : Math.ceil((1 - tokens) * STATUS_WRITE_INTERVAL_MS);
}
