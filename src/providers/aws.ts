// What the two AWS token providers (ecr, ecrPublic) share: the identity of an entry (the SDK default
// chain, static keys from a Secret of the source namespace, STS AssumeRole on top), credentials built
// with the SDK's own providers (no hand-written SigV4 or STS), one SDK client per identity, the hard
// deadline and the error description without credentials, and the base64 "AWS:<password>" token.
// The SDK is loaded on the first token request: a process with no AWS entry never holds its modules
// in memory.
import type { ECRClientConfig } from '@aws-sdk/client-ecr';
import { type EntryFailure, type SourceSecrets, readSecretKeys } from './provider.js';
import type { Token } from './token-cache.js';
import {
  asTokenRefreshError,
  ClientCache,
  identityHash,
  loadOnce,
  tokenRefreshError,
  TokenRefreshError,
  withDeadline,
} from './token-provider.js';

export const ROLE_SESSION_NAME = 'regcred-operator';

export interface AwsKeys {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** What a fetcher needs for one token. Holds credentials: never log it. */
export interface AwsContext {
  region: string;
  roleArn?: string;
  /** Static keys from a Secret; undefined = the SDK default chain. */
  keys?: AwsKeys;
}

/** The identity fields an ecr and an ecrPublic entry share. */
export interface AwsIdentitySource {
  roleArn?: string;
  credentialsSecretName?: string;
}

/**
 * Who asks, as a string without secrets (for the token cache key), and the keys if a Secret holds them:
 * "default-chain", or "keys:<hash of the Secret name and access key id>".
 */
export function awsIdentity(
  source: AwsIdentitySource,
  secrets: SourceSecrets,
): { identity: string; keys?: AwsKeys } | EntryFailure {
  if (!source.credentialsSecretName) return { identity: 'default-chain' };
  const name = source.credentialsSecretName;
  const read = readSecretKeys(secrets, name, ['aws_access_key_id', 'aws_secret_access_key'], ['aws_session_token']);
  if (!read.ok) return read;
  const { aws_access_key_id: accessKeyId, aws_secret_access_key: secretAccessKey } = read.values;
  const sessionToken = read.values.aws_session_token;
  return {
    identity: `keys:${identityHash(name, accessKeyId)}`,
    keys: { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) },
  };
}

/** The token cache key of an AWS token: provider, region, who, role. No secret in it. */
export function awsTokenKey(provider: string, region: string, identity: string, roleArn?: string): string {
  return `${provider}|${region}|${identity}|${roleArn ?? ''}`;
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

export interface AwsFetcherOptions {
  /** Overrides the service and STS endpoints (tests, VPC endpoints); else the SDK's own resolution. */
  endpoint?: string;
  /** Deadline of one token request, STS included. */
  requestTimeoutMs: number;
}

/** The configuration every AWS client of the operator gets: no SDK retries (the token cache owns them). */
export interface AwsClientConfig {
  region: string;
  credentials: NonNullable<ECRClientConfig['credentials']>;
  maxAttempts: number;
  requestHandler: { requestTimeout: number; connectionTimeout: number };
  endpoint?: string;
}

/** GetAuthorizationToken's answer, as both ECR APIs give it. */
export interface AwsAuthorizationData {
  authorizationToken?: string;
  expiresAt?: Date;
}

/** One AWS service's client and its GetAuthorizationToken call. */
export interface AwsTokenService<Client> {
  createClient(config: AwsClientConfig): Client;
  getAuthorizationToken(client: Client, signal: AbortSignal): Promise<AwsAuthorizationData | undefined>;
}

/**
 * A token fetcher over an AWS SDK client: one client (and credential provider, which caches its own
 * STS/IRSA credentials) per (region, identity, role), a hard deadline over each call. `loadService`
 * imports the service's SDK module; it and the credential providers are loaded on the first request.
 */
export function awsTokenFetcher<Client extends { destroy(): void }>(
  options: AwsFetcherOptions,
  loadService: () => Promise<AwsTokenService<Client>>,
): (context: AwsContext) => Promise<Token> {
  const clients = new ClientCache<Client>((client) => client.destroy());
  const requestHandler = { requestTimeout: options.requestTimeoutMs, connectionTimeout: options.requestTimeoutMs };
  const common = { maxAttempts: 1, requestHandler, ...(options.endpoint ? { endpoint: options.endpoint } : {}) };
  const loaded = loadOnce(async () => ({
    service: await loadService(),
    credentialProviders: await import('@aws-sdk/credential-providers'),
  }));

  const clientFor = async (context: AwsContext): Promise<{ client: Client; service: AwsTokenService<Client> }> => {
    const { service, credentialProviders } = await loaded();
    const { fromNodeProviderChain, fromTemporaryCredentials } = credentialProviders;
    // A changed secret key or session token under the same key id gets a fresh client.
    const client = clients.get(
      `${context.region}|${context.keys?.accessKeyId ?? ''}|${context.roleArn ?? ''}`,
      `${context.keys?.secretAccessKey ?? ''}\0${context.keys?.sessionToken ?? ''}`,
      () => {
        let credentials: AwsClientConfig['credentials'] = context.keys ?? fromNodeProviderChain();
        if (context.roleArn) {
          credentials = fromTemporaryCredentials({
            params: { RoleArn: context.roleArn, RoleSessionName: ROLE_SESSION_NAME },
            masterCredentials: credentials,
            clientConfig: { region: context.region, ...common },
          });
        }
        return service.createClient({ region: context.region, credentials, ...common });
      },
    );
    return { client, service };
  };

  return async (context) => {
    let data: AwsAuthorizationData | undefined;
    try {
      // Loading the SDK (once) is not part of the request's deadline.
      const { client, service } = await clientFor(context);
      data = await withDeadline(options.requestTimeoutMs, (signal) => service.getAuthorizationToken(client, signal));
    } catch (err) {
      throw asTokenRefreshError(err, toTokenRefreshError);
    }
    if (!data?.authorizationToken)
      throw new TokenRefreshError('EmptyAuthorizationData', 'GetAuthorizationToken returned no authorization data');
    const { username, password } = decodeAuthorizationToken(data.authorizationToken);
    return { username, password, expiresAt: data.expiresAt ? data.expiresAt.getTime() : undefined };
  };
}

/** An AWS SDK error as code + short message, without credentials. */
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
  let message = String(details?.message ?? err);
  if (status && !message.includes(String(status))) message = `${message} (HTTP ${status})`;
  return tokenRefreshError(code, message);
}
