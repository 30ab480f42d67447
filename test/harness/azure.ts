// Stand-ins for Azure (see stand-ins.ts): Microsoft Entra ID's token endpoint (client secrets and
// the client assertions of workload identity, with the OpenID configuration and instance discovery
// MSAL reads first), the managed identity endpoint (IMDS), and the ACR token exchange
// (POST /oauth2/exchange) of registries under *.azurecr.io. The exchange accepts only access tokens
// the Entra stand-in issued for ACR's audience, and answers with a refresh token (a JWT whose exp the
// operator reads). Requests are counted per identity (the client id, "mi:<client id or system>") and
// per (registry, identity); faults can be set per identity and per registry.
import { randomBytes } from 'node:crypto';
import {
  answerFault,
  type EgressProxy,
  jwtOf,
  type PlainStandIn,
  type StandInAnswer,
  type StandInFault,
  type StandInRequest,
  startPlainStandIn,
} from './stand-ins.js';

export const ENTRA_HOST = 'login.microsoftonline.com';
/** The host names the egress proxy's certificate must cover for Azure. */
export const AZURE_HOSTS = [ENTRA_HOST, '*.azurecr.io'];
export const TENANT_ID = '72f988bf-0000-4000-8000-00000000cafe';
export const ACR_AUDIENCE = 'https://containerregistry.azure.net';

export const AZURE_FAULTS = {
  invalidClientSecret: {
    status: 401,
    json: {
      error: 'invalid_client',
      error_description:
        'AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the ' +
        'client secret value, not the client secret ID',
      error_codes: [7000215],
    },
  },
  exchangeUnauthorized: {
    status: 401,
    json: {
      errors: [{ code: 'UNAUTHORIZED', message: 'authentication required, visit https://aka.ms/acr/authorization' }],
    },
  },
  unavailable: {
    status: 503,
    json: { error: 'temporarily_unavailable', error_description: 'AADSTS90033: A transient error has occurred.' },
  },
  hang: 'hang',
} satisfies Record<string, StandInFault>;

/** A JWT of at most 72 bytes: {"alg":"none"}, the claims, a short random signature. */
function compactJwt(claims: Record<string, unknown>): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const token = `${part({ alg: 'none' })}.${part(claims)}.${randomBytes(6).toString('base64url')}`;
  if (token.length > 72) throw new Error(`stand-in token of ${token.length} bytes`);
  return token;
}

export interface IssuedRefreshToken {
  token: string;
  registry: string;
  identity: string;
  expiresAt: number;
}

export interface AzureStandIn {
  /** For AZURE_POD_IDENTITY_AUTHORITY_HOST (managed identity). */
  imdsUrl: string;
  /** An app registration: `secret` authenticates `clientId` in TENANT_ID. */
  addClientSecret(clientId: string, secret: string): void;
  /** A workload identity: `assertion` (the projected ServiceAccount token) authenticates `clientId`. */
  addFederatedCredential(clientId: string, assertion: string): void;
  /** Entra ID token requests (or IMDS requests) per identity. */
  entraRequests(identity: string): number;
  /** Exchanges per registry and identity. */
  exchanges(registry: string, identity: string): number;
  refreshTokens(registry: string): IssuedRefreshToken[];
  /** A fault for an identity's Entra ID requests. */
  setEntraFault(identity: string, fault: StandInFault | undefined): void;
  /** A fault for a registry's exchanges. */
  setExchangeFault(registry: string, fault: StandInFault | undefined): void;
  /** Lifetime in seconds of the refresh tokens a registry issues (default 3 h). */
  setRefreshLifetime(registry: string, seconds: number): void;
  stop(): Promise<void>;
}

export async function startAzureStandIn(proxy: EgressProxy): Promise<AzureStandIn> {
  const secrets = new Map<string, string>();
  const assertions = new Map<string, string>();
  const accessTokens = new Map<string, { identity: string; audience: string }>();
  const entraCounts = new Map<string, number>();
  const exchangeCounts = new Map<string, number>();
  const refreshTokens = new Map<string, IssuedRefreshToken[]>();
  const entraFaults = new Map<string, StandInFault>();
  const exchangeFaults = new Map<string, StandInFault>();
  const refreshLifetimes = new Map<string, number>();
  const count = (map: Map<string, number>, key: string) => map.set(key, (map.get(key) ?? 0) + 1);
  let serial = 0;

  const accessToken = (identity: string, audience: string, clientId: string) => {
    const now = Math.floor(Date.now() / 1000);
    const token = jwtOf(
      {
        aud: audience,
        iss: `https://sts.windows.net/${TENANT_ID}/`,
        tid: TENANT_ID,
        appid: clientId,
        iat: now,
        exp: now + 3599,
      },
      randomBytes(16).toString('hex'),
    );
    accessTokens.set(token, { identity, audience });
    return token;
  };
  const aadError = (status: number, error: string, description: string): StandInAnswer => ({
    status,
    json: { error, error_description: description, error_codes: [Number(/AADSTS(\d+)/.exec(description)?.[1] ?? 0)] },
  });
  const base = `https://${ENTRA_HOST}`;

  proxy.route(ENTRA_HOST, (req: StandInRequest) => {
    const tenantPath = /^\/([^/]+)\/(v2\.0\/\.well-known\/openid-configuration|oauth2\/v2\.0\/token)$/.exec(req.path);
    if (req.method === 'GET' && req.path === '/common/discovery/instance') {
      return {
        status: 200,
        json: {
          tenant_discovery_endpoint: `${base}/${TENANT_ID}/v2.0/.well-known/openid-configuration`,
          'api-version': '1.1',
          metadata: [
            {
              preferred_network: ENTRA_HOST,
              preferred_cache: 'login.windows.net',
              aliases: [ENTRA_HOST, 'login.windows.net', 'login.microsoft.com', 'sts.windows.net'],
            },
          ],
        },
      };
    }
    if (!tenantPath) return undefined;
    const tenant = tenantPath[1]!;
    if (tenant !== TENANT_ID) return aadError(400, 'invalid_tenant', `AADSTS90002: Tenant '${tenant}' not found.`);
    if (req.method === 'GET') {
      return {
        status: 200,
        json: {
          token_endpoint: `${base}/${tenant}/oauth2/v2.0/token`,
          token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
          jwks_uri: `${base}/${tenant}/discovery/v2.0/keys`,
          response_modes_supported: ['query', 'fragment', 'form_post'],
          subject_types_supported: ['pairwise'],
          id_token_signing_alg_values_supported: ['RS256'],
          response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
          scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
          issuer: `${base}/${tenant}/v2.0`,
          request_uri_parameter_supported: false,
          userinfo_endpoint: 'https://graph.microsoft.com/oidc/userinfo',
          authorization_endpoint: `${base}/${tenant}/oauth2/v2.0/authorize`,
          device_authorization_endpoint: `${base}/${tenant}/oauth2/v2.0/devicecode`,
          http_logout_supported: true,
          frontchannel_logout_supported: true,
          end_session_endpoint: `${base}/${tenant}/oauth2/v2.0/logout`,
          claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat'],
          kerberos_endpoint: `${base}/${tenant}/kerberos`,
          tenant_region_scope: 'EU',
          cloud_instance_name: 'microsoftonline.com',
          cloud_graph_host_name: 'graph.windows.net',
          msgraph_host: 'graph.microsoft.com',
          rbac_url: 'https://pas.windows.net',
        },
      };
    }
    if (req.method !== 'POST') return undefined;
    const clientId = req.form.get('client_id') ?? '';
    count(entraCounts, clientId);
    const fault = entraFaults.get(clientId);
    if (fault) return answerFault(fault);
    if (req.form.get('grant_type') !== 'client_credentials')
      return aadError(400, 'unsupported_grant_type', 'AADSTS70003: The app requested an unsupported grant type.');
    const secret = req.form.get('client_secret');
    const assertion = req.form.get('client_assertion');
    const ok =
      (secret !== null && secrets.get(clientId) === secret) ||
      (assertion !== null && assertions.get(clientId) === assertion);
    if (!ok) {
      if (!secrets.has(clientId) && !assertions.has(clientId))
        return aadError(
          400,
          'unauthorized_client',
          `AADSTS700016: Application with identifier '${clientId}' was not found.`,
        );
      return answerFault(AZURE_FAULTS.invalidClientSecret);
    }
    const audience = (req.form.get('scope') ?? '').replace(/\/\.default$/, '');
    return {
      status: 200,
      json: {
        token_type: 'Bearer',
        expires_in: 3599,
        ext_expires_in: 3599,
        access_token: accessToken(clientId, audience, clientId),
      },
    };
  });

  // Managed identity: GET http://AZURE_POD_IDENTITY_AUTHORITY_HOST/metadata/identity/oauth2/token
  const imds: PlainStandIn = await startPlainStandIn((req) => {
    if (req.path.replace(/\/$/, '') !== '/metadata/identity/oauth2/token') return undefined;
    if (req.headers.metadata !== 'true')
      return {
        status: 400,
        json: { error: 'invalid_request', error_description: 'Required metadata header not specified' },
      };
    const clientId = req.query.get('client_id') ?? req.query.get('msi_res_id') ?? 'system';
    const identity = `mi:${clientId}`;
    count(entraCounts, identity);
    const fault = entraFaults.get(identity);
    if (fault) return answerFault(fault);
    const resource = (req.query.get('resource') ?? '').replace(/\/$/, '');
    const now = Math.floor(Date.now() / 1000);
    return {
      status: 200,
      json: {
        access_token: accessToken(identity, resource, clientId),
        client_id: clientId,
        expires_in: '86399',
        expires_on: String(now + 86399),
        ext_expires_in: '86399',
        not_before: String(now),
        resource,
        token_type: 'Bearer',
      },
    };
  });

  // ACR: POST https://<name>.azurecr.io/oauth2/exchange
  proxy.route('*.azurecr.io', (req: StandInRequest) => {
    if (req.method !== 'POST' || req.path !== '/oauth2/exchange') return undefined;
    const registry = req.host;
    const presented = accessTokens.get(req.form.get('access_token') ?? '');
    count(exchangeCounts, `${registry}|${presented?.identity ?? '?'}`);
    const fault = exchangeFaults.get(registry);
    if (fault) return answerFault(fault);
    if (req.form.get('grant_type') !== 'access_token' || req.form.get('service') !== registry)
      return { status: 400, json: { errors: [{ code: 'BAD_REQUEST', message: 'invalid grant_type or service' }] } };
    if (!presented || presented.audience !== ACR_AUDIENCE) return answerFault(AZURE_FAULTS.exchangeUnauthorized);
    const now = Math.floor(Date.now() / 1000);
    const expiresAt = now + (refreshLifetimes.get(registry) ?? 3 * 3600);
    // Compact: distribution's htpasswd check (bcrypt) reads only the first 72 bytes of a password, so the
    // pull check covers a whole token only when it is no longer (real ACR tokens are far longer).
    const token = compactJwt({ exp: expiresAt, n: ++serial });
    refreshTokens.set(registry, [
      ...(refreshTokens.get(registry) ?? []),
      { token, registry, identity: presented.identity, expiresAt: expiresAt * 1000 },
    ]);
    return { status: 200, json: { refresh_token: token } };
  });

  return {
    imdsUrl: imds.url,
    addClientSecret: (clientId, secret) => void secrets.set(clientId, secret),
    addFederatedCredential: (clientId, assertion) => void assertions.set(clientId, assertion),
    entraRequests: (identity) => entraCounts.get(identity) ?? 0,
    exchanges: (registry, identity) => exchangeCounts.get(`${registry}|${identity}`) ?? 0,
    refreshTokens: (registry) => refreshTokens.get(registry) ?? [],
    setEntraFault: (identity, fault) => void (fault ? entraFaults.set(identity, fault) : entraFaults.delete(identity)),
    setExchangeFault: (registry, fault) =>
      void (fault ? exchangeFaults.set(registry, fault) : exchangeFaults.delete(registry)),
    setRefreshLifetime: (registry, s) => void refreshLifetimes.set(registry, s),
    stop: () => imds.stop(),
  };
}
