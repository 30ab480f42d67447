// Resilience, bad input (issue 6 item 6; spec semantics 5 and 7): a catalogue of invalid
// RegistryCredentials and source Secrets. What the API server can see is rejected at apply time with
// a clear message (the first table here, for source Secrets and RegistryCredential metadata, plus the
// spec catalogue in test/fixtures/invalid-credentials.ts checked by invalid-specs.test.ts). What only
// the operator can see is reported in status with a reason (and a Warning Event): every row of the
// second table is applied at once, against ONE operator process that also serves a healthy
// RegistryCredential. The healthy one stays Ready and keeps following its source, the process never
// exits, nothing that existed before (foreign Secrets, the healthy one's copies, source Secrets) is
// modified, and no secret value shows up in a status, an Event or the operator's log.
import type { V1Secret } from '@kubernetes/client-node';
import { authsOf, basicAuthSecret, type Condition, dockerConfigSecret } from '../harness/cluster.js';
import { freePorts, isAlive, kubectl } from '../../harness/controlplane.js';
import {
  passwordFor,
  type Scenario,
  startScenario,
  waitForCondition,
  waitForCounts,
  waitForPullSecrets,
  waitForSecret,
  waitForServiceAccount,
} from '../harness/scenario.js';
import { waitFor } from '../../harness/wait.js';

/** Every secret value in this file contains it: it must never appear in a status, an Event or a log line. */
const CANARY = 'canary7Q3';
const b64 = (s: string | Buffer) => (typeof s === 'string' ? Buffer.from(s, 'utf8') : s).toString('base64');
const MiB = 1024 * 1024;

// ---- apply time: what the API server rejects before the operator sees anything -------------------

interface ApplyRow {
  name: string;
  why: string;
  /** The object to submit (a Secret in the source namespace or a RegistryCredential). */
  object: (sourceNamespace: string) => Record<string, unknown>;
  /** A substring of the API server's rejection message. */
  message: string;
}

const secretObject = (name: string, type: string, data: Record<string, string>) => (namespace: string) => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name, namespace },
  type,
  data,
});
const credentialObject =
  (
    name: string,
    spec: Record<string, unknown> = { registries: [{ server: 'r.example.com', basicAuth: { secretName: 'robot' } }] },
  ) =>
  () => ({
    apiVersion: 'regcred.io/v1alpha1',
    kind: 'RegistryCredential',
    metadata: { name },
    spec,
  });

const applyTime: ApplyRow[] = [
  {
    name: 'dockerconfigjson-malformed-json',
    why: 'the API server parses .dockerconfigjson of a kubernetes.io/dockerconfigjson Secret',
    object: secretObject('malformed', 'kubernetes.io/dockerconfigjson', {
      '.dockerconfigjson': b64(`{"auths":{"r.example.com":{"auth":"${CANARY}"}`),
    }),
    message: 'data[.dockerconfigjson]: Invalid value: "<secret contents redacted>": unexpected end of JSON input',
  },
  {
    name: 'dockerconfigjson-top-level-array',
    why: 'the document must be a JSON object',
    object: secretObject('array', 'kubernetes.io/dockerconfigjson', { '.dockerconfigjson': b64('[]') }),
    message: 'data[.dockerconfigjson]: Invalid value: "<secret contents redacted>": json: cannot unmarshal array',
  },
  {
    name: 'dockerconfigjson-missing-key',
    why: 'a kubernetes.io/dockerconfigjson Secret needs the .dockerconfigjson key',
    object: secretObject('nokey', 'kubernetes.io/dockerconfigjson', { config: b64('{}') }),
    message: 'data[.dockerconfigjson]: Required value',
  },
  {
    name: 'dockercfg-malformed-json',
    why: 'the API server parses .dockercfg too',
    object: secretObject('legacy', 'kubernetes.io/dockercfg', { '.dockercfg': b64('{"r.example.com":') }),
    message: 'data[.dockercfg]: Invalid value: "<secret contents redacted>": unexpected end of JSON input',
  },
  {
    name: 'secret-data-not-base64',
    why: 'Secret data values are base64',
    object: secretObject('notb64', 'Opaque', { username: 'robot', password: `${CANARY}!not*base64` }),
    message: 'illegal base64 data at input byte',
  },
  {
    name: 'secret-data-bad-key',
    why: 'Secret data keys are letters, digits, "-", "_" and "."',
    object: secretObject('badkey', 'Opaque', { 'user name': b64('robot') }),
    message: 'a valid config key must consist of alphanumeric characters',
  },
  {
    name: 'secret-over-1mib',
    why: 'a Secret holds at most 1 MiB of data',
    object: secretObject('huge', 'Opaque', { username: b64('robot'), password: b64(CANARY + 'x'.repeat(MiB)) }),
    message: 'Too long: may not be more than 1048576 bytes',
  },
  {
    name: 'secret-name-too-long',
    why: 'Secret names have at most 253 characters',
    object: secretObject('s'.repeat(254), 'Opaque', { username: b64('robot') }),
    message: 'must be no more than 253 characters',
  },
  {
    name: 'secret-name-unicode',
    why: 'Secret names are lowercase ASCII DNS subdomains',
    object: secretObject('rëgcred-robot', 'Opaque', { username: b64('robot') }),
    message: 'a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters',
  },
  {
    name: 'credential-name-64',
    why: 'the name is the value of the regcred.io/credential label on every copy: at most 63 characters',
    object: credentialObject(`long-${'n'.repeat(59)}`),
    message: 'metadata.name must be at most 63 characters: it is the value of the label regcred.io/credential',
  },
  {
    name: 'credential-name-254',
    why: 'object names have at most 253 characters',
    object: credentialObject('n'.repeat(254)),
    message: 'must be no more than 253 characters',
  },
  {
    name: 'credential-name-unicode',
    why: 'object names are lowercase ASCII DNS subdomains',
    object: credentialObject('équipe-registries'),
    message: 'a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters',
  },
  {
    name: 'credential-unknown-field',
    why: 'a misspelt namespaceSelector would otherwise be pruned and select every namespace',
    object: credentialObject('typo', {
      registries: [{ server: 'r.example.com', basicAuth: { secretName: 'robot' } }],
      namespaceSelecter: { matchLabels: { team: 'a' } },
    }),
    message: 'unknown field "spec.namespaceSelecter"',
  },
  {
    name: 'credential-template-owner-references',
    why: "the ownerReference of the copies is the operator's: secretTemplate has only labels and annotations",
    object: credentialObject('template-owners', {
      registries: [{ server: 'r.example.com', basicAuth: { secretName: 'robot' } }],
      secretTemplate: {
        ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'mine', uid: 'a-uid', controller: true }],
      },
    }),
    message: 'unknown field "spec.secretTemplate.ownerReferences"',
  },
  {
    name: 'credential-huge-spec',
    why: 'a spec of more than 3 MiB is refused before it is decoded',
    object: credentialObject('huge-spec', {
      registries: [{ server: 'r.example.com', basicAuth: { secretName: 'robot' } }],
      excludeNamespaces: Array.from({ length: 60_000 }, (_, i) => `namespace-${String(i).padStart(50, '0')}`),
    }),
    message: 'Request entity too large',
  },
];

// ---- status time: what only the operator can see ---------------------------------------------------

interface Context {
  s: Scenario;
  /** This row's RegistryCredential. */
  cred: string;
  /** This row's own namespaces (selected by the default selector). */
  ns: string[];
  /** Name of this row's source Secret (in the source namespace). */
  source: string;
  healthy: { cred: string; secretName: string; source: string; ns: string[] };
}

interface StatusRow {
  name: string;
  why: string;
  /** How many namespaces of its own the row gets (default 1). */
  namespaces?: number;
  /** The source Secret (named ctx.source) as it is when all bad input is applied. */
  source?: (name: string) => V1Secret;
  /** When set: the RegistryCredential first converges with this source, which is then replaced by `source`. */
  goodSourceFirst?: (name: string) => V1Secret;
  /** Other objects the row needs (foreign Secrets, Secrets in the wrong namespace). */
  prepare?: (c: Context) => Promise<void>;
  /** The spec; namespaceSelector defaults to the row's own namespaces. */
  spec: (c: Context) => Record<string, unknown>;
  /** The condition that tells, with a substring of its message. Ready is checked too. */
  expect: { type: 'SourcesReady' | 'Propagated' | 'Ready'; status: 'True' | 'False'; reason: string; message: string };
  /** A Warning Event with this reason (where the spec asks for one). */
  event?: string;
  check?: (c: Context) => Promise<void>;
}

const server = 'r.example.com';
const basic = (c: Context, keys: Record<string, string> = {}) => ({
  registries: [{ server, basicAuth: { secretName: c.source, ...keys } }],
});
const imported = (c: Context) => ({ registries: [{ dockerConfig: { secretName: c.source } }] });
const opaque = (name: string, data: Record<string, string | Buffer>): V1Secret => ({
  metadata: { name },
  type: 'Opaque',
  data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])),
});
const dockerJson = (doc: unknown) => (name: string) =>
  dockerConfigSecret(name, typeof doc === 'string' ? doc : JSON.stringify(doc));
const sourceFailure = (reason: string, message: string) => ({
  type: 'SourcesReady' as const,
  status: 'False' as const,
  reason,
  message,
});
const held = 'Existing Secrets are kept unchanged and none is created until the source is fixed.';
const noCopy = async (c: Context) => {
  for (const ns of c.ns) expect(await c.s.cluster.getSecret(ns, c.cred)).toBeUndefined();
};

/** Filled in beforeAll: resourceVersions and objects that must not change. */
const before: { rv: Map<string, string>; foreignByRow: Map<string, V1Secret>; goodCopies: Map<string, V1Secret> } = {
  rv: new Map(),
  foreignByRow: new Map(),
  goodCopies: new Map(),
};

const statusRows: StatusRow[] = [
  // --- basicAuth sources ---
  {
    name: 'missing-source',
    why: 'the basicAuth Secret does not exist',
    spec: basic,
    expect: sourceFailure('SourceSecretNotFound', 'not found'),
    event: 'SourceSecretNotFound',
    check: noCopy,
  },
  {
    name: 'wrong-namespace',
    why: 'the Secret exists, but in a target namespace instead of the source namespace: never read from there',
    prepare: async (c) => {
      await c.s.cluster.createSecret(c.ns[0]!, basicAuthSecret(c.source, 'robot', `pw-${CANARY}`));
    },
    spec: basic,
    expect: sourceFailure('SourceSecretNotFound', 'not found'),
    event: 'SourceSecretNotFound',
    check: noCopy,
  },
  {
    name: 'no-username-key',
    why: 'the username key is missing',
    source: (n) => opaque(n, { password: `pw-${CANARY}` }),
    spec: basic,
    expect: sourceFailure('InvalidSourceSecret', 'has no "username" key'),
    event: 'InvalidSourceSecret',
    check: noCopy,
  },
  {
    name: 'no-keys',
    why: 'neither key (custom key names) is there',
    source: (n) => opaque(n, { username: 'robot', password: `pw-${CANARY}` }),
    spec: (c) => basic(c, { usernameKey: 'user', passwordKey: 'token' }),
    expect: sourceFailure('InvalidSourceSecret', 'has no "user" or "token" key'),
    event: 'InvalidSourceSecret',
  },
  {
    name: 'basic-on-pull-secret',
    why: 'basicAuth pointed at a kubernetes.io/dockerconfigjson Secret',
    source: dockerJson({ auths: { [server]: { username: 'robot', password: `pw-${CANARY}` } } }),
    spec: basic,
    expect: sourceFailure('InvalidSourceSecret', 'has no "username" or "password" key'),
    event: 'InvalidSourceSecret',
  },
  {
    name: 'empty-username',
    why: 'an empty username cannot authenticate',
    source: (n) => opaque(n, { username: '', password: `pw-${CANARY}` }),
    spec: basic,
    expect: sourceFailure('InvalidSourceSecret', 'has an empty username'),
    event: 'InvalidSourceSecret',
  },
  {
    name: 'empty-password',
    why: 'an empty password cannot authenticate',
    source: (n) => opaque(n, { username: 'robot', password: '' }),
    spec: basic,
    expect: sourceFailure('InvalidSourceSecret', 'has an empty password'),
    event: 'InvalidSourceSecret',
  },
  {
    name: 'colon-username',
    why: 'basic auth cannot carry ":" in a username: the kubelet would split auth at the wrong place',
    source: (n) => opaque(n, { username: 'robot:ci', password: `pw-${CANARY}` }),
    spec: basic,
    expect: sourceFailure('InvalidSourceSecret', 'key "username" holds a username containing ":"'),
    event: 'InvalidSourceSecret',
    check: noCopy,
  },
  {
    name: 'newline-password',
    why: 'a trailing newline (echo, a file) makes a password no registry accepts',
    source: (n) => opaque(n, { username: 'robot', password: `pw-${CANARY}\n` }),
    spec: basic,
    expect: sourceFailure('InvalidSourceSecret', 'key "password" holds a password containing a control character'),
    event: 'InvalidSourceSecret',
    check: noCopy,
  },
  {
    name: 'not-utf8',
    why: 'bytes that are not UTF-8 would be silently replaced: reported instead',
    source: (n) =>
      opaque(n, {
        username: 'robot',
        password: Buffer.concat([Buffer.from(`pw-${CANARY}`), Buffer.from([0xff, 0xfe, 0x80])]),
      }),
    spec: basic,
    expect: sourceFailure('InvalidSourceSecret', 'key "password" is not valid UTF-8 text'),
    event: 'InvalidSourceSecret',
    check: noCopy,
  },
  {
    name: 'unicode',
    why: 'unicode credentials work: docker and the kubelet use the UTF-8 bytes, auth is their base64',
    source: (n) => opaque(n, { username: 'jürgen-Ω-😀', password: `pässwörd-${CANARY}-日本` }),
    spec: basic,
    expect: { type: 'Ready', status: 'True', reason: 'Ready', message: 'pull secret present in 1 namespaces' },
    check: async (c) => {
      const copy = await waitForSecret(c.s.cluster, c.ns[0]!, c.cred);
      const auth = authsOf(copy)![server]!;
      expect(auth.username).toBe('jürgen-Ω-😀');
      expect(auth.password).toBe(`pässwörd-${CANARY}-日本`);
      expect(Buffer.from(auth.auth, 'base64').toString('utf8')).toBe(`jürgen-Ω-😀:pässwörd-${CANARY}-日本`);
    },
  },
  // --- dockerConfig sources ---
  {
    name: 'wrong-type',
    why: 'dockerConfig needs a pull secret; an Opaque Secret with a malformed .dockerconfigjson key is not one',
    source: (n) => opaque(n, { '.dockerconfigjson': `{"auths":{"${server}":{"auth":"${CANARY}"}` }),
    spec: imported,
    expect: sourceFailure(
      'InvalidSourceSecret',
      'type is "Opaque", expected kubernetes.io/dockerconfigjson or kubernetes.io/dockercfg',
    ),
    event: 'InvalidSourceSecret',
  },
  {
    name: 'basic-auth-type',
    why: 'a kubernetes.io/basic-auth Secret is not a pull secret',
    source: (n) => ({
      metadata: { name: n },
      type: 'kubernetes.io/basic-auth',
      stringData: { username: 'robot', password: `pw-${CANARY}` },
    }),
    spec: imported,
    expect: sourceFailure('InvalidSourceSecret', 'type is "kubernetes.io/basic-auth"'),
    event: 'InvalidSourceSecret',
  },
  {
    name: 'no-auths',
    why: 'valid JSON without "auths" (a credential helper config)',
    source: dockerJson({ credsStore: 'desktop' }),
    spec: imported,
    expect: sourceFailure('InvalidSourceSecret', 'has no "auths" object'),
    event: 'InvalidSourceSecret',
  },
  {
    name: 'auths-array',
    why: '"auths" is not an object',
    source: dockerJson({ auths: [{ [server]: { auth: b64(`robot:${CANARY}`) } }] }),
    spec: imported,
    expect: sourceFailure('InvalidSourceSecret', 'has no "auths" object'),
    event: 'InvalidSourceSecret',
  },
  {
    name: 'json-null',
    why: 'the JSON document null',
    source: dockerJson('null'),
    spec: imported,
    expect: sourceFailure('InvalidSourceSecret', 'has no "auths" object'),
    event: 'InvalidSourceSecret',
  },
  {
    name: 'entry-not-object',
    why: 'an auths entry that is a string',
    source: dockerJson({ auths: { [server]: `robot:${CANARY}` } }),
    spec: imported,
    expect: sourceFailure('InvalidSourceSecret', `entry "${server}" is not an object`),
    event: 'InvalidSourceSecret',
  },
  {
    name: 'auth-not-base64',
    why: '"auth" is not base64',
    source: dockerJson({ auths: { [server]: { auth: `robot:${CANARY}!` } } }),
    spec: imported,
    expect: sourceFailure(
      'InvalidSourceSecret',
      `entry "${server}" has an "auth" that is not base64 of username:password`,
    ),
    event: 'InvalidSourceSecret',
  },
  {
    name: 'auth-no-colon',
    why: '"auth" is base64 of something without a colon',
    source: dockerJson({ auths: { [server]: { auth: b64(`token-${CANARY}`) } } }),
    spec: imported,
    expect: sourceFailure(
      'InvalidSourceSecret',
      `entry "${server}" has an "auth" that is not base64 of username:password`,
    ),
    event: 'InvalidSourceSecret',
  },
  {
    name: 'auth-not-utf8',
    why: '"auth" is base64 of bytes that are not UTF-8',
    source: dockerJson({
      auths: { [server]: { auth: b64(Buffer.concat([Buffer.from(`robot:${CANARY}`), Buffer.from([0xc3, 0x28])])) } },
    }),
    spec: imported,
    expect: sourceFailure(
      'InvalidSourceSecret',
      `entry "${server}" has an "auth" that is not base64 of username:password`,
    ),
    event: 'InvalidSourceSecret',
  },
  {
    name: 'auth-empty-username',
    why: '"auth" is base64 of ":password"',
    source: dockerJson({ auths: { [server]: { auth: b64(`:${CANARY}`) } } }),
    spec: imported,
    expect: sourceFailure('InvalidSourceSecret', `entry "${server}" has an empty username`),
    event: 'InvalidSourceSecret',
    check: noCopy,
  },
  {
    name: 'identity-token',
    why: 'docker login with an identity token stores "user:" plus identitytoken, which the kubelet cannot use',
    source: dockerJson({ auths: { [server]: { auth: b64('robot:'), identitytoken: `tok-${CANARY}` } } }),
    spec: imported,
    expect: sourceFailure(
      'InvalidSourceSecret',
      `entry "${server}" has an empty password (identity and registry tokens are not supported`,
    ),
    event: 'InvalidSourceSecret',
  },
  {
    name: 'no-credentials',
    why: 'an entry with neither username/password nor auth',
    source: dockerJson({ auths: { [server]: { email: 'ops@example.com', password: `pw-${CANARY}` } } }),
    spec: imported,
    expect: sourceFailure('InvalidSourceSecret', 'has neither username/password nor auth'),
    event: 'InvalidSourceSecret',
  },
  {
    name: 'no-entries',
    why: 'an empty auths map',
    source: dockerJson({ auths: {} }),
    spec: imported,
    expect: sourceFailure('InvalidSourceSecret', 'it holds no registry entries'),
    event: 'InvalidSourceSecret',
  },
  {
    name: 'dockercfg-entry',
    why: 'a legacy kubernetes.io/dockercfg Secret whose entry is a number',
    source: (n) => ({
      metadata: { name: n },
      type: 'kubernetes.io/dockercfg',
      data: { '.dockercfg': b64(JSON.stringify({ [server]: 42 })) },
    }),
    spec: imported,
    expect: sourceFailure('InvalidSourceSecret', `entry "${server}" is not an object`),
    event: 'InvalidSourceSecret',
  },
  // --- huge values ---
  {
    name: 'huge-fits',
    why: 'a 300 KiB token: the merged Secret (password + base64 auth) stays under 1 MiB and is written',
    source: (n) => opaque(n, { username: 'robot', password: CANARY + 't'.repeat(300 * 1024) }),
    spec: basic,
    expect: { type: 'Ready', status: 'True', reason: 'Ready', message: 'pull secret present in 1 namespaces' },
    check: async (c) => {
      const copy = await waitForSecret(c.s.cluster, c.ns[0]!, c.cred);
      expect(passwordFor(copy, server)?.length).toBe(CANARY.length + 300 * 1024);
    },
  },
  {
    name: 'huge-source',
    why: 'a source just under 1 MiB is valid, but the merged document (password + its base64) would exceed a Secret',
    source: (n) => opaque(n, { username: 'robot', password: CANARY + 't'.repeat(MiB - 1024) }),
    spec: basic,
    expect: sourceFailure('SecretTooLarge', 'bytes a Secret can hold'),
    event: 'SecretTooLarge',
    check: noCopy,
  },
  {
    name: 'too-large-merge',
    why: 'three sources of 400 KiB each merge into more than 1 MiB',
    prepare: async (c) => {
      for (const i of [1, 2])
        await c.s.cluster.createSecret(
          c.s.sourceNamespace,
          opaque(`${c.source}-${i}`, { username: 'robot', password: CANARY + 't'.repeat(400 * 1024) }),
        );
    },
    source: (n) => opaque(n, { username: 'robot', password: CANARY + 't'.repeat(400 * 1024) }),
    spec: (c) => ({
      registries: ['', '-1', '-2'].map((suffix, i) => ({
        server: `r${i}.example.com`,
        basicAuth: { secretName: `${c.source}${suffix}` },
      })),
    }),
    expect: sourceFailure('SecretTooLarge', 'bytes a Secret can hold'),
    event: 'SecretTooLarge',
    check: noCopy,
  },
  {
    name: 'grows-too-large',
    why: 'a source that grows too large after convergence: no partial write, the copy keeps the last good value',
    goodSourceFirst: (n) => opaque(n, { username: 'robot', password: `small-${CANARY}` }),
    source: (n) => opaque(n, { username: 'robot', password: CANARY + 't'.repeat(MiB - 1024) }),
    spec: basic,
    expect: sourceFailure('SecretTooLarge', held),
    event: 'SecretTooLarge',
    check: async (c) => {
      const copy = (await c.s.cluster.getSecret(c.ns[0]!, c.cred))!;
      expect(copy.metadata?.resourceVersion).toBe(before.goodCopies.get(c.cred)?.metadata?.resourceVersion);
      expect(passwordFor(copy, server)).toBe(`small-${CANARY}`);
    },
  },
  // --- ecr (the CRD rejects unparseable hosts; a well-formed region that does not exist gets here) ---
  {
    name: 'ecr-no-keys-secret',
    why: 'ecr.credentialsSecretName names a Secret that does not exist',
    spec: (c) => ({
      registries: [
        { server: '123456789012.dkr.ecr.eu-west-1.amazonaws.com', ecr: { credentialsSecretName: c.source } },
      ],
    }),
    expect: sourceFailure('SourceSecretNotFound', 'not found'),
    event: 'SourceSecretNotFound',
  },
  {
    name: 'ecr-keys-missing',
    why: 'the AWS keys Secret lacks aws_secret_access_key',
    source: (n) => opaque(n, { aws_access_key_id: 'AKIAIOSFODNN7EXAMPLE', aws_session_token: `tok-${CANARY}` }),
    spec: (c) => ({
      registries: [
        { server: '123456789012.dkr.ecr.eu-west-1.amazonaws.com', ecr: { credentialsSecretName: c.source } },
      ],
    }),
    expect: sourceFailure(
      'InvalidSourceSecret',
      'needs non-empty keys "aws_access_key_id" and "aws_secret_access_key"',
    ),
    event: 'InvalidSourceSecret',
  },
  {
    name: 'ecr-unknown-region',
    why:
      'a region the CRD accepts (well-formed) but AWS does not serve: the request fails, the status names the ' +
      'region',
    source: (n) => opaque(n, { aws_access_key_id: 'AKIAIOSFODNN7EXAMPLE', aws_secret_access_key: `sk-${CANARY}` }),
    spec: (c) => ({
      registries: [
        {
          server: 'registry.zz-nowhere-9.example.com',
          ecr: { region: 'zz-nowhere-9', credentialsSecretName: c.source },
        },
      ],
    }),
    expect: sourceFailure('TokenRefreshFailed', 'GetAuthorizationToken in zz-nowhere-9 failed'),
    event: 'TokenRefreshFailed',
    check: noCopy,
  },
  // --- ecrPublic, gcp, acr: bad source Secrets, and a default identity that is not there ---
  {
    name: 'ecrpublic-keys-missing',
    why: 'the AWS keys Secret of an ecrPublic entry lacks aws_access_key_id',
    source: (n) => opaque(n, { aws_secret_access_key: `sk-${CANARY}` }),
    spec: (c) => ({ registries: [{ server: 'public.ecr.aws', ecrPublic: { credentialsSecretName: c.source } }] }),
    expect: sourceFailure(
      'InvalidSourceSecret',
      'needs non-empty keys "aws_access_key_id" and "aws_secret_access_key"',
    ),
    event: 'InvalidSourceSecret',
    check: noCopy,
  },
  {
    name: 'gcp-no-credentials-json',
    why: 'the gcp Secret has the key under another name',
    source: (n) => opaque(n, { 'key.json': `{"type":"service_account","private_key":"${CANARY}"}` }),
    spec: (c) => ({ registries: [{ server: 'gcr.io', gcp: { credentialsSecretName: c.source } }] }),
    expect: sourceFailure('InvalidSourceSecret', 'needs a non-empty key "credentials.json"'),
    event: 'InvalidSourceSecret',
    check: noCopy,
  },
  {
    name: 'gcp-not-json',
    why: 'credentials.json is not JSON (a truncated paste)',
    source: (n) => opaque(n, { 'credentials.json': `{"type":"service_account","private_key":"${CANARY}` }),
    spec: (c) => ({ registries: [{ server: 'gcr.io', gcp: { credentialsSecretName: c.source } }] }),
    expect: sourceFailure('InvalidSourceSecret', 'key "credentials.json" is not valid JSON'),
    event: 'InvalidSourceSecret',
  },
  {
    name: 'gcp-user-credentials',
    why: "a gcloud user's application_default_credentials.json is neither a key nor a federation config",
    source: (n) =>
      opaque(n, {
        'credentials.json': JSON.stringify({ type: 'authorized_user', client_id: 'x', refresh_token: `rt-${CANARY}` }),
      }),
    spec: (c) => ({ registries: [{ server: 'gcr.io', gcp: { credentialsSecretName: c.source } }] }),
    expect: sourceFailure('InvalidSourceSecret', 'has type "authorized_user"; expected "service_account"'),
    event: 'InvalidSourceSecret',
  },
  {
    name: 'gcp-executable-source',
    why: 'a federation config that would make the operator run a program',
    source: (n) =>
      opaque(n, {
        'credentials.json': JSON.stringify({
          type: 'external_account',
          audience: '//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/x',
          subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
          credential_source: { executable: { command: `/bin/echo ${CANARY}` } },
        }),
      }),
    spec: (c) => ({ registries: [{ server: 'gcr.io', gcp: { credentialsSecretName: c.source } }] }),
    expect: sourceFailure('InvalidSourceSecret', 'uses an executable credential source'),
    event: 'InvalidSourceSecret',
  },
  {
    name: 'gcp-foreign-token-url',
    why: "a federation config that would send the subject token (the operator's own token file) to another host",
    source: (n) =>
      opaque(n, {
        'credentials.json': JSON.stringify({
          type: 'external_account',
          audience: `//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/${CANARY}/providers/x`,
          subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
          token_url: 'https://collector.example.com/token',
          credential_source: { file: '/var/run/secrets/kubernetes.io/serviceaccount/token' },
        }),
      }),
    spec: (c) => ({ registries: [{ server: 'gcr.io', gcp: { credentialsSecretName: c.source } }] }),
    expect: sourceFailure('InvalidSourceSecret', 'has a token_url that is not an https endpoint of googleapis.com'),
    event: 'InvalidSourceSecret',
  },
  {
    name: 'gcp-no-default-credentials',
    why: 'application default credentials where there are none (no metadata server answers)',
    spec: () => ({ registries: [{ server: 'europe-west1-docker.pkg.dev', gcp: {} }] }),
    expect: sourceFailure('TokenRefreshFailed', 'the Google access token request failed'),
    event: 'TokenRefreshFailed',
    check: noCopy,
  },
  {
    name: 'acr-no-client-secret',
    why: 'the acr Secret lacks the clientSecret key',
    source: (n) => opaque(n, { password: `pw-${CANARY}` }),
    spec: (c) => ({
      registries: [
        {
          server: 'myregistry.azurecr.io',
          acr: {
            tenantId: 'contoso.onmicrosoft.com',
            clientId: '11111111-2222-4333-8444-555555555555',
            credentialsSecretName: c.source,
          },
        },
      ],
    }),
    expect: sourceFailure('InvalidSourceSecret', 'needs a non-empty key "clientSecret"'),
    event: 'InvalidSourceSecret',
    check: noCopy,
  },
  {
    name: 'acr-no-default-identity',
    why: 'the default chain where there is neither workload identity nor a managed identity endpoint',
    spec: () => ({ registries: [{ server: 'myregistry.azurecr.io', acr: {} }] }),
    expect: sourceFailure('TokenRefreshFailed', 'the ACR token exchange with myregistry.azurecr.io failed'),
    event: 'TokenRefreshFailed',
    check: noCopy,
  },
  // --- targets ---
  {
    name: 'foreign-secret',
    why: 'secretName is taken by a Secret nobody of ours owns in one of two namespaces',
    namespaces: 2,
    source: (n) => basicAuthSecret(n, 'robot', `pw-${CANARY}`),
    prepare: async (c) => {
      const foreign = await c.s.cluster.createSecret(c.ns[0]!, {
        metadata: { name: `pull-${c.s.id}`, labels: { owner: 'someone-else' } },
        type: 'kubernetes.io/dockerconfigjson',
        data: { '.dockerconfigjson': b64('{"auths":{}}') },
      });
      before.foreignByRow.set('foreign-secret', foreign);
    },
    spec: (c) => ({ ...basic(c), secretName: `pull-${c.s.id}` }),
    expect: {
      type: 'Propagated',
      status: 'False',
      reason: 'SecretConflict',
      message: 'already exists and is not managed by this RegistryCredential',
    },
    event: 'SecretConflict',
    check: async (c) => {
      const name = `pull-${c.s.id}`;
      await waitForSecret(c.s.cluster, c.ns[1]!, name, (x) => passwordFor(x, server) === `pw-${CANARY}`);
      // the other namespace's default SA may still be due to be patched: wait for the counts
      const status = await waitForCounts(c.s.cluster, c.cred, { selected: 2, ready: 1, failed: 1 });
      expect(status.namespaces).toEqual({ selected: 2, ready: 1, failed: 1 });
      expect(status.failures).toEqual([
        { namespace: c.ns[0], reason: 'SecretConflict', message: expect.stringContaining('is left untouched') },
      ]);
      await waitForServiceAccount(c.s.cluster, c.ns[0]!, 'default');
      expect(await c.s.cluster.pullSecretNames(c.ns[0]!, 'default')).not.toContain(name);
    },
  },
  {
    name: 'collides-healthy',
    why: "secretName equals another RegistryCredential's, in its namespaces: the first owner keeps them",
    namespaces: 0,
    source: (n) => basicAuthSecret(n, 'intruder', `pw-${CANARY}`),
    spec: (c) => ({
      ...basic(c),
      secretName: c.healthy.secretName,
      namespaceSelector: c.s.selectorWith({ row: 'healthy' }),
    }),
    expect: { type: 'Propagated', status: 'False', reason: 'SecretConflict', message: '' },
    event: 'SecretConflict',
    check: async (c) => {
      // Propagated=False comes with the first failed namespace; the second may be counted later
      const status = await waitForCounts(c.s.cluster, c.cred, { selected: 2, ready: 0, failed: 2 });
      expect(status.namespaces).toEqual({ selected: 2, ready: 0, failed: 2 });
      expect(status.failures?.map((f) => f.namespace)).toEqual([...c.healthy.ns].sort());
      // Whether the conflict was seen in the cache or on create, the message names no secret and says whose it is or
      // that it is left alone.
      for (const f of status.failures ?? [])
        expect(f.message).toMatch(new RegExp(`belongs to RegistryCredential ${c.healthy.cred}|is left untouched`));
      for (const ns of c.healthy.ns)
        expect(passwordFor(await c.s.cluster.getSecret(ns, c.healthy.secretName), server)).toBe(`pw1-${CANARY}`);
    },
  },
  {
    name: 'names-a-source',
    why: 'secretName names a source Secret in the source namespace, which it selects: the source is never overwritten',
    namespaces: 0,
    source: (n) => basicAuthSecret(n, 'robot', `pw-${CANARY}`),
    spec: (c) => ({
      ...basic(c),
      secretName: c.healthy.source,
      namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': c.s.sourceNamespace } },
    }),
    expect: {
      type: 'Propagated',
      status: 'False',
      reason: 'SecretConflict',
      message: 'is not managed by this RegistryCredential',
    },
    event: 'SecretConflict',
  },
  {
    name: 'selects-nothing',
    why: 'a selector that matches no namespace: vacuously Ready (namespaces may come later), and the message says so',
    namespaces: 0,
    source: (n) => basicAuthSecret(n, 'robot', `pw-${CANARY}`),
    spec: (c) => ({ ...basic(c), namespaceSelector: c.s.selectorWith({ row: 'no-such-row' }) }),
    expect: { type: 'Ready', status: 'True', reason: 'Ready', message: 'no namespace is selected' },
    check: async (c) => {
      expect((await c.s.cluster.getCredential(c.cred))!.status!.namespaces).toEqual({
        selected: 0,
        ready: 0,
        failed: 0,
      });
    },
  },
  {
    name: 'all-excluded',
    why: 'the only matching namespace is excluded',
    source: (n) => basicAuthSecret(n, 'robot', `pw-${CANARY}`),
    spec: (c) => ({ ...basic(c), excludeNamespaces: [c.ns[0]] }),
    expect: { type: 'Ready', status: 'True', reason: 'Ready', message: 'no namespace is selected' },
    check: noCopy,
  },
  {
    name: 'names-match-nothing',
    why: 'namespaceNames patterns that match none of the selected namespaces: vacuously Ready, the message says so',
    source: (n) => basicAuthSecret(n, 'robot', `pw-${CANARY}`),
    spec: (c) => ({ ...basic(c), namespaceNames: ['no-such-team-*'] }),
    expect: { type: 'Ready', status: 'True', reason: 'Ready', message: 'no namespace is selected' },
    check: noCopy,
  },
  {
    name: 'every-sa-excluded',
    why: 'serviceAccounts ["*"] with every existing SA excluded: the Secret only, no SA touched',
    source: (n) => basicAuthSecret(n, 'robot', `pw-${CANARY}`),
    spec: (c) => ({ ...basic(c), serviceAccounts: ['*'], excludeServiceAccounts: ['default'] }),
    expect: { type: 'Ready', status: 'True', reason: 'Ready', message: 'pull secret present in 1 namespaces' },
    check: async (c) => {
      await waitForSecret(c.s.cluster, c.ns[0]!, c.cred);
      await waitForServiceAccount(c.s.cluster, c.ns[0]!, 'default');
      await waitForCounts(c.s.cluster, c.cred, { selected: 1, ready: 1, failed: 0 });
      expect(await c.s.cluster.pullSecretNames(c.ns[0]!, 'default')).toEqual([]);
    },
  },
  {
    name: 'sa-selector-matches-nothing',
    why: 'serviceAccounts [] and a selector no SA matches: the Secret only; an SA labelled later gets it',
    source: (n) => basicAuthSecret(n, 'robot', `pw-${CANARY}`),
    spec: (c) => ({ ...basic(c), serviceAccounts: [], serviceAccountSelector: { matchLabels: { pull: 'nobody' } } }),
    expect: { type: 'Ready', status: 'True', reason: 'Ready', message: 'pull secret present in 1 namespaces' },
    check: async (c) => {
      await waitForSecret(c.s.cluster, c.ns[0]!, c.cred);
      await c.s.cluster.createServiceAccount(c.ns[0]!, 'late', ['theirs'], { pull: 'nobody' });
      await waitForPullSecrets(c.s.cluster, c.ns[0]!, 'late', ['theirs', c.cred]);
    },
  },
  {
    name: 'missing-sa',
    why: 'serviceAccounts names one that does not exist: not an error; it is patched as soon as it appears',
    source: (n) => basicAuthSecret(n, 'robot', `pw-${CANARY}`),
    spec: (c) => ({ ...basic(c), serviceAccounts: ['builder'] }),
    expect: { type: 'Ready', status: 'True', reason: 'Ready', message: 'pull secret present in 1 namespaces' },
    check: async (c) => {
      await waitForSecret(c.s.cluster, c.ns[0]!, c.cred);
      await c.s.cluster.createServiceAccount(c.ns[0]!, 'builder', ['theirs']);
      await waitForPullSecrets(c.s.cluster, c.ns[0]!, 'builder', ['theirs', c.cred]);
    },
  },
];

// ---- the scenario ------------------------------------------------------------------------------------

let s: Scenario;
let deadPort: number;
let operatorPid: number;
const contexts = new Map<string, Context>();
let healthy: Context['healthy'];
let healthyReady: Condition;

beforeAll(async () => {
  // Every cloud call goes to a closed port on loopback: AWS by the endpoint flag, HTTPS (Google, Entra
  // ID, ACR) by a proxy that is not there, the Google and Azure metadata endpoints likewise. A
  // deterministic network failure; the harness's loopback guard refuses anything else.
  [deadPort] = await freePorts(1);
  const dead = `127.0.0.1:${deadPort}`;
  s = await startScenario('badin', {
    operatorArgs: ['--aws-endpoint-url', `http://${dead}`, '--token-request-timeout-seconds', '3'],
    operatorEnv: {
      HTTPS_PROXY: `http://${dead}`,
      NO_PROXY: '127.0.0.1,localhost',
      AWS_EC2_METADATA_DISABLED: 'true',
      GCE_METADATA_HOST: dead,
      GOOGLE_APPLICATION_CREDENTIALS: '',
      AZURE_POD_IDENTITY_AUTHORITY_HOST: `http://${dead}`,
      AZURE_FEDERATED_TOKEN_FILE: undefined,
      IDENTITY_ENDPOINT: undefined,
      MSI_ENDPOINT: undefined,
    },
  });
  operatorPid = s.operator.pid;

  // The healthy RegistryCredential, converged before any bad input exists.
  const source = 'healthy-robot';
  const sourceSecret = await s.cluster.createSecret(
    s.sourceNamespace,
    basicAuthSecret(source, 'robot', `pw1-${CANARY}`),
  );
  const ns = [await s.namespace('healthy-a', { row: 'healthy' }), await s.namespace('healthy-b', { row: 'healthy' })];
  const cred = await s.credential('healthy', {
    registries: [{ server, basicAuth: { secretName: source } }],
    namespaceSelector: s.selectorWith({ row: 'healthy' }),
    secretName: 'team-pull',
  });
  healthy = { cred, secretName: 'team-pull', source, ns };
  for (const n of ns) await waitForPullSecrets(s.cluster, n, 'default', ['team-pull']);
  healthyReady = await waitForCondition(s.cluster, cred, 'Ready', { status: 'True' });
  before.rv.set(`${s.sourceNamespace}/${source}`, sourceSecret.metadata!.resourceVersion!);
  for (const n of ns)
    before.rv.set(`${n}/team-pull`, (await s.cluster.getSecret(n, 'team-pull'))!.metadata!.resourceVersion!);

  // Rows that converge first with a good source.
  for (const row of statusRows.filter((r) => r.goodSourceFirst)) {
    const c = await contextFor(row);
    await s.cluster.createSecret(s.sourceNamespace, row.goodSourceFirst!(c.source));
    await s.credential(row.name, withSelector(row, c));
    before.goodCopies.set(c.cred, await waitForSecret(s.cluster, c.ns[0]!, c.cred));
  }

  // Then every bad input at once: namespaces, foreign objects and sources first, then the RegistryCredentials.
  for (const row of statusRows.filter((r) => !r.goodSourceFirst)) await contextFor(row);
  for (const row of statusRows) {
    const c = contexts.get(row.name)!;
    await row.prepare?.(c);
    if (!row.source) continue;
    const secret = row.source(c.source);
    if (row.goodSourceFirst) {
      const current = (await s.cluster.getSecret(s.sourceNamespace, c.source))!;
      await s.cluster.replaceSecret({ ...current, data: secret.data, stringData: secret.stringData });
    } else await s.cluster.createSecret(s.sourceNamespace, secret);
  }
  for (const [k, v] of before.foreignByRow)
    before.rv.set(`${v.metadata!.namespace}/${v.metadata!.name} (${k})`, v.metadata!.resourceVersion!);
  await Promise.all(
    statusRows
      .filter((r) => !r.goodSourceFirst)
      .map((row) => s.credential(row.name, withSelector(row, contexts.get(row.name)!))),
  );
}, 300_000);
afterAll(async () => s?.cleanup());

async function contextFor(row: StatusRow): Promise<Context> {
  const ns: string[] = [];
  for (let i = 0; i < (row.namespaces ?? 1); i++) ns.push(await s.namespace(`${row.name}-${i}`, { row: row.name }));
  const c: Context = { s, cred: `${row.name}-${s.id}`, ns, source: `${row.name}-src`, healthy };
  contexts.set(row.name, c);
  return c;
}

function withSelector(row: StatusRow, c: Context): Record<string, unknown> {
  return { namespaceSelector: s.selectorWith({ row: row.name }), ...row.spec(c) };
}

describe('rejected at apply time by the API server, with a clear message', () => {
  test.each(applyTime.map((r) => [r.name, r] as const))('%s', async (_name, row) => {
    // create, not apply: apply would also store the object in an annotation (with its own size limit).
    const res = await kubectl(['create', '--dry-run=server', '-f', '-'], {
      input: JSON.stringify(row.object(s.sourceNamespace)),
    });
    expect(res.code).not.toBe(0);
    expect(res.stdout).not.toContain('created');
    expect(res.stderr).toContain(row.message);
    expect(res.stderr).not.toContain(CANARY);
  });
});

describe('seen by the operator: reported in status with a reason, all at once, one operator', () => {
  test.each(statusRows.map((r) => [r.name, r] as const))('%s', async (_name, row) => {
    const c = contexts.get(row.name)!;
    const want = row.expect;
    const cond = await waitForCondition(
      s.cluster,
      c.cred,
      want.type,
      { status: want.status, reason: want.reason },
      90_000,
    );
    expect(cond.message).toContain(want.message);
    expect(cond.observedGeneration).toBe((await s.cluster.getCredential(c.cred))!.metadata.generation);
    const ready = (await s.cluster.condition(c.cred, 'Ready'))!;
    expect({ status: ready.status, reason: ready.reason }).toEqual({ status: want.status, reason: want.reason });
    if (row.event) {
      const event = await waitFor(
        async () => (await s.cluster.eventsFor(c.cred)).find((e) => e.type === 'Warning' && e.reason === row.event),
        { what: `a ${row.event} Warning Event for ${c.cred}` },
      );
      expect(event.message).not.toContain(CANARY);
    }
    await row.check?.(c);
  });
});

describe('one bad RegistryCredential never hurts the others', () => {
  test('the operator process never exited or restarted', async () => {
    expect(s.operator.pid).toBe(operatorPid);
    expect(isAlive(operatorPid)).toBe(true);
    // Still serving (a watch may be in its idle-watchdog restart for a moment: wait, do not sample once).
    await waitFor(async () => (await s.operator.metric('regcred_ready')) === 1, { what: 'regcred_ready 1' });
    const logs = await s.operator.logs();
    expect(logs).not.toMatch(/uncaught|unhandled/i);
  });

  test('the healthy RegistryCredential stayed Ready throughout (no transition) and converged', async () => {
    const ready = (await s.cluster.condition(healthy.cred, 'Ready'))!;
    expect(ready).toMatchObject({
      status: 'True',
      reason: 'Ready',
      lastTransitionTime: healthyReady.lastTransitionTime,
    });
    for (const ns of healthy.ns) expect(await s.cluster.pullSecretNames(ns, 'default')).toEqual(['team-pull']);
  });

  test('nothing that existed before was modified: foreign Secrets, the healthy copies, the source Secrets', async () => {
    const now = new Map<string, string>();
    for (const key of before.rv.keys()) {
      const [ns, rest] = key.split('/') as [string, string];
      now.set(key, (await s.cluster.getSecret(ns, rest.split(' ')[0]!))?.metadata?.resourceVersion ?? 'deleted');
    }
    expect(Object.fromEntries(now)).toEqual(Object.fromEntries(before.rv));
  });

  test('deleting the colliding RegistryCredential leaves the winner its Secrets and ServiceAccount entries', async () => {
    const loser = contexts.get('collides-healthy')!.cred;
    await s.cluster.deleteCredential(loser);
    await waitFor(async () => !(await s.cluster.getCredential(loser)), { what: `${loser} to be gone` });
    for (const ns of healthy.ns) {
      expect((await s.cluster.getSecret(ns, 'team-pull'))?.metadata?.resourceVersion).toBe(
        before.rv.get(`${ns}/team-pull`),
      );
      expect(await s.cluster.pullSecretNames(ns, 'default')).toEqual(['team-pull']);
    }
  });

  test('the healthy RegistryCredential still follows a source change made after all the bad input (no stall)', async () => {
    const src = (await s.cluster.getSecret(s.sourceNamespace, healthy.source))!;
    await s.cluster.replaceSecret({ ...src, data: { ...src.data, password: b64(`pw2-${CANARY}`) } });
    for (const ns of healthy.ns)
      await waitForSecret(s.cluster, ns, 'team-pull', (x) => passwordFor(x, server) === `pw2-${CANARY}`);
    await waitForCondition(s.cluster, healthy.cred, 'Ready', { status: 'True' });
  });

  test('no secret value in any status, Event or log line', async () => {
    for (const c of contexts.values()) {
      const obj = await s.cluster.getCredential(c.cred);
      if (obj) expect(JSON.stringify(obj.status)).not.toContain(CANARY);
      expect(JSON.stringify(await s.cluster.eventsFor(c.cred))).not.toContain(CANARY);
    }
    expect(await s.operator.logs()).not.toContain(CANARY);
  });
});
