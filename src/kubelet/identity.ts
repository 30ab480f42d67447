// Who is asking: the Pod behind a kubelet's ServiceAccount token, verified by the API server
// (TokenReview with the provider's audience). The kubelet mints the token for the Pod it pulls
// for, bound to that Pod: the API server refuses it once the Pod is gone. A verified token is
// remembered until it expires (at most maxCacheMs), so repeated pulls of one Pod cost one review.
// The token itself is never logged, stored or returned: only its SHA-256 is kept, as a cache key.
import { createHash } from 'node:crypto';
import type { TokenReviewAnswer } from '../k8s/resources.js';
import type { Clock } from '../runtime/clock.js';

export interface PodIdentity {
  namespace: string;
  serviceAccount: string;
  podName: string;
  podUid: string;
  nodeName?: string;
}

/** Why a token is refused; each is a reason in metrics, logs and status. */
export type TokenRefusal =
  | 'NoToken'
  | 'MalformedToken'
  | 'WrongAudience'
  | 'TokenExpired'
  | 'InvalidToken'
  | 'NotAServiceAccount'
  | 'NotBoundToPod'
  | 'TokenReviewFailed';

export type IdentityResult = { ok: true; identity: PodIdentity } | { ok: false; reason: TokenRefusal; message: string };

export interface TokenVerifierOptions {
  audience: string;
  clock: Clock;
  /** POST a TokenReview for `token` with `audience`; throws when the API server cannot answer. */
  review(token: string, audience: string): Promise<TokenReviewAnswer>;
  /** The longest a verified token is trusted without asking again. */
  maxCacheMs: number;
  /** How many verified tokens are remembered (oldest forgotten first). */
  maxEntries?: number;
  /** Counts each TokenReview sent (for metrics and the benchmark). */
  onReview?(): void;
}

const SERVICE_ACCOUNT_PREFIX = 'system:serviceaccount:';
const POD_NAME = 'authentication.kubernetes.io/pod-name';
const POD_UID = 'authentication.kubernetes.io/pod-uid';
const NODE_NAME = 'authentication.kubernetes.io/node-name';

export class TokenVerifier {
  private readonly verified = new Map<string, { identity: PodIdentity; until: number }>();
  /** One review in flight per token: concurrent pulls of one Pod wait for the same answer. */
  private readonly inFlight = new Map<string, Promise<IdentityResult>>();

  constructor(private readonly options: TokenVerifierOptions) {}

  async verify(token: string | undefined): Promise<IdentityResult> {
    if (!token)
      return refuse(
        'NoToken',
        'the request carries no ServiceAccount token (is tokenAttributes set in the kubelet configuration?)',
      );
    const claims = unverifiedClaims(token);
    if (!claims) return refuse('MalformedToken', 'the ServiceAccount token is not a JWT');
    const now = this.options.clock.now();
    const audiences = typeof claims.aud === 'string' ? [claims.aud] : Array.isArray(claims.aud) ? claims.aud : [];
    if (!audiences.includes(this.options.audience))
      return refuse('WrongAudience', `the token is not for the audience ${this.options.audience}`);
    const expiresAt = typeof claims.exp === 'number' ? claims.exp * 1000 : undefined;
    if (expiresAt !== undefined && expiresAt <= now) return refuse('TokenExpired', 'the token has expired');

    const key = createHash('sha256').update(token).digest('base64url');
    const cached = this.verified.get(key);
    if (cached && cached.until > now) return { ok: true, identity: cached.identity };
    if (cached) this.verified.delete(key);
    let pending = this.inFlight.get(key);
    if (!pending) {
      pending = this.review(token, key, expiresAt).finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, pending);
    }
    return pending;
  }

  /** Forget every verified token (e.g. when the audience or policy changes). */
  clear(): void {
    this.verified.clear();
  }

  get size(): number {
    return this.verified.size;
  }

  private async review(token: string, key: string, expiresAt: number | undefined): Promise<IdentityResult> {
    const { audience, clock, maxCacheMs, maxEntries = 10_000 } = this.options;
    let answer: TokenReviewAnswer;
    try {
      this.options.onReview?.();
      answer = await this.options.review(token, audience);
    } catch (err) {
      return refuse('TokenReviewFailed', `the API server did not review the token: ${(err as Error).message}`);
    }
    const result = identityOf(answer, audience);
    if (!result.ok) return result;
    const now = clock.now();
    this.verified.delete(key);
    this.verified.set(key, { identity: result.identity, until: Math.min(expiresAt ?? Infinity, now + maxCacheMs) });
    while (this.verified.size > maxEntries) this.verified.delete(this.verified.keys().next().value!);
    return result;
  }
}

/** Pure: the Pod identity a TokenReview answer proves, or why it proves none. */
export function identityOf(answer: TokenReviewAnswer, audience: string): IdentityResult {
  if (!answer.authenticated) {
    // The API server's own words name the cause (expired, Pod not found, bad signature); never the token.
    const error = (answer.error ?? 'not authenticated').slice(0, 300);
    return refuse('InvalidToken', `the API server rejected the token: ${error}`);
  }
  if (answer.audiences && !answer.audiences.includes(audience))
    return refuse('WrongAudience', `the token is not for the audience ${audience}`);
  const username = answer.user?.username ?? '';
  if (!username.startsWith(SERVICE_ACCOUNT_PREFIX))
    return refuse('NotAServiceAccount', `the token belongs to ${username || 'no user'}, not to a ServiceAccount`);
  const [namespace, serviceAccount] = username.slice(SERVICE_ACCOUNT_PREFIX.length).split(':');
  const extra = answer.user?.extra ?? {};
  const podName = extra[POD_NAME]?.[0];
  const podUid = extra[POD_UID]?.[0];
  if (!namespace || !serviceAccount) return refuse('NotAServiceAccount', `malformed ServiceAccount user ${username}`);
  if (!podName || !podUid)
    return refuse(
      'NotBoundToPod',
      `the token of ${namespace}/${serviceAccount} is not bound to a Pod ` +
        '(the kubelet binds its tokens to the Pod it pulls for)',
    );
  const nodeName = extra[NODE_NAME]?.[0];
  return { ok: true, identity: { namespace, serviceAccount, podName, podUid, ...(nodeName ? { nodeName } : {}) } };
}

function refuse(reason: TokenRefusal, message: string): IdentityResult {
  return { ok: false, reason, message };
}

/** The payload of a JWT, unverified (only to refuse early and bound the cache), or undefined. */
function unverifiedClaims(token: string): { aud?: unknown; exp?: unknown } | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const payload: unknown = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8'));
    return payload && typeof payload === 'object' ? (payload as { aud?: unknown; exp?: unknown }) : undefined;
  } catch {
    return undefined;
  }
}
