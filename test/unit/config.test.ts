import { jest } from '@jest/globals';

// The default source namespace may come from the in-cluster file: mock it so tests never depend on
// the machine they run on.
const IN_CLUSTER_NAMESPACE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';
const noFile = (path: string, _encoding: string): string => {
  throw Object.assign(new Error(`ENOENT: no such file or directory, open '${path}'`), { code: 'ENOENT' });
};
const readFileSync = jest.fn(noFile);
/** What the in-cluster namespace file holds (undefined: there is no such file). */
const inClusterFile = (content: string | undefined) =>
  readFileSync.mockImplementation(content === undefined ? noFile : () => content);
jest.unstable_mockModule('node:fs', () => ({ readFileSync, default: { readFileSync } }));
const { ConfigError, FLAGS, parseConfig, usage } = await import('../../src/config.js');
type Config = ReturnType<typeof parseConfig>;

// ---- builders ----------------------------------------------------------------------------------

const DEFAULTS: Config = {
  sourceNamespace: 'pod-ns',
  logLevel: 'info',
  concurrency: 16,
  kubeApiQps: 0,
  kubeApiBurst: 100,
  kubeApiMaxInflight: 32,
  kubeApiAdaptive: true,
  kubeApiTimeoutSeconds: 30,
  metricsBindAddress: ':8080',
  healthProbeBindAddress: ':8081',
  kubeconfig: undefined,
  watchIdleTimeoutSeconds: 180,
  awsEndpointUrl: undefined,
  tokenRequestTimeoutSeconds: 10,
  leaderElect: false,
  leaderElectionNamespace: 'pod-ns',
  leaderElectionId: 'regcred-operator',
  verifyRegistries: true,
  registryCheckTimeoutSeconds: 10,
  kubeletBindAddress: '0',
  kubeletTlsCertFile: undefined,
  kubeletTlsKeyFile: undefined,
  kubeletTokenAudience: 'kubelet.regcred.io',
  kubeletCacheSeconds: 300,
  webhookBindAddress: '0',
  webhookSelfManagedCa: false,
  webhookSecretNamespace: 'pod-ns',
  webhookSecretName: 'regcred-operator-webhook-ca',
  webhookConfigurationName: 'regcred-operator',
  webhookScope: 'selected',
  webhookDnsNames: ['regcred-operator-webhook.pod-ns.svc'],
  webhookCaLifetimeSeconds: 365 * 86_400,
  webhookCertLifetimeSeconds: 30 * 86_400,
  webhookCertPropagationSeconds: 60,
};
/** An environment where the operator runs in namespace pod-ns, plus `vars`. */
const env = (vars: Record<string, string> = {}): NodeJS.ProcessEnv => ({ POD_NAMESPACE: 'pod-ns', ...vars });

function configError(argv: string[], e: NodeJS.ProcessEnv): InstanceType<typeof ConfigError> {
  try {
    parseConfig(argv, e);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as InstanceType<typeof ConfigError>;
  }
  throw new Error('expected parseConfig to throw');
}

beforeEach(() => {
  readFileSync.mockClear();
  inClusterFile(undefined);
});

// ---- values ------------------------------------------------------------------------------------

describe('parseConfig values', () => {
  test('defaults', () => {
    expect(parseConfig([], env())).toEqual(DEFAULTS);
  });

  // [flag, env var, key, value given, parsed, another valid value]
  const perFlag: Array<[string, string, keyof Config, string, unknown, string]> = [
    ['--source-namespace', 'REGCRED_SOURCE_NAMESPACE', 'sourceNamespace', 'creds', 'creds', 'from-env'],
    ['--log-level', 'REGCRED_LOG_LEVEL', 'logLevel', 'debug', 'debug', 'warn'],
    ['--concurrency', 'REGCRED_CONCURRENCY', 'concurrency', '16', 16, '4'],
    ['--kube-api-qps', 'REGCRED_KUBE_API_QPS', 'kubeApiQps', '2.5', 2.5, '9'],
    ['--kube-api-burst', 'REGCRED_KUBE_API_BURST', 'kubeApiBurst', '7', 7, '9'],
    ['--kube-api-max-inflight', 'REGCRED_KUBE_API_MAX_INFLIGHT', 'kubeApiMaxInflight', '4', 4, '64'],
    ['--kube-api-timeout-seconds', 'REGCRED_KUBE_API_TIMEOUT_SECONDS', 'kubeApiTimeoutSeconds', '2', 2, '9'],
    ['--metrics-bind-address', 'REGCRED_METRICS_BIND_ADDRESS', 'metricsBindAddress', '0', '0', ':1234'],
    [
      '--health-probe-bind-address',
      'REGCRED_HEALTH_PROBE_BIND_ADDRESS',
      'healthProbeBindAddress',
      '127.0.0.1:9000',
      '127.0.0.1:9000',
      ':1',
    ],
    ['--kubeconfig', 'REGCRED_KUBECONFIG', 'kubeconfig', 'kc/flag.yaml', 'kc/flag.yaml', '/env/kc'],
    ['--watch-idle-timeout-seconds', 'REGCRED_WATCH_IDLE_TIMEOUT_SECONDS', 'watchIdleTimeoutSeconds', '30', 30, '60'],
    [
      '--aws-endpoint-url',
      'REGCRED_AWS_ENDPOINT_URL',
      'awsEndpointUrl',
      'http://127.0.0.1:5000',
      'http://127.0.0.1:5000',
      'https://ecr.example.com',
    ],
    [
      '--token-request-timeout-seconds',
      'REGCRED_TOKEN_REQUEST_TIMEOUT_SECONDS',
      'tokenRequestTimeoutSeconds',
      '2.5',
      2.5,
      '30',
    ],
    // the former name of --token-request-timeout-seconds
    [
      '--aws-request-timeout-seconds',
      'REGCRED_AWS_REQUEST_TIMEOUT_SECONDS',
      'tokenRequestTimeoutSeconds',
      '2.5',
      2.5,
      '30',
    ],
    [
      '--leader-election-namespace',
      'REGCRED_LEADER_ELECTION_NAMESPACE',
      'leaderElectionNamespace',
      'regcred-system',
      'regcred-system',
      'other',
    ],
    ['--leader-election-id', 'REGCRED_LEADER_ELECTION_ID', 'leaderElectionId', 'my-lease', 'my-lease', 'other.lease'],
    [
      '--registry-check-timeout-seconds',
      'REGCRED_REGISTRY_CHECK_TIMEOUT_SECONDS',
      'registryCheckTimeoutSeconds',
      '2.5',
      2.5,
      '30',
    ],
    ['--kubelet-tls-cert-file', 'REGCRED_KUBELET_TLS_CERT_FILE', 'kubeletTlsCertFile', '/t/c.pem', '/t/c.pem', '/e/c'],
    ['--kubelet-tls-key-file', 'REGCRED_KUBELET_TLS_KEY_FILE', 'kubeletTlsKeyFile', '/t/k.pem', '/t/k.pem', '/e/k'],
    ['--kubelet-token-audience', 'REGCRED_KUBELET_TOKEN_AUDIENCE', 'kubeletTokenAudience', 'aud', 'aud', 'other'],
    ['--kubelet-cache-seconds', 'REGCRED_KUBELET_CACHE_SECONDS', 'kubeletCacheSeconds', '60', 60, '0'],
    ['--webhook-tls-cert-file', 'REGCRED_WEBHOOK_TLS_CERT_FILE', 'webhookTlsCertFile', '/t/c.pem', '/t/c.pem', '/e/c'],
    ['--webhook-tls-key-file', 'REGCRED_WEBHOOK_TLS_KEY_FILE', 'webhookTlsKeyFile', '/t/k.pem', '/t/k.pem', '/e/k'],
    ['--webhook-secret-name', 'REGCRED_WEBHOOK_SECRET_NAME', 'webhookSecretName', 'ca', 'ca', 'other'],
    ['--webhook-configuration-name', 'REGCRED_WEBHOOK_CONFIGURATION_NAME', 'webhookConfigurationName', 'm', 'm', 'o'],
    ['--webhook-scope', 'REGCRED_WEBHOOK_SCOPE', 'webhookScope', 'configured', 'configured', 'selected'],
    [
      '--webhook-ca-lifetime-seconds',
      'REGCRED_WEBHOOK_CA_LIFETIME_SECONDS',
      'webhookCaLifetimeSeconds',
      '1e8',
      1e8,
      '2e8',
    ],
    [
      '--webhook-cert-lifetime-seconds',
      'REGCRED_WEBHOOK_CERT_LIFETIME_SECONDS',
      'webhookCertLifetimeSeconds',
      '3600',
      3600,
      '7200',
    ],
    [
      '--webhook-cert-propagation-seconds',
      'REGCRED_WEBHOOK_CERT_PROPAGATION_SECONDS',
      'webhookCertPropagationSeconds',
      '30',
      30,
      '10',
    ],
  ];

  test('the tables cover every flag', () => {
    const byFlag = (a: { flag: string }, b: { flag: string }) => a.flag.localeCompare(b.flag);
    const all = [...perFlag, ...booleanFlags, ...checkedApart].map(([flag, envVar, key]) => ({
      flag,
      env: envVar,
      key,
    }));
    expect(all.sort(byFlag)).toEqual(
      FLAGS.map(({ flag, env: envVar, key }) => ({ flag, env: envVar, key })).sort(byFlag),
    );
  });

  test.each(perFlag)('%s <value>', (flag, _env, key, value, expected) => {
    expect(parseConfig([flag, value], env())).toEqual({ ...DEFAULTS, [key]: expected });
  });

  test.each(perFlag)('%s=<value>', (flag, _env, key, value, expected) => {
    expect(parseConfig([`${flag}=${value}`], env())).toEqual({ ...DEFAULTS, [key]: expected });
  });

  test.each(perFlag)('%s from $%s', (_flag, envVar, key, value, expected) => {
    expect(parseConfig([], env({ [envVar]: value }))).toEqual({ ...DEFAULTS, [key]: expected });
  });

  test.each(perFlag)('%s wins over $%s', (flag, envVar, key, value, expected, other) => {
    const e = env({ [envVar]: other });
    expect(parseConfig([], e)[key]).not.toEqual(expected); // the environment alone gives another value
    expect(parseConfig([flag, value], e)).toEqual({ ...DEFAULTS, [key]: expected });
  });

  // [flag, env var, key]: `--flag` is true, `--flag=false` false, the env var takes true/false
  const booleanFlags: Array<[string, string, keyof Config]> = [
    ['--leader-elect', 'REGCRED_LEADER_ELECT', 'leaderElect'],
    ['--verify-registries', 'REGCRED_VERIFY_REGISTRIES', 'verifyRegistries'],
    ['--kube-api-adaptive', 'REGCRED_KUBE_API_ADAPTIVE', 'kubeApiAdaptive'],
  ];

  // Flags whose values depend on others, with tests of their own below.
  const checkedApart: Array<[string, string, keyof Config]> = [
    ['--kubelet-bind-address', 'REGCRED_KUBELET_BIND_ADDRESS', 'kubeletBindAddress'],
    ['--webhook-bind-address', 'REGCRED_WEBHOOK_BIND_ADDRESS', 'webhookBindAddress'],
    ['--webhook-self-managed-ca', 'REGCRED_WEBHOOK_SELF_MANAGED_CA', 'webhookSelfManagedCa'],
    ['--webhook-secret-namespace', 'REGCRED_WEBHOOK_SECRET_NAMESPACE', 'webhookSecretNamespace'],
    ['--webhook-dns-names', 'REGCRED_WEBHOOK_DNS_NAMES', 'webhookDnsNames'],
  ];

  test('--kubelet-bind-address with its certificate and key, from a flag or $REGCRED_KUBELET_BIND_ADDRESS', () => {
    const tls = ['--kubelet-tls-cert-file', '/c.pem', '--kubelet-tls-key-file', '/k.pem'];
    const expected = {
      ...DEFAULTS,
      kubeletBindAddress: ':8443',
      kubeletTlsCertFile: '/c.pem',
      kubeletTlsKeyFile: '/k.pem',
    };
    expect(parseConfig(['--kubelet-bind-address', ':8443', ...tls], env())).toEqual(expected);
    expect(parseConfig(tls, env({ REGCRED_KUBELET_BIND_ADDRESS: ':8443' }))).toEqual(expected);
    expect(parseConfig(['--kubelet-bind-address=:8443', ...tls], env({ REGCRED_KUBELET_BIND_ADDRESS: ':1' }))).toEqual(
      expected,
    );
  });

  test('--webhook-bind-address with its certificate and key, from a flag or $REGCRED_WEBHOOK_BIND_ADDRESS', () => {
    const tls = ['--webhook-tls-cert-file', '/c.pem', '--webhook-tls-key-file', '/k.pem'];
    const expected = {
      ...DEFAULTS,
      webhookBindAddress: ':9443',
      webhookTlsCertFile: '/c.pem',
      webhookTlsKeyFile: '/k.pem',
    };
    expect(parseConfig(['--webhook-bind-address', ':9443', ...tls], env())).toEqual(expected);
    expect(parseConfig(tls, env({ REGCRED_WEBHOOK_BIND_ADDRESS: ':9443' }))).toEqual(expected);
  });

  test('--webhook-self-managed-ca: its Secret, configuration, names and lifetimes', () => {
    expect(
      parseConfig(
        [
          ...['--webhook-bind-address', ':9443', '--webhook-self-managed-ca'],
          ...[
            '--webhook-secret-namespace',
            'ops',
            '--webhook-secret-name',
            'ca',
            '--webhook-configuration-name',
            'mwc',
          ],
          ...['--webhook-dns-names', 'b.ops.svc, 127.0.0.1,a.ops.svc'],
          ...['--webhook-ca-lifetime-seconds', '600', '--webhook-cert-lifetime-seconds', '60'],
          ...['--webhook-cert-propagation-seconds', '5'],
        ],
        env(),
      ),
    ).toEqual({
      ...DEFAULTS,
      webhookBindAddress: ':9443',
      webhookSelfManagedCa: true,
      webhookSecretNamespace: 'ops',
      webhookSecretName: 'ca',
      webhookConfigurationName: 'mwc',
      webhookDnsNames: ['127.0.0.1', 'a.ops.svc', 'b.ops.svc'],
      webhookCaLifetimeSeconds: 600,
      webhookCertLifetimeSeconds: 60,
      webhookCertPropagationSeconds: 5,
    });
    // the default name follows the Secret's namespace
    expect(parseConfig(['--webhook-secret-namespace', 'ops'], env()).webhookDnsNames).toEqual([
      'regcred-operator-webhook.ops.svc',
    ]);
  });

  test.each(booleanFlags)('%s, %s=false, $%s', (flag, envVar, key) => {
    expect(parseConfig([flag], env())).toEqual({ ...DEFAULTS, [key]: true });
    expect(parseConfig([`${flag}=false`], env())).toEqual({ ...DEFAULTS, [key]: false });
    expect(parseConfig([], env({ [envVar]: 'true' }))).toEqual({ ...DEFAULTS, [key]: true });
  });

  test.each<[string, string[], NodeJS.ProcessEnv, Partial<Config>]>([
    ['a boolean flag alone is true', ['--leader-elect'], env(), { leaderElect: true }],
    [
      'a boolean flag takes no separate value',
      ['--leader-elect', '--concurrency', '2'],
      env(),
      { leaderElect: true, concurrency: 2 },
    ],
    ['a boolean flag =false', ['--leader-elect=false'], env({ REGCRED_LEADER_ELECT: 'true' }), { leaderElect: false }],
    ['a boolean from the environment', [], env({ REGCRED_LEADER_ELECT: 'true' }), { leaderElect: true }],
    [
      'the Lease lives in the own namespace, not the source namespace',
      ['--source-namespace', 'creds'],
      env(),
      { sourceNamespace: 'creds', leaderElectionNamespace: 'pod-ns' },
    ],
    [
      'an empty env var falls back to the default',
      [],
      env({ REGCRED_CONCURRENCY: '', REGCRED_LOG_LEVEL: '' }),
      { concurrency: 16, logLevel: 'info' },
    ],
    ['the last of a repeated flag wins', ['--concurrency', '2', '--concurrency=3'], env(), { concurrency: 3 }],
    ['a value may contain "="', ['--kubeconfig=/a=b/config'], env(), { kubeconfig: '/a=b/config' }],
    [
      'several flags together',
      ['--log-level', 'warn', '--concurrency=1', '--kube-api-qps', '0'],
      env(),
      { logLevel: 'warn', concurrency: 1, kubeApiQps: 0 },
    ],
    [
      'bounds are inclusive (low)',
      ['--concurrency=1', '--kube-api-burst=1', '--watch-idle-timeout-seconds=5'],
      env(),
      { concurrency: 1, kubeApiBurst: 1, watchIdleTimeoutSeconds: 5 },
    ],
    [
      'bounds are inclusive (high)',
      ['--concurrency=256', '--kube-api-qps=10000', '--kube-api-burst=20000', '--watch-idle-timeout-seconds=3600'],
      env(),
      { concurrency: 256, kubeApiQps: 10000, kubeApiBurst: 20000, watchIdleTimeoutSeconds: 3600 },
    ],
  ])('%s', (_name, argv, e, expected) => {
    expect(parseConfig(argv, e)).toMatchObject(expected);
  });
});

// ---- source namespace --------------------------------------------------------------------------

describe('parseConfig source namespace', () => {
  test.each<[string, string[], NodeJS.ProcessEnv, string | undefined, string]>([
    [
      'flag wins over everything',
      ['--source-namespace', 'flag-ns'],
      { REGCRED_SOURCE_NAMESPACE: 'env-ns', POD_NAMESPACE: 'pod-ns' },
      'file-ns',
      'flag-ns',
    ],
    [
      'REGCRED_SOURCE_NAMESPACE wins over POD_NAMESPACE',
      [],
      { REGCRED_SOURCE_NAMESPACE: 'env-ns', POD_NAMESPACE: 'pod-ns' },
      'file-ns',
      'env-ns',
    ],
    ['POD_NAMESPACE wins over the in-cluster file', [], { POD_NAMESPACE: 'pod-ns' }, 'file-ns', 'pod-ns'],
    ['the in-cluster file, trimmed', [], {}, 'file-ns\n', 'file-ns'],
    ['regcred-system when nothing else is known', [], {}, undefined, 'regcred-system'],
  ])('%s', (_name, argv, e, file, expected) => {
    inClusterFile(file);
    expect(parseConfig(argv, e).sourceNamespace).toBe(expected);
  });

  test('reads the in-cluster namespace file only when needed', () => {
    inClusterFile('file-ns');
    parseConfig([], {});
    expect(readFileSync).toHaveBeenCalledWith(IN_CLUSTER_NAMESPACE, 'utf8');
    readFileSync.mockClear();
    parseConfig([], { POD_NAMESPACE: 'pod-ns' });
    expect(readFileSync).not.toHaveBeenCalled();
  });
});

// ---- errors ------------------------------------------------------------------------------------

describe('parseConfig errors', () => {
  test.each<[string, string[], NodeJS.ProcessEnv, string]>([
    [
      'kubelet endpoint without a certificate',
      ['--kubelet-bind-address', ':8443'],
      env(),
      '--kubelet-bind-address needs --kubelet-tls-cert-file and --kubelet-tls-key-file',
    ],
    [
      'webhook without a certificate',
      ['--webhook-bind-address', ':9443', '--webhook-tls-key-file', '/k.pem'],
      env(),
      '--webhook-bind-address needs --webhook-tls-cert-file and --webhook-tls-key-file',
    ],
    [
      'self-managed CA and certificate files',
      ['--webhook-bind-address', ':9443', '--webhook-self-managed-ca', '--webhook-tls-cert-file', '/c.pem'],
      env(),
      '--webhook-self-managed-ca and --webhook-tls-cert-file/--webhook-tls-key-file exclude each other',
    ],
    ['self-managed CA, webhook off', ['--webhook-self-managed-ca'], env(), '--webhook-self-managed-ca needs'],
    [
      'serving certificate outliving its CA',
      ['--webhook-ca-lifetime-seconds', '600', '--webhook-cert-lifetime-seconds', '900'],
      env(),
      '--webhook-cert-lifetime-seconds must not exceed --webhook-ca-lifetime-seconds',
    ],
    [
      'propagation too long for the certificate',
      ['--webhook-cert-lifetime-seconds', '60', '--webhook-cert-propagation-seconds', '20'],
      env(),
      '--webhook-cert-propagation-seconds must be less than a third',
    ],
    [
      'kubelet endpoint without a key',
      ['--kubelet-bind-address', ':8443', '--kubelet-tls-cert-file', '/c.pem'],
      env(),
      '--kubelet-bind-address needs --kubelet-tls-cert-file and --kubelet-tls-key-file',
    ],
    ['kubelet cache too long', ['--kubelet-cache-seconds', '3601'], env(), 'invalid --kubelet-cache-seconds'],
    ['concurrency 0', ['--concurrency', '0'], env(), 'invalid --concurrency (REGCRED_CONCURRENCY): '],
    ['concurrency too high', ['--concurrency=257'], env(), 'invalid --concurrency (REGCRED_CONCURRENCY): '],
    ['concurrency not an integer', ['--concurrency=1.5'], env(), 'invalid --concurrency (REGCRED_CONCURRENCY): '],
    ['concurrency not a number', ['--concurrency', 'many'], env(), 'invalid --concurrency (REGCRED_CONCURRENCY): '],
    [
      'concurrency from the environment',
      [],
      env({ REGCRED_CONCURRENCY: 'many' }),
      'invalid --concurrency (REGCRED_CONCURRENCY): ',
    ],
    ['log level', ['--log-level', 'verbose'], env(), 'invalid --log-level (REGCRED_LOG_LEVEL): '],
    ['webhook scope', ['--webhook-scope', 'all'], env(), 'invalid --webhook-scope (REGCRED_WEBHOOK_SCOPE): '],
    [
      'log level from the environment',
      [],
      env({ REGCRED_LOG_LEVEL: 'INFO' }),
      'invalid --log-level (REGCRED_LOG_LEVEL): ',
    ],
    ['negative qps', ['--kube-api-qps=-1'], env(), 'invalid --kube-api-qps (REGCRED_KUBE_API_QPS): '],
    ['qps too high', ['--kube-api-qps=10001'], env(), 'invalid --kube-api-qps (REGCRED_KUBE_API_QPS): '],
    ['burst 0', ['--kube-api-burst=0'], env(), 'invalid --kube-api-burst (REGCRED_KUBE_API_BURST): '],
    [
      'max in flight 0',
      ['--kube-api-max-inflight=0'],
      env(),
      'invalid --kube-api-max-inflight (REGCRED_KUBE_API_MAX_INFLIGHT): ',
    ],
    ['burst not an integer', ['--kube-api-burst=1.5'], env(), 'invalid --kube-api-burst (REGCRED_KUBE_API_BURST): '],
    [
      'watch timeout too short',
      ['--watch-idle-timeout-seconds=4'],
      env(),
      'invalid --watch-idle-timeout-seconds (REGCRED_WATCH_IDLE_TIMEOUT_SECONDS): ',
    ],
    [
      'watch timeout too long',
      ['--watch-idle-timeout-seconds=3601'],
      env(),
      'invalid --watch-idle-timeout-seconds (REGCRED_WATCH_IDLE_TIMEOUT_SECONDS): ',
    ],
    [
      'source namespace with capitals',
      ['--source-namespace', 'Creds'],
      env(),
      'invalid --source-namespace (REGCRED_SOURCE_NAMESPACE): must be a namespace name',
    ],
    [
      'source namespace ending in a dash',
      ['--source-namespace=creds-'],
      env(),
      'invalid --source-namespace (REGCRED_SOURCE_NAMESPACE): must be a namespace name',
    ],
    [
      'source namespace too long',
      ['--source-namespace', 'a'.repeat(64)],
      env(),
      'invalid --source-namespace (REGCRED_SOURCE_NAMESPACE): ',
    ],
    ['empty source namespace', ['--source-namespace='], env(), 'flag --source-namespace needs a value'],
    [
      'blank rate limit (would read as 0 = unlimited)',
      ['--kube-api-qps', ' '],
      env(),
      'flag --kube-api-qps needs a value',
    ],
    [
      'bad POD_NAMESPACE',
      [],
      { POD_NAMESPACE: 'Bad_NS' },
      'invalid --source-namespace (REGCRED_SOURCE_NAMESPACE): must be a namespace name',
    ],
    ['flag without a value', ['--concurrency'], env(), 'flag --concurrency needs a value'],
    ['last flag without a value', ['--log-level', 'debug', '--kubeconfig'], env(), 'flag --kubeconfig needs a value'],
    ['unknown flag', ['--nope', '1'], env(), 'unknown flag --nope\n\nUsage: regcred-operator [flags]'],
    ['unknown flag with a value', ['--nope=1'], env(), 'unknown flag --nope\n\nUsage: regcred-operator [flags]'],
    ['single-dash flag', ['-concurrency', '1'], env(), 'unknown flag -concurrency\n\n'],
    ['positional argument', ['run'], env(), 'unknown flag run\n\n'],
    [
      'boolean flag with a non-boolean value',
      ['--leader-elect=sometimes'],
      env(),
      'invalid --leader-elect (REGCRED_LEADER_ELECT): ',
    ],
    ['boolean flag with an empty value', ['--leader-elect='], env(), 'flag --leader-elect needs a value'],
    [
      'bad Lease name',
      ['--leader-election-id', 'Lease_1'],
      env(),
      'invalid --leader-election-id (REGCRED_LEADER_ELECTION_ID): must be a Lease name',
    ],
  ])('%s', (_name, argv, e, prefix) => {
    const err = configError(argv, e);
    expect(err.name).toBe('ConfigError');
    expect(err.message.startsWith(prefix)).toBe(true);
  });

  test('a flag value that is another flag is taken as the value (and then rejected)', () => {
    expect(configError(['--concurrency', '--log-level'], env()).message).toMatch(
      /^invalid --concurrency \(REGCRED_CONCURRENCY\): /,
    );
  });
});

// ---- usage -------------------------------------------------------------------------------------

describe('usage', () => {
  const text = usage();
  test.each(FLAGS.map((f) => [f.flag, f.env, f.fallback, f.boolean] as const))(
    'documents %s and $%s',
    (flag, envVar, fallback, isBoolean) => {
      expect(text).toContain(isBoolean ? `${flag}[=true|false]` : `${flag} <value>`);
      expect(text).toContain(`env: ${envVar}`);
      if (fallback) expect(text).toContain(`(default ${fallback})`);
    },
  );
  test('documents --help', () => {
    expect(text).toContain('--help');
  });
});
