// Pure: collects the changes namespace reconciles made, so the credential reconcile can report
// them as a few Events ("created Secret in 40 namespaces: a, b, c, ...") instead of one per write.

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

export class ChangeLog {
  private readonly byReason = new Map<string, { places: Set<string>; examples: string[] }>();

  add(reason: keyof typeof MESSAGES | string, where: string): void {
    let entry = this.byReason.get(reason);
    if (!entry) this.byReason.set(reason, (entry = { places: new Set(), examples: [] }));
    if (entry.places.has(where)) return; // the same place changed twice between two reports
    entry.places.add(where);
    if (entry.examples.length < EXAMPLES) entry.examples.push(where);
  }

  /** The pending changes as Event reasons and messages; empties the log. */
  drain(): Array<{ reason: string; message: string }> {
    const out = [...this.byReason].map(([reason, { places, examples }]) => {
      const count = places.size;
      const what = MESSAGES[reason] ?? reason;
      const perObject = OBJECT_REASONS.has(reason);
      const noun = perObject ? '' : count === 1 ? ' 1 namespace' : ` ${count} namespaces`;
      const more = count > examples.length ? `, and ${count - examples.length} more` : '';
      const countText = perObject ? ` (${count})` : '';
      return { reason, message: `${what}${noun}${countText}: ${examples.join(', ')}${more}` };
    });
    this.byReason.clear();
    return out;
  }
}
