// The test harness's reader of the API server's audit log: what it counts is what tests assert on.
import { parseAuditLog } from '../harness/audit.js';

const event = (verb: string, uri: string): string =>
  JSON.stringify({
    kind: 'Event',
    apiVersion: 'audit.k8s.io/v1',
    stage: 'ResponseComplete',
    verb,
    requestURI: uri,
    user: { username: 'u' },
    stageTimestamp: '2026-12-07T00:00:00Z',
  });

const verbs = (text: string): string[] => parseAuditLog(text).map((e) => e.verb);

describe('parseAuditLog', () => {
  const a = event('get', '/api/v1/namespaces/a');
  const b = event('create', '/api/v1/namespaces/b/secrets?x="{"kind":"Event",');
  test.each([
    ['complete lines', `${a}\n${b}\n`, ['get', 'create']],
    ['empty text', '', []],
    ['blank lines', `\n${a}\n\n`, ['get']],
    ['a last line still being written is left out', `${a}\n${b.slice(0, 40)}`, ['get']],
    [
      'an event torn by an exit, then the next process appends',
      `${a}\n${b.slice(0, 37)}${a}\n${b}\n`,
      ['get', 'get', 'create'],
    ],
    ['a tear shorter than the event start', `{"ki${b}\n`, ['create']],
  ])('%s', (_name, text, expected) => {
    expect(verbs(text)).toEqual(expected);
  });

  test('a line that is no event is an error naming the line', () => {
    expect(() => parseAuditLog(`${a}\nnot json\n`)).toThrow(/audit log line "not json"/);
  });
});
