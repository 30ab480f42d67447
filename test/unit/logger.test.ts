// The logger's redaction (a secret never reaches a log line) and its cost when there is nothing to
// redact (the object of a line is used as it is).
import { Writable } from 'node:stream';
import { CENSOR, createLogger, redactSecrets } from '../../src/logger.js';

function capture(): { stream: Writable; lines: () => Array<Record<string, unknown>> } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString('utf8'));
      done();
    },
  });
  return {
    stream,
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

describe('redactSecrets', () => {
  test.each<[string, Record<string, unknown>, Record<string, unknown>]>([
    ['a top-level password', { password: 's3cret', user: 'robot' }, { password: CENSOR, user: 'robot' }],
    [
      'every listed top-level field',
      { token: 't', auth: 'a', data: {}, stringData: {} },
      { token: CENSOR, auth: CENSOR, data: CENSOR, stringData: CENSOR },
    ],
    [
      'a field one level down',
      { secret: { name: 'pull', data: { x: 'y' } } },
      { secret: { name: 'pull', data: CENSOR } },
    ],
    [
      'cloud keys one level down',
      { aws: { secretAccessKey: 'k', sessionToken: 's', region: 'eu' } },
      { aws: { secretAccessKey: CENSOR, sessionToken: CENSOR, region: 'eu' } },
    ],
    [
      'an authorization header, whatever its case',
      { headers: { Authorization: 'Bearer x', accept: 'json' } },
      { headers: { Authorization: CENSOR, accept: 'json' } },
    ],
    ['an ECR token', { result: { authorizationToken: 'QVdT' } }, { result: { authorizationToken: CENSOR } }],
    ['names compared without case', { PassWord: 'x' }, { PassWord: CENSOR }],
    [
      'nothing to redact',
      { namespace: 'team-a', count: 3, nested: { name: 'x' } },
      { namespace: 'team-a', count: 3, nested: { name: 'x' } },
    ],
    ['arrays and nulls are left alone', { list: ['password'], nothing: null }, { list: ['password'], nothing: null }],
  ])('%s', (_name, input, expected) => {
    const before = JSON.stringify(input);
    expect(redactSecrets(input)).toEqual(expected);
    // the caller's object is never changed
    expect(JSON.stringify(input)).toBe(before);
  });

  test('a line with nothing to redact is used as it is, not copied', () => {
    const obj = { namespace: 'team-a', secret: { name: 'pull' } };
    expect(redactSecrets(obj)).toBe(obj);
  });

  test('an Error carrying a secret keeps its type, message and stack', () => {
    const err = Object.assign(new TypeError('refused'), { password: 'p', code: 'E1' });
    const out = redactSecrets({ err }).err as Record<string, unknown>;
    expect(out).toMatchObject({ type: 'TypeError', message: 'refused', password: CENSOR, code: 'E1' });
    expect(out.stack).toContain('refused');
    expect(err.password).toBe('p');
  });
});

describe('createLogger', () => {
  test('writes JSON lines with the level as a label and no secret', () => {
    const out = capture();
    const logger = createLogger('info', out.stream);
    logger
      .child({ namespace: 'team-a' })
      .info({ secret: { data: { '.dockerconfigjson': 'eyJ' } }, password: 'p' }, 'updated');
    logger.debug({ password: 'p' }, 'below the level');
    const lines = out.lines();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 'info',
      component: 'regcred-operator',
      namespace: 'team-a',
      msg: 'updated',
      password: CENSOR,
      secret: { data: CENSOR },
    });
    expect(JSON.stringify(lines)).not.toContain('eyJ');
  });
});
