// Credential verification, scheduled: every RegistryCredential declares the checks it wants (a
// server with the credential its copies hold, and its `verify` settings); identical checks are
// one check, shared by every RegistryCredential that wants it. Checks run here, off the
// reconcile path, a few at a time, each with its own deadline: a hanging registry never holds
// back a namespace's writes. A check runs when it is first wanted (so a changed credential, which
// is a different check, is checked at once) and then every `interval` (the shortest any owner
// asked for). When an outcome changes, the owners are told (they recount their status).
import { createHash } from 'node:crypto';
import type { Clock, Timer } from '../runtime/clock.js';
import type { CheckRequest, CheckResult } from './v2.js';

export interface WantedCheck extends CheckRequest {
  /** How often to check again. */
  intervalMs: number;
}

export interface CheckOutcome extends CheckResult {
  /** When it finished (epoch ms). */
  checkedAt: number;
}

export interface VerifierOptions {
  check: (request: CheckRequest) => Promise<CheckResult>;
  clock: Clock;
  /** Checks running at once. Default 4. */
  concurrency?: number;
  /** Told which owners' outcomes changed (after a check finished with another result than before). */
  onChange: (owners: string[]) => void;
  /** Each finished check, for metrics. */
  onResult?: (result: CheckResult) => void;
}

interface Entry {
  request: CheckRequest;
  owners: Map<string, number>; // owner -> its interval
  outcome?: CheckOutcome;
  running: boolean;
  queued: boolean;
  timer?: Timer;
}

/** Identifies a check without holding its secret: a hash over everything that changes its answer. */
export function checkKey(request: CheckRequest): string {
  return createHash('sha256')
    .update(
      JSON.stringify([
        request.server,
        request.username,
        request.password,
        request.repository ?? '',
        request.reference ?? '',
        request.ca ?? '',
      ]),
    )
    .digest('hex')
    .slice(0, 32);
}

export class Verifier {
  private readonly entries = new Map<string, Entry>();
  private readonly byOwner = new Map<string, Set<string>>();
  private readonly waiting: string[] = [];
  private running = 0;
  private stopped = false;

  constructor(private readonly options: VerifierOptions) {}

  /**
   * Declare every check `owner` wants now (the previous declaration is replaced); returns the
   * latest outcome of each, in the same order (undefined while it has not finished yet).
   */
  want(owner: string, checks: WantedCheck[]): Array<CheckOutcome | undefined> {
    const keys = checks.map((check) => checkKey(check));
    const previous = this.byOwner.get(owner) ?? new Set<string>();
    for (const key of previous) if (!keys.includes(key)) this.release(owner, key);
    this.byOwner.set(owner, new Set(keys));
    return checks.map((check, i) => {
      const key = keys[i];
      let entry = this.entries.get(key);
      if (!entry) {
        const { intervalMs: _interval, ...request } = check;
        entry = { request, owners: new Map(), running: false, queued: false };
        this.entries.set(key, entry);
        entry.owners.set(owner, check.intervalMs);
        this.enqueue(key);
      } else {
        const before = this.intervalOf(entry);
        entry.owners.set(owner, check.intervalMs);
        // A shorter interval than the one scheduled: reschedule from the last check.
        if (this.intervalOf(entry) < before && entry.outcome && !entry.running && !entry.queued)
          this.schedule(key, entry);
      }
      return entry.outcome;
    });
  }

  /** The owner is gone: its checks stop unless another owner wants them. */
  forget(owner: string): void {
    for (const key of this.byOwner.get(owner) ?? []) this.release(owner, key);
    this.byOwner.delete(owner);
  }

  stop(): void {
    this.stopped = true;
    for (const entry of this.entries.values()) entry.timer?.cancel();
  }

  /** Checks known (for tests and metrics). */
  get size(): number {
    return this.entries.size;
  }

  private release(owner: string, key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    entry.owners.delete(owner);
    if (entry.owners.size === 0) {
      entry.timer?.cancel();
      this.entries.delete(key);
    }
  }

  private intervalOf(entry: Entry): number {
    return Math.min(...entry.owners.values());
  }

  private enqueue(key: string): void {
    const entry = this.entries.get(key);
    if (!entry || entry.queued || entry.running || this.stopped) return;
    entry.queued = true;
    this.waiting.push(key);
    this.pump();
  }

  private pump(): void {
    const limit = this.options.concurrency ?? 4;
    while (this.running < limit && this.waiting.length) {
      const key = this.waiting.shift()!;
      const entry = this.entries.get(key);
      if (!entry) continue; // released while waiting
      entry.queued = false;
      entry.running = true;
      this.running++;
      void this.run(key, entry);
    }
  }

  private async run(key: string, entry: Entry): Promise<void> {
    let result: CheckResult;
    try {
      result = await this.options.check(entry.request);
    } catch (error) {
      // check() never throws by contract; a bug here must not stop verification
      result = {
        state: 'Unknown',
        reason: 'NotCheckable',
        message: `the check failed: ${error instanceof Error ? error.message : String(error)}`,
        requests: 0,
      };
    }
    this.running--;
    entry.running = false;
    const before = entry.outcome;
    entry.outcome = { ...result, checkedAt: this.options.clock.now() };
    this.options.onResult?.(result);
    if (this.entries.get(key) === entry && !this.stopped) {
      this.schedule(key, entry);
      const changed =
        !before ||
        before.state !== result.state ||
        before.reason !== result.reason ||
        before.message !== result.message;
      // An unchanged result is not news: the status (and its write) only follows changes.
      if (changed) this.options.onChange([...entry.owners.keys()]);
    }
    this.pump();
  }

  private schedule(key: string, entry: Entry): void {
    entry.timer?.cancel();
    const due = (entry.outcome?.checkedAt ?? this.options.clock.now()) + this.intervalOf(entry);
    entry.timer = this.options.clock.setTimer(Math.max(0, due - this.options.clock.now()), () => {
      entry.timer = undefined;
      this.enqueue(key);
    });
  }
}
