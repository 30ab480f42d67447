// `kubectl regcred doctor`, the reasoning: given what was read from the cluster about one image of
// a Pod (or an image a ServiceAccount would pull), walk the chain the kubelet walks and stop at the
// first broken link, with the fix. Pure: every fact is gathered before (gather.ts), the live
// registry check is passed in as a function, and nothing here prints.
import { lookupCredentials, keyringIndexKey, type KeyringEntry, urlsMatch } from '../registry/keyring.js';
import { InvalidImageReference, parseImageReference, type ImageReference } from '../registry/reference.js';
import type { CheckResult } from '../registry/v2.js';
import { LABEL_CREDENTIAL } from '../api/v1alpha1.js';
import { cachedImageStep, kubeletDelivery, type KubeletStatus, type NodeFact } from './kubelet-doctor.js';

export type StepStatus = 'ok' | 'broken' | 'warning' | 'info' | 'skipped';

export interface Step {
  /** reference | pullSecrets | secrets | kubelet | credential | events | node | live */
  id: StepId;
  title: string;
  status: StepStatus;
  /** What was found, one line each. Never secret material. */
  details: string[];
  /** For a broken link: what to do. */
  fix?: string;
}

export type StepId = 'reference' | 'pullSecrets' | 'secrets' | 'kubelet' | 'credential' | 'events' | 'node' | 'live';

export interface Diagnosis {
  image: string;
  container?: string;
  /** ok: the pull would work (or worked); broken: it would not, `cause` says why. */
  verdict: 'ok' | 'broken' | 'unknown';
  /** One line: the verdict in words. */
  summary: string;
  steps: Step[];
}

/** A Secret as far as the user could read it. */
export type SecretFact =
  | { state: 'found'; type: string; data: Record<string, string>; labels: Record<string, string> }
  | { state: 'missing'; foundInNamespaces?: string[] }
  | { state: 'forbidden'; message: string };

export interface CredentialFact {
  name: string;
  spec: {
    registries?: Array<{ server?: string; verify?: { enabled?: boolean } }>;
    secretName?: string;
    serviceAccounts?: string[];
    podRecovery?: { enabled?: boolean };
    suspend?: boolean;
    delivery?: { secrets?: boolean; kubelet?: boolean };
  };
  status?: {
    conditions?: Array<{ type: string; status: string; reason?: string; message?: string }>;
    failures?: Array<{ namespace: string; reason: string; message: string }>;
    registries?: Array<{ server: string; state: string; reason?: string; message?: string }>;
    kubelet?: KubeletStatus;
    /** What `kubectl regcred status` shows besides (status.ts). */
    namespaces?: { selected: number; ready: number; failed: number };
    recoveredPods?: number;
    credentialsExpireAt?: string;
    lastRefreshTime?: string;
  };
}

export interface PullEvent {
  reason: string;
  message: string;
  type: string;
  count: number;
  lastSeen?: string;
}

export interface DoctorFacts {
  namespace: string;
  image: string;
  container?: string;
  /** The Pod, for `doctor pod` (absent for `doctor image`). */
  pod?: {
    name: string;
    imagePullSecrets: string[];
    /** The container's state: waiting reason, or running/terminated. */
    containerState?: { waitingReason?: string; waitingMessage?: string; running?: boolean };
  };
  serviceAccountName: string;
  /** The ServiceAccount's imagePullSecrets now; 'missing' or a permission problem. */
  serviceAccount:
    | { state: 'found'; imagePullSecrets: string[]; labels?: Record<string, string> }
    | { state: 'missing' }
    | { state: 'forbidden'; message: string };
  /** The namespace's labels (RegistryCredential selection), when readable. */
  namespaceLabels?: Record<string, string>;
  /** The kubelet of the Pod's node (doctor pod of a scheduled Pod). */
  node?: NodeFact;
  /** Every Secret named by the Pod (or SA), by name. */
  secrets: Record<string, SecretFact>;
  /** RegistryCredentials, or a permission problem reading them. */
  credentials: CredentialFact[] | { forbidden: string };
  /** The Pod's pull Events for this image, oldest first. */
  events: PullEvent[];
  /** Secrets of the namespace that a RegistryCredential manages (name and credential), when readable. */
  managedSecrets: Array<{ name: string; credential: string }>;
}

export interface DiagnoseOptions {
  /** The live check; undefined: --no-live. */
  live?: (request: {
    server: string;
    username: string;
    password: string;
    repository: string;
    reference: string;
  }) => Promise<CheckResult>;
}

/** The kubelet's view of one pull: walk the chain, stop at the first broken link. */
export async function diagnose(facts: DoctorFacts, options: DiagnoseOptions = {}): Promise<Diagnosis> {
  const steps: Step[] = [];
  const done = (verdict: Diagnosis['verdict'], summary: string): Diagnosis => ({
    image: facts.image,
    ...(facts.container ? { container: facts.container } : {}),
    verdict,
    summary,
    steps,
  });

  // 1. the reference, as the kubelet normalizes it
  let reference: ImageReference;
  try {
    reference = parseImageReference(facts.image);
  } catch (error) {
    const message = error instanceof InvalidImageReference ? error.message : String(error);
    steps.push({
      id: 'reference',
      title: 'Image reference',
      status: 'broken',
      details: [message],
      fix: 'Fix the image name in the Pod spec: the kubelet cannot parse it (InvalidImageName).',
    });
    return done('broken', `the image name ${JSON.stringify(facts.image)} is invalid`);
  }
  const tagOrDigest = reference.digest ? `digest ${reference.digest}` : `tag ${reference.tag}`;
  steps.push({
    id: 'reference',
    title: 'Image reference',
    status: 'ok',
    details: [`${reference.normalized}: registry ${reference.domain}, repository ${reference.path}, ${tagOrDigest}`],
  });

  // 2. which pull secrets are in play
  const secretNames = facts.pod
    ? facts.pod.imagePullSecrets
    : facts.serviceAccount.state === 'found'
      ? facts.serviceAccount.imagePullSecrets
      : [];
  const pullSecretsStep: Step = {
    id: 'pullSecrets',
    title: facts.pod ? 'Pull secrets of the Pod' : `Pull secrets of ServiceAccount ${facts.serviceAccountName}`,
    status: 'ok',
    details: [],
  };
  steps.push(pullSecretsStep);
  const managing = Array.isArray(facts.credentials) ? facts.credentials : [];
  if (!facts.pod && facts.serviceAccount.state === 'missing') {
    pullSecretsStep.status = 'broken';
    pullSecretsStep.details.push(`ServiceAccount ${facts.namespace}/${facts.serviceAccountName} does not exist`);
    pullSecretsStep.fix =
      `Create the ServiceAccount, or pick an existing one (--service-account); Pods using a ` +
      `missing ServiceAccount are refused by the API server.`;
    return done('broken', `ServiceAccount ${facts.serviceAccountName} does not exist`);
  }
  pullSecretsStep.details.push(
    secretNames.length
      ? `${facts.pod ? 'the Pod carries' : 'it lists'}: ${secretNames.join(', ')}`
      : `${facts.pod ? 'the Pod carries' : 'it lists'} no imagePullSecrets`,
  );
  let lateSecrets: string[] = [];
  if (facts.pod) {
    if (facts.serviceAccount.state === 'found') {
      const now = facts.serviceAccount.imagePullSecrets;
      pullSecretsStep.details.push(
        `ServiceAccount ${facts.serviceAccountName} lists now: ${now.length ? now.join(', ') : 'none'}`,
      );
      lateSecrets = now.filter((name) => !facts.pod!.imagePullSecrets.includes(name));
    } else if (facts.serviceAccount.state === 'forbidden') {
      pullSecretsStep.details.push(`ServiceAccount ${facts.serviceAccountName}: ${facts.serviceAccount.message}`);
    }
  }

  // 3. the Secrets, and the key the kubelet would pick
  const secretsStep: Step = {
    id: 'secrets',
    title: 'Secrets and the key the kubelet picks',
    status: 'ok',
    details: [],
  };
  steps.push(secretsStep);
  const entries: Array<KeyringEntry<{ secret: string; username: string; password: string }>> = [];
  for (const name of secretNames) {
    const fact = facts.secrets[name] ?? { state: 'missing' };
    const described = describeSecret(name, fact, facts.namespace);
    secretsStep.details.push(described.line);
    if (described.problem && described.breaksAll) {
      secretsStep.status = 'broken';
      secretsStep.fix = described.problem;
      return done('broken', `pull secret ${name} cannot be read by the kubelet`);
    }
    entries.push(
      ...described.entries.map((entry) => ({
        key: entry.key,
        value: { secret: name, username: entry.username, password: entry.password },
      })),
    );
  }
  const matches = lookupCredentials(entries, reference.repository);
  const viaKubelet = matches.length === 0 ? kubeletDelivery(facts, reference) : undefined;
  if (viaKubelet?.servedBy) {
    secretsStep.status = 'info';
    secretsStep.details.push(
      `no pull secret has a key for ${reference.domain}: the kubelet asks its credential provider instead`,
    );
    return servedThroughKubelet(facts, reference, steps, viaKubelet.step, viaKubelet.servedBy, done);
  }
  if (matches.length === 0) {
    secretsStep.status = 'broken';
    for (const entry of entries)
      secretsStep.details.push(
        `  key ${JSON.stringify(entry.key)} (Secret ${entry.value.secret}): ${whyNoMatch(entry.key, reference)}`,
      );
    const fixes: string[] = [];
    // A RegistryCredential serves the registry through the kubelet, not to this Pod: its step holds the fix.
    if (viaKubelet) steps.push(viaKubelet.step);
    if (lateSecrets.length) {
      fixes.push(createdBeforeFix(facts, lateSecrets, managing));
    } else {
      const missing = secretNames.filter((name) => facts.secrets[name]?.state !== 'found');
      if (missing.length) fixes.push(missingSecretFix(missing, facts));
      const provider = providerFor(reference, managing, facts);
      if (provider) fixes.push(provider);
      if (!fixes.length && !viaKubelet) {
        fixes.push(
          secretNames.length
            ? `No pull secret has a key for ${reference.domain}${reference.domain === 'docker.io' ? ' (use "https://index.docker.io/v1/" or "docker.io")' : ''}: add one whose key the kubelet matches (${keyHint(reference)}).`
            : `Nothing gives the kubelet a credential for ${reference.domain}: create a RegistryCredential for ` +
                `it that selects namespace ${facts.namespace} and ServiceAccount ${facts.serviceAccountName}, ` +
                `or add imagePullSecrets to the Pod.`,
        );
      }
    }
    if (fixes.length) secretsStep.fix = fixes.join(' ');
    if (lateSecrets.length) pullSecretsStep.status = 'broken';
    const cached = cachedImageStep(facts);
    if (cached) steps.push(cached);
    return done(
      'broken',
      lateSecrets.length
        ? `the Pod was created before its ServiceAccount carried ${lateSecrets.join(', ')}`
        : `no pull secret gives the kubelet a credential for ${reference.repository}`,
    );
  }
  for (const [i, match] of matches.entries()) {
    secretsStep.details.push(
      `${i === 0 ? 'the kubelet uses' : 'then tries'} key ${JSON.stringify(match.key)} of Secret ` +
        `${match.value.secret} (user ${match.value.username})` +
        (match.dockerHubFallback ? ', through its Docker Hub fallback for the legacy key' : ''),
    );
  }
  if (lateSecrets.length) {
    pullSecretsStep.status = 'warning';
    pullSecretsStep.details.push(
      `created before its ServiceAccount carried ${lateSecrets.join(', ')} (not needed for this image: another ` +
        `key matches)`,
    );
  }
  const chosen = matches[0].value;

  // 4. who manages that Secret
  const credentialStep: Step = { id: 'credential', title: 'RegistryCredential', status: 'info', details: [] };
  steps.push(credentialStep);
  const chosenFact = facts.secrets[chosen.secret];
  const ownerName = chosenFact?.state === 'found' ? chosenFact.labels[LABEL_CREDENTIAL] : undefined;
  const owner = ownerName ? managing.find((credential) => credential.name === ownerName) : undefined;
  if (!Array.isArray(facts.credentials))
    credentialStep.details.push(`cannot list RegistryCredentials: ${facts.credentials.forbidden}`);
  else if (!owner) {
    credentialStep.details.push(
      ownerName
        ? `Secret ${chosen.secret} carries the label of RegistryCredential ${ownerName}, which does not exist ` +
            `(any more)`
        : `Secret ${chosen.secret} is not managed by a RegistryCredential`,
    );
  } else {
    const conditions = owner.status?.conditions ?? [];
    const condition = (type: string): string => {
      const found = conditions.find((candidate) => candidate.type === type);
      return found ? `${type}=${found.status}${because(found.reason, found.message)}` : `${type}: not reported`;
    };
    credentialStep.details.push(
      `managed by RegistryCredential ${owner.name}`,
      `  ${condition('SourcesReady')}`,
      `  ${condition('CredentialsVerified')}`,
    );
    const failure = owner.status?.failures?.find((entry) => entry.namespace === facts.namespace);
    if (failure) credentialStep.details.push(`  failure in ${facts.namespace}: ${failure.reason}: ${failure.message}`);
    const registry = owner.status?.registries?.find((entry) =>
      urlsMatch(keyringIndexKey(entry.server) ?? entry.server, reference.repository),
    );
    if (registry)
      credentialStep.details.push(
        `  verification of ${registry.server}: ${registry.state}${because(registry.reason, registry.message)}`,
      );
    const sources = conditions.find((condition) => condition.type === 'SourcesReady');
    if (sources?.status === 'False' || failure || registry?.state === 'Failed') credentialStep.status = 'warning';
  }

  // 5. what the node said (doctor pod only)
  const events = facts.pod ? pullEventsStep(facts, reference) : undefined;
  const eventsStep = events?.step;
  if (eventsStep) steps.push(eventsStep);

  // 6. the registry itself, with exactly that credential
  if (!options.live) {
    steps.push({
      id: 'live',
      title: 'Live check',
      status: 'skipped',
      details: ['--no-live: the registry was not contacted'],
    });
    if (eventsStep?.status === 'broken') return done('broken', eventsStep.details.at(-1)!);
    if (eventsStep?.status === 'ok') return done('ok', `the node pulled ${reference.normalized}`);
    return done(
      'unknown',
      `the kubelet would send the credential of Secret ${chosen.secret}; not checked against the registry (--no-live)`,
    );
  }
  const result = await options.live({
    server: matches[0].key,
    username: chosen.username,
    password: chosen.password,
    repository: reference.path,
    reference: reference.digest ?? reference.tag ?? 'latest',
  });
  const liveStep: Step = {
    id: 'live',
    title: `Live check from here (${result.requests} request${result.requests === 1 ? '' : 's'})`,
    status: result.state === 'Verified' ? 'ok' : result.state === 'Failed' ? 'broken' : 'warning',
    details: [`${result.reason}: ${result.message}`],
  };
  steps.push(liveStep);
  if (eventsStep?.status === 'ok') {
    // The node pulled it: that is the verdict; a different answer from here is this machine's own view.
    if (liveStep.status !== 'ok') {
      liveStep.status = 'warning';
      liveStep.details.push(
        'the node pulled this image, so this is how the registry looks from here, not from the node',
      );
    }
    return done(
      'ok',
      `the node pulled ${reference.normalized} with the credential of Secret ${chosen.secret} (user ` +
        `${chosen.username})`,
    );
  }
  if (result.state === 'Failed') {
    liveStep.fix = liveFix(result, reference, chosen.secret, owner?.name);
    // The live check confirms what the node reported: its fix, with the registry's own words, is the one to follow.
    if (eventsStep?.status === 'broken') {
      eventsStep.status = 'warning';
      delete eventsStep.fix;
      // containerd reports its last attempt (e.g. a fallback endpoint's TLS error after a 404): when
      // that reads as another cause than the registry's own answer, the node's story must not contradict it.
      const liveKind = LIVE_KIND[result.reason];
      if (events?.causeKind && liveKind && events.causeKind !== liveKind) {
        const at = eventsStep.details.findIndex((line) => line.startsWith('cause: '));
        if (at >= 0)
          eventsStep.details[at] =
            `the node's last error reads as "${eventsStep.details[at]!.slice('cause: '.length)}", but the registry ` +
            `answers ${result.reason} (live check): containerd reports its last attempt, the registry's answer ` +
            'is the cause';
      }
    }
    return done('broken', `${result.reason}: ${result.message}`);
  }
  if (eventsStep?.status === 'broken') {
    // The registry accepts the credential from here, yet the node failed: the node's side (trust, network).
    return done('broken', eventsStep.details.at(-1)!);
  }
  if (result.state === 'Verified')
    return done(
      'ok',
      `${reference.normalized} pulls with the credential of Secret ${chosen.secret} (user ${chosen.username})`,
    );
  return done('unknown', `${result.reason}: ${result.message}`);
}

// ---------------------------------------------------------------------------------------------

interface DescribedSecret {
  line: string;
  entries: Array<{ key: string; username: string; password: string }>;
  /** A fix, when the Secret is unusable. */
  problem?: string;
  /** The problem makes the kubelet fail every pull of the Pod (a malformed document). */
  breaksAll?: boolean;
}

/**
 * How the kubelet reads one pull secret (pkg/credentialprovider/secrets: type, key, JSON; `auth` wins over
 * username/password).
 */
function describeSecret(name: string, fact: SecretFact, namespace: string): DescribedSecret {
  if (fact.state === 'forbidden') return { line: `Secret ${name}: cannot read it (${fact.message})`, entries: [] };
  if (fact.state === 'missing') {
    const elsewhere = fact.foundInNamespaces?.length
      ? `; a Secret of that name exists in ${fact.foundInNamespaces.join(', ')}, but pull secrets are read from ` +
        `the Pod's own namespace`
      : '';
    return {
      line:
        `Secret ${name}: does not exist in ${namespace} (the kubelet skips it: ` +
        `FailedToRetrieveImagePullSecret)${elsewhere}`,
      entries: [],
      problem: `create Secret ${name} in ${namespace}`,
    };
  }
  const document =
    fact.type === 'kubernetes.io/dockerconfigjson'
      ? fact.data['.dockerconfigjson']
      : fact.type === 'kubernetes.io/dockercfg'
        ? fact.data['.dockercfg']
        : undefined;
  if (document === undefined) {
    const wanted =
      fact.type === 'kubernetes.io/dockerconfigjson'
        ? 'no .dockerconfigjson key'
        : fact.type === 'kubernetes.io/dockercfg'
          ? 'no .dockercfg key'
          : `type ${fact.type}`;
    return {
      line:
        `Secret ${name}: ${wanted}; the kubelet ignores it (it reads only kubernetes.io/dockerconfigjson ` +
        `and kubernetes.io/dockercfg)`,
      entries: [],
      problem: `make Secret ${name} a kubernetes.io/dockerconfigjson Secret (kubectl create secret docker-registry)`,
    };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(document, 'base64').toString('utf8'));
  } catch {
    return {
      line: `Secret ${name}: ${fact.type}, but its content is not JSON: the kubelet fails every pull of this Pod`,
      entries: [],
      problem:
        `fix the content of Secret ${name} (a JSON docker config); while it is malformed no image of the ` +
        `Pod can be pulled`,
      breaksAll: true,
    };
  }
  const auths = (fact.type === 'kubernetes.io/dockerconfigjson' ? (parsed as { auths?: unknown }).auths : parsed) ?? {};
  const entries: DescribedSecret['entries'] = [];
  for (const [key, raw] of Object.entries(
    auths as Record<string, { username?: string; password?: string; auth?: string }>,
  )) {
    let username = raw?.username ?? '';
    let password = raw?.password ?? '';
    if (raw?.auth) {
      const decoded = Buffer.from(raw.auth, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon >= 0) [username, password] = [decoded.slice(0, colon), decoded.slice(colon + 1)];
    }
    entries.push({ key, username, password });
  }
  return {
    line:
      `Secret ${name}: ${fact.type}, keys ` +
      `${entries.map((entry) => JSON.stringify(entry.key)).join(', ') || 'none'}`,
    entries,
  };
}

/** Why the kubelet does not use an auths key for this image, in words. */
export function whyNoMatch(key: string, reference: ImageReference): string {
  const indexKey = keyringIndexKey(key);
  if (indexKey === undefined) return 'the kubelet cannot parse this key and ignores it';
  const slash = indexKey.indexOf('/');
  const keyHost = slash === -1 ? indexKey : indexKey.slice(0, slash);
  const keyPath = slash === -1 ? '' : indexKey.slice(slash);
  const [keyName, keyPort = ''] = splitPort(keyHost);
  const [imageName, imagePort = ''] = splitPort(reference.domain);
  if (reference.domain === 'docker.io' && /(^|\.)docker\.(io|com)$/.test(keyName) && keyName !== 'docker.io') {
    return `Docker Hub images are matched by the key "docker.io" or the legacy "https://index.docker.io/v1/"; "${keyHost}" is neither`;
  }
  if (keyName.split('.').length !== imageName.split('.').length || !urlsMatch(keyName, imageName))
    return `host ${keyName} is not the image's registry ${imageName}`;
  if (keyPort !== imagePort)
    return keyPort
      ? `port ${keyPort} in the key, ${imagePort ? `port ${imagePort}` : 'no port'} in the image`
      : `no port in the key, port ${imagePort} in the image`;
  if (keyPath && !`/${reference.path}`.startsWith(keyPath))
    return `the key's path ${keyPath} is not a prefix of the image's path /${reference.path}`;
  return 'does not match';
}

/** " (reason: message)", or "" without a reason. */
function because(reason: string | undefined, message: string | undefined): string {
  if (!reason) return '';
  return ` (${reason}${message ? `: ${message}` : ''})`;
}

function splitPort(host: string): [string, string?] {
  const bracketed = /^(\[[^\]]*\])(?::(\d*))?$/.exec(host);
  if (bracketed) return [bracketed[1], bracketed[2]];
  const colon = host.lastIndexOf(':');
  return colon > -1 ? [host.slice(0, colon), host.slice(colon + 1)] : [host];
}

function keyHint(reference: ImageReference): string {
  return reference.domain === 'docker.io'
    ? '"docker.io"'
    : `"${reference.domain}" or "${reference.domain}/${reference.path.split('/')[0]}"`;
}

function createdBeforeFix(facts: DoctorFacts, late: string[], credentials: CredentialFact[]): string {
  const recovering = credentials.filter((credential) => late.includes(credential.spec.secretName ?? credential.name));
  const recovery = recovering.length
    ? recovering
        .map((credential) =>
          credential.spec.podRecovery?.enabled
            ? ` RegistryCredential ${credential.name} has podRecovery on: it evicts such a Pod when it has a ` +
              `controller.`
            : ` (RegistryCredential ${credential.name} could do this itself: spec.podRecovery.enabled: true.)`,
        )
        .join('')
    : '';
  return (
    `The Pod was created before ServiceAccount ${facts.serviceAccountName} carried ${late.join(', ')} (a ` +
    `Pod gets its ServiceAccount's pull secrets only when it is created): recreate the Pod (kubectl delete pod ` +
    `${facts.pod!.name} -n ${facts.namespace}, or kubectl rollout restart its workload).${recovery}`
  );
}

function missingSecretFix(missing: string[], facts: DoctorFacts): string {
  const elsewhere = missing.flatMap((name) => {
    const fact = facts.secrets[name];
    return fact?.state === 'missing' && fact.foundInNamespaces?.length
      ? [`${name} (found in ${fact.foundInNamespaces.join(', ')})`]
      : [];
  });
  return elsewhere.length
    ? `Pull secrets must be in the Pod's namespace ${facts.namespace}: ${elsewhere.join(', ')}; copy it there, ` +
        `or let a RegistryCredential select ${facts.namespace}.`
    : `Create ${missing.join(', ')} in ${facts.namespace}, or remove the reference.`;
}

/** A RegistryCredential that serves this registry in this namespace, but not to this ServiceAccount. */
function providerFor(reference: ImageReference, credentials: CredentialFact[], facts: DoctorFacts): string | undefined {
  for (const credential of credentials) {
    const servers = (credential.spec.registries ?? [])
      .map((entry) => entry.server)
      .filter((server): server is string => Boolean(server));
    const serves =
      lookupCredentials(
        servers.map((key) => ({ key, value: key })),
        reference.repository,
      ).length > 0;
    const secretName = credential.spec.secretName ?? credential.name;
    const present = facts.managedSecrets.some(
      (managed) => managed.name === secretName && managed.credential === credential.name,
    );
    if (!serves || !present) continue;
    const accounts = credential.spec.serviceAccounts ?? ['default'];
    if (accounts.includes('*') || accounts.includes(facts.serviceAccountName)) continue;
    return (
      `RegistryCredential ${credential.name} provides ${reference.domain} in ${facts.namespace} (Secret ` +
      `${secretName}) but injects it only into ServiceAccounts ${JSON.stringify(accounts)}: add ` +
      `"${facts.serviceAccountName}" to its spec.serviceAccounts (then recreate the Pod), or list ${secretName} ` +
      `in the Pod's imagePullSecrets.`
    );
  }
  return undefined;
}

/** The live check's reasons, as the kinds of cause eventCause reads from the node's messages. */
const LIVE_KIND: Partial<Record<string, CauseKind>> = {
  Unauthorized: 'unauthorized',
  Forbidden: 'forbidden',
  ManifestNotFound: 'notFound',
  RepositoryNotFound: 'notFound',
  TLSError: 'tls',
  Unreachable: 'unreachable',
  TooManyRequests: 'rateLimited',
};

/** A pull through the kubelet's credential provider: no pull secret, the operator answers the kubelet. */
function servedThroughKubelet(
  facts: DoctorFacts,
  reference: ImageReference,
  steps: Step[],
  kubeletStep: Step,
  credential: string,
  done: (verdict: Diagnosis['verdict'], summary: string) => Diagnosis,
): Diagnosis {
  steps.push(kubeletStep);
  const eventsStep = facts.pod ? pullEventsStep(facts, reference).step : undefined;
  if (eventsStep) steps.push(eventsStep);
  steps.push({
    id: 'live',
    title: 'Live check',
    status: 'skipped',
    details: ['the operator hands this credential to the kubelet only; doctor does not read it'],
  });
  if (eventsStep?.status === 'ok')
    return done(
      'ok',
      `the node pulled ${reference.normalized} with RegistryCredential ${credential} (delivery.kubelet)`,
    );
  if (kubeletStep.status === 'broken') return done('broken', kubeletStep.details.at(-1)!);
  if (eventsStep?.status === 'broken') return done('broken', eventsStep.details.at(-1)!);
  return done(
    'unknown',
    `the kubelet gets the credential of RegistryCredential ${credential} from the regcred credential provider; ` +
      'not checked against the registry',
  );
}

/** The Pod's own pull Events for this image, mapped to a cause. */
function pullEventsStep(facts: DoctorFacts, reference: ImageReference): { step: Step; causeKind?: CauseKind } {
  const step: Step = { id: 'events', title: 'What the node reported', status: 'info', details: [] };
  const state = facts.pod?.containerState;
  const failing = state?.waitingReason === 'ErrImagePull' || state?.waitingReason === 'ImagePullBackOff';
  const relevant = facts.events.filter(
    (event) => event.message.includes(facts.image) || event.reason === 'FailedToRetrieveImagePullSecret',
  );
  const failures = relevant.filter((event) => event.type === 'Warning' && event.reason !== 'BackOff');
  const pulled = relevant.filter((event) => event.reason === 'Pulled');
  for (const event of relevant.slice(-4))
    step.details.push(`${event.reason}${event.count > 1 ? ` (x${event.count})` : ''}: ${event.message}`);
  if (state?.running) {
    step.status = 'ok';
    step.details.push('the container runs: its image was pulled');
    return { step };
  }
  if (!failing) {
    if (!relevant.length)
      step.details.push(
        state?.waitingReason ? `the container waits: ${state.waitingReason}` : 'no pull Events for this image',
      );
    if (pulled.length) step.status = 'ok';
    return { step };
  }
  const last =
    failures
      .filter((event) => event.reason === 'Failed' && !/^Error: (ErrImagePull|ImagePullBackOff)$/.test(event.message))
      .at(-1) ?? failures.at(-1);
  const cause = last ? eventCause(last.message, reference) : undefined;
  step.status = 'broken';
  step.details.push(
    cause
      ? `cause: ${cause.cause}`
      : `the container waits in ${state?.waitingReason}${state?.waitingMessage ? `: ${state.waitingMessage}` : ''}`,
  );
  step.fix = cause?.fix;
  return { step, causeKind: cause?.kind };
}

type CauseKind = 'tls' | 'unauthorized' | 'forbidden' | 'rateLimited' | 'notFound' | 'unreachable' | 'plainHttp';

/** Pull error messages (containerd through the kubelet) mapped to a cause and a fix. */
export function eventCause(
  message: string,
  reference: ImageReference,
): { kind: CauseKind; cause: string; fix: string } | undefined {
  const host = reference.domain;
  if (/x509:|certificate signed by unknown authority|tls: failed to verify certificate/i.test(message)) {
    return {
      kind: 'tls',
      cause: `the node does not trust the TLS certificate of ${host}`,
      fix:
        `Give the node the registry's CA: /etc/containerd/certs.d/${host}/ca.crt (and hosts.toml), then ` +
        `retry; for verification, set verify.caSecretName on the RegistryCredential.`,
    };
  }
  if (/\b401 Unauthorized\b|authorization failed|no basic auth credentials|unauthorized:/i.test(message)) {
    return {
      kind: 'unauthorized',
      cause: `${host} refused the credential the kubelet sent (401)`,
      fix: 'Check the credential (username, password, token expiry) in the source of the pull secret.',
    };
  }
  if (/\b403 Forbidden\b|\bdenied\b|insufficient_scope/i.test(message)) {
    return {
      kind: 'forbidden',
      cause: `${host} denies this account access to ${reference.path} (403)`,
      fix: `Give the account pull access to ${reference.path} (project membership, robot account permissions).`,
    };
  }
  if (/toomanyrequests|\b429\b|rate limit/i.test(message)) {
    return {
      kind: 'rateLimited',
      cause: `${host} is rate-limiting the node (429)`,
      fix: 'Authenticate the pulls (rate limits are per account) or wait; consider a pull-through cache.',
    };
  }
  if (/manifest unknown|: not found|manifest for .* not found|repository does not exist|NAME_UNKNOWN/i.test(message)) {
    return {
      kind: 'notFound',
      cause: `${reference.repository}:${reference.tag ?? reference.digest} does not exist on ${host}`,
      fix: 'Check the repository and tag (or digest) in the image name.',
    };
  }
  if (
    /no such host|connection refused|i\/o timeout|dial tcp|network is unreachable|connection reset|context deadline exceeded/i.test(
      message,
    )
  ) {
    return {
      kind: 'unreachable',
      cause: `the node cannot reach ${host}`,
      fix: `Check DNS, firewall and proxy settings between the node and ${host}.`,
    };
  }
  if (/\b400 Bad Request\b/.test(message) && /^(localhost|127\.|\[::1\])/.test(host)) {
    return {
      kind: 'plainHttp',
      cause:
        `the node spoke plain HTTP to ${host}, which serves HTTPS (containerd uses HTTP for a loopback ` +
        `registry it has no hosts.toml for)`,
      fix: `Add /etc/containerd/certs.d/${host}/hosts.toml with server = "https://${host}" and the registry's CA as ca.crt.`,
    };
  }
  if (/http: server gave HTTP response to HTTPS client/i.test(message)) {
    return {
      kind: 'plainHttp',
      cause: `${host} speaks plain HTTP, the node expects HTTPS`,
      fix: `Serve the registry over TLS, or configure containerd's hosts.toml for ${host}.`,
    };
  }
  return undefined;
}

function liveFix(
  result: CheckResult,
  reference: ImageReference,
  secret: string,
  credential: string | undefined,
): string {
  const source = credential ? `the source of RegistryCredential ${credential}` : `Secret ${secret}`;
  switch (result.reason) {
    case 'Unauthorized':
      return (
        `The registry refuses this username/password: fix them in ${source} (a rotated password, an ` +
        `expired robot account or token).`
      );
    case 'Forbidden':
      return (
        `The account may not pull ${reference.path}: grant it pull access (project membership, robot ` +
        `account permissions).`
      );
    case 'RepositoryNotFound':
      return `Repository ${reference.path} does not exist on ${reference.domain}: check the image name.`;
    case 'ManifestNotFound':
      return (
        `${reference.path} has no ${reference.digest ? `manifest ${reference.digest}` : `tag ${reference.tag}`}: ` +
        'check the tag (or push it).'
      );
    case 'TLSError':
      return (
        `Trust the registry's CA where the pull happens: on the node ` +
        `/etc/containerd/certs.d/${reference.domain}/ca.crt; here --registry-ca FILE; for verification ` +
        `verify.caSecretName.`
      );
    case 'Unreachable':
      return `${reference.domain} cannot be reached from here: check that it runs, and DNS, firewall and proxies.`;
    case 'TooManyRequests':
      return 'The registry is rate-limiting: wait, or use an account with a higher limit.';
    case 'NotARegistry':
      return `Check the registry host in the image name: no Docker Registry v2 API answers at ${reference.domain}.`;
    default:
      return result.message;
  }
}
