// Leader election on a lock record (a coordination.k8s.io/v1 Lease), following client-go's
// leaderelection package: so that two replicas never both write.
//
// - A candidate reads the record every retry period. It takes the lock when there is none, when
//   the holder released it (empty holder), or when the record has not changed for a whole lease
//   duration *as measured on this process's own clock* since it last saw it change: no
//   comparison of timestamps written by another machine, so clock skew between nodes does not
//   matter, only the rate of time.
// - The leader renews every retry period. If no renewal has succeeded for the renew deadline
//   (shorter than the lease duration, so it gives up before anyone else may take over), or it
//   sees another holder, it has lost the lock: onStoppedLeading, and it must stop writing at once
//   (the operator exits and is restarted).
// - stop() releases a held lock (empty holder, 1 s duration), so a standby takes over within a
//   retry period instead of a lease duration.
// Writes are guarded by resourceVersion, so two candidates racing for an expired lock cannot
// both win.
import type { Logger } from 'pino';
import type { Clock, Timer } from './clock.js';

/** The lock's content (the fields of a Lease's spec). Times are epoch milliseconds. */
export interface LockRecord {
  holderIdentity: string;
  leaseDurationSeconds: number;
  acquireTime: number;
  renewTime: number;
  leaseTransitions: number;
}

export interface StoredRecord {
  record: LockRecord;
  /** Optimistic-concurrency token of the stored record. */
  version: string;
}

/** Where the record lives. create/update reject when someone else wrote first. */
export interface LockStore {
  readonly description: string;
  /** undefined when there is no record yet. */
  get(): Promise<StoredRecord | undefined>;
  create(record: LockRecord): Promise<StoredRecord>;
  update(record: LockRecord, version: string): Promise<StoredRecord>;
}

export interface LeaderElectorOptions {
  store: LockStore;
  identity: string;
  clock: Clock;
  logger: Logger;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  /** Random source for the acquire jitter; tests pass a fixed one. */
  random?: () => number;
  onStartedLeading(): void;
  /** Leadership was lost (not released by stop()): stop writing now. */
  onStoppedLeading(): void;
  /** The observed holder changed (for logs). */
  onNewLeader?(identity: string): void;
}

export type ElectorState = 'idle' | 'candidate' | 'leading' | 'lost' | 'stopped';

/** client-go's JitterFactor: a candidate waits retryPeriod × (1 + random × 1.2) between tries. */
const JITTER_FACTOR = 1.2;

export const DEFAULT_TIMING = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 } as const;

export class LeaderElector {
  private state: ElectorState = 'idle';
  private observed?: StoredRecord;
  /** When (own clock) the observed record last changed. */
  private observedAt = 0;
  private lastRenewAt = 0;
  private retryTimer?: Timer;
  private deadlineTimer?: Timer;
  private inFlight: Promise<unknown> = Promise.resolve();
  private reportedLeader?: string;

  constructor(private readonly options: LeaderElectorOptions) {
    if (!(options.renewDeadlineMs < options.leaseDurationMs))
      throw new Error('renew deadline must be shorter than the lease duration');
    if (!(options.retryPeriodMs < options.renewDeadlineMs))
      throw new Error('retry period must be shorter than the renew deadline');
  }

  get current(): ElectorState {
    return this.state;
  }

  isLeader(): boolean {
    return this.state === 'leading';
  }

  /** Starts trying to acquire the lock (first try at once). */
  run(): void {
    if (this.state !== 'idle') return;
    this.state = 'candidate';
    this.options.logger.info(
      { lock: this.options.store.description, identity: this.options.identity },
      'leader election: waiting to acquire the lock',
    );
    this.attempt();
  }

  /**
   * Stops campaigning; if leading, releases the lock so a standby can take over at once.
   * Waits for a try in flight first (its outcome decides whether there is something to release).
   */
  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    const wasActive = this.state === 'candidate' || this.state === 'leading';
    this.retryTimer?.cancel();
    this.deadlineTimer?.cancel();
    this.state = 'stopped';
    if (!wasActive) return;
    await this.inFlight.catch(() => undefined);
    // The last record seen says whether this process holds the lock (a try in flight may just have taken it).
    const observed = this.observed;
    if (!observed || observed.record.holderIdentity !== this.options.identity) return;
    const now = this.options.clock.now();
    try {
      await this.options.store.update(
        { ...observed.record, holderIdentity: '', leaseDurationSeconds: 1, acquireTime: now, renewTime: now },
        observed.version,
      );
      this.options.logger.info({ lock: this.options.store.description }, 'leader election: released the lock');
    } catch (err) {
      this.options.logger.warn(
        { lock: this.options.store.description, err: (err as Error).message },
        'leader election: could not release the lock; a standby takes over when it expires',
      );
    }
  }

  private attempt(): void {
    if (this.state !== 'candidate' && this.state !== 'leading') return;
    const run = this.tryAcquireOrRenew().then(
      (ok) => this.afterTry(ok),
      (err: Error) => {
        this.options.logger.warn(
          { lock: this.options.store.description, err: err.message },
          this.state === 'leading'
            ? 'leader election: renewal failed'
            : 'leader election: could not read or take the lock',
        );
        this.afterTry(false);
      },
    );
    this.inFlight = run;
  }

  private afterTry(ok: boolean): void {
    if (this.state === 'stopped' || this.state === 'lost') return;
    const now = this.options.clock.now();
    if (ok) {
      this.lastRenewAt = now;
      if (this.state === 'candidate') {
        this.state = 'leading';
        this.options.logger.info(
          { lock: this.options.store.description, identity: this.options.identity },
          'leader election: acquired the lock; leading',
        );
        this.options.onStartedLeading();
      }
      this.armDeadline();
      this.schedule(this.options.retryPeriodMs);
      return;
    }
    if (this.state === 'leading') {
      const other =
        this.observed &&
        this.observed.record.holderIdentity !== this.options.identity &&
        this.observed.record.holderIdentity !== '';
      if (other) return this.lose(`the lock is held by ${this.observed!.record.holderIdentity}`);
      if (now - this.lastRenewAt >= this.options.renewDeadlineMs)
        return this.lose('no renewal within the renew deadline');
      this.schedule(this.options.retryPeriodMs);
      return;
    }
    const random = this.options.random ?? Math.random;
    this.schedule(this.options.retryPeriodMs * (1 + random() * JITTER_FACTOR));
  }

  /** The leader gives up when the renew deadline passes without a renewal, even if a try hangs. */
  private armDeadline(): void {
    this.deadlineTimer?.cancel();
    const due = this.lastRenewAt + this.options.renewDeadlineMs - this.options.clock.now();
    this.deadlineTimer = this.options.clock.setTimer(due, () => {
      if (this.state === 'leading') this.lose('no renewal within the renew deadline');
    });
  }

  private schedule(delayMs: number): void {
    this.retryTimer?.cancel();
    this.retryTimer = this.options.clock.setTimer(delayMs, () => this.attempt());
  }

  private lose(why: string): void {
    this.state = 'lost';
    this.retryTimer?.cancel();
    this.deadlineTimer?.cancel();
    this.options.logger.error(
      { lock: this.options.store.description, identity: this.options.identity, why },
      'leader election: lost the lock',
    );
    this.options.onStoppedLeading();
  }

  /** One try, as client-go's tryAcquireOrRenew: true when this process holds the lock now. */
  private async tryAcquireOrRenew(): Promise<boolean> {
    const { store, identity, clock } = this.options;
    const now = clock.now();
    const mine: LockRecord = {
      holderIdentity: identity,
      leaseDurationSeconds: this.options.leaseDurationMs / 1000,
      acquireTime: now,
      renewTime: now,
      leaseTransitions: 0,
    };
    const current = await store.get();
    if (this.state === 'stopped') return false;
    if (!current) {
      this.observe(await store.create(mine));
      return true;
    }
    if (!this.observed || this.observed.version !== current.version) this.observe(current);
    const held = current.record.holderIdentity;
    const durationMs = (current.record.leaseDurationSeconds || this.options.leaseDurationMs / 1000) * 1000;
    // someone else's, not expired
    if (held !== '' && held !== identity && this.observedAt + durationMs > clock.now()) return false;
    const next: LockRecord =
      held === identity
        ? { ...mine, acquireTime: current.record.acquireTime, leaseTransitions: current.record.leaseTransitions }
        : { ...mine, leaseTransitions: current.record.leaseTransitions + 1 };
    this.observe(await store.update(next, current.version));
    return true;
  }

  private observe(stored: StoredRecord): void {
    this.observed = stored;
    this.observedAt = this.options.clock.now();
    const holder = stored.record.holderIdentity;
    if (holder !== '' && holder !== this.reportedLeader) {
      this.reportedLeader = holder;
      this.options.onNewLeader?.(holder);
    }
  }
}
