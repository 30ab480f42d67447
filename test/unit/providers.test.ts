import type { V1Secret } from '@kubernetes/client-node';
import type { RegistryCredentialSpec, RegistryEntry } from '../../src/api/v1alpha1.js';
import { type AuthEntry, authEntry, type Auths } from '../../src/dockerconfig.js';
import { basicAuthProvider } from '../../src/providers/basic-auth.js';
import { dockerConfigProvider } from '../../src/providers/docker-config.js';
import { createProviders } from '../../src/providers/index.js';
import type { EntryResult, SourceSecrets } from '../../src/providers/provider.js';
import {
  base64,
  basicAuth,
  dockerConfig,
  dockerConfigSecret,
  opaqueSecret,
  registryEntry,
  SOURCE_NAMESPACE,
  sourceSecrets,
  specWith,
} from '../support/builders.js';
import { FakeClock } from '../support/fake-clock.js';

// ---- builders ----------------------------------------------------------------------------------

const NS = SOURCE_NAMESPACE;
const PASSWORD = 'hunter2-S3cret';
const dockerSecret = (auths: Record<string, unknown>): V1Secret => dockerConfigSecret(JSON.stringify({ auths }));

const providers = createProviders({ clock: new FakeClock(), requestTimeoutMs: 1000 });
const mergeAuths = (s: RegistryCredentialSpec, perEntry: Array<Auths | undefined>) => providers.mergeAuths(s, perEntry);

/** Resolves a basicAuth or dockerConfig entry (providers without a token request answer at once). */
function resolveEntry(entry: RegistryEntry, secrets: SourceSecrets): EntryResult {
  const context = { secrets, refreshIntervalMs: 6 * 3_600_000 };
  if (entry.basicAuth)
    return basicAuthProvider.resolve({ server: entry.server, source: entry.basicAuth }, context) as EntryResult;
  return dockerConfigProvider.resolve({ source: entry.dockerConfig! }, context) as EntryResult;
}

// ---- resolveEntry: basicAuth -------------------------------------------------------------------

describe('resolveEntry basicAuth', () => {
  test.each<[string, Record<string, unknown>, Record<string, V1Secret>, AuthEntry]>([
    [
      'default keys',
      basicAuth('r.io', 'robot'),
      { robot: opaqueSecret({ username: 'robot$ci', password: 'pa55:word' }) },
      authEntry('robot$ci', 'pa55:word'),
    ],
    [
      'custom keys',
      basicAuth('r.io', 'robot', { usernameKey: 'user', passwordKey: 'token' }),
      { robot: opaqueSecret({ user: 'u', token: 't', username: 'no', password: 'no' }) },
      authEntry('u', 't'),
    ],
    [
      'extra keys ignored',
      basicAuth('r.io', 'robot'),
      { robot: opaqueSecret({ username: 'u', password: 'p', other: 'x' }) },
      authEntry('u', 'p'),
    ],
    [
      'utf-8 values',
      basicAuth('r.io', 'robot'),
      { robot: opaqueSecret({ username: 'jürgen', password: 'pässwörd' }) },
      authEntry('jürgen', 'pässwörd'),
    ],
    [
      'a Secret of any type',
      basicAuth('r.io', 'robot'),
      { robot: { ...opaqueSecret({ username: 'u', password: 'p' }), type: 'kubernetes.io/basic-auth' } },
      authEntry('u', 'p'),
    ],
  ])('resolves with %s', (_name, e, secrets, expected) => {
    const src = sourceSecrets(secrets);
    expect(resolveEntry(registryEntry(e), src)).toEqual({ ok: true, auths: { 'r.io': expected } });
    expect(src.asked).toEqual(['robot']);
  });

  test.each<[string, Record<string, unknown>, Record<string, V1Secret>, EntryResult]>([
    [
      'missing Secret',
      basicAuth('r.io', 'robot'),
      { other: opaqueSecret({ username: 'u', password: 'p' }) },
      { ok: false, reason: 'SourceSecretNotFound', message: `Secret ${NS}/robot not found` },
    ],
    [
      'missing username key',
      basicAuth('r.io', 'robot'),
      { robot: opaqueSecret({ password: PASSWORD }) },
      { ok: false, reason: 'InvalidSourceSecret', message: `Secret ${NS}/robot has no "username" key` },
    ],
    [
      'missing password key',
      basicAuth('r.io', 'robot'),
      { robot: opaqueSecret({ username: 'u' }) },
      { ok: false, reason: 'InvalidSourceSecret', message: `Secret ${NS}/robot has no "password" key` },
    ],
    [
      'missing both keys',
      basicAuth('r.io', 'robot'),
      { robot: opaqueSecret({ other: PASSWORD }) },
      { ok: false, reason: 'InvalidSourceSecret', message: `Secret ${NS}/robot has no "username" or "password" key` },
    ],
    [
      'no data at all',
      basicAuth('r.io', 'robot'),
      { robot: { type: 'Opaque' } },
      { ok: false, reason: 'InvalidSourceSecret', message: `Secret ${NS}/robot has no "username" or "password" key` },
    ],
    [
      'missing custom key',
      basicAuth('r.io', 'robot', { passwordKey: 'token' }),
      { robot: opaqueSecret({ username: 'u', password: PASSWORD }) },
      { ok: false, reason: 'InvalidSourceSecret', message: `Secret ${NS}/robot has no "token" key` },
    ],
    [
      'missing both custom keys',
      basicAuth('r.io', 'robot', { usernameKey: 'user', passwordKey: 'token' }),
      { robot: opaqueSecret({ username: 'u', password: PASSWORD }) },
      { ok: false, reason: 'InvalidSourceSecret', message: `Secret ${NS}/robot has no "user" or "token" key` },
    ],
    [
      'empty username',
      basicAuth('r.io', 'robot'),
      { robot: opaqueSecret({ username: '', password: PASSWORD }) },
      { ok: false, reason: 'InvalidSourceSecret', message: `Secret ${NS}/robot has an empty username` },
    ],
    [
      'empty password',
      basicAuth('r.io', 'robot'),
      { robot: opaqueSecret({ username: 'u', password: '' }) },
      { ok: false, reason: 'InvalidSourceSecret', message: `Secret ${NS}/robot has an empty password` },
    ],
    [
      'both empty: username named first',
      basicAuth('r.io', 'robot'),
      { robot: opaqueSecret({ username: '', password: '' }) },
      { ok: false, reason: 'InvalidSourceSecret', message: `Secret ${NS}/robot has an empty username` },
    ],
    [
      'empty custom key',
      basicAuth('r.io', 'robot', { passwordKey: 'token' }),
      { robot: opaqueSecret({ username: 'u', token: '' }) },
      { ok: false, reason: 'InvalidSourceSecret', message: `Secret ${NS}/robot has an empty token` },
    ],
    // issue 6, bad input catalogue
    [
      'colon in the username',
      basicAuth('r.io', 'robot'),
      { robot: opaqueSecret({ username: 'robot:ci', password: PASSWORD }) },
      {
        ok: false,
        reason: 'InvalidSourceSecret',
        message:
          `Secret ${NS}/robot key "username" holds a username containing ":", which basic auth cannot carry ` +
          `(the auth field splits at the first ":")`,
      },
    ],
    [
      'trailing newline in the password',
      basicAuth('r.io', 'robot', { passwordKey: 'token' }),
      { robot: opaqueSecret({ username: 'u', token: `${PASSWORD}\n` }) },
      {
        ok: false,
        reason: 'InvalidSourceSecret',
        message:
          `Secret ${NS}/robot key "token" holds a password containing a control character (a trailing newline ` +
          `from echo or a file?)`,
      },
    ],
    [
      'password not UTF-8',
      basicAuth('r.io', 'robot'),
      {
        robot: {
          type: 'Opaque',
          data: {
            username: base64('u'),
            password: Buffer.concat([Buffer.from(PASSWORD), Buffer.from([0xff])]).toString('base64'),
          },
        },
      },
      {
        ok: false,
        reason: 'InvalidSourceSecret',
        message: `Secret ${NS}/robot key "password" is not valid UTF-8 text`,
      },
    ],
    [
      'username not UTF-8',
      basicAuth('r.io', 'robot', { usernameKey: 'user' }),
      {
        robot: {
          type: 'Opaque',
          data: { user: Buffer.from('jürgen', 'latin1').toString('base64'), password: base64(PASSWORD) },
        },
      },
      { ok: false, reason: 'InvalidSourceSecret', message: `Secret ${NS}/robot key "user" is not valid UTF-8 text` },
    ],
  ])('fails with %s', (_name, e, secrets, expected) => {
    const result = resolveEntry(registryEntry(e), sourceSecrets(secrets));
    expect(result).toEqual(expected);
    expect(JSON.stringify(result)).not.toContain(PASSWORD);
  });
});

// ---- resolveEntry: dockerConfig and ecr --------------------------------------------------------

describe('resolveEntry dockerConfig', () => {
  test('imports every registry of the Secret', () => {
    const src = sourceSecrets({
      docker: dockerSecret({ 'a.io': { auth: base64('a:1') }, 'b.io': { username: 'b', password: '2' } }),
    });
    expect(resolveEntry(registryEntry(dockerConfig('docker')), src)).toEqual({
      ok: true,
      auths: { 'a.io': authEntry('a', '1'), 'b.io': authEntry('b', '2') },
    });
    expect(src.asked).toEqual(['docker']);
  });

  test('imports a kubernetes.io/dockercfg Secret', () => {
    const secret: V1Secret = {
      type: 'kubernetes.io/dockercfg',
      data: { '.dockercfg': base64(JSON.stringify({ 'r.io': { auth: base64('u:p') } })) },
    };
    expect(resolveEntry(registryEntry(dockerConfig('docker')), sourceSecrets({ docker: secret }))).toEqual({
      ok: true,
      auths: { 'r.io': authEntry('u', 'p') },
    });
  });

  test.each<[string, Record<string, V1Secret>, EntryResult]>([
    ['missing Secret', {}, { ok: false, reason: 'SourceSecretNotFound', message: `Secret ${NS}/docker not found` }],
    [
      'wrong type',
      { docker: opaqueSecret({ '.dockerconfigjson': '{}' }) },
      {
        ok: false,
        reason: 'InvalidSourceSecret',
        message:
          `Secret ${NS}/docker type is "Opaque", expected kubernetes.io/dockerconfigjson or ` +
          `kubernetes.io/dockercfg`,
      },
    ],
    [
      'missing key',
      { docker: { type: 'kubernetes.io/dockerconfigjson', data: {} } },
      {
        ok: false,
        reason: 'InvalidSourceSecret',
        message: `Secret ${NS}/docker key .dockerconfigjson is missing or empty`,
      },
    ],
    [
      'empty value',
      { docker: { type: 'kubernetes.io/dockerconfigjson', data: { '.dockerconfigjson': '' } } },
      {
        ok: false,
        reason: 'InvalidSourceSecret',
        message: `Secret ${NS}/docker key .dockerconfigjson is missing or empty`,
      },
    ],
    [
      'not JSON',
      { docker: { type: 'kubernetes.io/dockerconfigjson', data: { '.dockerconfigjson': base64(`{${PASSWORD}`) } } },
      {
        ok: false,
        reason: 'InvalidSourceSecret',
        message: `Secret ${NS}/docker key .dockerconfigjson is not valid JSON`,
      },
    ],
    [
      'no registries',
      { docker: dockerSecret({}) },
      { ok: false, reason: 'InvalidSourceSecret', message: `Secret ${NS}/docker it holds no registry entries` },
    ],
    [
      'entry without credentials',
      { docker: dockerSecret({ 'r.io': { password: PASSWORD } }) },
      {
        ok: false,
        reason: 'InvalidSourceSecret',
        message: `Secret ${NS}/docker entry "r.io" has neither username/password nor auth`,
      },
    ],
  ])('fails with %s', (_name, secrets, expected) => {
    const result = resolveEntry(registryEntry(dockerConfig('docker')), sourceSecrets(secrets));
    expect(result).toEqual(expected);
    expect(JSON.stringify(result)).not.toContain(PASSWORD);
  });

  test('unexpected errors are not turned into a status', () => {
    const broken = {
      type: 'kubernetes.io/dockerconfigjson',
      get data(): Record<string, string> {
        throw new RangeError('boom');
      },
    } as V1Secret;
    expect(() => resolveEntry(registryEntry(dockerConfig('docker')), sourceSecrets({ docker: broken }))).toThrow(
      RangeError,
    );
  });
});

describe('Providers', () => {
  test.each<[string, unknown[], string[]]>([
    ['basicAuth', [basicAuth('r.io', 'harbor-robot')], ['harbor-robot']],
    ['dockerConfig', [dockerConfig('docker')], ['docker']],
    ['ecr with credentials', [{ server: 'e.io', ecr: { region: 'eu-west-1', credentialsSecretName: 'aws' } }], ['aws']],
    ['ecr without credentials', [{ server: 'e.io', ecr: { region: 'eu-west-1' } }], []],
    [
      'ecrPublic with credentials',
      [{ server: 'public.ecr.aws', ecrPublic: { credentialsSecretName: 'aws' } }],
      ['aws'],
    ],
    ['gcp with credentials', [{ server: 'gcr.io', gcp: { credentialsSecretName: 'gcp-sa' } }], ['gcp-sa']],
    ['gcp without credentials', [{ server: 'gcr.io', gcp: {} }], []],
    [
      'acr with a client secret',
      [{ server: 'r.azurecr.io', acr: { tenantId: 't.example.com', clientId: 'c', credentialsSecretName: 'sp' } }],
      ['sp'],
    ],
    [
      'each name once, in order',
      [
        basicAuth('r.io', 'harbor-robot'),
        dockerConfig('docker'),
        basicAuth('q.io', 'harbor-robot'),
        { server: 'e.io', ecr: { region: 'eu-west-1', credentialsSecretName: 'aws' } },
        { server: 'public.ecr.aws', ecrPublic: { credentialsSecretName: 'aws' } },
      ],
      ['harbor-robot', 'docker', 'aws'],
    ],
  ])('sourceSecretNames: %s', (_name, registries, expected) => {
    expect(providers.sourceSecretNames(specWith(...(registries as Array<Record<string, unknown>>)))).toEqual(expected);
  });

  test('each entry goes to the provider of its kind', async () => {
    const secrets = sourceSecrets({ robot: opaqueSecret({ username: 'u', password: PASSWORD }) });
    const entry = registryEntry(basicAuth('r.io', 'robot'));
    expect(await providers.resolve(entry, { secrets, refreshIntervalMs: 1 })).toEqual(resolveEntry(entry, secrets));
  });

  test('a token provider reads no Secret and asks nothing when its entry cannot be served', async () => {
    const secrets = sourceSecrets({});
    const result = await providers.resolve(
      registryEntry({ server: 'gcr.io', gcp: { credentialsSecretName: 'gone' } }),
      {
        secrets,
        refreshIntervalMs: 1,
      },
    );
    expect(result).toEqual({ ok: false, reason: 'SourceSecretNotFound', message: `Secret ${NS}/gone not found` });
    expect(providers.tokenRequests()).toEqual({});
  });
});

// ---- mergeAuths --------------------------------------------------------------------------------

describe('mergeAuths', () => {
  const A = authEntry('basic', '1');
  const B = authEntry('import-1', '2');
  const C = authEntry('import-2', '3');
  const D = authEntry('basic-2', '4');

  test.each<[string, RegistryCredentialSpec, Array<Auths | undefined>, Auths]>([
    ['one entry', specWith(basicAuth('r.io', 's')), [{ 'r.io': A }], { 'r.io': A }],
    [
      'disjoint servers are unioned',
      specWith(basicAuth('a.io', 's'), dockerConfig('d')),
      [{ 'a.io': A }, { 'b.io': B }],
      { 'a.io': A, 'b.io': B },
    ],
    [
      'explicit entry wins over a later import',
      specWith(basicAuth('r.io', 's'), dockerConfig('d')),
      [{ 'r.io': A }, { 'r.io': B }],
      { 'r.io': A },
    ],
    [
      'explicit entry wins over an earlier import',
      specWith(dockerConfig('d'), basicAuth('r.io', 's')),
      [{ 'r.io': B }, { 'r.io': A }],
      { 'r.io': A },
    ],
    [
      'among imports the earlier wins',
      specWith(dockerConfig('d1'), dockerConfig('d2')),
      [
        { 'r.io': B, 'x.io': B },
        { 'r.io': C, 'y.io': C },
      ],
      { 'r.io': B, 'x.io': B, 'y.io': C },
    ],
    [
      'explicit beats both imports; imports keep their own precedence elsewhere',
      specWith(dockerConfig('d1'), basicAuth('r.io', 's'), dockerConfig('d2'), basicAuth('q.io', 't')),
      [{ 'r.io': B, 'x.io': B }, { 'r.io': A }, { 'r.io': C, 'x.io': C, 'q.io': C }, { 'q.io': D }],
      { 'r.io': A, 'x.io': B, 'q.io': D },
    ],
    [
      'an entry without a result (held) contributes nothing',
      specWith(basicAuth('a.io', 's'), dockerConfig('d')),
      [undefined, { 'b.io': B }],
      { 'b.io': B },
    ],
    [
      'a held import lets the next import win',
      specWith(dockerConfig('d1'), dockerConfig('d2')),
      [undefined, { 'r.io': C }],
      { 'r.io': C },
    ],
    ['fewer results than entries', specWith(basicAuth('a.io', 's'), dockerConfig('d')), [{ 'a.io': A }], { 'a.io': A }],
    ['nothing resolved', specWith(basicAuth('a.io', 's')), [], {}],
    [
      'a server named like an Object.prototype member is an ordinary key',
      specWith(dockerConfig('d1'), dockerConfig('d2')),
      [{ constructor: B }, { constructor: C, toString: C }],
      { constructor: B, toString: C },
    ],
  ])('%s', (_name, s, perEntry, expected) => {
    const merged = mergeAuths(s, perEntry as Auths[]);
    expect(merged).toEqual(expected);
  });

  test('does not mutate the per-entry results', () => {
    const perEntry: Auths[] = [{ 'r.io': B }, { 'r.io': A }];
    const before = structuredClone(perEntry);
    mergeAuths(specWith(dockerConfig('d'), basicAuth('r.io', 's')), perEntry);
    expect(perEntry).toEqual(before);
  });
});
