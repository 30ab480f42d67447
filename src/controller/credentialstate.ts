// What the credential controller decides about each RegistryCredential, and what it remembers
// between its reconciles. The decision (spec, Secret name, resolved sources) is published whole
// as a frozen CredentialDecision: the other controllers read it, none of them changes it. The last
// good value of each source (lastGood) stays with the credential controller alone.
// Everything here is memory of this process: a restart starts afresh from the caches.
import type { RegistryCredential, RegistryCredentialSpec } from '../api/v1alpha1.js';
import type { Auths } from '../dockerconfig.js';
import type { SourceProblem, TokenTiming } from '../providers/provider.js';

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

/** One credential key's decision, as the namespace, pod-recovery and readiness controllers read it. */
export interface CredentialDecision {
  readonly uid: string;
  /** The generation the spec was read at (-1: none yet). */
  readonly generation: number;
  /** The parsed spec; undefined before the first decision, or while the spec is invalid. */
  readonly spec?: RegistryCredentialSpec;
  readonly specError?: string;
  readonly secretName: string;
  readonly sources: SourceResolution;
}

/** Whether `decision` was made for the object a key has just read (same uid and generation). */
export function isDecisionFor(decision: CredentialDecision | undefined, cred: RegistryCredential): boolean {
  return (
    decision !== undefined &&
    decision.uid === cred.metadata.uid &&
    decision.generation === (cred.metadata.generation ?? 0)
  );
}

/** The read-only side of the credential controller: its latest decision per credential name. */
export interface Decisions {
  decisionOf(credential: string): CredentialDecision | undefined;
}

export class CredentialState {
  /** Last good auths per registry entry (keyed by the entry's JSON), served while its source is broken. */
  readonly lastGood = new Map<string, Auths>();
  private current: CredentialDecision;

  constructor(
    readonly uid: string,
    name: string,
  ) {
    this.current = Object.freeze({ uid, generation: -1, secretName: name, sources: { tokens: {} } });
  }

  /** The decision as published (frozen: a new object on every change). */
  get decision(): CredentialDecision {
    return this.current;
  }

  get spec(): RegistryCredentialSpec | undefined {
    return this.current.spec;
  }

  get specError(): string | undefined {
    return this.current.specError;
  }

  get generation(): number {
    return this.current.generation;
  }

  get secretName(): string {
    return this.current.secretName;
  }

  get sources(): SourceResolution {
    return this.current.sources;
  }

  /** The document to write, or undefined while it is held. */
  get document(): string | undefined {
    return this.current.sources.document;
  }

  /** Takes a valid spec. Returns whether it differs from the one decided before. */
  decide(cred: RegistryCredential, spec: RegistryCredentialSpec, secretName: string): boolean {
    const generation = cred.metadata.generation ?? 0;
    const changed = this.current.generation !== generation || this.current.spec === undefined;
    this.publish({ spec, specError: undefined, generation, secretName });
    return changed;
  }

  /** An invalid spec: nothing is written or deleted until it is fixed. */
  rejectSpec(message: string): void {
    this.publish({ spec: undefined, specError: message });
  }

  setSources(resolution: SourceResolution): void {
    this.publish({ sources: resolution });
  }

  /** Whether this decision was made for the object a key has just read. */
  isCurrentFor(cred: RegistryCredential): boolean {
    return isDecisionFor(this.current, cred);
  }

  private publish(change: Partial<CredentialDecision>): void {
    this.current = Object.freeze({ ...this.current, ...change });
  }
}

/** The states of every RegistryCredential this process has seen, by name. */
export class CredentialStates implements Decisions {
  private readonly byName = new Map<string, CredentialState>();

  /** The state of `cred`, started afresh when there is none or the name now has another uid. */
  of(cred: RegistryCredential): CredentialState {
    let state = this.byName.get(cred.metadata.name);
    if (!state || state.uid !== cred.metadata.uid) {
      state = new CredentialState(cred.metadata.uid, cred.metadata.name);
      this.byName.set(cred.metadata.name, state);
    }
    return state;
  }

  get(name: string): CredentialState | undefined {
    return this.byName.get(name);
  }

  decisionOf(name: string): CredentialDecision | undefined {
    return this.byName.get(name)?.decision;
  }

  forget(name: string): void {
    this.byName.delete(name);
  }
}
