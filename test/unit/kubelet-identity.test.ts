// Who is asking (src/kubelet/identity.ts): the Pod a kubelet's ServiceAccount token proves.
import type { TokenReviewAnswer } from '../../src/k8s/resources.js';
import { identityOf, TokenVerifier } from '../../src/kubelet/identity.js';
import { FakeClock } from '../support/fake-clock.js';

const AUDIENCE = 'kubelet.regcred.io';

function jwt(claims: Record<string, unknown>): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'RS256' })}.${part(claims)}.c2lnbmF0dXJl`;
}

const podAnswer: TokenReviewAnswer = {
  authenticated: true,
  audiences: [AUDIENCE],
  user: {
    username: 'system:serviceaccount:team-a:web',
    extra: {
      'authentication.kubernetes.io/pod-name': ['web-1'],
      'authentication.kubernetes.io/pod-uid': ['uid-1'],
      'authentication.kubernetes.io/node-name': ['node-1'],
    },
  },
};

describe('identityOf', () => {
  test.each<[string, TokenReviewAnswer, string]>([
    ['not authenticated', { authenticated: false, error: 'pods "web-1" not found' }, 'InvalidToken'],
    ['another audience', { ...podAnswer, audiences: ['api'] }, 'WrongAudience'],
    ['a user, not a ServiceAccount', { ...podAnswer, user: { username: 'alice' } }, 'NotAServiceAccount'],
    [
      'a ServiceAccount token bound to no Pod',
      { ...podAnswer, user: { username: 'system:serviceaccount:team-a:web', extra: {} } },
      'NotBoundToPod',
    ],
  ])('%s is refused', (_name, answer, reason) => {
    const result = identityOf(answer, AUDIENCE);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toBe(reason);
  });

  test('a Pod-bound ServiceAccount token gives its namespace, ServiceAccount, Pod and node', () => {
    expect(identityOf(podAnswer, AUDIENCE)).toEqual({
      ok: true,
      identity: { namespace: 'team-a', serviceAccount: 'web', podName: 'web-1', podUid: 'uid-1', nodeName: 'node-1' },
    });
  });

  test("the API server's error is quoted, the token never", () => {
    const result = identityOf({ authenticated: false, error: 'token has been invalidated' }, AUDIENCE);
    expect(!result.ok && result.message).toBe('the API server rejected the token: token has been invalidated');
  });
});

describe('TokenVerifier', () => {
  function verifier(answer: TokenReviewAnswer | Error = podAnswer) {
    const clock = new FakeClock(Date.parse('2026-12-06T12:00:00Z'));
    const reviews: string[] = [];
    const tokens = new TokenVerifier({
      audience: AUDIENCE,
      clock,
      maxCacheMs: 600_000,
      review: async (token) => {
        reviews.push(token);
        if (answer instanceof Error) throw answer;
        return answer;
      },
    });
    const exp = (inMs: number) => Math.floor((clock.now() + inMs) / 1000);
    return { clock, reviews, tokens, exp };
  }

  test.each<[string, (exp: (ms: number) => number) => string | undefined, string]>([
    ['no token', () => undefined, 'NoToken'],
    ['not a JWT', () => 'opaque-token', 'MalformedToken'],
    [
      'a token for another audience',
      (exp) => jwt({ aud: ['https://kubernetes.default.svc'], exp: exp(3_600_000) }),
      'WrongAudience',
    ],
    ['an expired token', (exp) => jwt({ aud: [AUDIENCE], exp: exp(-1000) }), 'TokenExpired'],
  ])('%s is refused without a TokenReview', async (_name, token, reason) => {
    const { tokens, reviews, exp } = verifier();
    const result = await tokens.verify(token(exp));
    expect(!result.ok && result.reason).toBe(reason);
    expect(reviews).toHaveLength(0);
  });

  test('a verified token is reviewed once until it expires, then again', async () => {
    const { tokens, reviews, exp, clock } = verifier();
    const token = jwt({ aud: [AUDIENCE], exp: exp(120_000) });
    const results = await Promise.all([tokens.verify(token), tokens.verify(token), tokens.verify(token)]);
    expect(results.every((result) => result.ok)).toBe(true);
    expect(reviews).toHaveLength(1); // concurrent pulls share one review
    clock.advance(60_000);
    expect((await tokens.verify(token)).ok).toBe(true);
    expect(reviews).toHaveLength(1);
    clock.advance(60_000);
    expect(await tokens.verify(token)).toMatchObject({ ok: false, reason: 'TokenExpired' });
  });

  test('a verified token is asked about again after maxCacheMs, even if it lives longer', async () => {
    const { tokens, reviews, exp, clock } = verifier();
    const token = jwt({ aud: [AUDIENCE], exp: exp(3_600_000) });
    await tokens.verify(token);
    clock.advance(600_001);
    await tokens.verify(token);
    expect(reviews).toHaveLength(2);
  });

  test('a refused token is not remembered as verified', async () => {
    const { tokens, reviews, exp } = verifier({ authenticated: false, error: 'invalid' });
    const token = jwt({ aud: [AUDIENCE], exp: exp(3_600_000) });
    expect((await tokens.verify(token)).ok).toBe(false);
    expect((await tokens.verify(token)).ok).toBe(false);
    expect(reviews).toHaveLength(2);
    expect(tokens.size).toBe(0);
  });

  test('an API server that cannot answer: TokenReviewFailed', async () => {
    const { tokens, exp } = verifier(new Error('connect ECONNREFUSED'));
    const result = await tokens.verify(jwt({ aud: [AUDIENCE], exp: exp(3_600_000) }));
    expect(!result.ok && result.reason).toBe('TokenReviewFailed');
  });
});
