import {
  credentialNameProblem,
  DEFAULT_REFRESH,
  parseDuration,
  parseSpec,
  type RegistryCredential,
  type RegistryCredentialSpec,
  targetSecretName,
} from '../../src/api/v1alpha1.js';

// ---- builders ----------------------------------------------------------------------------------

const harbor = { server: 'harbor.example.com', basicAuth: { secretName: 'harbor-robot' } };
/** A minimal valid spec with `patch` applied. */
const gitlabSource = { url: 'https://gitlab.example.com', tokenSecretName: 'gitlab-api', project: 'group/app' };
const raw = (patch: Record<string, unknown> = {}) => ({ registries: [harbor], ...patch });

function parsed(spec: unknown): RegistryCredentialSpec {
  const r = parseSpec(spec);
  if (!r.ok) throw new Error(r.message);
  return r.spec;
}
function rejection(spec: unknown): string {
  const r = parseSpec(spec);
  if (r.ok) throw new Error('expected the spec to be rejected');
  return r.message;
}

// ---- parseDuration -----------------------------------------------------------------------------

describe('parseDuration', () => {
  test.each<[string, number]>([
    ['6h', 6 * 3_600_000],
    ['90m', 90 * 60_000],
    ['1h30m', 90 * 60_000],
    ['1.5h', 90 * 60_000],
    ['45s', 45_000],
    ['2m30s', 150_000],
    ['250ms', 250],
    ['1500us', 1.5],
    ['1500µs', 1.5],
    ['2000000ns', 2],
    ['0s', 0],
    ['1h1h', 2 * 3_600_000],
    ['1h0m10s500ms', 3_610_500],
  ])('%s = %d ms', (text, ms) => {
    expect(parseDuration(text)).toBeCloseTo(ms, 9);
  });

  test.each(['', '6', 'h', '1d', '1w', '-1h', '+1h', '1H', ' 1h', '1h ', '1 h', '1.h', '.5h', 'PT1H', '1h-30m'])(
    'rejects %j',
    (text) => {
      expect(() => parseDuration(text)).toThrow(`invalid duration ${JSON.stringify(text)}`);
    },
  );

  test('the default refresh interval parses', () => {
    expect(parseDuration(DEFAULT_REFRESH)).toBe(6 * 3_600_000);
  });
});

// ---- parseSpec: defaults -----------------------------------------------------------------------

describe('parseSpec defaults', () => {
  test('a minimal spec gets every default', () => {
    expect(parsed(raw())).toEqual({
      registries: [
        {
          server: 'harbor.example.com',
          basicAuth: { secretName: 'harbor-robot', usernameKey: 'username', passwordKey: 'password' },
        },
      ],
      excludeNamespaces: [],
      serviceAccounts: ['default'],
      excludeServiceAccounts: [],
      refreshInterval: '6h',
      suspend: false,
    });
  });

  test.each<[string, Record<string, unknown>, Partial<RegistryCredentialSpec>]>([
    ['secretName kept', { secretName: 'pull' }, { secretName: 'pull' }],
    [
      'namespaceSelector kept',
      { namespaceSelector: { matchLabels: { a: 'b' } } },
      { namespaceSelector: { matchLabels: { a: 'b' } } },
    ],
    ['excludeNamespaces kept', { excludeNamespaces: ['kube-system'] }, { excludeNamespaces: ['kube-system'] }],
    ['serviceAccounts "*"', { serviceAccounts: ['*'] }, { serviceAccounts: ['*'] }],
    ['serviceAccounts [] stays empty', { serviceAccounts: [] }, { serviceAccounts: [] }],
    ['refreshInterval kept', { refreshInterval: '90m' }, { refreshInterval: '90m' }],
    ['suspend kept', { suspend: true }, { suspend: true }],
    [
      'secretTemplate kept',
      { secretTemplate: { labels: { team: 'a' }, annotations: { 'argocd.argoproj.io/compare-options': 'x' } } },
      { secretTemplate: { labels: { team: 'a' }, annotations: { 'argocd.argoproj.io/compare-options': 'x' } } },
    ],
    [
      'serviceAccountSelector kept',
      { serviceAccountSelector: { matchLabels: { pull: 'yes' } } },
      { serviceAccountSelector: { matchLabels: { pull: 'yes' } } },
    ],
    ['excludeServiceAccounts kept', { excludeServiceAccounts: ['builder'] }, { excludeServiceAccounts: ['builder'] }],
    ['namespaceNames kept', { namespaceNames: ['team-*', 'ci-??'] }, { namespaceNames: ['team-*', 'ci-??'] }],
    [
      'gitlab expiresIn defaults to 30d',
      { registries: [{ server: 'registry.gitlab.example.com', gitlab: gitlabSource }] },
      { registries: [{ server: 'registry.gitlab.example.com', gitlab: { ...gitlabSource, expiresIn: '30d' } }] },
    ],
    ['excludeNamespaces globs kept', { excludeNamespaces: ['kube-*'] }, { excludeNamespaces: ['kube-*'] }],
    [
      'custom basicAuth keys kept',
      { registries: [{ server: 'r.io', basicAuth: { secretName: 's', usernameKey: 'user', passwordKey: 'token' } }] },
      { registries: [{ server: 'r.io', basicAuth: { secretName: 's', usernameKey: 'user', passwordKey: 'token' } }] },
    ],
    [
      'dockerConfig entry',
      { registries: [{ dockerConfig: { secretName: 'docker' } }] },
      { registries: [{ dockerConfig: { secretName: 'docker' } }] },
    ],
    [
      'ecr entry',
      { registries: [{ server: 'e.io', ecr: { region: 'eu-west-1' } }] },
      { registries: [{ server: 'e.io', ecr: { region: 'eu-west-1' } }] },
    ],
    [
      'ecrPublic, gcp and acr entries',
      {
        registries: [
          { server: 'public.ecr.aws', ecrPublic: {} },
          { server: 'gcr.io', gcp: { credentialsSecretName: 'gcp-sa' } },
          {
            server: 'r.azurecr.io',
            acr: { tenantId: 't.onmicrosoft.com', clientId: 'c', credentialsSecretName: 'sp' },
          },
        ],
      },
      {
        registries: [
          { server: 'public.ecr.aws', ecrPublic: {} },
          { server: 'gcr.io', gcp: { credentialsSecretName: 'gcp-sa' } },
          {
            server: 'r.azurecr.io',
            acr: { tenantId: 't.onmicrosoft.com', clientId: 'c', credentialsSecretName: 'sp' },
          },
        ],
      },
    ],
  ])('%s', (_name, patch, expected) => {
    expect(parsed(raw(patch))).toMatchObject(expected);
  });

  test('unknown fields are dropped', () => {
    expect(parsed(raw({ extra: 1 }))).not.toHaveProperty('extra');
  });
});

// ---- parseSpec: rejections ---------------------------------------------------------------------

const ONE_SOURCE =
  'spec.registries.0: each registry entry must set exactly one of basicAuth, ecr, ecrPublic, gcp, acr, github, ' +
  'quay, harbor, gitlab or dockerConfig';

describe('parseSpec rejections', () => {
  test.each<[string, unknown, string | RegExp]>([
    ['no registries', {}, /^spec\.registries: /],
    ['empty registries', { registries: [] }, /^spec\.registries: .*>=1/],
    [
      '33 registries',
      { registries: Array.from({ length: 33 }, (_, i) => ({ server: `r${i}.io`, basicAuth: { secretName: 's' } })) },
      /^spec\.registries: .*<=32/,
    ],
    ['entry with no source', raw({ registries: [{ server: 'r.io' }] }), ONE_SOURCE],
    [
      'entry with two sources',
      raw({ registries: [{ server: 'r.io', basicAuth: { secretName: 's' }, ecr: {} }] }),
      ONE_SOURCE,
    ],
    [
      'basicAuth without server',
      raw({ registries: [{ basicAuth: { secretName: 's' } }] }),
      'spec.registries.0: server is required for every source but dockerConfig, and must not be set with dockerConfig',
    ],
    [
      'ecr without server',
      raw({ registries: [{ ecr: {} }] }),
      'spec.registries.0: server is required for every source but dockerConfig, and must not be set with dockerConfig',
    ],
    [
      'dockerConfig with server',
      raw({ registries: [{ server: 'r.io', dockerConfig: { secretName: 's' } }] }),
      'spec.registries.0: server is required for every source but dockerConfig, and must not be set with dockerConfig',
    ],
    [
      'acr client secret without its tenant and client',
      raw({ registries: [{ server: 'r.azurecr.io', acr: { credentialsSecretName: 'sp' } }] }),
      'spec.registries.0.acr: acr.tenantId and acr.clientId are required with acr.credentialsSecretName',
    ],
    [
      'gitlab with both project and group',
      raw({ registries: [{ server: 'r.io', gitlab: { ...gitlabSource, group: 'group' } }] }),
      'spec.registries.0.gitlab: gitlab needs exactly one of project or group',
    ],
    [
      'gitlab over plain HTTP',
      raw({ registries: [{ server: 'r.io', gitlab: { ...gitlabSource, url: 'http://gitlab.example.com' } }] }),
      /^spec\.registries\.0\.gitlab\.url: gitlab\.url must be an https URL/,
    ],
    [
      'gitlab expiresIn in weeks',
      raw({ registries: [{ server: 'r.io', gitlab: { ...gitlabSource, expiresIn: '2w' } }] }),
      /^spec\.registries\.0\.gitlab\.expiresIn: gitlab\.expiresIn must be a whole number/,
    ],
    ['gcp and acr in one entry', raw({ registries: [{ server: 'gcr.io', gcp: {}, acr: {} }] }), ONE_SOURCE],
    [
      'the failing entry is named by index',
      raw({ registries: [harbor, { server: 'r.io' }] }),
      /^spec\.registries\.1: /,
    ],
    [
      'empty secretName of a source',
      raw({ registries: [{ dockerConfig: { secretName: '' } }] }),
      /^spec\.registries\.0\.dockerConfig\.secretName: /,
    ],
    [
      'empty usernameKey',
      raw({ registries: [{ server: 'r.io', basicAuth: { secretName: 's', usernameKey: '' } }] }),
      /^spec\.registries\.0\.basicAuth\.usernameKey: /,
    ],
    ['empty target secretName', raw({ secretName: '' }), /^spec\.secretName: /],
    [
      '"*" mixed with names',
      raw({ serviceAccounts: ['*', 'default'] }),
      'spec.serviceAccounts: "*" cannot be mixed with ServiceAccount names',
    ],
    ['empty ServiceAccount name', raw({ serviceAccounts: [''] }), /^spec\.serviceAccounts\.0: /],
    [
      'refreshInterval in days',
      raw({ refreshInterval: '1d' }),
      'spec.refreshInterval: refreshInterval must be a duration such as 6h or 90m',
    ],
    [
      'unknown selector operator',
      raw({ namespaceSelector: { matchExpressions: [{ key: 'a', operator: 'Gt' }] } }),
      /^spec\.namespaceSelector\.matchExpressions\.0\.operator: /,
    ],
    ['suspend not a boolean', raw({ suspend: 'yes' }), /^spec\.suspend: /],
    ['excludeNamespaces not a list', raw({ excludeNamespaces: 'kube-system' }), /^spec\.excludeNamespaces: /],
    [
      'a template label the operator owns',
      raw({ secretTemplate: { labels: { 'app.kubernetes.io/managed-by': 'argocd' } } }),
      "spec.secretTemplate.labels: app.kubernetes.io/managed-by and keys under regcred.io/ are the operator's own",
    ],
    [
      'a template annotation under regcred.io/',
      raw({ secretTemplate: { annotations: { 'regcred.io/templated-keys': '{}' } } }),
      "spec.secretTemplate.annotations: app.kubernetes.io/managed-by and keys under regcred.io/ are the operator's own",
    ],
    [
      '65 template labels',
      raw({ secretTemplate: { labels: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`l${i}`, 'x'])) } }),
      'spec.secretTemplate.labels: at most 64 labels',
    ],
    [
      'empty namespaceNames',
      raw({ namespaceNames: [] }),
      'spec.namespaceNames: namespaceNames must not be empty: omit it to select by namespaceSelector alone',
    ],
    ['empty namespace pattern', raw({ namespaceNames: [''] }), /^spec\.namespaceNames\.0: /],
    ['empty excluded ServiceAccount', raw({ excludeServiceAccounts: [''] }), /^spec\.excludeServiceAccounts\.0: /],
    [
      'unknown SA selector operator',
      raw({ serviceAccountSelector: { matchExpressions: [{ key: 'a', operator: 'Gt' }] } }),
      /^spec\.serviceAccountSelector\.matchExpressions\.0\.operator: /,
    ],
  ])('%s', (_name, spec, expected) => {
    const message = rejection(spec);
    if (typeof expected === 'string') expect(message).toBe(expected);
    else expect(message).toMatch(expected);
  });
});

// ---- helpers -----------------------------------------------------------------------------------

describe('targetSecretName', () => {
  const cred: RegistryCredential = { metadata: { name: 'harbor', uid: 'u' }, spec: {} };

  test.each<[string, Record<string, unknown>, string]>([
    ['the credential name by default', {}, 'harbor'],
    ['spec.secretName when set', { secretName: 'pull' }, 'pull'],
  ])('target is %s', (_name, patch, expected) => {
    expect(targetSecretName(cred, parsed(raw(patch)))).toBe(expected);
  });
});

test.each([undefined, null])('a missing spec (%p) is reported at "spec", not "spec."', (spec) => {
  const result = parseSpec(spec);
  expect(result.ok).toBe(false);
  expect(!result.ok && result.message).toMatch(/^spec: /);
});

describe('credentialNameProblem', () => {
  test.each<[string, string | undefined]>([
    ['team-registries', undefined],
    ['a'.repeat(63), undefined],
    ['a.b.c', undefined],
    [
      'a'.repeat(64),
      'metadata.name has 64 characters; at most 63 are allowed because it is the value of the label ' +
        'regcred.io/credential on every Secret it creates',
    ],
    [
      'a'.repeat(253),
      'metadata.name has 253 characters; at most 63 are allowed because it is the value of the label ' +
        'regcred.io/credential on every Secret it creates',
    ],
  ])('%s', (name, expected) => {
    expect(credentialNameProblem(name)).toBe(expected);
  });
});
