// Why namespaces of a credential failed to converge, as the namespace controller found: one
// failure per (credential, namespace), replaced by a later one, gone once the namespace converges
// or leaves. The namespace controller alone writes here; the credential and readiness controllers
// read it through NamespaceOutcomes. Memory of this process only: a restart finds the failures again.
import type { NamespaceFailure } from '../api/v1alpha1.js';

/** The read-only side: what the credential (fan-out) and readiness (counts) controllers see. */
export interface NamespaceOutcomes {
  failureIn(credential: string, uid: string, namespace: string): NamespaceFailure | undefined;
  /** Every failure of the credential, in the order they were first recorded. */
  failuresOf(credential: string, uid: string): readonly NamespaceFailure[];
}

export class NamespaceFailures implements NamespaceOutcomes {
  private readonly byCredential = new Map<string, { uid: string; failures: Map<string, NamespaceFailure> }>();

  failureIn(credential: string, uid: string, namespace: string): NamespaceFailure | undefined {
    return this.of(credential, uid)?.get(namespace);
  }

  failuresOf(credential: string, uid: string): readonly NamespaceFailure[] {
    return [...(this.of(credential, uid)?.values() ?? [])];
  }

  /** Records why a namespace failed (it replaces an earlier failure there). */
  fail(credential: string, uid: string, failure: NamespaceFailure): void {
    let entry = this.byCredential.get(credential);
    if (!entry || entry.uid !== uid) this.byCredential.set(credential, (entry = { uid, failures: new Map() }));
    entry.failures.set(failure.namespace, failure);
  }

  /** Forgets a namespace's failure (any uid of the credential); returns whether there was one. */
  clear(credential: string, namespace: string): boolean {
    const entry = this.byCredential.get(credential);
    if (!entry) return false;
    const had = entry.failures.delete(namespace);
    if (entry.failures.size === 0) this.byCredential.delete(credential);
    return had;
  }

  private of(credential: string, uid: string): Map<string, NamespaceFailure> | undefined {
    const entry = this.byCredential.get(credential);
    return entry && entry.uid === uid ? entry.failures : undefined;
  }
}
