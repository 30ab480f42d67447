// `kubectl regcred status`, the pure part: rows from RegistryCredentials as read and a time, and
// their table (plain and -o wide). The real command on a real control plane:
// test/integration/kubectl-status.test.ts.
import type { CredentialFact } from '../../src/cli/diagnosis.js';
import { humanDuration, renderStatusTable, statusRows } from '../../src/cli/status.js';

const NOW = new Date('2026-01-01T00:00:00Z');

const ready = (status: 'True' | 'False', reason = status === 'True' ? 'Converged' : 'NamespacesFailing') => ({
  type: 'Ready',
  status,
  reason,
});

const healthy: CredentialFact = {
  name: 'harbor',
  spec: { registries: [{ server: 'harbor.example.com' }] },
  status: {
    conditions: [ready('True'), { type: 'CredentialsVerified', status: 'True', reason: 'Verified' }],
    namespaces: { selected: 3, ready: 3, failed: 0 },
    registries: [{ server: 'harbor.example.com', state: 'Verified', reason: 'Verified' }],
    recoveredPods: 2,
  },
};
const ecr: CredentialFact = {
  name: 'ecr',
  spec: { registries: [{ server: '1.dkr.ecr.eu-west-1.amazonaws.com' }, { server: 'quay.example.com' }] },
  status: {
    conditions: [ready('False'), { type: 'CredentialsVerified', status: 'False', reason: 'Unauthorized' }],
    namespaces: { selected: 4, ready: 2, failed: 2 },
    failures: [
      { namespace: 'team-a', reason: 'SecretConflict', message: 'a Secret of that name exists' },
      { namespace: 'team-b', reason: 'Forbidden', message: 'no' },
    ],
    registries: [
      { server: '1.dkr.ecr.eu-west-1.amazonaws.com', state: 'Verified' },
      { server: 'quay.example.com', state: 'Failed', reason: 'Unauthorized', message: '401' },
    ],
    credentialsExpireAt: '2026-01-01T05:30:00Z',
    lastRefreshTime: '2025-12-31T23:30:00Z',
  },
};
const kubelet: CredentialFact = {
  name: 'node-only',
  spec: { suspend: true, delivery: { secrets: false, kubelet: true } },
  status: {
    conditions: [ready('True')],
    namespaces: { selected: 1, ready: 1, failed: 0 },
    kubelet: {
      served: 10,
      refused: 1,
      lastRefusal: { reason: 'ServiceAccountNotSelected', message: 'm', time: '2025-12-31T23:00:00Z' },
    },
    credentialsExpireAt: '2025-12-31T23:58:00Z',
  },
};
const fresh: CredentialFact = { name: 'fresh', spec: {} };

describe('statusRows', () => {
  test.each<[string, CredentialFact, Record<string, unknown>]>([
    [
      'Ready, every registry verified, recovered Pods counted',
      healthy,
      {
        name: 'harbor',
        ready: 'True',
        namespaces: { selected: 3, ready: 3, failed: 0 },
        verified: { verified: 1, failed: 0, total: 1 },
        recoveredPods: 2,
        failures: [],
        delivery: { secrets: true, kubelet: false },
        suspended: false,
      },
    ],
    [
      'not Ready: the reason, the failing namespaces, a refused registry, a token expiring',
      ecr,
      {
        ready: 'False',
        reason: 'NamespacesFailing',
        failures: [
          { namespace: 'team-a', reason: 'SecretConflict' },
          { namespace: 'team-b', reason: 'Forbidden' },
        ],
        verified: { verified: 1, failed: 1, total: 2, reason: 'Unauthorized' },
        expiresAt: '2026-01-01T05:30:00Z',
        expiresInSeconds: 5.5 * 3600,
        lastRefreshTime: '2025-12-31T23:30:00Z',
      },
    ],
    [
      'kubelet delivery, suspended, its token expired',
      kubelet,
      {
        suspended: true,
        delivery: { secrets: false, kubelet: true },
        kubelet: { served: 10, refused: 1, lastRefusalReason: 'ServiceAccountNotSelected' },
        expiresInSeconds: -120,
      },
    ],
    [
      'no status yet',
      fresh,
      { name: 'fresh', ready: 'Unknown', verified: { verified: 0, failed: 0, total: 0 }, registries: [] },
    ],
  ])('%s', (_name, credential, expected) => {
    expect(statusRows([credential], NOW)[0]).toMatchObject(expected);
  });

  test('sorted by name; no message and no secret material in a row', () => {
    const rows = statusRows([healthy, ecr, kubelet, fresh], NOW);
    expect(rows.map((row) => row.name)).toEqual(['ecr', 'fresh', 'harbor', 'node-only']);
    expect(JSON.stringify(rows)).not.toMatch(/message|401|a Secret of that name/);
  });
});

test.each([
  [5400, 'in 1h30m'],
  [90, 'in 1m30s'],
  [3600, 'in 1h'],
  [45, 'in 45s'],
  [2 * 86400 + 3 * 3600 + 59, 'in 2d3h'],
  [-120, 'expired 2m ago'],
])('humanDuration(%p) = %p', (seconds, text) => {
  expect(humanDuration(seconds)).toBe(text);
});

describe('renderStatusTable', () => {
  const rows = statusRows([healthy, ecr, kubelet, fresh], NOW);

  test('the plain table', () => {
    expect(renderStatusTable(rows)).toBe(
      [
        'NAME       READY    NAMESPACES  EXPIRES         VERIFIED            RECOVERED  REASON',
        'ecr        False    2/4         in 5h30m        1/2 (Unauthorized)  -          NamespacesFailing',
        'fresh      Unknown  -           -               -                   -',
        'harbor     True     3/3         -               1/1                 2',
        'node-only  True     1/1         expired 2m ago  -                   -          Suspended',
        '',
      ].join('\n'),
    );
  });

  test('-o wide: failing namespaces, delivery, kubelet requests, each registry', () => {
    const lines = renderStatusTable(rows, { wide: true }).split('\n');
    expect(lines[0]).toMatch(
      /^NAME\s+READY\s+NAMESPACES\s+EXPIRES\s+VERIFIED\s+RECOVERED\s+REASON\s+FAILED\s+DELIVERY\s+KUBELET\s+REGISTRIES$/,
    );
    const cells = (name: string) => lines.find((line) => line.startsWith(`${name} `))!;
    expect(cells('ecr')).toContain('team-a:SecretConflict,team-b:Forbidden');
    expect(cells('ecr')).toContain('1.dkr.ecr.eu-west-1.amazonaws.com=Verified,quay.example.com=Failed(Unauthorized)');
    expect(cells('node-only')).toMatch(/kubelet\s+10 served, 1 refused/);
    expect(cells('harbor')).toMatch(/secrets\s+-\s+harbor\.example\.com=Verified\(Verified\)$/);
  });

  test('no RegistryCredentials', () => {
    expect(renderStatusTable([])).toBe('No RegistryCredentials.\n');
  });
});
