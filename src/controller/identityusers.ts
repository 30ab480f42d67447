// Which RegistryCredentials use each owned-credential identity (providers/owned-credentials.ts):
// every one in the cache with a valid spec naming it, deleted ones included until they are gone
// (their copies are still in place while the finalizer runs). Read from the cache, not from what
// this process has reconciled so far, so that after a start a revocation still waits for every
// user. Specs are parsed once per (uid, generation).
import { parseSpec, type RegistryCredential } from '../api/v1alpha1.js';
import type { OwnedIdentity, Providers } from '../providers/index.js';

export class IdentityUsers {
  private readonly parsed = new Map<string, { version: string; identities: OwnedIdentity[] }>();

  constructor(
    private readonly credentials: { list(): Iterable<RegistryCredential> },
    private readonly providers: Providers,
    private readonly sourceNamespace: string,
  ) {}

  /** The identities a credential's current spec names (none for an invalid spec). */
  identitiesOf(cred: RegistryCredential): OwnedIdentity[] {
    const version = `${cred.metadata.uid}/${cred.metadata.generation ?? 0}`;
    const known = this.parsed.get(cred.metadata.name);
    if (known?.version === version) return known.identities;
    const parsed = parseSpec(cred.spec);
    const identities = parsed.ok ? this.providers.ownedIdentities(parsed.spec, this.sourceNamespace) : [];
    this.parsed.set(cred.metadata.name, { version, identities });
    return identities;
  }

  /** Every RegistryCredential using the identity `key` (kind/identity), by name. */
  usersOf = (key: string, except?: string): Set<string> => {
    const users = new Set<string>();
    const seen = new Set<string>();
    for (const cred of this.credentials.list()) {
      const name = cred.metadata.name;
      seen.add(name);
      if (name === except) continue;
      if (this.identitiesOf(cred).some((owned) => owned.key === key)) users.add(name);
    }
    for (const name of [...this.parsed.keys()]) if (!seen.has(name)) this.parsed.delete(name);
    return users;
  };
}
