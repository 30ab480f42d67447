// doctor's reasoning, one row per cause it must name: the facts as gather.ts would read them, the
// verdict, the broken step and its fix. (The same causes are reproduced for real on the control
// plane, the registries and the node in test/e2e/doctor.test.ts.)
import { diagnose, type DoctorFacts, type SecretFact } from '../../src/cli/diagnosis.js';
import type { CheckResult } from '../../src/registry/v2.js';

const REGISTRY = '127.0.0.1:5000';
const IMAGE = `${REGISTRY}/team/app:1`;

function pullSecret(
  auths: Record<string, { username: string; password: string; auth?: string }>,
  labels: Record<string, string> = {},
): SecretFact {
  return {
    state: 'found',
    type: 'kubernetes.io/dockerconfigjson',
    data: { '.dockerconfigjson': Buffer.from(JSON.stringify({ auths })).toString('base64') },
    labels,
  };
}

function facts(overrides: Partial<DoctorFacts> = {}): DoctorFacts {
  return {
    namespace: 'team-a',
    image: IMAGE,
    container: 'app',
    pod: { name: 'app-1', imagePullSecrets: ['pull'], containerState: { waitingReason: 'ContainerCreating' } },
    serviceAccountName: 'default',
    serviceAccount: { state: 'found', imagePullSecrets: ['pull'] },
    secrets: {
      pull: pullSecret({ [REGISTRY]: { username: 'robot', password: 's3cret' } }, { 'regcred.io/credential': 'team' }),
    },
    credentials: [
      {
        name: 'team',
        spec: { registries: [{ server: REGISTRY }], secretName: 'pull' },
        status: { conditions: [{ type: 'SourcesReady', status: 'True' }] },
      },
    ],
    events: [],
    managedSecrets: [{ name: 'pull', credential: 'team' }],
    ...overrides,
  };
}

const verified: CheckResult = {
  state: 'Verified',
  reason: 'Verified',
  message: 'basic authentication accepted',
  requests: 3,
};
const liveReturning = (result: CheckResult) => async () => result;

test('a working chain: the key the kubelet picks, its user, the live check', async () => {
  const seen: unknown[] = [];
  const d = await diagnose(facts(), { live: async (request) => (seen.push(request), verified) });
  expect(d.verdict).toBe('ok');
  expect(seen).toEqual([
    { server: REGISTRY, username: 'robot', password: 's3cret', repository: 'team/app', reference: '1' },
  ]);
  expect(d.steps.find((s) => s.id === 'secrets')?.details).toContain(
    `the kubelet uses key "${REGISTRY}" of Secret pull (user robot)`,
  );
  expect(d.steps.find((s) => s.id === 'credential')?.details[0]).toBe('managed by RegistryCredential team');
  expect(JSON.stringify(d)).not.toContain('s3cret');
});

test('the auth field wins over username/password, as in the kubelet', async () => {
  const auth = Buffer.from('other:pw2').toString('base64');
  const seen: Array<{ username: string }> = [];
  await diagnose(
    facts({ secrets: { pull: pullSecret({ [REGISTRY]: { username: 'robot', password: 's3cret', auth } }) } }),
    {
      live: async (request) => (seen.push(request), verified),
    },
  );
  expect(seen[0].username).toBe('other');
});

type Row = [string, Partial<DoctorFacts>, CheckResult | undefined, string, RegExp];
const rows: Row[] = [
  ['an invalid image name', { image: `${REGISTRY}/Team/App` }, verified, 'reference', /cannot parse it/],
  [
    'the Pod created before its ServiceAccount carried the Secret',
    { pod: { name: 'app-1', imagePullSecrets: [], containerState: { waitingReason: 'ImagePullBackOff' } } },
    verified,
    'secrets',
    /created before ServiceAccount default carried pull.*recreate the Pod.*podRecovery\.enabled: true/,
  ],
  [
    'a missing Secret that exists in another namespace',
    { secrets: { pull: { state: 'missing', foundInNamespaces: ['regcred-system'] } } },
    verified,
    'secrets',
    /must be in the Pod's namespace team-a: pull \(found in regcred-system\)/,
  ],
  [
    'a Secret of the wrong type',
    { secrets: { pull: { state: 'found', type: 'Opaque', data: { username: 'x' }, labels: {} } } },
    verified,
    'secrets',
    /No pull secret has a key|Nothing gives|make Secret pull/,
  ],
  [
    'a malformed pull secret breaks every pull of the Pod',
    {
      secrets: {
        pull: {
          state: 'found',
          type: 'kubernetes.io/dockerconfigjson',
          data: { '.dockerconfigjson': Buffer.from('{nope').toString('base64') },
          labels: {},
        },
      },
    },
    verified,
    'secrets',
    /while it is malformed no image of the Pod can be pulled/,
  ],
  [
    'a key without the port',
    { secrets: { pull: pullSecret({ '127.0.0.1': { username: 'robot', password: 'x' } }) } },
    verified,
    'secrets',
    /No pull secret has a key for 127\.0\.0\.1:5000/,
  ],
  [
    'a key whose path does not cover the repository',
    { secrets: { pull: pullSecret({ [`${REGISTRY}/other`]: { username: 'robot', password: 'x' } }) } },
    verified,
    'secrets',
    /No pull secret has a key/,
  ],
  [
    'a registry-1.docker.io key for a Docker Hub image',
    {
      image: 'library/busybox:1',
      secrets: { pull: pullSecret({ 'registry-1.docker.io': { username: 'hub', password: 'x' } }) },
    },
    undefined,
    'secrets',
    /"https:\/\/index\.docker\.io\/v1\/" or "docker\.io"/,
  ],
  [
    'a ServiceAccount the RegistryCredential does not inject into',
    {
      pod: { name: 'app-1', imagePullSecrets: [], containerState: { waitingReason: 'ErrImagePull' } },
      serviceAccountName: 'builder',
      serviceAccount: { state: 'found', imagePullSecrets: [] },
      secrets: {},
    },
    verified,
    'secrets',
    /RegistryCredential team provides 127\.0\.0\.1:5000 in team-a \(Secret pull\) but injects it only into ServiceAccounts \["default"\]: add "builder"/,
  ],
  [
    'a wrong password',
    {},
    { state: 'Failed', reason: 'Unauthorized', message: '401', requests: 2 },
    'live',
    /refuses this username\/password: fix them in the source of RegistryCredential team/,
  ],
  [
    'a missing tag',
    {},
    { state: 'Failed', reason: 'ManifestNotFound', message: 'no tag', requests: 4 },
    'live',
    /team\/app has no tag 1/,
  ],
  [
    'a private CA nobody trusts',
    {},
    { state: 'Failed', reason: 'TLSError', message: 'x509', requests: 1 },
    'live',
    /\/etc\/containerd\/certs\.d\/127\.0\.0\.1:5000\/ca\.crt/,
  ],
  [
    'the registry is down',
    {},
    { state: 'Failed', reason: 'Unreachable', message: 'refused', requests: 1 },
    'live',
    /cannot be reached from here/,
  ],
  [
    'the node does not trust the CA although this machine does',
    {
      pod: { name: 'app-1', imagePullSecrets: ['pull'], containerState: { waitingReason: 'ImagePullBackOff' } },
      events: [
        {
          reason: 'Failed',
          type: 'Warning',
          count: 3,
          message:
            `Failed to pull image "${IMAGE}": ... tls: failed to verify certificate: x509: certificate ` +
            `signed by unknown authority`,
        },
      ],
    },
    verified,
    'events',
    /Give the node the registry's CA: \/etc\/containerd\/certs\.d\/127\.0\.0\.1:5000\/ca\.crt/,
  ],
  [
    // found on the real node: containerd speaks plain HTTP to a loopback registry it has no hosts.toml for
    'containerd speaking HTTP to a loopback registry that serves HTTPS',
    {
      pod: { name: 'app-1', imagePullSecrets: ['pull'], containerState: { waitingReason: 'ErrImagePull' } },
      events: [
        {
          reason: 'Failed',
          type: 'Warning',
          count: 1,
          message:
            `Failed to pull image "${IMAGE}": ... pulling from host ${REGISTRY} failed with status code ` +
            `[manifests 1]: 400 Bad Request`,
        },
      ],
    },
    verified,
    'events',
    /hosts\.toml with server = "https:\/\/127\.0\.0\.1:5000"/,
  ],
];

test.each(rows)('%s', async (_what, overrides, live, brokenStep, fix) => {
  const d = await diagnose(facts(overrides), live ? { live: liveReturning(live) } : {});
  expect(d.verdict).toBe('broken');
  const broken = d.steps.find((s) => s.status === 'broken' && s.fix);
  expect(broken?.id).toBe(brokenStep);
  expect(broken?.fix).toMatch(fix);
});

test('the legacy Docker Hub key matches a docker.io image through the fallback; --no-live leaves the verdict open', async () => {
  const d = await diagnose(
    facts({
      image: 'busybox',
      secrets: { pull: pullSecret({ 'https://index.docker.io/v1/': { username: 'hub', password: 'x' } }) },
    }),
  );
  expect(d.verdict).toBe('unknown');
  expect(d.steps.find((s) => s.id === 'secrets')?.details.join('\n')).toMatch(/Docker Hub fallback/);
  expect(d.steps.at(-1)).toMatchObject({ id: 'live', status: 'skipped' });
});

test("a Pod failing to pull although the credential works from here: the node's own failure is the verdict", async () => {
  const d = await diagnose(
    facts({
      pod: { name: 'app-1', imagePullSecrets: ['pull'], containerState: { waitingReason: 'ImagePullBackOff' } },
    }),
    { live: liveReturning(verified) },
  );
  expect(d.verdict).toBe('broken');
  expect(d.steps.find((s) => s.id === 'events')?.status).toBe('broken');
  expect(d.steps.find((s) => s.id === 'live')?.status).toBe('ok');
});

test('doctor image for a ServiceAccount that does not exist', async () => {
  const d = await diagnose(
    facts({ pod: undefined, serviceAccountName: 'ghost', serviceAccount: { state: 'missing' } }),
    { live: liveReturning(verified) },
  );
  expect(d.verdict).toBe('broken');
  expect(d.steps.at(-1)).toMatchObject({ id: 'pullSecrets', status: 'broken' });
});

describe('kubelet delivery and the node', () => {
  const kubeletCredential = (spec: Record<string, unknown> = {}, status: Record<string, unknown> = {}) => ({
    name: 'secretless',
    spec: {
      registries: [{ server: REGISTRY, basicAuth: { secretName: 'src' } }],
      serviceAccounts: ['web'],
      delivery: { secrets: false, kubelet: true },
      ...spec,
    },
    status: { kubelet: { served: 3, refused: 1, lastServedTime: '2026-12-07T01:00:00Z' }, ...status },
  });
  const node = (provider: Partial<{ configured: boolean; pluginCalls: number; pluginErrors: number }> = {}) => ({
    name: 'node-1',
    provider: { state: 'read' as const, configured: true, pluginCalls: 2, pluginErrors: 0, ...provider },
    verificationPolicy: 'NeverVerifyPreloadedImages',
  });
  const secretless = (overrides: Partial<DoctorFacts> = {}): DoctorFacts =>
    facts({
      pod: { name: 'app-1', imagePullSecrets: [], containerState: { running: true } },
      serviceAccountName: 'web',
      serviceAccount: { state: 'found', imagePullSecrets: [], labels: {} },
      secrets: {},
      managedSecrets: [],
      namespaceLabels: {},
      credentials: [kubeletCredential()],
      node: node(),
      ...overrides,
    });

  test.each<[string, Partial<DoctorFacts>, 'ok' | 'broken' | 'unknown', string, RegExp]>([
    [
      'a running Pod served through the kubelet',
      {},
      'ok',
      'kubelet',
      /RegistryCredential secretless serves 127\.0\.0\.1:5000 to team-a\/web through the kubelet: served 3, refused 1/,
    ],
    [
      'a waiting Pod of a covered ServiceAccount: not checked against the registry',
      { pod: { name: 'app-1', imagePullSecrets: [], containerState: { waitingReason: 'ContainerCreating' } } },
      'unknown',
      'kubelet',
      /provider configured; regcred-kubelet-plugin ran 2 time\(s\), 0 error\(s\)/,
    ],
    [
      'the node has no credential provider',
      {
        pod: { name: 'app-1', imagePullSecrets: [], containerState: { waitingReason: 'ImagePullBackOff' } },
        node: node({ configured: false, pluginCalls: 0 }),
      },
      'broken',
      'kubelet',
      /its kubelet has no image credential provider configured/,
    ],
    [
      'the plugin never ran: matchImages',
      { node: node({ pluginCalls: 0 }), pod: { name: 'app-1', imagePullSecrets: [], containerState: {} } },
      'unknown',
      'kubelet',
      /matchImages may not cover 127\.0\.0\.1:5000/,
    ],
    [
      'a ServiceAccount the credential does not serve',
      {
        serviceAccountName: 'builder',
        pod: { name: 'app-1', imagePullSecrets: [], containerState: { waitingReason: 'ImagePullBackOff' } },
      },
      'broken',
      'kubelet',
      /serves 127\.0\.0\.1:5000 to the kubelet, not to ServiceAccount team-a\/builder/,
    ],
    [
      'a namespace the credential does not select',
      {
        credentials: [kubeletCredential({ namespaceSelector: { matchLabels: { team: 'b' } } })],
        pod: { name: 'app-1', imagePullSecrets: [], containerState: { waitingReason: 'ImagePullBackOff' } },
      },
      'broken',
      'kubelet',
      /not to namespace team-a/,
    ],
  ])('%s', async (_what, overrides, verdict, stepId, detail) => {
    let liveChecks = 0;
    const d = await diagnose(secretless(overrides), { live: async () => (liveChecks++, verified) });
    expect(d.verdict).toBe(verdict);
    expect(d.steps.find((step) => step.id === stepId)?.details.join('\n')).toMatch(detail);
    // doctor never holds the value the operator serves to the kubelet, so it cannot check it live.
    expect(liveChecks).toBe(0);
  });

  test('an uncovered ServiceAccount: the fix names the RegistryCredential and the ServiceAccount', async () => {
    const d = await diagnose(
      secretless({
        serviceAccountName: 'builder',
        pod: { name: 'app-1', imagePullSecrets: [], containerState: { waitingReason: 'ImagePullBackOff' } },
      }),
    );
    const broken = d.steps.filter((step) => step.status === 'broken' && step.fix);
    expect(broken.map((step) => step.id)).toEqual(['kubelet']);
    expect(broken[0]!.fix).toContain('add "builder" to the spec.serviceAccounts of RegistryCredential secretless');
  });

  test('a running Pod without any credential of its own: doctor says it runs from the node and which kubelet setting closes that', async () => {
    const d = await diagnose(
      facts({
        pod: { name: 'app-1', imagePullSecrets: [], containerState: { running: true } },
        serviceAccount: { state: 'found', imagePullSecrets: [] },
        secrets: {},
        credentials: [],
        managedSecrets: [],
        events: [
          {
            reason: 'Pulled',
            type: 'Normal',
            count: 1,
            message: `Container image "${IMAGE}" already present on machine and can be accessed by the pod`,
          },
        ],
        node: { ...node(), verificationPolicy: 'NeverVerify' },
      }),
    );
    expect(d.verdict).toBe('broken');
    const why = d.steps.find((step) => step.id === 'node');
    expect(why?.details.join('\n')).toMatch(
      /already on node node-1.*imagePullCredentialsVerificationPolicy NeverVerify/s,
    );
    expect(why?.fix).toContain('AlwaysVerify');
  });

  test("the node's fallback TLS error does not contradict the registry's own ManifestNotFound", async () => {
    const d = await diagnose(
      facts({
        pod: { name: 'app-1', imagePullSecrets: ['pull'], containerState: { waitingReason: 'ImagePullBackOff' } },
        events: [
          {
            reason: 'Failed',
            type: 'Warning',
            count: 2,
            message:
              `Failed to pull image "${IMAGE}": tls: failed to verify certificate: ` +
              'x509: certificate signed by unknown authority',
          },
        ],
      }),
      {
        live: liveReturning({ state: 'Failed', reason: 'ManifestNotFound', message: 'no tag 1', requests: 3 }),
      },
    );
    expect(d.verdict).toBe('broken');
    const events = d.steps.find((step) => step.id === 'events')!;
    expect(events.details.some((line) => line.startsWith('cause: '))).toBe(false);
    expect(events.details.join('\n')).toContain('but the registry answers ManifestNotFound (live check)');
  });
});
