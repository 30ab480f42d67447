// The credential provider protocol (src/kubelet/protocol.ts) and the ledger behind status.kubelet.
import { DeliveryLedger } from '../../src/kubelet/ledger.js';
import { goDuration, parseRequest, providerResponse } from '../../src/kubelet/protocol.js';

const request = (fields: Record<string, unknown>) =>
  JSON.stringify({ apiVersion: 'credentialprovider.kubelet.k8s.io/v1', kind: 'CredentialProviderRequest', ...fields });

describe('parseRequest', () => {
  test.each<[string, string, string | undefined]>([
    ['a request of the kubelet', request({ image: 'r.example.com/a:1', serviceAccountToken: 't' }), undefined],
    ['not JSON', '{', 'the body is not JSON'],
    [
      'another API version',
      JSON.stringify({
        apiVersion: 'credentialprovider.kubelet.k8s.io/v1alpha1',
        kind: 'CredentialProviderRequest',
        image: 'a',
      }),
      'apiVersion',
    ],
    ['no image', request({}), 'image'],
    ['an image name of 5,000 characters', request({ image: 'a'.repeat(5000) }), 'image'],
    ['a token that is not a string', request({ image: 'a', serviceAccountToken: 7 }), 'serviceAccountToken'],
  ])('%s', (_name, body, problem) => {
    const parsed = parseRequest(body);
    if (problem === undefined) expect(parsed.ok).toBe(true);
    else expect(!parsed.ok && parsed.message).toContain(problem);
  });

  test('a message never echoes the body', () => {
    const parsed = parseRequest(request({ image: 7, serviceAccountToken: 'secret-token-value' }));
    expect(!parsed.ok && parsed.message).not.toContain('secret-token-value');
  });
});

describe('providerResponse', () => {
  test.each<[number, string]>([
    [0, '0s'],
    [999, '0s'],
    [300_000, '300s'],
    [-5, '0s'],
  ])('%i ms is %s', (ms, text) => expect(goDuration(ms)).toBe(text));

  test('a response the kubelet decodes: registry cache key, the duration, the auth map', () => {
    expect(providerResponse({ 'r.example.com': { username: 'u', password: 'p' } }, 120_000)).toEqual({
      apiVersion: 'credentialprovider.kubelet.k8s.io/v1',
      kind: 'CredentialProviderResponse',
      cacheKeyType: 'Registry',
      cacheDuration: '120s',
      auth: { 'r.example.com': { username: 'u', password: 'p' } },
    });
  });
});

describe('DeliveryLedger', () => {
  test('counts served and refused requests per credential and key, and says so to the controller', () => {
    const changed: string[] = [];
    const ledger = new DeliveryLedger((name) => changed.push(name));
    const at = Date.parse('2026-12-06T12:00:00Z');
    ledger.served('a', ['r.example.com'], at);
    ledger.served('a', ['r.example.com', 'r.example.com/x'], at + 1000);
    ledger.refused('a', 'ServiceAccountNotSelected', 'ServiceAccount t/b is not selected', at + 2000);
    expect(ledger.snapshot('a')).toEqual({
      served: 2,
      refused: 1,
      lastServedTime: '2026-12-06T12:00:01Z',
      lastRefusal: {
        reason: 'ServiceAccountNotSelected',
        message: 'ServiceAccount t/b is not selected',
        time: '2026-12-06T12:00:02Z',
      },
      registries: [
        { server: 'r.example.com', served: 2, lastServedTime: '2026-12-06T12:00:01Z' },
        { server: 'r.example.com/x', served: 1, lastServedTime: '2026-12-06T12:00:01Z' },
      ],
    });
    expect(changed).toEqual(['a', 'a', 'a']);
    expect(ledger.snapshot('b')).toBeUndefined();
    ledger.forget('a');
    expect(ledger.snapshot('a')).toBeUndefined();
  });
});
