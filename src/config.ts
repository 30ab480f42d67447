// Flags and environment, parsed with zod into one typed Config. Flags win over environment.
import { readFileSync } from 'node:fs';
import { z } from 'zod';

const IN_CLUSTER_NAMESPACE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

const configSchema = z.object({
  sourceNamespace: z
    .string()
    .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a namespace name')
    .max(63),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']),
  concurrency: z.coerce.number().int().min(1).max(256),
  kubeApiQps: z.coerce.number().min(0).max(10_000),
  kubeApiBurst: z.coerce.number().int().min(1).max(20_000),
  kubeApiMaxInflight: z.coerce.number().int().min(1).max(10_000),
  kubeApiAdaptive: z.stringbool(),
  kubeApiTimeoutSeconds: z.coerce.number().min(1).max(600),
  metricsBindAddress: z.string(),
  healthProbeBindAddress: z.string(),
  kubeconfig: z.string().optional(),
  watchIdleTimeoutSeconds: z.coerce.number().min(5).max(3600),
  awsEndpointUrl: z.url().optional(),
  tokenRequestTimeoutSeconds: z.coerce.number().min(0.1).max(300),
  leaderElect: z.stringbool(),
  leaderElectionNamespace: z
    .string()
    .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a namespace name')
    .max(63),
  leaderElectionId: z
    .string()
    .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'must be a Lease name')
    .max(253),
  verifyRegistries: z.stringbool(),
  registryCheckTimeoutSeconds: z.coerce.number().min(0.1).max(120),
  kubeletBindAddress: z.string(),
  kubeletTlsCertFile: z.string().optional(),
  kubeletTlsKeyFile: z.string().optional(),
  kubeletTokenAudience: z.string().min(1).max(253),
  webhookBindAddress: z.string(),
  webhookTlsCertFile: z.string().optional(),
  webhookTlsKeyFile: z.string().optional(),
  webhookSelfManagedCa: z.stringbool(),
  webhookSecretNamespace: z
    .string()
    .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a namespace name')
    .max(63),
  webhookSecretName: z
    .string()
    .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'must be a Secret name')
    .max(253),
  webhookConfigurationName: z
    .string()
    .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'must be an object name')
    .max(253),
  webhookScope: z.enum(['selected', 'configured']),
  webhookDnsNames: z
    .string()
    .transform((text) =>
      text
        .split(',')
        .map((name) => name.trim())
        .filter((name) => name !== '')
        .sort(),
    )
    .pipe(z.array(z.string().regex(/^[a-zA-Z0-9.:*-]+$/, 'must be DNS names or IP addresses')).min(1)),
  webhookCaLifetimeSeconds: z.coerce
    .number()
    .int()
    .min(30)
    .max(20 * 365 * 86_400),
  webhookCertLifetimeSeconds: z.coerce
    .number()
    .int()
    .min(15)
    .max(5 * 365 * 86_400),
  webhookCertPropagationSeconds: z.coerce.number().int().min(1).max(86_400),
  kubeletCacheSeconds: z.coerce.number().int().min(0).max(3600),
});

export type Config = z.infer<typeof configSchema>;

/** `boolean` flags take no separate value: `--flag` is true, `--flag=false` is false. */
export const FLAGS: Array<{
  flag: string;
  env: string;
  key: keyof Config;
  help: string;
  fallback?: string;
  boolean?: true;
}> = [
  {
    flag: '--source-namespace',
    env: 'REGCRED_SOURCE_NAMESPACE',
    key: 'sourceNamespace',
    help: 'namespace source Secrets are read from (default: the namespace the operator runs in, else regcred-system)',
  },
  {
    flag: '--log-level',
    env: 'REGCRED_LOG_LEVEL',
    key: 'logLevel',
    help: 'fatal|error|warn|info|debug|trace',
    fallback: 'info',
  },
  { flag: '--concurrency', env: 'REGCRED_CONCURRENCY', key: 'concurrency', help: 'reconcile workers', fallback: '16' },
  {
    flag: '--kube-api-max-inflight',
    env: 'REGCRED_KUBE_API_MAX_INFLIGHT',
    key: 'kubeApiMaxInflight',
    help:
      'at most this many API requests in flight (watches aside); with --kube-api-adaptive the bound shrinks ' +
      'while the API server throttles (429) or answers slowly, and grows back when it stops',
    fallback: '32',
  },
  {
    flag: '--kube-api-adaptive',
    env: 'REGCRED_KUBE_API_ADAPTIVE',
    key: 'kubeApiAdaptive',
    help: 'adapt the in-flight bound to the API server (false: a fixed bound of --kube-api-max-inflight)',
    fallback: 'true',
    boolean: true,
  },
  {
    flag: '--kube-api-qps',
    env: 'REGCRED_KUBE_API_QPS',
    key: 'kubeApiQps',
    help:
      'a fixed client-side request rate on top (0 = none: the API server protects itself with API Priority ' +
      'and Fairness, the in-flight bound protects it from this client)',
    fallback: '0',
  },
  {
    flag: '--kube-api-burst',
    env: 'REGCRED_KUBE_API_BURST',
    key: 'kubeApiBurst',
    help: 'client-side burst of --kube-api-qps',
    fallback: '100',
  },
  {
    flag: '--kube-api-timeout-seconds',
    env: 'REGCRED_KUBE_API_TIMEOUT_SECONDS',
    key: 'kubeApiTimeoutSeconds',
    help: 'timeout of one API request that is not a watch (a timed-out request is retried with backoff)',
    fallback: '30',
  },
  {
    flag: '--metrics-bind-address',
    env: 'REGCRED_METRICS_BIND_ADDRESS',
    key: 'metricsBindAddress',
    help: 'host:port for /metrics ("0" disables)',
    fallback: ':8080',
  },
  {
    flag: '--health-probe-bind-address',
    env: 'REGCRED_HEALTH_PROBE_BIND_ADDRESS',
    key: 'healthProbeBindAddress',
    help: 'host:port for /healthz and /readyz ("0" disables)',
    fallback: ':8081',
  },
  {
    flag: '--kubeconfig',
    env: 'REGCRED_KUBECONFIG',
    key: 'kubeconfig',
    help: 'kubeconfig file (default: $KUBECONFIG, which may list several files, then ~/.kube/config, then in-cluster)',
  },
  {
    flag: '--watch-idle-timeout-seconds',
    env: 'REGCRED_WATCH_IDLE_TIMEOUT_SECONDS',
    key: 'watchIdleTimeoutSeconds',
    help: 'restart a watch that delivered nothing (not even a bookmark) for this long',
    fallback: '180',
  },
  {
    flag: '--aws-endpoint-url',
    env: 'REGCRED_AWS_ENDPOINT_URL',
    key: 'awsEndpointUrl',
    help:
      "endpoint for the ECR and STS APIs (tests, emulators); default: the AWS SDK's own, which honours " +
      'AWS_ENDPOINT_URL_ECR, AWS_ENDPOINT_URL_STS and AWS_ENDPOINT_URL',
  },
  {
    flag: '--token-request-timeout-seconds',
    env: 'REGCRED_TOKEN_REQUEST_TIMEOUT_SECONDS',
    key: 'tokenRequestTimeoutSeconds',
    help:
      'deadline of one token request of any provider (AWS and STS, Google, Entra ID and the ACR exchange); ' +
      'a timed-out renewal is retried with backoff',
    fallback: '10',
  },
  {
    flag: '--aws-request-timeout-seconds',
    env: 'REGCRED_AWS_REQUEST_TIMEOUT_SECONDS',
    key: 'tokenRequestTimeoutSeconds',
    help: 'the former name of --token-request-timeout-seconds, still accepted',
  },
  {
    flag: '--leader-elect',
    env: 'REGCRED_LEADER_ELECT',
    key: 'leaderElect',
    help: 'hold a Lease while reconciling, so that only one replica writes',
    fallback: 'false',
    boolean: true,
  },
  {
    flag: '--leader-election-namespace',
    env: 'REGCRED_LEADER_ELECTION_NAMESPACE',
    key: 'leaderElectionNamespace',
    help: 'namespace of the leader-election Lease (default: the namespace the operator runs in, else regcred-system)',
  },
  {
    flag: '--leader-election-id',
    env: 'REGCRED_LEADER_ELECTION_ID',
    key: 'leaderElectionId',
    help: 'name of the leader-election Lease',
    fallback: 'regcred-operator',
  },
  {
    flag: '--verify-registries',
    env: 'REGCRED_VERIFY_REGISTRIES',
    key: 'verifyRegistries',
    help:
      'check every credential against its registry (Docker Registry v2 handshake; advisory); false: never contact ' +
      'a registry, every entry is Skipped',
    fallback: 'true',
    boolean: true,
  },
  {
    flag: '--registry-check-timeout-seconds',
    env: 'REGCRED_REGISTRY_CHECK_TIMEOUT_SECONDS',
    key: 'registryCheckTimeoutSeconds',
    help: 'timeout of one request of a registry check',
    fallback: '10',
  },
  {
    flag: '--kubelet-bind-address',
    env: 'REGCRED_KUBELET_BIND_ADDRESS',
    key: 'kubeletBindAddress',
    help:
      'HTTPS address of the endpoint the regcred kubelet credential provider asks (delivery.kubelet), e.g. :8443; ' +
      '0: off. Needs --kubelet-tls-cert-file and --kubelet-tls-key-file',
    fallback: '0',
  },
  {
    flag: '--kubelet-tls-cert-file',
    env: 'REGCRED_KUBELET_TLS_CERT_FILE',
    key: 'kubeletTlsCertFile',
    help: 'PEM serving certificate (chain) of the kubelet endpoint; read again when it changes',
  },
  {
    flag: '--kubelet-tls-key-file',
    env: 'REGCRED_KUBELET_TLS_KEY_FILE',
    key: 'kubeletTlsKeyFile',
    help: 'PEM private key of the kubelet endpoint',
  },
  {
    flag: '--webhook-bind-address',
    env: 'REGCRED_WEBHOOK_BIND_ADDRESS',
    key: 'webhookBindAddress',
    help:
      'HTTPS address of the mutating admission webhook that adds pull secrets to new Pods (injection: Pods), ' +
      'e.g. :9443; 0: off. Needs --webhook-tls-cert-file and --webhook-tls-key-file, or --webhook-self-managed-ca',
    fallback: '0',
  },
  {
    flag: '--webhook-tls-cert-file',
    env: 'REGCRED_WEBHOOK_TLS_CERT_FILE',
    key: 'webhookTlsCertFile',
    help: 'PEM serving certificate (chain) of the webhook; read again when it changes',
  },
  {
    flag: '--webhook-tls-key-file',
    env: 'REGCRED_WEBHOOK_TLS_KEY_FILE',
    key: 'webhookTlsKeyFile',
    help: 'PEM private key of the webhook',
  },
  {
    flag: '--webhook-self-managed-ca',
    env: 'REGCRED_WEBHOOK_SELF_MANAGED_CA',
    key: 'webhookSelfManagedCa',
    help:
      'serve the webhook with a CA of its own (instead of certificate files): kept in the Secret ' +
      '--webhook-secret-name, patched into the caBundle of --webhook-configuration-name, rotated without a restart',
    fallback: 'false',
    boolean: true,
  },
  {
    flag: '--webhook-secret-namespace',
    env: 'REGCRED_WEBHOOK_SECRET_NAMESPACE',
    key: 'webhookSecretNamespace',
    help: 'namespace of the self-managed CA Secret (default: the namespace the operator runs in, else regcred-system)',
  },
  {
    flag: '--webhook-secret-name',
    env: 'REGCRED_WEBHOOK_SECRET_NAME',
    key: 'webhookSecretName',
    help: 'Secret of the self-managed CA and serving certificate (the leader writes it, every replica serves from it)',
    fallback: 'regcred-operator-webhook-ca',
  },
  {
    flag: '--webhook-configuration-name',
    env: 'REGCRED_WEBHOOK_CONFIGURATION_NAME',
    key: 'webhookConfigurationName',
    help:
      'MutatingWebhookConfiguration of the webhook: its webhooks get the self-managed CA in their caBundle, and ' +
      'their namespaceSelector narrowed by --webhook-scope',
    fallback: 'regcred-operator',
  },
  {
    flag: '--webhook-scope',
    env: 'REGCRED_WEBHOOK_SCOPE',
    key: 'webhookScope',
    help:
      'selected: the leader narrows the namespaceSelector of --webhook-configuration-name to the namespaces a ' +
      'RegistryCredential with injection: Pods selects (the API server calls the webhook for no other Pod); ' +
      'configured: leaves the selector as deployed',
    fallback: 'selected',
  },
  {
    flag: '--webhook-dns-names',
    env: 'REGCRED_WEBHOOK_DNS_NAMES',
    key: 'webhookDnsNames',
    help:
      'comma-separated DNS names and IP addresses of the self-managed serving certificate ' +
      '(default: regcred-operator-webhook.<secret namespace>.svc)',
  },
  {
    flag: '--webhook-ca-lifetime-seconds',
    env: 'REGCRED_WEBHOOK_CA_LIFETIME_SECONDS',
    key: 'webhookCaLifetimeSeconds',
    help: 'validity of a self-managed CA; a new one is rolled in when two thirds have passed',
    fallback: String(365 * 86_400),
  },
  {
    flag: '--webhook-cert-lifetime-seconds',
    env: 'REGCRED_WEBHOOK_CERT_LIFETIME_SECONDS',
    key: 'webhookCertLifetimeSeconds',
    help: 'validity of a self-managed serving certificate; renewed when two thirds have passed',
    fallback: String(30 * 86_400),
  },
  {
    flag: '--webhook-cert-propagation-seconds',
    env: 'REGCRED_WEBHOOK_CERT_PROPAGATION_SECONDS',
    key: 'webhookCertPropagationSeconds',
    help:
      'how long a caBundle or Secret change stands before a CA rotation takes its next step (every API server ' +
      'and every replica has seen it by then)',
    fallback: '60',
  },
  {
    flag: '--kubelet-token-audience',
    env: 'REGCRED_KUBELET_TOKEN_AUDIENCE',
    key: 'kubeletTokenAudience',
    help: 'audience of the ServiceAccount tokens kubelets send (tokenAttributes.serviceAccountTokenAudience)',
    fallback: 'kubelet.regcred.io',
  },
  {
    flag: '--kubelet-cache-seconds',
    env: 'REGCRED_KUBELET_CACHE_SECONDS',
    key: 'kubeletCacheSeconds',
    help:
      'the longest a kubelet caches an answer: how late a rotation, a revocation or a selection change reaches ' +
      'its next pull; shorter for a credential that expires sooner',
    fallback: '300',
  },
];

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export function usage(): string {
  const lines = FLAGS.map((definition) => {
    const usage = `${definition.flag}${definition.boolean ? '[=true|false]' : ' <value>'}`.padEnd(36);
    const fallback = definition.fallback ? ` (default ${definition.fallback})` : '';
    return `  ${usage} ${definition.help}${fallback}\n  ${''.padEnd(36)} env: ${definition.env}`;
  });
  const help = `  ${'--help'.padEnd(36)} show this help`;
  return `Usage: regcred-operator [flags]\n\nFlags:\n${lines.join('\n')}\n${help}\n`;
}

function defaultSourceNamespace(env: NodeJS.ProcessEnv): string {
  if (env.POD_NAMESPACE) return env.POD_NAMESPACE;
  try {
    return readFileSync(IN_CLUSTER_NAMESPACE, 'utf8').trim();
  } catch {
    return 'regcred-system';
  }
}

export function parseConfig(argv: string[], env: NodeJS.ProcessEnv): Config {
  const raw: Record<string, string | undefined> = {};
  // A blank variable counts as unset (z.coerce would read '' as 0, i.e. "no rate limit").
  // Several flags may set one key (a former name): the first of them that is set wins, then a fallback.
  for (const definition of FLAGS)
    raw[definition.key] = env[definition.env]?.trim() || raw[definition.key] || definition.fallback;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [name, inline] = arg.includes('=')
      ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)]
      : [arg, undefined];
    const flag = FLAGS.find((known) => known.flag === name);
    if (!flag) throw new ConfigError(`unknown flag ${name}\n\n${usage()}`);
    const value = inline ?? (flag.boolean ? 'true' : argv[++i]);
    if (value === undefined || value.trim() === '') throw new ConfigError(`flag ${name} needs a value`);
    raw[flag.key] = value;
  }
  let ownNamespace: string | undefined;
  const own = () => (ownNamespace ??= defaultSourceNamespace(env));
  raw.sourceNamespace ??= own();
  raw.leaderElectionNamespace ??= own();
  raw.webhookSecretNamespace ??= own();
  raw.webhookDnsNames ??= `regcred-operator-webhook.${raw.webhookSecretNamespace}.svc`;
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const flag = FLAGS.find((known) => known.key === issue.path[0]);
    throw new ConfigError(`invalid ${flag?.flag ?? String(issue.path[0])} (${flag?.env ?? ''}): ${issue.message}`);
  }
  const config = result.data;
  if (config.kubeletBindAddress !== '0' && (!config.kubeletTlsCertFile || !config.kubeletTlsKeyFile))
    throw new ConfigError(
      '--kubelet-bind-address needs --kubelet-tls-cert-file and --kubelet-tls-key-file: the endpoint serves only HTTPS',
    );
  const webhookFiles = Boolean(config.webhookTlsCertFile || config.webhookTlsKeyFile);
  if (config.webhookSelfManagedCa && webhookFiles)
    throw new ConfigError(
      '--webhook-self-managed-ca and --webhook-tls-cert-file/--webhook-tls-key-file exclude each other',
    );
  if (config.webhookSelfManagedCa && config.webhookBindAddress === '0')
    throw new ConfigError('--webhook-self-managed-ca needs --webhook-bind-address');
  if (
    config.webhookBindAddress !== '0' &&
    !config.webhookSelfManagedCa &&
    (!config.webhookTlsCertFile || !config.webhookTlsKeyFile)
  )
    throw new ConfigError(
      '--webhook-bind-address needs --webhook-tls-cert-file and --webhook-tls-key-file ' +
        '(or --webhook-self-managed-ca): ' +
        'the webhook serves only HTTPS',
    );
  if (config.webhookCertLifetimeSeconds > config.webhookCaLifetimeSeconds)
    throw new ConfigError('--webhook-cert-lifetime-seconds must not exceed --webhook-ca-lifetime-seconds');
  if (config.webhookCertPropagationSeconds * 3 >= config.webhookCertLifetimeSeconds)
    throw new ConfigError(
      '--webhook-cert-propagation-seconds must be less than a third of --webhook-cert-lifetime-seconds: ' +
        'a rotation must finish well before the certificate ends',
    );
  return config;
}
