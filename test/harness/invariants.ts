// What must hold after any fault (issue 6), checked from the API server with the tests' own client:
//   - every selected namespace holds exactly one Secret of the credential, named as spec'd, with
//     the expected password, the operator's labels and its one controller ownerReference, and the
//     labels and annotations the secretTemplate puts there (and none it took away), and each
//     ServiceAccount the credential selects (listed, matched by serviceAccountSelector, not excluded)
//     has its entry exactly once, after the foreign entries, which are all still there in their order;
//   - ServiceAccounts it does not select (excluded, relabelled out) carry no entry of it;
//   - deselected namespaces (by label, by name pattern, excluded) hold no Secret of the credential
//     and no entry of it;
//   - foreign Secrets are untouched (same resourceVersion);
//   - the status counts are exactly right and Ready is True (when the credential still exists).
// checkInvariants() lists violations; waitForInvariants() polls until there are none and fails
// with the list otherwise.
import type { V1Secret } from '@kubernetes/client-node';
import { LABEL_CREDENTIAL, LABEL_MANAGED_BY, MANAGED_BY } from '../../src/api/v1alpha1.js';
import { authsOf, type Cluster } from './cluster.js';
import { waitFor } from '../../harness/wait.js';

export interface ServiceAccountExpectation {
  name: string;
  /** Entries others own, in order (ours is expected exactly once where selected), per namespace or for all. */
  foreign: string[] | ((namespace: string) => string[]);
  /**
   * Whether the credential selects this SA in a selected namespace (default true); false for one
   * it excludes or whose labels do not match serviceAccountSelector. Per namespace or for all.
   */
  selected?: boolean | ((namespace: string) => boolean);
}

/** Labels and annotations every copy must carry with these values (null: must not carry the key). */
export interface SecretMetadataExpectation {
  labels?: Record<string, string | null>;
  annotations?: Record<string, string | null>;
}

export interface Expected {
  credential: string;
  secretName: string;
  selected: string[];
  deselected: string[];
  serviceAccounts: ServiceAccountExpectation[];
  /** Secrets the operator does not own, with the resourceVersion they must keep. */
  foreignSecrets?: Array<{ namespace: string; name: string; resourceVersion: string }>;
  /** registry server -> password the Secret must carry. */
  passwords?: Record<string, string>;
  /** The credential is deleted: nothing of it may remain anywhere (selected must be empty). */
  deleted?: boolean;
  /** What spec.secretTemplate puts on (and took off) every copy. */
  secretMetadata?: SecretMetadataExpectation;
}

/** What is wrong with the metadata of a copy: the operator's own labels and ownerReference, and the template's keys. */
function copyMetadataProblems(
  where: string,
  copy: V1Secret,
  credential: string,
  want: SecretMetadataExpectation = {},
): string[] {
  const bad: string[] = [];
  const labels = copy.metadata?.labels ?? {};
  if (labels[LABEL_MANAGED_BY] !== MANAGED_BY || labels[LABEL_CREDENTIAL] !== credential)
    bad.push(
      `${where}: the operator's labels are ${JSON.stringify([labels[LABEL_MANAGED_BY], labels[LABEL_CREDENTIAL]])}`,
    );
  const controllers = (copy.metadata?.ownerReferences ?? []).filter((owner) => owner.controller);
  if (controllers.length !== 1 || controllers[0]!.kind !== 'RegistryCredential' || controllers[0]!.name !== credential)
    bad.push(`${where}: controller ownerReferences ${JSON.stringify(controllers.map((o) => `${o.kind}/${o.name}`))}`);
  for (const [kind, actual] of [
    ['labels', labels],
    ['annotations', copy.metadata?.annotations ?? {}],
  ] as const) {
    for (const [key, value] of Object.entries(want[kind] ?? {})) {
      const got = Object.hasOwn(actual, key) ? actual[key] : null;
      if (got !== value) bad.push(`${where}: ${kind} ${key}=${JSON.stringify(got)}, want ${JSON.stringify(value)}`);
    }
  }
  return bad;
}

export async function checkInvariants(cluster: Cluster, e: Expected): Promise<string[]> {
  const bad: string[] = [];
  const ours = async (ns: string) =>
    (await cluster.core.listNamespacedSecret({ namespace: ns, labelSelector: `${LABEL_CREDENTIAL}=${e.credential}` }))
      .items;
  const check = async (ns: string, selected: boolean) => {
    const secrets = await ours(ns);
    if (selected) {
      if (secrets.length !== 1 || secrets[0]!.metadata?.name !== e.secretName)
        bad.push(
          `${ns}: Secrets of ${e.credential}: [${secrets.map((s) => s.metadata?.name).join(',')}], want ` +
            `[${e.secretName}]`,
        );
      const copy = secrets.find((x) => x.metadata?.name === e.secretName);
      if (copy) bad.push(...copyMetadataProblems(`${ns}/${e.secretName}`, copy, e.credential, e.secretMetadata));
      for (const [server, password] of Object.entries(e.passwords ?? {})) {
        const got = authsOf(secrets.find((s) => s.metadata?.name === e.secretName))?.[server]?.password;
        if (got !== password)
          bad.push(`${ns}/${e.secretName}: ${server} has ${got === undefined ? 'no entry' : 'another password'}`);
      }
    } else if (secrets.length > 0)
      bad.push(`${ns}: deselected but holds [${secrets.map((s) => s.metadata?.name).join(',')}]`);
    for (const sa of e.serviceAccounts) {
      const names = await cluster.pullSecretNames(ns, sa.name);
      if (names === undefined) {
        bad.push(`${ns}/${sa.name}: ServiceAccount missing`);
        continue;
      }
      const foreign = names.filter((n) => n !== e.secretName);
      const mine = names.length - foreign.length;
      const want = typeof sa.foreign === 'function' ? sa.foreign(ns) : sa.foreign;
      if (JSON.stringify(foreign) !== JSON.stringify(want))
        bad.push(`${ns}/${sa.name}: foreign entries ${JSON.stringify(foreign)}, want ${JSON.stringify(want)}`);
      const saSelected = typeof sa.selected === 'function' ? sa.selected(ns) : (sa.selected ?? true);
      const wanted = selected && saSelected ? 1 : 0;
      if (mine !== wanted) bad.push(`${ns}/${sa.name}: ${mine} entries of ${e.secretName}, want ${wanted}`);
    }
  };
  await Promise.all([...e.selected.map((ns) => check(ns, true)), ...e.deselected.map((ns) => check(ns, false))]);
  for (const f of e.foreignSecrets ?? []) {
    const s = await cluster.getSecret(f.namespace, f.name);
    if (s?.metadata?.resourceVersion !== f.resourceVersion)
      bad.push(`foreign Secret ${f.namespace}/${f.name} ${s ? 'was modified' : 'was deleted'}`);
  }
  const cred = await cluster.getCredential(e.credential);
  if (e.deleted) {
    if (cred) bad.push(`${e.credential} still exists`);
  } else {
    const n = cred?.status?.namespaces;
    const want = { selected: e.selected.length, ready: e.selected.length, failed: 0 };
    if (!n || n.selected !== want.selected || n.ready !== want.ready || n.failed !== want.failed)
      bad.push(`status.namespaces ${JSON.stringify(n)}, want ${JSON.stringify(want)}`);
    const ready = cred?.status?.conditions?.find((c) => c.type === 'Ready');
    if (ready?.status !== 'True') bad.push(`Ready is ${ready?.status} (${ready?.reason}: ${ready?.message})`);
  }
  return bad;
}

/** Polls until every invariant holds; on timeout fails with the violations of the last check. */
export async function waitForInvariants(cluster: Cluster, e: Expected, timeoutMs = 120_000): Promise<void> {
  let last: string[] = [];
  try {
    await waitFor(async () => (last = await checkInvariants(cluster, e)).length === 0, {
      timeoutMs,
      intervalMs: 250,
      what: `invariants of ${e.credential}`,
    });
  } catch (err) {
    throw new Error(
      `${(err as Error).message}\n  ` +
        `${last.slice(0, 30).join('\n  ')}${last.length > 30 ? `\n  ... ${last.length - 30} more` : ''}`,
    );
  }
}

/** The fault suite's size: quick (CI, inside npm test) or full (npm run test:faults). */
export function faultsSize(): 'quick' | 'full' {
  return process.env.REGCRED_FAULTS_SIZE === 'full' ? 'full' : 'quick';
}

/** A seed from REGCRED_FAULTS_SEED (replay) or the clock, printed with `what`. */
export function faultSeed(what: string): number {
  const seed = Number(process.env.REGCRED_FAULTS_SEED ?? Date.now() % 100_000);
  process.stderr.write(
    `[${what}] size ${faultsSize()}, seed ${seed} (replay with REGCRED_FAULTS_SEED=${seed} ` +
      `REGCRED_FAULTS_SIZE=${faultsSize()})\n`,
  );
  return seed;
}
