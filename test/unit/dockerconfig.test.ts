import {
  type AuthEntry,
  authEntry,
  type Auths,
  credentialProblem,
  decodeUtf8,
  documentSizeProblem,
  InvalidDockerConfigError,
  MAX_SECRET_DATA_BYTES,
  parseDockerConfigSecret,
  renderDockerConfig,
  serversOf,
} from '../../src/dockerconfig.js';

// ---- builders ----------------------------------------------------------------------------------

const PASSWORD = 'S3cr3t-P@ss:w0rd';
const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const JSON_TYPE = 'kubernetes.io/dockerconfigjson';
const CFG_TYPE = 'kubernetes.io/dockercfg';

/** Secret data for a kubernetes.io/dockerconfigjson Secret holding `doc` (any JSON value, or raw text). */
const jsonData = (doc: unknown) => ({ '.dockerconfigjson': b64(typeof doc === 'string' ? doc : JSON.stringify(doc)) });
/** Secret data for a kubernetes.io/dockercfg Secret holding `doc`. */
const cfgData = (doc: unknown) => ({ '.dockercfg': b64(typeof doc === 'string' ? doc : JSON.stringify(doc)) });
const entry = (username: string, password: string, email?: string): AuthEntry => ({
  ...authEntry(username, password),
  ...(email ? { email } : {}),
});

function parseError(type: string | undefined, data: Record<string, string> | undefined): InvalidDockerConfigError {
  try {
    parseDockerConfigSecret(type, data);
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidDockerConfigError);
    return err as InvalidDockerConfigError;
  }
  throw new Error('expected parseDockerConfigSecret to throw');
}

// ---- authEntry / renderDockerConfig ------------------------------------------------------------

describe('authEntry', () => {
  test.each<[string, string, string]>([
    ['robot', 'secret', 'cm9ib3Q6c2VjcmV0'],
    ['robot$ci', 'pa55:word', b64('robot$ci:pa55:word')],
    ['jürgen', 'pässwörd', b64('jürgen:pässwörd')],
    ['', '', b64(':')],
  ])('%s / %s', (username, password, auth) => {
    expect(authEntry(username, password)).toEqual({ username, password, auth });
  });
});

describe('renderDockerConfig', () => {
  test.each<[string, Auths, string]>([
    ['no servers', {}, '{"auths":{}}'],
    [
      'one server',
      { 'r.example.com': entry('u', 'p') },
      `{"auths":{"r.example.com":{"username":"u","password":"p","auth":"${b64('u:p')}"}}}`,
    ],
    [
      'servers sorted',
      { 'z.example.com': entry('z', '1'), 'a.example.com': entry('a', '2'), 'm.example.com': entry('m', '3') },
      `{"auths":{"a.example.com":{"username":"a","password":"2","auth":"${b64('a:2')}"},` +
        `"m.example.com":{"username":"m","password":"3","auth":"${b64('m:3')}"},` +
        `"z.example.com":{"username":"z","password":"1","auth":"${b64('z:1')}"}}}`,
    ],
    [
      'fields in a fixed order, email last',
      { 'r.example.com': { email: 'e@x', auth: 'QQ==', password: 'p', username: 'u' } },
      '{"auths":{"r.example.com":{"username":"u","password":"p","auth":"QQ==","email":"e@x"}}}',
    ],
    [
      'empty email dropped',
      { 'r.example.com': { ...entry('u', 'p'), email: '' } },
      `{"auths":{"r.example.com":{"username":"u","password":"p","auth":"${b64('u:p')}"}}}`,
    ],
    [
      'unknown fields dropped',
      { 'r.example.com': { ...entry('u', 'p'), identitytoken: 'tok' } as AuthEntry },
      `{"auths":{"r.example.com":{"username":"u","password":"p","auth":"${b64('u:p')}"}}}`,
    ],
  ])('%s', (_name, auths, expected) => {
    expect(renderDockerConfig(auths)).toBe(expected);
  });

  test('equal content renders to equal bytes whatever the insertion order', () => {
    const a = { 'b.io': entry('u', 'p'), 'a.io': entry('v', 'q', 'e@x') };
    const b = { 'a.io': { email: 'e@x', ...entry('v', 'q') }, 'b.io': entry('u', 'p') };
    expect(renderDockerConfig(a)).toBe(renderDockerConfig(b));
  });

  test('round-trips through parseDockerConfigSecret', () => {
    const auths = { 'b.io': entry('u', 'p:with:colons'), 'a.io': entry('v', 'q', 'e@x') };
    const doc = renderDockerConfig(auths);
    expect(parseDockerConfigSecret(JSON_TYPE, { '.dockerconfigjson': b64(doc) })).toEqual(auths);
  });

  test.each<[string, string, string[]]>([
    ['a rendered document', renderDockerConfig({ 'z.io': entry('u', 'p'), 'a.io': entry('u', 'p') }), ['a.io', 'z.io']],
    ['an empty document', '{"auths":{}}', []],
    ['not JSON', 'nope', []],
    ['JSON without auths', '{}', []],
  ])('serversOf %s', (_name, doc, expected) => {
    expect(serversOf(doc)).toEqual(expected);
  });
});

// ---- parseDockerConfigSecret: valid documents --------------------------------------------------

describe('parseDockerConfigSecret', () => {
  test.each<[string, string, Record<string, string>, Auths]>([
    [
      'dockerconfigjson with username/password/auth',
      JSON_TYPE,
      jsonData({ auths: { 'r.io': { username: 'u', password: 'p', auth: b64('u:p') } } }),
      { 'r.io': entry('u', 'p') },
    ],
    [
      'dockercfg (registries at the top level)',
      CFG_TYPE,
      cfgData({ 'r.io': { username: 'u', password: 'p', auth: b64('u:p') } }),
      { 'r.io': entry('u', 'p') },
    ],
    [
      'auth only',
      JSON_TYPE,
      jsonData({ auths: { 'r.io': { auth: b64('robot:pw') } } }),
      { 'r.io': entry('robot', 'pw') },
    ],
    [
      'auth only, dockercfg',
      CFG_TYPE,
      cfgData({ 'r.io': { auth: b64('robot:pw'), email: 'e@x' } }),
      { 'r.io': entry('robot', 'pw', 'e@x') },
    ],
    [
      'auth only, password with colons (split at the first)',
      JSON_TYPE,
      jsonData({ auths: { 'r.io': { auth: b64('robot:pa:ss') } } }),
      { 'r.io': entry('robot', 'pa:ss') },
    ],
    [
      'auth only, with a line break in the base64',
      JSON_TYPE,
      jsonData({ auths: { 'r.io': { auth: `${b64('robot:pw').slice(0, 4)}\n${b64('robot:pw').slice(4)}` } } }),
      { 'r.io': entry('robot', 'pw') },
    ],
    [
      'username/password only: auth is computed',
      JSON_TYPE,
      jsonData({ auths: { 'r.io': { username: 'u', password: 'p' } } }),
      { 'r.io': entry('u', 'p') },
    ],
    [
      'username/password only, dockercfg',
      CFG_TYPE,
      cfgData({ 'r.io': { username: 'u', password: 'p' } }),
      { 'r.io': entry('u', 'p') },
    ],
    [
      'username/password win over a stale auth',
      JSON_TYPE,
      jsonData({ auths: { 'r.io': { username: 'u', password: 'new', auth: b64('u:old') } } }),
      { 'r.io': entry('u', 'new') },
    ],
    [
      'username/password win over a malformed auth',
      JSON_TYPE,
      jsonData({ auths: { 'r.io': { username: 'u', password: 'p', auth: '!!!' } } }),
      { 'r.io': entry('u', 'p') },
    ],
    [
      'username only: both taken from auth',
      JSON_TYPE,
      jsonData({ auths: { 'r.io': { username: 'ignored', auth: b64('robot:pw') } } }),
      { 'r.io': entry('robot', 'pw') },
    ],
    [
      'non-string username falls back to auth',
      JSON_TYPE,
      jsonData({ auths: { 'r.io': { username: 7, password: 'x', auth: b64('robot:pw') } } }),
      { 'r.io': entry('robot', 'pw') },
    ],
    [
      'email kept',
      JSON_TYPE,
      jsonData({ auths: { 'r.io': { username: 'u', password: 'p', email: 'e@x' } } }),
      { 'r.io': entry('u', 'p', 'e@x') },
    ],
    [
      'non-string email dropped',
      JSON_TYPE,
      jsonData({ auths: { 'r.io': { username: 'u', password: 'p', email: 1 } } }),
      { 'r.io': entry('u', 'p') },
    ],
    [
      'unknown fields dropped',
      JSON_TYPE,
      jsonData({ auths: { 'r.io': { username: 'u', password: 'p', identitytoken: 't' } }, credsStore: 'desktop' }),
      { 'r.io': entry('u', 'p') },
    ],
    [
      'several registries',
      JSON_TYPE,
      jsonData({ auths: { 'b.io': { auth: b64('b:2') }, 'a.io': { username: 'a', password: '1' } } }),
      { 'a.io': entry('a', '1'), 'b.io': entry('b', '2') },
    ],
    [
      'utf-8 credentials',
      JSON_TYPE,
      jsonData({ auths: { 'r.io': { auth: b64('jürgen:pässwörd') } } }),
      { 'r.io': entry('jürgen', 'pässwörd') },
    ],
    [
      'other keys in the Secret are ignored',
      JSON_TYPE,
      { ...jsonData({ auths: { 'r.io': { auth: b64('u:p') } } }), '.dockercfg': b64('garbage') },
      { 'r.io': entry('u', 'p') },
    ],
  ])('%s', (_name, type, data, expected) => {
    expect(parseDockerConfigSecret(type, data)).toEqual(expected);
  });

  // ---- every error case; messages never carry the credentials ----------------------------------

  const creds = { username: 'robot', password: PASSWORD };
  test.each<[string, string | undefined, Record<string, string> | undefined, string]>([
    [
      'no type',
      undefined,
      jsonData({ auths: { 'r.io': creds } }),
      'type is "", expected kubernetes.io/dockerconfigjson or kubernetes.io/dockercfg',
    ],
    [
      'Opaque type',
      'Opaque',
      jsonData({ auths: { 'r.io': creds } }),
      'type is "Opaque", expected kubernetes.io/dockerconfigjson or kubernetes.io/dockercfg',
    ],
    ['no data', JSON_TYPE, undefined, 'key .dockerconfigjson is missing or empty'],
    ['key of the other type', JSON_TYPE, cfgData({ 'r.io': creds }), 'key .dockerconfigjson is missing or empty'],
    ['dockercfg key missing', CFG_TYPE, jsonData({ auths: { 'r.io': creds } }), 'key .dockercfg is missing or empty'],
    ['empty value', JSON_TYPE, { '.dockerconfigjson': '' }, 'key .dockerconfigjson is missing or empty'],
    [
      'not JSON',
      JSON_TYPE,
      jsonData(`{"auths":{"r.io":{"password":"${PASSWORD}"`),
      'key .dockerconfigjson is not valid JSON',
    ],
    ['not JSON, dockercfg', CFG_TYPE, cfgData(`password=${PASSWORD}`), 'key .dockercfg is not valid JSON'],
    ['JSON null', JSON_TYPE, jsonData('null'), 'key .dockerconfigjson has no "auths" object'],
    ['no auths', JSON_TYPE, jsonData({ 'r.io': creds }), 'key .dockerconfigjson has no "auths" object'],
    ['auths is an array', JSON_TYPE, jsonData({ auths: [creds] }), 'key .dockerconfigjson has no "auths" object'],
    ['auths is a string', JSON_TYPE, jsonData({ auths: PASSWORD }), 'key .dockerconfigjson has no "auths" object'],
    ['auths is null', JSON_TYPE, jsonData({ auths: null }), 'key .dockerconfigjson has no "auths" object'],
    ['dockercfg is an array', CFG_TYPE, cfgData([creds]), 'key .dockercfg is not an object of registries'],
    [
      'dockercfg is a string',
      CFG_TYPE,
      cfgData(JSON.stringify(PASSWORD)),
      'key .dockercfg is not an object of registries',
    ],
    ['dockercfg is null', CFG_TYPE, cfgData('null'), 'key .dockercfg is not an object of registries'],
    ['empty auths', JSON_TYPE, jsonData({ auths: {} }), 'it holds no registry entries'],
    ['empty dockercfg', CFG_TYPE, cfgData({}), 'it holds no registry entries'],
    ['entry is a string', JSON_TYPE, jsonData({ auths: { 'r.io': PASSWORD } }), 'entry "r.io" is not an object'],
    ['entry is null', JSON_TYPE, jsonData({ auths: { 'r.io': null } }), 'entry "r.io" is not an object'],
    ['entry is a number', CFG_TYPE, cfgData({ 'r.io': 1 }), 'entry "r.io" is not an object'],
    [
      'entry is empty',
      JSON_TYPE,
      jsonData({ auths: { 'r.io': {} } }),
      'entry "r.io" has neither username/password nor auth',
    ],
    [
      'entry is an array',
      JSON_TYPE,
      jsonData({ auths: { 'r.io': [PASSWORD] } }),
      'entry "r.io" has neither username/password nor auth',
    ],
    [
      'password only',
      JSON_TYPE,
      jsonData({ auths: { 'r.io': { password: PASSWORD } } }),
      'entry "r.io" has neither username/password nor auth',
    ],
    [
      'username only',
      JSON_TYPE,
      jsonData({ auths: { 'r.io': { username: 'robot' } } }),
      'entry "r.io" has neither username/password nor auth',
    ],
    [
      'non-string password',
      JSON_TYPE,
      jsonData({ auths: { 'r.io': { username: 'robot', password: 1234 } } }),
      'entry "r.io" has neither username/password nor auth',
    ],
    [
      'password with an empty auth',
      JSON_TYPE,
      jsonData({ auths: { 'r.io': { password: PASSWORD, auth: '' } } }),
      'entry "r.io" has neither username/password nor auth',
    ],
    [
      'auth without a colon',
      JSON_TYPE,
      jsonData({ auths: { 'r.io': { auth: b64(PASSWORD.replace(/:/g, '')) } } }),
      'entry "r.io" has an "auth" that is not base64 of username:password',
    ],
    [
      'auth that is the raw password',
      JSON_TYPE,
      jsonData({ auths: { 'r.io': { auth: PASSWORD } } }),
      'entry "r.io" has an "auth" that is not base64 of username:password',
    ],
    [
      'auth not base64 though it decodes with a colon',
      JSON_TYPE,
      jsonData({ auths: { 'r.io': { auth: `robot:${PASSWORD}` } } }),
      'entry "r.io" has an "auth" that is not base64 of username:password',
    ],
    [
      'a bad entry next to a good one',
      JSON_TYPE,
      jsonData({ auths: { 'a.io': creds, 'b.io': { auth: '%%' } } }),
      'entry "b.io" has an "auth" that is not base64 of username:password',
    ],
    [
      'password only, dockercfg',
      CFG_TYPE,
      cfgData({ 'r.io': { password: PASSWORD } }),
      'entry "r.io" has neither username/password nor auth',
    ],
    // issue 6, bad input catalogue: credentials docker or the kubelet would mangle
    [
      'auth of bytes that are not UTF-8',
      JSON_TYPE,
      jsonData({
        auths: {
          'r.io': {
            auth: Buffer.concat([Buffer.from(`robot:${PASSWORD}`), Buffer.from([0xc3, 0x28])]).toString('base64'),
          },
        },
      }),
      'entry "r.io" has an "auth" that is not base64 of username:password',
    ],
    [
      'document that is not UTF-8',
      JSON_TYPE,
      { '.dockerconfigjson': Buffer.from([0x7b, 0xff, 0x7d]).toString('base64') },
      'key .dockerconfigjson is not valid UTF-8',
    ],
    [
      'auth with an empty username',
      JSON_TYPE,
      jsonData({ auths: { 'r.io': { auth: b64(`:${PASSWORD}`) } } }),
      'entry "r.io" has an empty username',
    ],
    [
      'empty username and password fields',
      JSON_TYPE,
      jsonData({ auths: { 'r.io': { username: '', password: '' } } }),
      'entry "r.io" has an empty username',
    ],
    [
      'empty password field',
      JSON_TYPE,
      jsonData({ auths: { 'r.io': { username: 'robot', password: '' } } }),
      'entry "r.io" has an empty password',
    ],
    [
      'identity token beside a password-less auth',
      JSON_TYPE,
      jsonData({ auths: { 'r.io': { auth: b64('robot:'), identitytoken: PASSWORD } } }),
      'entry "r.io" has an empty password (identity and registry tokens are not supported: the kubelet cannot use ' +
        'them)',
    ],
    [
      'registry token only',
      JSON_TYPE,
      jsonData({ auths: { 'r.io': { username: 'robot', password: '', registrytoken: PASSWORD } } }),
      'entry "r.io" has an empty password (identity and registry tokens are not supported: the kubelet cannot use ' +
        'them)',
    ],
    [
      'username with a colon',
      JSON_TYPE,
      jsonData({ auths: { 'r.io': { username: 'robot:ci', password: PASSWORD } } }),
      'entry "r.io" has a username containing ":", which basic auth cannot carry (the auth field splits at the first ' +
        '":")',
    ],
    [
      'password with a trailing newline',
      JSON_TYPE,
      jsonData({ auths: { 'r.io': { username: 'robot', password: `${PASSWORD}\n` } } }),
      'entry "r.io" has a password containing a control character (a trailing newline from echo or a file?)',
    ],
    [
      'auth whose password has a NUL',
      CFG_TYPE,
      cfgData({ 'r.io': { auth: b64(`robot:${PASSWORD}\u0000`) } }),
      'entry "r.io" has a password containing a control character (a trailing newline from echo or a file?)',
    ],
  ])('throws for %s', (_name, type, data, message) => {
    const err = parseError(type, data);
    expect(err.name).toBe('InvalidDockerConfigError');
    expect(err.message).toBe(message);
    for (const secret of [PASSWORD, b64(PASSWORD), b64(`robot:${PASSWORD}`), 'S3cr3t'])
      expect(err.message).not.toContain(secret);
  });
});

// ---- what may go into an entry, and how much fits into a Secret (issue 6) -----------------------

describe('credentialProblem', () => {
  test.each<[string, 'username' | 'password', string, string | undefined]>([
    ['plain username', 'username', 'robot$ci+pull', undefined],
    ['plain password with colons (split at the first colon, so fine)', 'password', 'pa:ss:word', undefined],
    ['unicode username', 'username', 'jürgen-Ω-😀', undefined],
    ['unicode password', 'password', 'pässwörd-日本', undefined],
    ['spaces are printable', 'password', 'correct horse battery staple', undefined],
    ['empty username', 'username', '', 'an empty username'],
    ['empty password', 'password', '', 'an empty password'],
    [
      'colon in a username',
      'username',
      'robot:ci',
      'a username containing ":", which basic auth cannot carry (the auth field splits at the first ":")',
    ],
    [
      'trailing newline',
      'password',
      'secret\n',
      'a password containing a control character (a trailing newline from echo or a file?)',
    ],
    [
      'carriage return',
      'username',
      'robot\r',
      'a username containing a control character (a trailing newline from echo or a file?)',
    ],
    ['tab', 'password', 'a\tb', 'a password containing a control character (a trailing newline from echo or a file?)'],
    [
      'DEL',
      'password',
      'a\u007f',
      'a password containing a control character (a trailing newline from echo or a file?)',
    ],
  ])('%s', (_name, field, value, expected) => {
    expect(credentialProblem(field, value)).toBe(expected);
  });
});

describe('decodeUtf8', () => {
  test.each<[string, string, string | undefined]>([
    ['ASCII', b64('robot'), 'robot'],
    ['UTF-8', b64('jürgen-😀'), 'jürgen-😀'],
    ['empty', '', ''],
    ['a lone continuation byte', Buffer.from([0x80]).toString('base64'), undefined],
    ['a truncated sequence', Buffer.from([0xe6, 0x97]).toString('base64'), undefined],
    ['Latin-1 bytes', Buffer.from('jürgen', 'latin1').toString('base64'), undefined],
    ['a byte order mark is kept, not swallowed', Buffer.from([0xef, 0xbb, 0xbf, 0x61]).toString('base64'), '\ufeffa'],
  ])('%s', (_name, encoded, expected) => {
    expect(decodeUtf8(encoded)).toBe(expected);
  });
});

describe('documentSizeProblem', () => {
  test.each<[string, number, boolean]>([
    ['small', 100, false],
    ['exactly the limit', MAX_SECRET_DATA_BYTES, false],
    ['one byte over', MAX_SECRET_DATA_BYTES + 1, true],
  ])('%s', (_name, bytes, tooLarge) => {
    const problem = documentSizeProblem('x'.repeat(bytes));
    expect(problem === undefined).toBe(!tooLarge);
    if (tooLarge)
      expect(problem).toBe(
        `the merged .dockerconfigjson would be ${bytes} bytes, more than the 1048576 bytes a Secret can hold`,
      );
  });

  test('counts UTF-8 bytes, not characters', () => {
    expect(documentSizeProblem('é'.repeat(MAX_SECRET_DATA_BYTES / 2))).toBeUndefined();
    expect(documentSizeProblem('é'.repeat(MAX_SECRET_DATA_BYTES / 2 + 1))).toContain(
      `${MAX_SECRET_DATA_BYTES + 2} bytes`,
    );
  });
});

describe('server keys that are also Object.prototype names', () => {
  test.each(['__proto__', 'constructor', 'toString'])('%s is an ordinary registry key', (server) => {
    const data = { '.dockerconfigjson': b64(`{"auths":{${JSON.stringify(server)}:{"auth":"${b64('u:p')}"}}}`) };
    const auths = parseDockerConfigSecret(JSON_TYPE, data);
    expect(Object.keys(auths)).toEqual([server]);
    expect(JSON.parse(renderDockerConfig(auths))).toEqual(
      JSON.parse(`{"auths":{${JSON.stringify(server)}:${JSON.stringify(entry('u', 'p'))}}}`),
    );
  });
});
