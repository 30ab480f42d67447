// Pure: collects the changes namespace reconciles made, so the credential reconcile can report
// them as a few Events ("created Secret in 40 namespaces: a, b, c, ...") instead of one per write.
// Paced per reason (drainDue): the first changes after a quiet interval are reported at once (a
// fan-out, a rotation), later ones at most once per interval, each report summing up what changed
// since the one before: namespaces that trickle in cost one Event write per reason and interval,
// not one per namespace.

const MESSAGES: Record<string, string> = {
  SecretCreated: 'created the pull secret in',
  SecretUpdated: 'updated the pull secret in',
  SecretDeleted: 'deleted the pull secret from',
  PullSecretAdded: 'added the pull secret to ServiceAccounts',
  PullSecretRemoved: 'removed the pull secret from ServiceAccounts',
  PodsRecovered:
    'evicted Pods created before their ServiceAccount carried the pull secret (their controllers recreate them)',
};

/** Reasons whose places are objects (ServiceAccounts, Pods), counted as such, not as namespaces. */
const OBJECT_REASONS = new Set(['PullSecretAdded', 'PullSecretRemoved', 'PodsRecovered']);

const EXAMPLES = 5;

export interface ChangeReport {
  reason: string;
  message: string;
  /** Places (namespaces, objects) changed since the last report of this reason. */
  count: number;
}

export class ChangeLog {
  private readonly byReason = new Map<string, { places: Set<string>; examples: string[]; reportedAt?: number }>();

  add(reason: keyof typeof MESSAGES | string, where: string): void {
    let entry = this.byReason.get(reason);
    if (!entry) this.byReason.set(reason, (entry = { places: new Set(), examples: [] }));
    if (entry.places.has(where)) return; // the same place changed twice between two reports
    entry.places.add(where);
    if (entry.examples.length < EXAMPLES) entry.examples.push(where);
  }

  /** Every pending change as Event reasons and messages, whatever the pace; empties the log. */
  drain(): Array<{ reason: string; message: string }> {
    return this.drainAll().map(({ reason, message }) => ({ reason, message }));
  }

  /** Every pending report, whatever the pace; empties the log. */
  drainAll(): ChangeReport[] {
    return this.take(() => true, undefined);
  }

  /**
   * The reports due at `now`: a reason not reported within `intervalMs` at once, others once their
   * interval has passed. Returns them, and when the next held one falls due (undefined: none held).
   */
  drainDue(now: number, intervalMs: number): { reports: ChangeReport[]; nextDueAt?: number } {
    let nextDueAt: number | undefined;
    const reports = this.take((entry) => {
      const dueAt = entry.reportedAt === undefined ? now : entry.reportedAt + intervalMs;
      if (dueAt <= now) return true;
      nextDueAt = Math.min(nextDueAt ?? dueAt, dueAt);
      return false;
    }, now);
    return { reports, nextDueAt };
  }

  private take(
    due: (entry: { places: Set<string>; reportedAt?: number }) => boolean,
    now: number | undefined,
  ): ChangeReport[] {
    const out: ChangeReport[] = [];
    for (const [reason, entry] of this.byReason) {
      const { places, examples } = entry;
      if (places.size === 0 || !due(entry)) continue;
      const count = places.size;
      const what = MESSAGES[reason] ?? reason;
      const perObject = OBJECT_REASONS.has(reason);
      const noun = perObject ? '' : count === 1 ? ' 1 namespace' : ` ${count} namespaces`;
      const more = count > examples.length ? `, and ${count - examples.length} more` : '';
      const countText = perObject ? ` (${count})` : '';
      out.push({ reason, message: `${what}${noun}${countText}: ${examples.join(', ')}${more}`, count });
      this.byReason.set(reason, { places: new Set(), examples: [], reportedAt: now });
    }
    return out;
  }
}
