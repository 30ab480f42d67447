// The RegistryCredential API (regcred.io/v1alpha1): names, labels, and the operator-side schema.
// The CRD (crds/) rejects invalid resources at apply time; this zod schema applies the same
// defaults and guards the operator against anything that slipped past (e.g. an old CRD).
// test/unit/api-schema.test.ts fails when the two differ in fields, types, required fields,
// defaults, bounds or enums; the CEL rules live in the CRD only.
import { z } from 'zod';

export const GROUP = 'regcred.io';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = 'RegistryCredential';
export const PLURAL = 'registrycredentials';
export const FINALIZER = 'regcred.io/cleanup';
export const LABEL_MANAGED_BY = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'regcred-operator';
export const LABEL_CREDENTIAL = 'regcred.io/credential';
/** On a ServiceAccount: JSON map {secretName: credentialName} of the imagePullSecrets entries we added. */
export const ANNOTATION_INJECTED = 'regcred.io/injected-pull-secrets';
/**
 * On a copy: JSON {labels: [...], annotations: [...]} of the keys spec.secretTemplate put there, so
 * that a key taken out of the template is removed from the copies and a key someone else added is not.
 */
export const ANNOTATION_TEMPLATED = 'regcred.io/templated-keys';
/** Keys a secretTemplate may not set: the operator's own (its labels and annotations mark the copies as its own). */
export const RESERVED_KEY_PREFIX = 'regcred.io/';
export const DEFAULT_REFRESH = '6h';

const durationPattern = /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/;

export function parseDuration(text: string): number {
  if (!durationPattern.test(text)) throw new Error(`invalid duration ${JSON.stringify(text)}`);
  const unit: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let ms = 0;
  for (const match of text.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) ms += Number(match[1]) * unit[match[2]!]!;
  return ms;
}

const secretRef = z.string().min(1).max(253);

const secretKey = z.string().min(1).max(253);

const basicAuth = z.object({
  secretName: secretRef,
  usernameKey: secretKey.default('username'),
  passwordKey: secretKey.default('password'),
});

/** The AWS identity of an ecr or ecrPublic entry: the default chain, static keys, and a role on top. */
const awsIdentity = {
  roleArn: z.string().max(2048).optional(),
  credentialsSecretName: secretRef.optional(),
};

const ecr = z.object({ region: z.string().max(32).optional(), ...awsIdentity });

const ecrPublic = z.object(awsIdentity);

const gcp = z.object({ credentialsSecretName: secretRef.optional() });

const acr = z
  .object({
    tenantId: z.string().min(1).max(253).optional(),
    clientId: z.string().min(1).max(36).optional(),
    credentialsSecretName: secretRef.optional(),
  })
  .refine((source) => !source.credentialsSecretName || (source.tenantId && source.clientId), {
    message: 'acr.tenantId and acr.clientId are required with acr.credentialsSecretName',
  });

const dockerConfig = z.object({ secretName: secretRef });

/** An https URL of a GitHub API (api.github.com, or https://HOST/api/v3 of GitHub Enterprise Server). */
const httpsUrl = z
  .string()
  .max(2048)
  .refine((url) => /^https:\/\/[^/?#]+(\/[^?#]*)?$/.test(url), { message: 'must be an https URL without query' });

/**
 * github: a GitHub App installation token (appId + installationId + privateKeySecretName), or a
 * personal access token (classic) read from tokenSecretName: exactly one of the two.
 */
const github = z
  .object({
    appId: z
      .string()
      .max(20)
      .regex(/^[0-9]{1,20}$/)
      .optional(),
    installationId: z
      .string()
      .max(20)
      .regex(/^[0-9]{1,20}$/)
      .optional(),
    privateKeySecretName: secretRef.optional(),
    tokenSecretName: secretRef.optional(),
    apiUrl: httpsUrl.optional(),
  })
  .refine(
    (source) => {
      const app = [source.appId, source.installationId, source.privateKeySecretName].filter(Boolean).length;
      return source.tokenSecretName ? app === 0 : app === 3;
    },
    {
      message:
        'github needs either appId, installationId and privateKeySecretName (a GitHub App) or tokenSecretName ' +
        '(a personal access token), not both',
    },
  );

/** quay: robot account federation, the robot named org+name (or user+name). */
const quay = z.object({
  robotAccount: z
    .string()
    .max(255)
    .regex(/^[a-z0-9][a-z0-9_-]*\+[a-z][a-z0-9_]*$/, { message: 'quay.robotAccount must be of the form org+name' }),
});

/** A Harbor robot account the operator owns (providers/harbor.ts). */
const harbor = z.object({
  url: z
    .string()
    .min(1)
    .max(2048)
    .refine(
      (url) =>
        /^https:\/\/[^/\s]+(\/\S*)?$/.test(url) ||
        /^http:\/\/(127\.0\.0\.1|localhost|\[::1\])(:[0-9]+)?(\/\S*)?$/.test(url),
      {
        message:
          'harbor.url must be an https URL (plain http only to a loopback address: the admin credential goes ' +
          'with every request)',
      },
    ),
  adminSecretName: secretRef,
  projects: z.array(z.string().min(1).max(255)).min(1).max(64),
  duration: z
    .string()
    .max(8)
    .default('30d')
    .refine((duration) => /^[1-9][0-9]{0,3}d$/.test(duration), {
      message: 'harbor.duration must be a whole number of days such as 30d',
    }),
});

/** A project or group full path (group/sub/app) or a numeric id: GitLab's `:id` of the deploy token API. */
const gitlabPath = z
  .string()
  .min(1)
  .max(1024)
  .regex(/^([0-9]+|[A-Za-z0-9_.][A-Za-z0-9_.-]*(\/[A-Za-z0-9_.][A-Za-z0-9_.-]*)*)$/, {
    message: 'gitlab.project and gitlab.group must be a full path such as group/app or a numeric id',
  });

export const GITLAB_EXPIRES_IN = /^[1-9][0-9]{0,4}[mhd]$/;

/** A GitLab deploy token (read_registry) the operator owns (providers/gitlab.ts). */
const gitlab = z
  .object({
    url: z
      .string()
      .min(1)
      .max(2048)
      .refine((url) => /^https:\/\/[^/?#\s]+(\/[^?#\s]*)?$/.test(url), {
        message: 'gitlab.url must be an https URL without query, e.g. https://gitlab.example.com',
      }),
    tokenSecretName: secretRef,
    project: gitlabPath.optional(),
    group: gitlabPath.optional(),
    expiresIn: z
      .string()
      .max(8)
      .default('30d')
      .refine((text) => GITLAB_EXPIRES_IN.test(text), {
        message: 'gitlab.expiresIn must be a whole number of minutes, hours or days such as 7d or 12h',
      }),
  })
  .refine((source) => (source.project === undefined) !== (source.group === undefined), {
    message: 'gitlab needs exactly one of project or group',
  });

/** The source kinds of a registry entry: each entry sets exactly one (one provider per kind, src/providers/). */
export const SOURCE_KINDS = [
  'basicAuth',
  'ecr',
  'ecrPublic',
  'gcp',
  'acr',
  'github',
  'quay',
  'harbor',
  'gitlab',
  'dockerConfig',
] as const;
export type SourceKind = (typeof SOURCE_KINDS)[number];

export const DEFAULT_VERIFY_INTERVAL = '1h';

/** How an entry's credential is checked against its registry (controller/verification.ts). */
const verify = z.object({
  enabled: z.boolean().default(true),
  repository: z.string().min(1).max(255).optional(),
  caSecretName: secretRef.optional(),
  interval: z
    .string()
    .max(32)
    .default(DEFAULT_VERIFY_INTERVAL)
    .refine((duration) => durationPattern.test(duration), {
      message: 'verify.interval must be a duration such as 1h or 30m',
    }),
});

export const registryEntrySchema = z
  .object({
    server: z.string().min(1).max(512).optional(),
    basicAuth: basicAuth.optional(),
    ecr: ecr.optional(),
    ecrPublic: ecrPublic.optional(),
    gcp: gcp.optional(),
    acr: acr.optional(),
    github: github.optional(),
    quay: quay.optional(),
    dockerConfig: dockerConfig.optional(),
    harbor: harbor.optional(),
    gitlab: gitlab.optional(),
    verify: verify.optional(),
  })
  .refine((entry) => SOURCE_KINDS.filter((kind) => entry[kind] !== undefined).length === 1, {
    message:
      'each registry entry must set exactly one of basicAuth, ecr, ecrPublic, gcp, acr, github, quay, harbor, ' +
      'gitlab or dockerConfig',
  })
  .refine((entry) => (entry.dockerConfig ? !entry.server : !!entry.server), {
    message: 'server is required for every source but dockerConfig, and must not be set with dockerConfig',
  });

const labelValue = z.string().max(63);

const labelSelectorRequirement = z.object({
  key: z.string().max(317),
  operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist']),
  values: z.array(labelValue).max(64).optional(),
});

const MAX_MATCH_LABELS = 64;

export const labelSelectorSchema = z.object({
  matchLabels: z
    .record(z.string(), labelValue)
    .refine((labels) => Object.keys(labels).length <= MAX_MATCH_LABELS, {
      message: `at most ${MAX_MATCH_LABELS} labels`,
    })
    .meta({ maxProperties: MAX_MATCH_LABELS }) // the same bound, for the JSON Schema compared with the CRD
    .optional(),
  matchExpressions: z.array(labelSelectorRequirement).max(32).optional(),
});

/** Whether a label or annotation key is the operator's own, which a secretTemplate cannot set. */
export function isReservedKey(key: string): boolean {
  return key === LABEL_MANAGED_BY || key.startsWith(RESERVED_KEY_PREFIX);
}

const MAX_TEMPLATE_KEYS = 64;

/** A label or annotation map of spec.secretTemplate: bounded, and never one of the operator's own keys. */
const templateMap = (what: string, value: z.ZodString) =>
  z
    .record(z.string(), value)
    .refine((map) => Object.keys(map).length <= MAX_TEMPLATE_KEYS, {
      message: `at most ${MAX_TEMPLATE_KEYS} ${what}`,
    })
    .refine((map) => !Object.keys(map).some(isReservedKey), {
      message: `${LABEL_MANAGED_BY} and keys under ${RESERVED_KEY_PREFIX} are the operator's own`,
    })
    .meta({ maxProperties: MAX_TEMPLATE_KEYS })
    .optional();

export const secretTemplateSchema = z.object({
  labels: templateMap('labels', labelValue),
  annotations: templateMap('annotations', z.string().max(2048)),
});

/** A namespace name or a glob over names: `*` any run of characters, `?` one character. */
const namePattern = z.string().min(1).max(63);

/** Stuck-pod recovery (controller/podrecovery.ts). */
const podRecovery = z.object({
  enabled: z.boolean().default(false),
  maxPerMinute: z.number().int().min(1).max(1000).default(30),
});

/** How the credentials reach Pods: Secrets in the namespaces, the kubelet's credential provider, or both. */
const delivery = z
  .object({
    secrets: z.boolean().default(true),
    kubelet: z.boolean().default(false),
  })
  .refine((chosen) => chosen.secrets || chosen.kubelet, {
    message: 'delivery.secrets and delivery.kubelet cannot both be false: nothing would be delivered',
  });

/** Where the copy's name is listed: ServiceAccounts (unset) or each new Pod, by the webhook (src/webhook/). */
export const INJECTION_MODES = ['ServiceAccounts', 'Pods'] as const;
export type InjectionMode = (typeof INJECTION_MODES)[number];

export const specSchema = z.object({
  registries: z.array(registryEntrySchema).min(1).max(32),
  secretName: z.string().min(1).max(253).optional(),
  secretTemplate: secretTemplateSchema.optional(),
  namespaceSelector: labelSelectorSchema.optional(),
  namespaceNames: z
    .array(namePattern)
    .max(256)
    .refine((patterns) => patterns.length > 0, {
      message: 'namespaceNames must not be empty: omit it to select by namespaceSelector alone',
    })
    .optional(),
  excludeNamespaces: z.array(namePattern).max(256).default([]),
  serviceAccounts: z
    .array(z.string().min(1).max(253))
    .max(256)
    .default(['default'])
    .refine((names) => !names.includes('*') || names.length === 1, {
      message: '"*" cannot be mixed with ServiceAccount names',
    }),
  serviceAccountSelector: labelSelectorSchema.optional(),
  excludeServiceAccounts: z.array(z.string().min(1).max(253)).max(256).default([]),
  refreshInterval: z
    .string()
    .max(32)
    .default(DEFAULT_REFRESH)
    .refine((duration) => durationPattern.test(duration), {
      message: 'refreshInterval must be a duration such as 6h or 90m',
    }),
  suspend: z.boolean().default(false),
  podRecovery: podRecovery.optional(),
  delivery: delivery.optional(),
  injection: z.enum(INJECTION_MODES).optional(),
});

export type RegistryEntry = z.infer<typeof registryEntrySchema>;
export type LabelSelector = z.infer<typeof labelSelectorSchema>;
export type SecretTemplate = z.infer<typeof secretTemplateSchema>;
export type RegistryCredentialSpec = z.infer<typeof specSchema>;

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  observedGeneration?: number;
  lastTransitionTime: string;
  reason: string;
  message: string;
}

export interface NamespaceFailure {
  namespace: string;
  reason: string;
  message: string;
}

/** The verification of one registry (status.registries[]). */
export interface RegistryVerification {
  server: string;
  state: 'Verified' | 'Failed' | 'Unknown' | 'Skipped';
  reason?: string;
  message?: string;
  lastCheckTime?: string;
}

/** What the kubelet credential provider endpoint served for one registry key (status.kubelet.registries[]). */
export interface KubeletRegistryServed {
  server: string;
  served: number;
  lastServedTime?: string;
}

/** Kubelet delivery as this operator's serving replica counted it (status.kubelet); never any value. */
export interface KubeletDeliveryStatus {
  served: number;
  refused: number;
  lastServedTime?: string;
  lastRefusal?: { reason: string; message: string; time: string };
  registries?: KubeletRegistryServed[];
}

export interface RegistryCredentialStatus {
  observedGeneration?: number;
  conditions?: Condition[];
  namespaces?: { selected: number; ready: number; failed: number };
  namespaceSummary?: string;
  failures?: NamespaceFailure[];
  registries?: RegistryVerification[];
  /** Pods evicted by stuck-pod recovery since the RegistryCredential was created. */
  recoveredPods?: number;
  credentialsExpireAt?: string;
  lastRefreshTime?: string;
  kubelet?: KubeletDeliveryStatus;
}

export interface RegistryCredential {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    uid: string;
    generation?: number;
    resourceVersion?: string;
    deletionTimestamp?: string;
    finalizers?: string[];
    labels?: Record<string, string>;
  };
  spec: unknown; // validated with specSchema by the controller
  status?: RegistryCredentialStatus;
}

/** Label values hold at most 63 characters. */
export const MAX_CREDENTIAL_NAME = 63;

/**
 * Why a RegistryCredential name cannot be served, or undefined: the name is the value of the
 * regcred.io/credential label on everything it creates. The CRD rejects such names at apply time;
 * this guards against an older CRD.
 */
export function credentialNameProblem(name: string): string | undefined {
  if (name.length <= MAX_CREDENTIAL_NAME) return undefined;
  return (
    `metadata.name has ${name.length} characters; at most ${MAX_CREDENTIAL_NAME} are allowed because it is the ` +
    `value of the label ${LABEL_CREDENTIAL} on every Secret it creates`
  );
}

/** A Kubernetes timestamp (second precision, RFC 3339) for epoch milliseconds. */
export function iso(ms: number): string {
  if (!Number.isFinite(ms)) return 'never';
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

/** Parses a spec; returns the defaulted spec or a one-line reason for the status. */
export function parseSpec(spec: unknown): { ok: true; spec: RegistryCredentialSpec } | { ok: false; message: string } {
  const result = specSchema.safeParse(spec);
  if (result.success) return { ok: true, spec: result.data };
  const issue = result.error.issues[0]!;
  return { ok: false, message: `${['spec', ...issue.path].join('.')}: ${issue.message}` };
}

/**
 * A reader of cached objects' specs: each object is parsed once (the informer's object is replaced,
 * not changed, when the resource changes); undefined for a spec that does not parse.
 */
export function cachedSpecs(): (cred: RegistryCredential) => RegistryCredentialSpec | undefined {
  const specs = new WeakMap<RegistryCredential, RegistryCredentialSpec | undefined>();
  return (cred) => {
    if (specs.has(cred)) return specs.get(cred);
    const parsed = parseSpec(cred.spec);
    const spec = parsed.ok ? parsed.spec : undefined;
    specs.set(cred, spec);
    return spec;
  };
}

/** Whether copies and ServiceAccount entries are written (delivery.secrets, default true). */
export function deliversSecrets(spec: RegistryCredentialSpec): boolean {
  return spec.delivery?.secrets ?? true;
}

/** Whether the kubelet credential provider endpoint serves this credential (delivery.kubelet, default false). */
export function deliversToKubelet(spec: RegistryCredentialSpec): boolean {
  return spec.delivery?.kubelet ?? false;
}

/** Whether the copy's name goes into new Pods (the webhook) instead of ServiceAccounts (injection: Pods). */
export function injectsIntoPods(spec: RegistryCredentialSpec): boolean {
  return spec.injection === 'Pods';
}

export function targetSecretName(cred: RegistryCredential, spec: RegistryCredentialSpec): string {
  return spec.secretName ?? cred.metadata.name;
}
