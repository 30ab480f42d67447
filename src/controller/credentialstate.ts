// What the operator remembers about each RegistryCredential between reconciles, in one place with
// one owner per part:
// - the credential key decides: the parsed spec, the target Secret name, the rendered document,
//   the source problems and token times (decide / rejectSpec / setSources), and remembers the last
//   good value of each source (lastGood);
// - namespace keys act on that decision (isCurrentFor tells them it matches the object they
//   read) and record what happened: per-namespace failures and the changes they made;
// - the credential key counts the failures into status and drains the changes into Events.
// Everything here is memory of this process: a restart starts afresh from the caches.
import type { NamespaceFailure, RegistryCredential, RegistryCredentialSpec } from '../api/v1alpha1.js';
import type { Auths } from '../dockerconfig.js';
import type { SourceProblem, TokenTiming } from '../providers/provider.js';
import { ChangeLog, type ChangeReport } from './changes.js';

/** Short-lived tokens: earliest expiry of those served, oldest refresh, when to look again. */
export type TokenTimes = TokenTiming;

/** What the sources resolved to (controller/resolve.ts). */
export interface SourceResolution {
  /** The rendered .dockerconfigjson, or undefined while a source has no good value yet (held). */
  document?: string;
  /** The merged auths behind `document`, and which spec entry each key came from (for verification). */
  auths?: Auths;
  origins?: Record<string, number>;
  failure?: SourceProblem;
  warning?: SourceProblem;
  tokens: TokenTimes;
}

export class CredentialState {
  /** The spec as of the last credential reconcile; undefined before it, or while it is invalid. */
  spec?: RegistryCredentialSpec;
  specError?: string;
  /** The generation the spec was read at (-1: none yet). */
  generation = -1;
  secretName: string;
  sources: SourceResolution = { tokens: {} };
  /** Last good auths per registry entry (keyed by the entry's JSON), served while its source is broken. */
  readonly lastGood = new Map<string, Auths>();
  private readonly failures = new Map<string, NamespaceFailure>();
  private readonly changes = new ChangeLog();
  /** Stuck-pod recovery: Pods acted on (uid -> namespace; at most once each), evictions done, refused ones. */
  readonly handledPods = new Map<string, string>();
  recoveredPods = 0;
  readonly blockedEvictions = new Map<string, { namespace: string; message: string; retryAt: number }>();

  constructor(
    readonly uid: string,
    name: string,
  ) {
    this.secretName = name;
  }

  // ---- the credential key's decision ---------------------------------------------------------

  /** Takes a valid spec. Returns whether it differs from the one decided before. */
  decide(cred: RegistryCredential, spec: RegistryCredentialSpec, secretName: string): boolean {
    const generation = cred.metadata.generation ?? 0;
    const changed = this.generation !== generation || this.spec === undefined;
    this.spec = spec;
    this.specError = undefined;
    this.generation = generation;
    this.secretName = secretName;
    return changed;
  }

  /** An invalid spec: nothing is written or deleted until it is fixed. */
  rejectSpec(message: string): void {
    this.spec = undefined;
    this.specError = message;
  }

  setSources(resolution: SourceResolution): void {
    this.sources = resolution;
  }

  /** The document to write, or undefined while it is held. */
  get document(): string | undefined {
    return this.sources.document;
  }

  /** Whether this decision was made for the object a namespace key has just read. */
  isCurrentFor(cred: RegistryCredential): boolean {
    return this.uid === cred.metadata.uid && this.generation === (cred.metadata.generation ?? 0);
  }

  // ---- what namespace keys found -------------------------------------------------------------

  failureIn(namespace: string): NamespaceFailure | undefined {
    return this.failures.get(namespace);
  }

  hasFailureIn(namespace: string): boolean {
    return this.failures.has(namespace);
  }

  /** Records why a namespace failed (it replaces an earlier failure there). */
  fail(failure: NamespaceFailure): void {
    this.failures.set(failure.namespace, failure);
  }

  /** Forgets a namespace's failure; returns whether there was one. */
  clearFailure(namespace: string): boolean {
    return this.failures.delete(namespace);
  }

  /** Forgets the failures of namespaces for which `keep` is false. */
  retainFailures(keep: (namespace: string) => boolean): void {
    for (const namespace of [...this.failures.keys()]) if (!keep(namespace)) this.failures.delete(namespace);
  }

  failureList(): NamespaceFailure[] {
    return [...this.failures.values()];
  }

  recordChange(reason: string, where: string): void {
    this.changes.add(reason, where);
  }

  /** Every change since the last report, whatever the pace; empties the log. */
  drainChanges(): ChangeReport[] {
    return this.changes.drainAll();
  }

  /** The reports due now (changes.ts paces them per reason), and when the next held one is due. */
  drainDueChanges(now: number, intervalMs: number): { reports: ChangeReport[]; nextDueAt?: number } {
    return this.changes.drainDue(now, intervalMs);
  }
}

/** The states of every RegistryCredential this process has seen, by name. */
export class CredentialStates {
  private readonly byName = new Map<string, CredentialState>();

  /** The state of `cred`, started afresh when there is none or the name now has another uid. */
  of(cred: RegistryCredential): CredentialState {
    let state = this.byName.get(cred.metadata.name);
    if (!state || state.uid !== cred.metadata.uid) {
      state = new CredentialState(cred.metadata.uid, cred.metadata.name);
      // the count lives in status across restarts
      state.recoveredPods = cred.status?.recoveredPods ?? 0;
      this.byName.set(cred.metadata.name, state);
    }
    return state;
  }

  get(name: string): CredentialState | undefined {
    return this.byName.get(name);
  }

  forget(name: string): void {
    this.byName.delete(name);
  }
}
