import { ChangeLog } from '../../src/controller/changes.js';

/** A log with `where` added under `reason`, in order. */
function logWith(...adds: Array<[reason: string, where: string]>): ChangeLog {
  const log = new ChangeLog();
  for (const [reason, where] of adds) log.add(reason, where);
  return log;
}
const many = (reason: string, n: number, prefix = 'ns') =>
  Array.from({ length: n }, (_, i): [string, string] => [reason, `${prefix}-${i + 1}`]);

describe('ChangeLog', () => {
  test.each<[string, Array<[string, string]>, Array<{ reason: string; message: string }>]>([
    ['nothing logged', [], []],
    [
      'one Secret created',
      [['SecretCreated', 'team-a']],
      [{ reason: 'SecretCreated', message: 'created the pull secret in 1 namespace: team-a' }],
    ],
    [
      'two Secrets updated',
      [
        ['SecretUpdated', 'a'],
        ['SecretUpdated', 'b'],
      ],
      [{ reason: 'SecretUpdated', message: 'updated the pull secret in 2 namespaces: a, b' }],
    ],
    [
      'Secrets deleted',
      [['SecretDeleted', 'a']],
      [{ reason: 'SecretDeleted', message: 'deleted the pull secret from 1 namespace: a' }],
    ],
    [
      'five examples, no "more"',
      many('SecretCreated', 5),
      [{ reason: 'SecretCreated', message: 'created the pull secret in 5 namespaces: ns-1, ns-2, ns-3, ns-4, ns-5' }],
    ],
    [
      'six: five examples and 1 more',
      many('SecretCreated', 6),
      [
        {
          reason: 'SecretCreated',
          message: 'created the pull secret in 6 namespaces: ns-1, ns-2, ns-3, ns-4, ns-5, and 1 more',
        },
      ],
    ],
    [
      'forty: five examples and 35 more',
      many('SecretDeleted', 40),
      [
        {
          reason: 'SecretDeleted',
          message: 'deleted the pull secret from 40 namespaces: ns-1, ns-2, ns-3, ns-4, ns-5, and 35 more',
        },
      ],
    ],
    [
      'ServiceAccount entries added',
      [
        ['PullSecretAdded', 'a/default'],
        ['PullSecretAdded', 'b/default'],
      ],
      [{ reason: 'PullSecretAdded', message: 'added the pull secret to ServiceAccounts (2): a/default, b/default' }],
    ],
    [
      'ServiceAccount entries removed',
      many('PullSecretRemoved', 7, 'ns/sa'),
      [
        {
          reason: 'PullSecretRemoved',
          message:
            'removed the pull secret from ServiceAccounts (7): ns/sa-1, ns/sa-2, ns/sa-3, ns/sa-4, ns/sa-5, and 2 more',
        },
      ],
    ],
    [
      'an unknown reason is used as the text',
      [
        ['Custom', 'x'],
        ['Custom', 'y'],
      ],
      [{ reason: 'Custom', message: 'Custom 2 namespaces: x, y' }],
    ],
    [
      'one event per reason, in first-seen order',
      [
        ['SecretUpdated', 'b'],
        ['SecretCreated', 'a'],
        ['SecretUpdated', 'c'],
        ['PullSecretAdded', 'a/default'],
      ],
      [
        { reason: 'SecretUpdated', message: 'updated the pull secret in 2 namespaces: b, c' },
        { reason: 'SecretCreated', message: 'created the pull secret in 1 namespace: a' },
        { reason: 'PullSecretAdded', message: 'added the pull secret to ServiceAccounts (1): a/default' },
      ],
    ],
  ])('%s', (_name, adds, expected) => {
    expect(logWith(...adds).drain()).toEqual(expected);
  });

  test('drain empties the log; later adds start a fresh count', () => {
    const log = logWith(...many('SecretCreated', 3));
    expect(log.drain()).toHaveLength(1);
    expect(log.drain()).toEqual([]);
    log.add('SecretCreated', 'z');
    expect(log.drain()).toEqual([{ reason: 'SecretCreated', message: 'created the pull secret in 1 namespace: z' }]);
  });
});

test('the same place changed twice between two reports counts once', () => {
  expect(logWith(['SecretUpdated', 'a'], ['SecretUpdated', 'a'], ['SecretUpdated', 'b']).drain()).toEqual([
    { reason: 'SecretUpdated', message: 'updated the pull secret in 2 namespaces: a, b' },
  ]);
});

describe('ChangeLog.drainDue: paced per reason', () => {
  const MINUTE = 60_000;
  test('the first changes after a quiet interval at once; later ones summed up once the interval has passed', () => {
    const log = new ChangeLog();
    log.add('SecretCreated', 'a');
    expect(log.drainDue(0, MINUTE)).toEqual({
      reports: [{ reason: 'SecretCreated', message: 'created the pull secret in 1 namespace: a', count: 1 }],
      nextDueAt: undefined,
    });
    log.add('SecretCreated', 'b');
    expect(log.drainDue(10_000, MINUTE)).toEqual({ reports: [], nextDueAt: MINUTE });
    log.add('SecretCreated', 'c');
    log.add('PullSecretAdded', 'c/default'); // another reason: its own pace, at once
    expect(log.drainDue(20_000, MINUTE)).toEqual({
      reports: [
        { reason: 'PullSecretAdded', message: 'added the pull secret to ServiceAccounts (1): c/default', count: 1 },
      ],
      nextDueAt: MINUTE,
    });
    expect(log.drainDue(MINUTE, MINUTE)).toEqual({
      reports: [{ reason: 'SecretCreated', message: 'created the pull secret in 2 namespaces: b, c', count: 2 }],
      nextDueAt: undefined,
    });
    // quiet for an interval: at once again
    log.add('SecretCreated', 'd');
    expect(log.drainDue(2 * MINUTE + 1, MINUTE).reports).toHaveLength(1);
  });

  test('drainAll reports what is held, whatever the pace', () => {
    const log = new ChangeLog();
    log.add('SecretDeleted', 'a');
    log.drainDue(0, MINUTE);
    log.add('SecretDeleted', 'b');
    expect(log.drainAll()).toEqual([
      { reason: 'SecretDeleted', message: 'deleted the pull secret from 1 namespace: b', count: 1 },
    ]);
  });
});
