// Stand-ins for Google's token endpoints (see stand-ins.ts): the OAuth token endpoint for service
// account keys (it checks the RS256 signature of the JWT assertion with the key it handed out), the
// STS token exchange of workload identity federation (it checks the subject token), and the GCE/GKE
// metadata server (Metadata-Flavor: Google). Each issued access token is remembered with its identity
// and expiry, requests are counted per identity, and faults can be set per identity.
import { createVerify, generateKeyPairSync, randomBytes } from 'node:crypto';
import {
  answerFault,
  type EgressProxy,
  type PlainStandIn,
  type StandInAnswer,
  type StandInFault,
  type StandInRequest,
  startPlainStandIn,
} from './stand-ins.js';

/** The host names the egress proxy's certificate must cover for Google. */
export const GOOGLE_HOSTS = ['oauth2.googleapis.com', 'sts.googleapis.com'];
/** The identity of tokens from the metadata server (GKE Workload Identity, a VM's service account). */
export const METADATA_IDENTITY = 'metadata';

export const GOOGLE_FAULTS = {
  invalidGrant: { status: 400, json: { error: 'invalid_grant', error_description: 'Invalid JWT Signature.' } },
  unavailable: { status: 503, json: { error: 'temporarily_unavailable', error_description: 'Service Unavailable' } },
  permissionDenied: {
    status: 403,
    json: { error: { code: 403, status: 'PERMISSION_DENIED', message: 'Permission iam.workloadIdentityPools denied' } },
  },
  hang: 'hang',
} satisfies Record<string, StandInFault>;

export interface IssuedToken {
  token: string;
  identity: string;
  issuedAt: number;
  expiresAt: number;
  scope: string;
}

export interface GoogleStandIn {
  /** For GCE_METADATA_HOST. */
  metadataHost: string;
  /** A service account key (JSON text) for `email`, whose assertions the token endpoint accepts (identity: email). */
  serviceAccountKey(email: string): string;
  /**
   * A workload identity federation config (JSON text) reading its subject token from `subjectTokenFile`;
   * the STS stand-in accepts `subjectToken` for `audience`. Identity: the audience.
   */
  federationConfig(audience: string, subjectTokenFile: string, subjectToken: string): string;
  /** Token requests per identity (faulted ones included). */
  requests(identity: string): number;
  issued(identity: string): IssuedToken[];
  setFault(identity: string, fault: StandInFault | undefined): void;
  /** Lifetime in seconds of the tokens issued to `identity` (default 3600). */
  setLifetime(identity: string, seconds: number): void;
  stop(): Promise<void>;
}

export async function startGoogleStandIn(proxy: EgressProxy): Promise<GoogleStandIn> {
  const publicKeys = new Map<string, string>();
  const subjectTokens = new Map<string, string>();
  const counts = new Map<string, number>();
  const issued = new Map<string, IssuedToken[]>();
  const faults = new Map<string, StandInFault>();
  const lifetimes = new Map<string, number>();
  let serial = 0;

  /** Counts the request; a fault for the identity, or a fresh token. */
  const issue = (identity: string, scope: string, shape: (token: IssuedToken) => unknown): StandInAnswer => {
    counts.set(identity, (counts.get(identity) ?? 0) + 1);
    const fault = faults.get(identity);
    if (fault) return answerFault(fault);
    const issuedAt = Date.now();
    const token: IssuedToken = {
      token: `ya29.stand-in-${++serial}-${randomBytes(12).toString('hex')}`,
      identity,
      issuedAt,
      expiresAt: issuedAt + (lifetimes.get(identity) ?? 3600) * 1000,
      scope,
    };
    issued.set(identity, [...(issued.get(identity) ?? []), token]);
    return { status: 200, json: shape(token) };
  };
  const seconds = (token: IssuedToken) => Math.round((token.expiresAt - token.issuedAt) / 1000);
  const oauthError = (status: number, error: string, description: string): StandInAnswer => ({
    status,
    json: { error, error_description: description },
  });

  // https://oauth2.googleapis.com/token: the JWT bearer grant of a service account key.
  proxy.route('oauth2.googleapis.com', (req: StandInRequest) => {
    if (req.method !== 'POST' || req.path !== '/token') return undefined;
    if (req.form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer')
      return oauthError(400, 'unsupported_grant_type', 'Invalid grant_type');
    const [header, payload, signature] = (req.form.get('assertion') ?? '').split('.');
    if (!header || !payload || !signature) return oauthError(400, 'invalid_grant', 'Invalid JWT.');
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as {
      iss?: string;
      aud?: string;
      scope?: string;
      exp?: number;
    };
    const key = publicKeys.get(claims.iss ?? '');
    if (!key) return oauthError(400, 'invalid_grant', 'Invalid grant: account not found');
    const verifier = createVerify('RSA-SHA256');
    verifier.update(`${header}.${payload}`);
    if (!verifier.verify(key, Buffer.from(signature, 'base64url')))
      return oauthError(400, 'invalid_grant', 'Invalid JWT Signature.');
    if (claims.aud !== 'https://oauth2.googleapis.com/token')
      return oauthError(
        400,
        'invalid_grant',
        'Invalid JWT: Token must be a short-lived token and in a reasonable timeframe',
      );
    return issue(claims.iss!, claims.scope ?? '', (token) => ({
      access_token: token.token,
      expires_in: seconds(token),
      token_type: 'Bearer',
    }));
  });

  // https://sts.googleapis.com/v1/token: the token exchange of workload identity federation.
  proxy.route('sts.googleapis.com', (req: StandInRequest) => {
    if (req.method !== 'POST' || req.path !== '/v1/token') return undefined;
    const audience = req.form.get('audience') ?? '';
    if (req.form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:token-exchange')
      return oauthError(400, 'invalid_request', 'Invalid value for "grant_type"');
    const expected = subjectTokens.get(audience);
    if (!expected)
      return oauthError(400, 'invalid_target', 'The target service indicated by the "audience" parameters is invalid.');
    if (req.form.get('subject_token') !== expected)
      return oauthError(400, 'invalid_grant', 'The audience in ID Token does not match the expected audience.');
    return issue(audience, req.form.get('scope') ?? '', (token) => ({
      access_token: token.token,
      issued_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      token_type: 'Bearer',
      expires_in: seconds(token),
    }));
  });

  // The metadata server: http://GCE_METADATA_HOST/computeMetadata/v1/...
  const metadata: PlainStandIn = await startPlainStandIn((req) => {
    if (req.headers['metadata-flavor'] !== 'Google')
      return { status: 403, text: 'Missing Metadata-Flavor:Google header.' };
    const flavor = { 'metadata-flavor': 'Google' };
    if (req.path === '/computeMetadata/v1/instance' || req.path === '/computeMetadata/v1/instance/')
      return { status: 200, text: 'attributes/\nhostname\nservice-accounts/\n', headers: flavor };
    if (req.path === '/computeMetadata/v1/project/project-id')
      return { status: 200, text: 'regcred-test', headers: flavor };
    if (req.path === '/computeMetadata/v1/instance/service-accounts/default/token') {
      const answer = issue(METADATA_IDENTITY, req.query.get('scopes') ?? '', (token) => ({
        access_token: token.token,
        expires_in: seconds(token),
        token_type: 'Bearer',
      }));
      return answer === 'hang' ? answer : { ...answer, headers: flavor };
    }
    return undefined;
  });

  return {
    metadataHost: metadata.host,
    serviceAccountKey(email) {
      const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      publicKeys.set(email, publicKey.export({ type: 'spki', format: 'pem' }).toString());
      return JSON.stringify({
        type: 'service_account',
        project_id: 'regcred-test',
        private_key_id: randomBytes(20).toString('hex'),
        private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
        client_email: email,
        client_id: '100000000000000000001',
        auth_uri: 'https://accounts.google.com/o/oauth2/auth',
        token_uri: 'https://oauth2.googleapis.com/token',
      });
    },
    federationConfig(audience, subjectTokenFile, subjectToken) {
      subjectTokens.set(audience, subjectToken);
      return JSON.stringify({
        type: 'external_account',
        audience,
        subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
        token_url: 'https://sts.googleapis.com/v1/token',
        credential_source: { file: subjectTokenFile },
      });
    },
    requests: (identity) => counts.get(identity) ?? 0,
    issued: (identity) => issued.get(identity) ?? [],
    setFault: (identity, fault) => void (fault ? faults.set(identity, fault) : faults.delete(identity)),
    setLifetime: (identity, s) => void lifetimes.set(identity, s),
    stop: () => metadata.stop(),
  };
}
