import type { V1Secret } from '@kubernetes/client-node';
import { parseSpec, type RegistryCredentialSpec, type RegistryEntry } from '../../src/api/v1alpha1.js';
import { type AuthEntry, authEntry, type Auths } from '../../src/dockerconfig.js';
import { basicAuthProvider } from '../../src/providers/basic-auth.js';
import { dockerConfigProvider } from '../../src/providers/docker-config.js';
import { createProviders } from '../../src/providers/index.js';
import type { EntryResult, SourceSecrets } from '../../src/providers/provider.js';
import { FakeClock } from '../support/fake-clock.js';

// ---- builders ----------------------------------------------------------------------------------

const NS = 'regcred-system';
const PASSWORD = 'hunter2-S3cret';
const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

/** A spec whose registries are `entries`, defaulted by the schema. */
function spec(...entries: Array<Record<string, unknown>>): RegistryCredentialSpec {
  const r = parseSpec({ registries: entries });
  if (!r.ok) throw new Error(r.message);
  return r.spec;
}
const basic = (server: string, secretName: string, keys: { usernameKey?: string; passwordKey?: string } = {}) => ({
  server,
  basicAuth: { secretName, ...keys },
});
const imported = (secretName: string) => ({ dockerConfig: { secretName } });
const entryOf = (e: Record<string, unknown>): RegistryEntry => spec(e).registries[0]!;

/** An Opaque Secret whose data holds `values` base64-encoded. */
const opaque = (values: Record<string, string>): V1Secret => ({
  type: 'Opaque',
  data: Object.fromEntries(Object.entries(values).map(([k, v]) => [k, b64(v)])),
});
const dockerSecret = (auths: Record<string, unknown>): V1Secret => ({
  type: 'kubernetes.io/dockerconfigjson',
  data: { '.dockerconfigjson': b64(JSON.stringify({ auths })) },
});

const providers = createProviders({ clock: new FakeClock(), requestTimeoutMs: 1000 });
const mergeAuths = (s: RegistryCredentialSpec, perEntry: Array<Auths | undefined>) => providers.mergeAuths(s, perEntry);

/** Resolves a basicAuth or dockerConfig entry (providers without a token request answer at once). */
function resolveEntry(entry: RegistryEntry, secrets: SourceSecrets): EntryResult {
  const context = { secrets, refreshIntervalMs: 6 * 3_600_000 };
  if (entry.basicAuth)
    return basicAuthProvider.resolve({ server: entry.server, source: entry.basicAuth }, context) as EntryResult;
  return dockerConfigProvider.resolve({ source: entry.dockerConfig! }, context) as EntryResult;
}

/** The source namespace's Secrets, by name; records which names were asked for. */
function source(secrets: Record<string, V1Secret>): SourceSecrets & { asked: string[] } {
  const asked: string[] = [];
  return { namespace: NS, asked, get: (name) => (asked.push(name), secrets[name]) };
}

// ---- resolveEntry: basicAuth -------------------------------------------------------------------

describe('resolveEntry basicAuth', () => {
  test.each<[string, Record<string, unknown>, Record<string, V1Secret>, AuthEntry]>([
    [
      'default keys',
      basic('r.io', 'robot'),
      { robot: opaque({ username: 'robot$ci', password: 'pa55:word' }) },
      authEntry('robot$ci', 'pa55:word'),
    ],
    [
      'custom keys',
      basic('r.io', 'robot', { usernameKey: 'user', passwordKey: 'token' }),
      { robot: opaque({ user: 'u', token: 't', username: 'no', password: 'no' }) },
      authEntry('u', 't'),
    ],
    [
      'extra keys ignored',
      basic('r.io', 'robot'),
      { robot: opaque({ username: 'u', password: 'p', other: 'x' }) },
      authEntry('u', 'p'),
    ],
    [
      'utf-8 values',
      basic('r.io', 'robot'),
      { robot: opaque({ username: 'jürgen', password: 'pässwörd' }) },
      authEntry('jürgen', 'pässwörd'),
    ],
    [
      'a Secret of any type',
      basic('r.io', 'robot'),
      { robot: { ...opaque({ username: 'u', password: 'p' }), type: 'kubernetes.io/basic-auth' } },
      authEntry('u', 'p'),
    ],
  ])('resolves with %s', (_name, e, secrets, expected) => {
    const src = source(secrets);
    expect(resolveEntry(entryOf(e), src)).toEqual({ ok: true, auths: { 'r.io': expected } });
    expect(src.asked).toEqual(['robot']);
  });

  test.each<[string, Record<string, unknown>, Record<string, V1Secret>, EntryResult]>([
    [
      'missing Secret',
      basic('r.io', 'robot'),
      { other: opaque({ username: 'u', password: 'p' }) },
      { ok: false, reason: 'SourceSecretNotFound', message: `Secret ${NS}/robot not found` },
    ],
    [
      'missing username key',
      basic('r.io', 'robot'),
      { robot: opaque({ password: PASSWORD }) },
      { ok: false, reason: 'InvalidSourceSecret', message: `Secret ${NS}/robot has no "username" key` },
    ],
    [
      'missing password key',
      basic('r.io', 'robot'),
      { robot: opaque({ username: 'u' }) },
      { ok: false, reason: 'InvalidSourceSecret', message: `Secret ${NS}/robot has no "password" key` },
    ],
    [
      'missing both keys',
      basic('r.io', 'robot'),
      { robot: opaque({ other: PASSWORD }) },
      { ok: false, reason: 'InvalidSourceSecret', message: `Secret ${NS}/robot has no "username" or "password" key` },
    ],
    [
      'no data at all',
      basic('r.io', 'robot'),
      { robot: { type: 'Opaque' } },
      { ok: false, reason: 'InvalidSourceSecret', message: `Secret ${NS}/robot has no "username" or "password" key` },
    ],
    [
      'missing custom key',
      basic('r.io', 'robot', { passwordKey: 'token' }),
      { robot: opaque({ username: 'u', password: PASSWORD }) },
      { ok: false, reason: 'InvalidSourceSecret', message: `Secret ${NS}/robot has no "token" key` },
    ],
    [
      'missing both custom keys',
      basic('r.io', 'robot', { usernameKey: 'user', passwordKey: 'token' }),
      { robot: opaque({ username: 'u', password: PASSWORD }) },
      { ok: false, reason: 'InvalidSourceSecret', message: `Secret ${NS}/robot has no "user" or "token" key` },
    ],
    [
      'empty username',
      basic('r.io', 'robot'),
      { robot: opaque({ username: '', password: PASSWORD }) },
      { ok: false, reason: 'InvalidSourceSecret', message: `Secret ${NS}/robot has an empty username` },
    ],
    [
      'empty password',
      basic('r.io', 'robot'),
      { robot: opaque({ username: 'u', password: '' }) },
      { ok: false, reason: 'InvalidSourceSecret', message: `Secret ${NS}/robot has an empty password` },
    ],
    [
      'both empty: username named first',
      basic('r.io', 'robot'),
      { robot: opaque({ username: '', password: '' }) },
      { ok: false, reason: 'InvalidSourceSecret', message: `Secret ${NS}/robot has an empty username` },
    ],
    [
      'empty custom key',
      basic('r.io', 'robot', { passwordKey: 'token' }),
      { robot: opaque({ username: 'u', token: '' }) },
      { ok: false, reason: 'InvalidSourceSecret', message: `Secret ${NS}/robot has an empty token` },
    ],
    // issue 6, bad input catalogue
    [
      'colon in the username',
      basic('r.io', 'robot'),
      { robot: opaque({ username: 'robot:ci', password: PASSWORD }) },
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
      basic('r.io', 'robot', { passwordKey: 'token' }),
      { robot: opaque({ username: 'u', token: `${PASSWORD}\n` }) },
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
      basic('r.io', 'robot'),
      {
        robot: {
          type: 'Opaque',
          data: {
            username: b64('u'),
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
      basic('r.io', 'robot', { usernameKey: 'user' }),
      {
        robot: {
          type: 'Opaque',
          data: { user: Buffer.from('jürgen', 'latin1').toString('base64'), password: b64(PASSWORD) },
        },
      },
      { ok: false, reason: 'InvalidSourceSecret', message: `Secret ${NS}/robot key "user" is not valid UTF-8 text` },
    ],
  ])('fails with %s', (_name, e, secrets, expected) => {
    const result = resolveEntry(entryOf(e), source(secrets));
    expect(result).toEqual(expected);
    expect(JSON.stringify(result)).not.toContain(PASSWORD);
  });
});

// ---- resolveEntry: dockerConfig and ecr --------------------------------------------------------

describe('resolveEntry dockerConfig', () => {
  test('imports every registry of the Secret', () => {
    const src = source({
      docker: dockerSecret({ 'a.io': { auth: b64('a:1') }, 'b.io': { username: 'b', password: '2' } }),
    });
    expect(resolveEntry(entryOf(imported('docker')), src)).toEqual({
      ok: true,
      auths: { 'a.io': authEntry('a', '1'), 'b.io': authEntry('b', '2') },
    });
    expect(src.asked).toEqual(['docker']);
  });

  test('imports a kubernetes.io/dockercfg Secret', () => {
    const secret: V1Secret = {
      type: 'kubernetes.io/dockercfg',
      data: { '.dockercfg': b64(JSON.stringify({ 'r.io': { auth: b64('u:p') } })) },
    };
    expect(resolveEntry(entryOf(imported('docker')), source({ docker: secret }))).toEqual({
      ok: true,
      auths: { 'r.io': authEntry('u', 'p') },
    });
  });

  test.each<[string, Record<string, V1Secret>, EntryResult]>([
    ['missing Secret', {}, { ok: false, reason: 'SourceSecretNotFound', message: `Secret ${NS}/docker not found` }],
    [
      'wrong type',
      { docker: opaque({ '.dockerconfigjson': '{}' }) },
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
      { docker: { type: 'kubernetes.io/dockerconfigjson', data: { '.dockerconfigjson': b64(`{${PASSWORD}`) } } },
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
    const result = resolveEntry(entryOf(imported('docker')), source(secrets));
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
    expect(() => resolveEntry(entryOf(imported('docker')), source({ docker: broken }))).toThrow(RangeError);
  });
});

describe('Providers', () => {
  test.each<[string, unknown[], string[]]>([
    ['basicAuth', [basic('r.io', 'harbor-robot')], ['harbor-robot']],
    ['dockerConfig', [imported('docker')], ['docker']],
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
        basic('r.io', 'harbor-robot'),
        imported('docker'),
        basic('q.io', 'harbor-robot'),
        { server: 'e.io', ecr: { region: 'eu-west-1', credentialsSecretName: 'aws' } },
        { server: 'public.ecr.aws', ecrPublic: { credentialsSecretName: 'aws' } },
      ],
      ['harbor-robot', 'docker', 'aws'],
    ],
  ])('sourceSecretNames: %s', (_name, registries, expected) => {
    expect(providers.sourceSecretNames(spec(...(registries as Array<Record<string, unknown>>)))).toEqual(expected);
  });

  test('each entry goes to the provider of its kind', async () => {
    const secrets = source({ robot: opaque({ username: 'u', password: PASSWORD }) });
    const entry = entryOf(basic('r.io', 'robot'));
    expect(await providers.resolve(entry, { secrets, refreshIntervalMs: 1 })).toEqual(resolveEntry(entry, secrets));
  });

  test('a token provider reads no Secret and asks nothing when its entry cannot be served', async () => {
    const secrets = source({});
    const result = await providers.resolve(entryOf({ server: 'gcr.io', gcp: { credentialsSecretName: 'gone' } }), {
      secrets,
      refreshIntervalMs: 1,
    });
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
    ['one entry', spec(basic('r.io', 's')), [{ 'r.io': A }], { 'r.io': A }],
    [
      'disjoint servers are unioned',
      spec(basic('a.io', 's'), imported('d')),
      [{ 'a.io': A }, { 'b.io': B }],
      { 'a.io': A, 'b.io': B },
    ],
    [
      'explicit entry wins over a later import',
      spec(basic('r.io', 's'), imported('d')),
      [{ 'r.io': A }, { 'r.io': B }],
      { 'r.io': A },
    ],
    [
      'explicit entry wins over an earlier import',
      spec(imported('d'), basic('r.io', 's')),
      [{ 'r.io': B }, { 'r.io': A }],
      { 'r.io': A },
    ],
    [
      'among imports the earlier wins',
      spec(imported('d1'), imported('d2')),
      [
        { 'r.io': B, 'x.io': B },
        { 'r.io': C, 'y.io': C },
      ],
      { 'r.io': B, 'x.io': B, 'y.io': C },
    ],
    [
      'explicit beats both imports; imports keep their own precedence elsewhere',
      spec(imported('d1'), basic('r.io', 's'), imported('d2'), basic('q.io', 't')),
      [{ 'r.io': B, 'x.io': B }, { 'r.io': A }, { 'r.io': C, 'x.io': C, 'q.io': C }, { 'q.io': D }],
      { 'r.io': A, 'x.io': B, 'q.io': D },
    ],
    [
      'an entry without a result (held) contributes nothing',
      spec(basic('a.io', 's'), imported('d')),
      [undefined, { 'b.io': B }],
      { 'b.io': B },
    ],
    [
      'a held import lets the next import win',
      spec(imported('d1'), imported('d2')),
      [undefined, { 'r.io': C }],
      { 'r.io': C },
    ],
    ['fewer results than entries', spec(basic('a.io', 's'), imported('d')), [{ 'a.io': A }], { 'a.io': A }],
    ['nothing resolved', spec(basic('a.io', 's')), [], {}],
    [
      'a server named like an Object.prototype member is an ordinary key',
      spec(imported('d1'), imported('d2')),
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
    mergeAuths(spec(imported('d'), basic('r.io', 's')), perEntry);
    expect(perEntry).toEqual(before);
  });
});
