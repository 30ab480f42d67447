import { kubeErrorFromResponse, parseRetryAfter, retryAfterMs, transportError } from '../../src/k8s/errors.js';

const NOW = Date.UTC(2026, 10, 25, 12, 0, 0);

describe('parseRetryAfter', () => {
  test.each<[string, string | undefined, number | undefined]>([
    ['absent', undefined, undefined],
    ['blank', '  ', undefined],
    ['delay-seconds', '3', 3],
    ['zero', '0', 0],
    ['delay-seconds with spaces', ' 7 ', 7],
    ['HTTP date 5 s ahead', new Date(NOW + 5000).toUTCString(), 5],
    ['HTTP date in the past', new Date(NOW - 60_000).toUTCString(), 0],
    ['negative', '-1', undefined],
    ['fraction', '1.5', undefined],
    ['garbage', 'soon', undefined],
  ])('%s', (_name, header, expected) => {
    expect(parseRetryAfter(header, NOW)).toBe(expected);
  });
});

describe('kubeErrorFromResponse', () => {
  const status = (code: number, reason: string, details?: object) =>
    JSON.stringify({ kind: 'Status', code, reason, message: 'm', details });
  test.each<[string, number, string, string | undefined, { kind: string; retryAfterSeconds: number | undefined }]>([
    [
      '429 with Retry-After header',
      429,
      status(429, 'TooManyRequests'),
      '4',
      { kind: 'Transient', retryAfterSeconds: 4 },
    ],
    [
      '429 with details only',
      429,
      status(429, 'TooManyRequests', { retryAfterSeconds: 2 }),
      undefined,
      { kind: 'Transient', retryAfterSeconds: 2 },
    ],
    [
      'header wins over details',
      429,
      status(429, 'TooManyRequests', { retryAfterSeconds: 2 }),
      '9',
      { kind: 'Transient', retryAfterSeconds: 9 },
    ],
    ['503 without a hint', 503, 'Service Unavailable', undefined, { kind: 'Transient', retryAfterSeconds: undefined }],
    ['500', 500, status(500, 'InternalError'), undefined, { kind: 'Transient', retryAfterSeconds: undefined }],
    ['410 Gone', 410, status(410, 'Expired'), undefined, { kind: 'Gone', retryAfterSeconds: undefined }],
    ['403', 403, status(403, 'Forbidden'), undefined, { kind: 'Forbidden', retryAfterSeconds: undefined }],
    [
      'unreadable header falls back to details',
      429,
      status(429, 'TooManyRequests', { retryAfterSeconds: 1 }),
      'later',
      { kind: 'Transient', retryAfterSeconds: 1 },
    ],
  ])('%s', (_name, code, body, header, expected) => {
    const err = kubeErrorFromResponse(code, body, 'GET /x', false, header);
    expect({ kind: err.kind, retryAfterSeconds: err.retryAfterSeconds }).toEqual(expected);
    expect(retryAfterMs(err)).toBe(
      expected.retryAfterSeconds === undefined ? undefined : expected.retryAfterSeconds * 1000,
    );
  });

  test('a redacted error never quotes the server message', () => {
    const err = kubeErrorFromResponse(
      422,
      JSON.stringify({ reason: 'Invalid', message: 'data: s3cr3t' }),
      'PUT /s',
      true,
    );
    expect(err.message).not.toContain('s3cr3t');
  });

  test('transport errors are transient without a hint', () => {
    const err = transportError('GET /x', Object.assign(new Error('reset'), { code: 'ECONNRESET' }));
    expect([err.kind, err.retryAfterSeconds, retryAfterMs(err)]).toEqual(['Transient', undefined, undefined]);
  });
});
