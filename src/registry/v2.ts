// The Docker Registry HTTP API v2 authentication handshake, done the way a container runtime does
// it before a pull, to tell whether a credential works (verification) and why an image would not
// pull (`kubectl regcred doctor`):
//   GET https://HOST/v2/                        -> 200: no auth needed; 401: a challenge
//   Basic:  GET /v2/ again with the credential
//   Bearer: GET REALM?service=S[&scope=repository:R:pull] with the credential -> a token,
//           then GET /v2/ (or the repository) with the token
//   with a repository: GET /v2/REPO/tags/list (pull access to it) or HEAD /v2/REPO/manifests/REF
//
// Safety: only HTTPS; a credential is sent to the registry's own host and to a token realm on that
// same host name (any port), never elsewhere (a realm on another host gets no credential and the
// result is Unknown); redirects are not followed; every request has a deadline. Nothing secret goes into a
// result: the messages carry status codes, the registry's error codes and host names.
import * as https from 'node:https';
import * as tls from 'node:tls';
import { findChallenge, parseChallenges } from './challenge.js';
import { keyringIndexKey } from './keyring.js';
import { DOCKER_HUB_DOMAIN, registryHostFor } from './reference.js';

export type CheckState = 'Verified' | 'Failed' | 'Unknown' | 'Skipped';

/** Why a check ended as it did (status.registries[].reason; the CredentialsVerified condition's reason). */
export type CheckReason =
  | 'Verified'
  | 'Unauthorized'
  | 'Forbidden'
  | 'RepositoryNotFound'
  | 'ManifestNotFound'
  | 'TLSError'
  | 'Unreachable'
  | 'NotARegistry'
  | 'TooManyRequests'
  | 'RegistryError'
  | 'InsecureTokenRealm'
  | 'TokenRealmOnOtherHost'
  | 'NotCheckable';

export interface CheckResult {
  state: CheckState;
  reason: CheckReason;
  /** Human words: what was asked, what the registry answered. Never a secret. */
  message: string;
  /** HTTP requests this check made (for the request budget). */
  requests: number;
}

export interface CheckRequest {
  /** The `auths` key: host[:port][/path], or a URL ("https://index.docker.io/v1/"). */
  server: string;
  username: string;
  password: string;
  /** Also check pull access to this repository (path within the registry, e.g. "team/app"). */
  repository?: string;
  /** With `repository`: HEAD this manifest (tag or digest) instead of listing tags. */
  reference?: string;
  /** PEM: trust this CA for the registry, besides the system's roots. */
  ca?: string;
  /** Per request. Default 10 s. */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 10_000;
const USER_AGENT = 'regcred-operator (registry check)';
const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

/** The https://host[:port] a runtime contacts for an `auths` key, or undefined when the key names no single host (a glob). */
export function registryEndpoint(server: string): string | undefined {
  const indexKey = keyringIndexKey(server);
  if (!indexKey) return undefined;
  const host = indexKey.split('/')[0];
  if (/[*?[\]]/.test(host) || host === '') return undefined;
  // index.docker.io (the legacy key) and docker.io are Docker Hub; its registry is registry-1.docker.io
  const domain = host === 'index.docker.io' ? DOCKER_HUB_DOMAIN : host;
  return `https://${registryHostFor(domain)}`;
}

/** Run the handshake; never throws (every failure is a CheckResult). */
export async function checkCredential(request: CheckRequest): Promise<CheckResult> {
  const endpoint = registryEndpoint(request.server);
  if (!endpoint) {
    return result(
      'Skipped',
      'NotCheckable',
      `"${request.server}" names no single registry host (a glob): nothing to contact`,
      0,
    );
  }
  const client = new RegistryClient(endpoint, request);
  try {
    return await client.check();
  } catch (error) {
    return { ...describeTransportError(error, new URL(endpoint).host), requests: client.requests };
  }
}

// ---------------------------------------------------------------------------------------------

interface Response {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

type Authorization = { kind: 'none' } | { kind: 'basic' } | { kind: 'bearer'; token: string };

class RegistryClient {
  requests = 0;
  /** host:port of the registry, and its host name alone. */
  private readonly host: string;
  private readonly hostname: string;

  constructor(
    private readonly endpoint: string,
    private readonly request: CheckRequest,
  ) {
    this.host = new URL(endpoint).host;
    this.hostname = new URL(endpoint).hostname;
  }

  async check(): Promise<CheckResult> {
    const ping = await this.send('GET', '/v2/', { kind: 'none' });
    if (ping.status === 200) {
      if (!isRegistryResponse(ping)) {
        return this.result(
          'Failed',
          'NotARegistry',
          `${this.endpoint}/v2/ answered 200 but is not a registry (no Docker-Distribution-API-Version header, ` +
            `${contentType(ping)})`,
        );
      }
      // No credential needed at /v2/; a repository may still want one (sent to this host only).
      return this.withRepository({ kind: 'basic' }, 'the registry needs no credentials');
    }
    if (ping.status !== 401) return this.unexpected(ping, '/v2/');

    const challenges = parseChallenges(headerValues(ping.headers['www-authenticate']).join(', '));
    const bearer = findChallenge(challenges, 'bearer');
    const basic = findChallenge(challenges, 'basic');
    if (bearer) return this.bearer(bearer.parameters);
    if (basic) {
      const answer = await this.send('GET', '/v2/', { kind: 'basic' });
      if (answer.status === 200) return this.withRepository({ kind: 'basic' }, 'basic authentication accepted');
      return this.refused(answer, { kind: 'credential', label: '/v2/ with the credential' });
    }
    const header = headerValues(ping.headers['www-authenticate']).join(', ');
    return this.result(
      'Failed',
      'NotARegistry',
      isRegistryResponse(ping)
        ? `${this.endpoint}/v2/ asks for an authentication scheme a container runtime does not use (${header})`
        : `${this.endpoint}/v2/ answered 401 without a registry challenge (WWW-Authenticate: ${header || 'none'})`,
    );
  }

  /** The Bearer flow: a token from the realm (credential only to the same host), then the registry with it. */
  private async bearer(parameters: Record<string, string>): Promise<CheckResult> {
    const realm = parameters.realm;
    let realmUrl: URL;
    try {
      realmUrl = new URL(realm ?? '');
    } catch {
      return this.result(
        'Failed',
        'NotARegistry',
        `the registry's Bearer challenge names no usable token realm (${JSON.stringify(realm ?? '')})`,
      );
    }
    if (realmUrl.protocol !== 'https:') {
      return this.result(
        'Failed',
        'InsecureTokenRealm',
        `the token service ${realmUrl.origin} is not HTTPS: the credential is never sent over plain HTTP`,
      );
    }
    // Same host = same host name (a token service on another port of the registry's own host is
    // fine); anything else gets no credential, and then there is nothing to check.
    if (realmUrl.hostname !== this.hostname) {
      return this.result(
        'Unknown',
        'TokenRealmOnOtherHost',
        `${this.host} sends clients to ${realmUrl.host} for tokens; the credential is only ever sent to ` +
          `${this.hostname} itself, so it was not checked`,
      );
    }
    if (parameters.service) realmUrl.searchParams.set('service', parameters.service);
    if (this.request.repository) realmUrl.searchParams.set('scope', `repository:${this.request.repository}:pull`);
    const service = `the token service ${realmUrl.origin}${realmUrl.pathname}`;
    const tokenAnswer = await this.send('GET', `${realmUrl.pathname}${realmUrl.search}`, { kind: 'basic' }, realmUrl);
    if (tokenAnswer.status !== 200) return this.refused(tokenAnswer, { kind: 'credential', label: service });
    const token = tokenOf(tokenAnswer.body);
    if (!token) return this.result('Failed', 'NotARegistry', `${service} answered 200 without a token`);
    const authorization: Authorization = { kind: 'bearer', token };
    if (this.request.repository) return this.withRepository(authorization, `token issued by ${realmUrl.host}`);
    const answer = await this.send('GET', '/v2/', authorization);
    if (answer.status === 200)
      return this.result('Verified', 'Verified', `token issued by ${realmUrl.host} and accepted by ${this.host}`);
    return this.refused(answer, { kind: 'credential', label: '/v2/ with the token' });
  }

  /**
   * Without a repository to check: Verified. With one: pull access to it (GET .../tags/list), or,
   * with a reference, to that manifest (HEAD; on 404 the tag list tells a missing tag from a
   * missing repository).
   */
  private async withRepository(authorization: Authorization, what: string): Promise<CheckResult> {
    const repository = this.request.repository;
    if (!repository) return this.result('Verified', 'Verified', `${what} by ${this.host}`);
    const reference = this.request.reference;
    const tags = (): Promise<Response> => this.send('GET', `/v2/${repository}/tags/list?n=1`, authorization);
    if (!reference) {
      const answer = await tags();
      if (answer.status === 200) return this.result('Verified', 'Verified', `${what}; pull access to ${repository}`);
      return this.refused(answer, { kind: 'repository', label: `repository ${repository}` });
    }
    const separator = reference.includes(':') ? '@' : ':';
    const manifest = await this.send('HEAD', `/v2/${repository}/manifests/${reference}`, authorization, undefined, {
      accept: MANIFEST_ACCEPT,
    });
    if (manifest.status === 200)
      return this.result('Verified', 'Verified', `${what}; ${repository}${separator}${reference} can be pulled`);
    if (manifest.status !== 404)
      return this.refused(manifest, { kind: 'repository', label: `manifest ${repository}${separator}${reference}` });
    const list = await tags();
    if (list.status === 200) {
      return this.result(
        'Failed',
        'ManifestNotFound',
        `${this.host}: manifest unknown: ${repository} has no ${separator === '@' ? 'manifest' : 'tag'} ` +
          `${reference} (404)`,
      );
    }
    return this.refused(list, { kind: 'repository', label: `repository ${repository}` });
  }

  /**
   * A non-2xx answer. To the credential itself (/v2/ or the token service) 401 is Unauthorized; to
   * a repository, after the credential was accepted, 401 or 403 means this account may not pull it.
   */
  private refused(answer: Response, target: { kind: 'credential' | 'repository'; label: string }): CheckResult {
    const errors = registryErrors(answer.body);
    const detail = errors.length ? `: ${errors.join('; ')}` : '';
    if (answer.status === 401 && target.kind === 'credential') {
      return this.result(
        'Failed',
        'Unauthorized',
        `${this.host} refused the credential (401 from ${target.label}${detail})`,
      );
    }
    if (answer.status === 401 || answer.status === 403) {
      return this.result(
        'Failed',
        'Forbidden',
        `${this.host}: ${target.label}: access denied for this credential (${answer.status}${detail})`,
      );
    }
    if (answer.status === 404 && target.kind === 'repository') {
      return this.result('Failed', 'RepositoryNotFound', `${this.host}: ${target.label} does not exist (404${detail})`);
    }
    return this.unexpected(answer, target.label);
  }

  private unexpected(answer: Response, what: string): CheckResult {
    if (answer.status === 429)
      return this.result('Failed', 'TooManyRequests', `${this.host} is rate-limiting (429 for ${what})`);
    if (answer.status >= 500)
      return this.result('Failed', 'RegistryError', `${this.host} answered ${answer.status} for ${what}`);
    if (answer.status >= 300 && answer.status < 400) {
      const location = headerValues(answer.headers.location)[0] ?? '';
      return this.result(
        'Failed',
        'NotARegistry',
        `${this.host} redirects ${what} to ${location || 'elsewhere'}; redirects are not followed with a credential`,
      );
    }
    if (answer.status === 404)
      return this.result(
        'Failed',
        'NotARegistry',
        `${this.endpoint}/v2/ answered 404: no Docker Registry v2 API there`,
      );
    return this.result('Failed', 'NotARegistry', `${this.host} answered ${answer.status} for ${what}`);
  }

  private result(state: CheckState, reason: CheckReason, message: string): CheckResult {
    return { state, reason, message, requests: this.requests };
  }

  private send(
    method: 'GET' | 'HEAD',
    path: string,
    authorization: Authorization,
    url: URL = new URL(path, this.endpoint),
    extraHeaders: Record<string, string> = {},
  ): Promise<Response> {
    this.requests++;
    const headers: Record<string, string> = { 'user-agent': USER_AGENT, ...extraHeaders };
    // The credential goes to the registry's own host only (the realm was checked to be that host).
    if (authorization.kind === 'basic' && url.protocol === 'https:' && url.hostname === this.hostname) {
      const credential = Buffer.from(`${this.request.username}:${this.request.password}`, 'utf8');
      headers.authorization = `Basic ${credential.toString('base64')}`;
    } else if (authorization.kind === 'bearer') headers.authorization = `Bearer ${authorization.token}`;
    const timeoutMs = this.request.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const ca = this.request.ca ? [...tls.rootCertificates, this.request.ca] : undefined;
    return new Promise((resolve, reject) => {
      const req = https.request(
        url,
        { method, headers, agent: false, timeout: timeoutMs, ...(ca ? { ca } : {}) },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            if (body.length < 64 * 1024) body += chunk;
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new TimeoutError(`no answer within ${timeoutMs} ms`)));
      req.on('error', reject);
      req.end();
    });
  }
}

class TimeoutError extends Error {
  override name = 'TimeoutError';
  readonly code = 'ETIMEDOUT';
}

function tokenOf(body: string): string | undefined {
  try {
    const parsed = JSON.parse(body) as { token?: unknown; access_token?: unknown };
    if (typeof parsed.token === 'string' && parsed.token) return parsed.token;
    if (typeof parsed.access_token === 'string' && parsed.access_token) return parsed.access_token;
  } catch {
    // not JSON
  }
  return undefined;
}

function result(state: CheckState, reason: CheckReason, message: string, requests: number): CheckResult {
  return { state, reason, message, requests };
}

/** TLS problems in words (unknown authority, name mismatch, expired); everything else is Unreachable. */
export function describeTransportError(error: unknown, host: string): Omit<CheckResult, 'requests'> {
  const code = (error as { code?: string }).code ?? '';
  const message = error instanceof Error ? error.message : String(error);
  const tlsWords: Record<string, string> = {
    UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'certificate signed by unknown authority',
    UNABLE_TO_GET_ISSUER_CERT: 'certificate signed by unknown authority',
    UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'certificate signed by unknown authority',
    SELF_SIGNED_CERT_IN_CHAIN: 'certificate signed by unknown authority (a self-signed CA in the chain)',
    DEPTH_ZERO_SELF_SIGNED_CERT: 'certificate signed by unknown authority (self-signed)',
    CERT_HAS_EXPIRED: 'certificate has expired',
    CERT_NOT_YET_VALID: 'certificate is not yet valid',
    ERR_TLS_CERT_ALTNAME_INVALID: `certificate is not valid for ${host}`,
    CERT_REVOKED: 'certificate has been revoked',
    CERT_SIGNATURE_FAILURE: 'certificate signature is invalid',
  };
  if (tlsWords[code]) {
    const detail =
      code === 'ERR_TLS_CERT_ALTNAME_INVALID'
        ? ` (${message.replace(/^Hostname\/IP does not match certificate's altnames: /, '')})`
        : '';
    return { state: 'Failed', reason: 'TLSError', message: `x509: ${tlsWords[code]}${detail} for https://${host}` };
  }
  if (code === 'EPROTO' || /wrong version number|ssl3_get_record|packet length too long/i.test(message)) {
    return {
      state: 'Failed',
      reason: 'TLSError',
      message: `TLS handshake with ${host} failed: the server does not speak TLS there (plain HTTP?)`,
    };
  }
  if (/^ERR_SSL_|^ERR_TLS_/.test(code))
    return { state: 'Failed', reason: 'TLSError', message: `TLS handshake with ${host} failed (${code})` };
  const unreachable: Record<string, string> = {
    ENOTFOUND: 'the name does not resolve',
    EAI_AGAIN: 'the name does not resolve (temporary DNS failure)',
    ECONNREFUSED: 'connection refused',
    ECONNRESET: 'connection reset',
    EHOSTUNREACH: 'host unreachable',
    ENETUNREACH: 'network unreachable',
    ETIMEDOUT: 'timed out',
  };
  const words = unreachable[code] ?? (message || 'no answer');
  return {
    state: 'Failed',
    reason: 'Unreachable',
    message: `${host}: ${words}${code && !unreachable[code] ? ` (${code})` : ''}`,
  };
}

/** A registry's JSON errors as "CODE: message" (distribution's error envelope). */
function registryErrors(body: string): string[] {
  try {
    const parsed = JSON.parse(body) as { errors?: Array<{ code?: unknown; message?: unknown }>; details?: unknown };
    return (parsed.errors ?? [])
      .filter((error) => typeof error.code === 'string')
      .map(
        (error) =>
          `${String(error.code)}${typeof error.message === 'string' && error.message ? `: ${error.message}` : ''}`,
      )
      .slice(0, 3);
  } catch {
    return [];
  }
}

function isRegistryResponse(response: Response): boolean {
  return headerValues(response.headers['docker-distribution-api-version']).some((value) =>
    value.startsWith('registry/2'),
  );
}

function contentType(response: Response): string {
  return `content type ${headerValues(response.headers['content-type'])[0] ?? 'none'}`;
}

function headerValues(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}
