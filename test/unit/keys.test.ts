import { credentialKey, type Key, namespaceKey, parseKey } from '../../src/controller/keys.js';

describe('work-queue keys', () => {
  test.each<[string, string, Key]>([
    ['credential key', credentialKey('harbor'), { kind: 'credential', credential: 'harbor' }],
    [
      'credential with dots and dashes',
      credentialKey('harbor.example-1'),
      { kind: 'credential', credential: 'harbor.example-1' },
    ],
    [
      'namespace key',
      namespaceKey('harbor', 'team-a'),
      { kind: 'namespace', credential: 'harbor', namespace: 'team-a' },
    ],
    [
      'namespace key with dotted names',
      namespaceKey('a.b', 'c-d'),
      { kind: 'namespace', credential: 'a.b', namespace: 'c-d' },
    ],
  ])('%s round-trips', (_name, key, expected) => {
    expect(parseKey(key)).toEqual(expected);
  });

  test.each<[string, string]>([
    [credentialKey('harbor'), 'c/harbor'],
    [namespaceKey('harbor', 'team-a'), 'n/harbor/team-a'],
  ])('%s is the wire format %s', (key, expected) => {
    expect(key).toBe(expected);
  });

  // "n" and "c" are valid names: the kind comes from the prefix, never from the name.
  test.each(['n', 'c', 'x'])('names that look like prefixes (%s) keep their kind', (name) => {
    expect(parseKey(credentialKey(name))).toEqual({ kind: 'credential', credential: name });
    expect(parseKey(namespaceKey(name, name))).toEqual({ kind: 'namespace', credential: name, namespace: name });
  });
});
