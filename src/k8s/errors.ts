// API failures are classified once, here; the controller decides on the kind, never on raw codes.

export type KubeErrorKind =
  | 'NotFound'
  | 'Conflict'
  | 'AlreadyExists'
  | 'Forbidden'
  | 'Unauthorized'
  | 'Invalid'
  | 'Gone'
  | 'Transient'
  | 'BadRequest';

export class KubeApiError extends Error {
  override readonly name = 'KubeApiError';
  constructor(
    readonly kind: KubeErrorKind,
    readonly status: number,
    message: string,
    readonly reason = '',
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}

export function isKubeError(err: unknown, ...kinds: KubeErrorKind[]): err is KubeApiError {
  return err instanceof KubeApiError && (kinds.length === 0 || kinds.includes(err.kind));
}

interface StatusBody {
  kind?: string;
  reason?: string;
  message?: string;
  details?: { retryAfterSeconds?: number };
}

/**
 * Builds a typed error from an HTTP status and its body. For requests that carry secret material
 * (`redact`), the server's message is dropped: Invalid errors can quote submitted values.
 */
export function kubeErrorFromResponse(
  status: number,
  body: string,
  what: string,
  redact: boolean,
  retryAfterHeader?: string,
): KubeApiError {
  let parsed: StatusBody = {};
  try {
    parsed = JSON.parse(body) as StatusBody;
  } catch {
    // not a Status object (e.g. a proxy's HTML page): fall back to the HTTP status
  }
  const reason = parsed.reason ?? '';
  const retryAfter = parseRetryAfter(retryAfterHeader) ?? parsed.details?.retryAfterSeconds;
  const serverMessage = redact ? '' : (parsed.message ?? '').slice(0, 500);
  const message = `${what}: HTTP ${status}${reason ? ` ${reason}` : ''}${serverMessage ? `: ${serverMessage}` : ''}`;
  return new KubeApiError(
    kindOf(status, reason),
    status,
    message,
    reason,
    typeof retryAfter === 'number' && Number.isFinite(retryAfter) && retryAfter >= 0 ? retryAfter : undefined,
  );
}

/**
 * A Retry-After header in seconds: delay-seconds ("3") or an HTTP date (RFC 9110 10.2.3), counted
 * from `now`. Undefined when absent or unreadable.
 */
export function parseRetryAfter(header: string | undefined, now: number = Date.now()): number | undefined {
  const text = header?.trim();
  if (!text) return undefined;
  if (/^\d+$/.test(text)) return Number(text);
  const at = Date.parse(text);
  if (!Number.isFinite(at) || !/[a-z]/i.test(text)) return undefined;
  return Math.max(0, Math.ceil((at - now) / 1000));
}

/** How long the server asked us to wait before trying again (ms), if it did. */
export function retryAfterMs(err: unknown): number | undefined {
  return err instanceof KubeApiError && err.retryAfterSeconds !== undefined ? err.retryAfterSeconds * 1000 : undefined;
}

function kindOf(status: number, reason: string): KubeErrorKind {
  switch (status) {
    case 404:
      return 'NotFound';
    case 409:
      return reason === 'AlreadyExists' ? 'AlreadyExists' : 'Conflict';
    case 403:
      return 'Forbidden';
    case 401:
      return 'Unauthorized';
    case 410:
      return 'Gone';
    case 422:
      return 'Invalid';
    case 400:
      return 'BadRequest';
    default:
      return 'Transient'; // 429, 5xx, and anything unexpected is worth a retry with backoff
  }
}

/** A network-level failure (reset, refused, timeout): always transient. */
export function transportError(what: string, err: unknown): KubeApiError {
  const code = (err as { code?: string }).code ?? (err as Error).message ?? String(err);
  return new KubeApiError('Transient', 0, `${what}: ${code}`, 'TransportError');
}
