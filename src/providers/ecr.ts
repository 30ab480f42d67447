// The ecr source: an ECR authorization token per (region, credentials, role), from the AWS SDK
// (@aws-sdk/client-ecr), with the SDK's own credential providers: the default chain (IRSA web
// identity, EKS pod identity, env, instance profile), static keys from a Secret of the source
// namespace, and optionally STS AssumeRole on top (session name "regcred-operator").
// Tokens live in the shared TokenCache; this file turns a registry entry into a token request and
// the cache's answer into an EntryResult.
import { createHash } from 'node:crypto';
import { ECRClient, type ECRClientConfig, GetAuthorizationTokenCommand } from '@aws-sdk/client-ecr';
import { fromNodeProviderChain, fromTemporaryCredentials } from '@aws-sdk/credential-providers';
import type { V1Secret } from '@kubernetes/client-node';
import { iso, type RegistryEntry } from '../api/v1alpha1.js';
import { authEntry } from '../dockerconfig.js';
import { hasReliableExpiry } from './renewal.js';
import type { EntryResult, SourceSecrets } from './sources.js';
import { isExpired, type Token, type TokenCache, TokenRefreshError, type TokenRequest } from './token-cache.js';

export const ROLE_SESSION_NAME = 'regcred-operator';

/** `<account>.dkr.ecr[-fips].<region>.amazonaws.com[.cn]`, optionally with a port or a path. */
const ECR_HOST = /^(\d{12})\.dkr\.ecr(-fips)?\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?(:\d+)?(\/.*)?$/;

export function parseEcrServer(server: string): { account: string; region: string; fips: boolean } | undefined {
  const match = ECR_HOST.exec(server.replace(/^https?:\/\//, ''));
  return match ? { account: match[1]!, region: match[3]!, fips: !!match[2] } : undefined;
}

/** What the fetcher needs for one token. Holds credentials: never log it. */
export interface EcrContext {
  region: string;
  roleArn?: string;
  /** Static keys from a Secret; undefined = the SDK default chain. */
  keys?: AwsKeys;
}

export interface AwsKeys {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export type EcrTokenCache = TokenCache<EcrContext>;

/** The cache key: region, who (the default chain, or a hash of key id + Secret name), role. No secret in it. */
export function ecrTokenKey(region: string, identity: string, roleArn?: string): string {
  return `ecr|${region}|${identity}|${roleArn ?? ''}`;
}

function keysIdentity(secretName: string, accessKeyId: string): string {
  return `keys:${createHash('sha256').update(`${secretName}\0${accessKeyId}`).digest('hex').slice(0, 16)}`;
}

/** Decodes GetAuthorizationToken's base64 "AWS:<password>". */
export function decodeAuthorizationToken(token: string): { username: string; password: string } {
  const decoded = Buffer.from(token, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0)
    throw new TokenRefreshError(
      'InvalidAuthorizationToken',
      'the authorization token is not of the form user:password',
    );
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

export interface EcrResolveOptions {
  cache: EcrTokenCache;
  refreshIntervalMs: number;
  now: () => number;
}

/** Resolves one ecr registry entry through the shared token cache. */
export async function resolveEcrEntry(
  entry: RegistryEntry,
  secrets: SourceSecrets,
  options: EcrResolveOptions,
): Promise<EntryResult> {
  const server = entry.server!;
  const ecr = entry.ecr!;
  const region = ecr.region ?? parseEcrServer(server)?.region;
  if (!region) {
    return {
      ok: false,
      reason: 'InvalidEcrEntry',
      message:
        `registry ${server}: no ecr.region given and none can be read from the server (expected ` +
        `<account>.dkr.ecr.<region>.amazonaws.com)`,
    };
  }
  let identity = 'default-chain';
  let keys: AwsKeys | undefined;
  if (ecr.credentialsSecretName) {
    const name = ecr.credentialsSecretName;
    const secret = secrets.get(name);
    if (!secret)
      return { ok: false, reason: 'SourceSecretNotFound', message: `Secret ${secrets.namespace}/${name} not found` };
    const accessKeyId = decodeKey(secret, 'aws_access_key_id');
    const secretAccessKey = decodeKey(secret, 'aws_secret_access_key');
    const sessionToken = decodeKey(secret, 'aws_session_token');
    if (!accessKeyId || !secretAccessKey) {
      return {
        ok: false,
        reason: 'InvalidSourceSecret',
        message:
          `Secret ${secrets.namespace}/${name} needs non-empty keys "aws_access_key_id" and ` +
          `"aws_secret_access_key"`,
      };
    }
    keys = { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) };
    identity = keysIdentity(name, accessKeyId);
  }
  const request: TokenRequest<EcrContext> = {
    key: ecrTokenKey(region, identity, ecr.roleArn),
    context: { region, roleArn: ecr.roleArn, keys },
  };
  const { token, error, nextCheckAt } = await options.cache.get(request, options.refreshIntervalMs);
  const now = options.now();
  const reliable = token && hasReliableExpiry(token);
  const timing = { expiresAt: reliable ? token.expiresAt : undefined, refreshedAt: token?.issuedAt, nextCheckAt };
  const auths = token ? { [server]: authEntry(token.username, token.password) } : undefined;
  if (error) {
    let served: string;
    if (!token) served = 'no token has been obtained yet';
    else if (isExpired(token, now))
      served = `the last token expired at ${iso(token.expiresAt!)} and stays in the Secrets until a renewal succeeds`;
    else if (reliable) served = `the last token is served until it expires at ${iso(token.expiresAt!)}`;
    else served = 'the last token (of unknown expiry) keeps being served';
    return {
      ok: false,
      reason: 'TokenRefreshFailed',
      message:
        `registry ${server}: GetAuthorizationToken in ${region} failed: ${error.code}: ${error.message}; ` +
        `retrying with backoff; ${served}`,
      stale: auths,
      ...timing,
    };
  }
  const result: EntryResult = { ok: true, auths: auths!, ...timing };
  if (!reliable) {
    const reported =
      token!.expiresAt === undefined
        ? 'no expiry'
        : `expiry ${iso(token!.expiresAt)}, not after the time it was issued`;
    result.warning = {
      reason: 'TokenExpiryUnknown',
      message:
        `registry ${server}: ECR reported ${reported}; ` + 'the token is served and renewed on a short fixed interval',
    };
  }
  return result;
}

function decodeKey(secret: V1Secret, key: string): string | undefined {
  const encoded = secret.data?.[key];
  return encoded === undefined ? undefined : Buffer.from(encoded, 'base64').toString('utf8').trim();
}

// ---- the real AWS fetcher ------------------------------------------------------------------------

export interface AwsFetcherOptions {
  /**
   * Overrides the ECR and STS endpoints (tests, VPC endpoints); else the SDK's own resolution, which honours
   * AWS_ENDPOINT_URL_ECR / AWS_ENDPOINT_URL.
   */
  endpoint?: string;
  /** Per-request timeout. */
  requestTimeoutMs: number;
}

/**
 * Fetches ECR tokens with the AWS SDK. One ECR client (and credential provider, which caches its
 * own STS/IRSA credentials) per (region, identity, role); the SDK retries nothing itself
 * (maxAttempts 1): the token cache owns retries and their backoff.
 */
export function awsEcrFetcher(options: AwsFetcherOptions): (context: EcrContext) => Promise<Token> {
  const clients = new Map<string, { client: ECRClient; fingerprint: string }>();
  const requestHandler = { requestTimeout: options.requestTimeoutMs, connectionTimeout: options.requestTimeoutMs };
  const common = { maxAttempts: 1, requestHandler, ...(options.endpoint ? { endpoint: options.endpoint } : {}) };

  const clientFor = (context: EcrContext): ECRClient => {
    const id = `${context.region}|${context.keys?.accessKeyId ?? ''}|${context.roleArn ?? ''}`;
    // A changed secret key or session token under the same key id gets a fresh client.
    const fingerprint = createHash('sha256')
      .update(`${context.keys?.secretAccessKey ?? ''}\0${context.keys?.sessionToken ?? ''}`)
      .digest('hex');
    const cached = clients.get(id);
    if (cached && cached.fingerprint === fingerprint) return cached.client;
    cached?.client.destroy();
    let credentials: ECRClientConfig['credentials'] = context.keys ?? fromNodeProviderChain();
    if (context.roleArn) {
      credentials = fromTemporaryCredentials({
        params: { RoleArn: context.roleArn, RoleSessionName: ROLE_SESSION_NAME },
        masterCredentials: credentials,
        clientConfig: { region: context.region, ...common },
      });
    }
    const client = new ECRClient({ region: context.region, credentials, ...common });
    clients.set(id, { client, fingerprint });
    return client;
  };

  return async (context) => {
    let out;
    // A hard deadline over the whole call (credential resolution and STS included): a request that
    // never answers must not hold a reconcile worker.
    const abort = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        abort.abort();
        reject(new TokenRefreshError('TimeoutError', `no answer within ${options.requestTimeoutMs} ms`));
      }, options.requestTimeoutMs);
    });
    try {
      out = await Promise.race([
        clientFor(context).send(new GetAuthorizationTokenCommand({}), { abortSignal: abort.signal }),
        deadline,
      ]);
    } catch (err) {
      throw err instanceof TokenRefreshError ? err : toTokenRefreshError(err);
    } finally {
      clearTimeout(timer);
    }
    const data = out.authorizationData?.[0];
    if (!data?.authorizationToken)
      throw new TokenRefreshError('EmptyAuthorizationData', 'GetAuthorizationToken returned no authorization data');
    const { username, password } = decodeAuthorizationToken(data.authorizationToken);
    return { username, password, expiresAt: data.expiresAt ? data.expiresAt.getTime() : undefined };
  };
}

/** Access key ids look like AKIA/ASIA + 16 characters; keep them out of status, Events and logs. */
const ACCESS_KEY_ID = /\b(AKIA|ASIA|AIDA|AROA)[A-Z0-9]{12,}\b/g;

/** An SDK error as code + short message, without credentials. */
export function toTokenRefreshError(err: unknown): TokenRefreshError {
  const details = err as {
    name?: string;
    Code?: string;
    code?: string;
    message?: string;
    $metadata?: { httpStatusCode?: number };
  };
  let code =
    details?.Code ??
    (details?.name && details.name !== 'Error' ? details.name : (details?.code ?? details?.name ?? 'Error'));
  const status = details?.$metadata?.httpStatusCode;
  if ((code === 'Error' || code === 'Unknown' || code === 'UnknownError') && status) code = `HTTP${status}`;
  let message = String(details?.message ?? err).replace(ACCESS_KEY_ID, '<access key id>');
  if (status && !message.includes(String(status))) message = `${message} (HTTP ${status})`;
  return new TokenRefreshError(code, message.length > 300 ? `${message.slice(0, 299)}…` : message);
}
