// A stand-in for Quay's robot federation endpoint (see stand-ins.ts), over HTTPS on loopback; the
// operator reaches it as the entry's server. GET /oauth2/federation/robot/token with HTTP basic auth
// (username: the robot, org+name; password: an OIDC JWT) answers {"token": "<robot token>"} when,
// as Quay's federated robot auth checks: the robot exists and has a federation config; the token's
// `iss` is an issuer of that config; the token's signature is valid (here: a real TokenReview
// against the test's API server, which stands in for Quay's OIDC discovery and JWKS fetch); its
// `sub` is the config's subject for that issuer; and, when the config lists audiences, the token's
// `aud` intersects them. Every refusal is HTTP 401 {"error": "..."}, as Quay answers. The robot token
// is a JWT with `exp`, registered as a user (the robot's name, the token) of the test's token-auth
// registry until that time.
import { AuthenticationV1Api, KubeConfig } from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import { testEnv } from '../../harness/controlplane.js';
import { jwtOf, startHttpsStandIn, type StandInAnswer, type StandInRequest } from './stand-ins.js';
import type { TokenServer } from './token-server.js';

export const QUAY_FEDERATION_PATH = '/oauth2/federation/robot/token';

export interface FederationConfig {
  issuer: string;
  subject: string;
  audiences?: string[];
}

export interface IssuedQuayToken {
  token: string;
  expiresAt: number;
}

export interface QuayStandIn {
  /** 127.0.0.1:PORT: the server of the tests' quay entries. */
  host: string;
  /** A robot (org+name) with its federation config (none: a robot without federation) and its repositories. */
  addRobot(robot: string, federation: FederationConfig[], repositories: string[]): void;
  /** The lifetime of robot tokens issued from now on (Quay's: an hour). */
  setTokenLifetime(seconds: number): void;
  tokens(robot: string): IssuedQuayToken[];
  /** Exchanges asked for, per robot (refused ones included). */
  exchanges(robot: string): number;
  /** Refusal messages, in order. */
  refusals: string[];
  /** Subjects whose TokenReview said authenticated, in order (what the real API server vouched for). */
  reviewed: string[];
  /** Every subject token presented (to check that none reached a log). */
  presented: string[];
  stop(): Promise<void>;
}

function claimsOf(jwt: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

export async function startQuayStandIn(opts: {
  tls: { cert: string; key: string };
  tokenServer: TokenServer;
}): Promise<QuayStandIn> {
  const kc = new KubeConfig();
  kc.loadFromFile(testEnv().adminKubeconfig);
  const authentication = kc.makeApiClient(AuthenticationV1Api);
  const robots = new Map<string, { federation: FederationConfig[]; repositories: string[] }>();
  const issued = new Map<string, IssuedQuayToken[]>();
  const counts = new Map<string, number>();
  const refusals: string[] = [];
  const reviewed: string[] = [];
  const presented: string[] = [];
  let lifetimeS = 3600;
  const refuse = (error: string): StandInAnswer => {
    refusals.push(error);
    return { status: 401, json: { error } };
  };

  async function exchange(req: StandInRequest): Promise<StandInAnswer> {
    const basic = /^Basic (\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
    if (!basic) return refuse('missing auth');
    const decoded = Buffer.from(basic, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const [name, subjectToken] = [decoded.slice(0, colon), decoded.slice(colon + 1)];
    if (colon < 0 || !/^[a-z0-9][a-z0-9_-]*\+[a-z][a-z0-9_]*$/.test(name)) return refuse('Invalid robot');
    counts.set(name, (counts.get(name) ?? 0) + 1);
    presented.push(subjectToken);
    const robot = robots.get(name);
    if (!robot) return refuse('Could not find robot with specified username');
    if (robot.federation.length === 0) return refuse('Robot does not have federated login configured');
    const claims = claimsOf(subjectToken);
    const issuer = typeof claims?.iss === 'string' ? claims.iss : undefined;
    if (!issuer) return refuse('Token does not contain issuer');
    const bindings = robot.federation.filter((f) => f.issuer === issuer);
    if (bindings.length === 0) return refuse(`issuer ${issuer} not configured for this robot`);
    // Signature, expiry and a ServiceAccount that still exists, checked by the issuer itself: the API
    // server's TokenReview, for the audiences the token claims (a token for another audience than the
    // API server's own is valid only for that one).
    const tokenAudiences = [claims!.aud ?? []].flat().map(String);
    const review = await authentication.createTokenReview({
      body: {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenReview',
        spec: { token: subjectToken, audiences: tokenAudiences },
      },
    });
    if (!review.status?.authenticated) return refuse(`Invalid token: ${review.status?.error ?? 'not authenticated'}`);
    if (review.status.user?.username !== claims!.sub) return refuse('Invalid token: subject mismatch');
    reviewed.push(String(claims!.sub));
    const matches = bindings.filter((f) => f.subject === claims!.sub);
    if (matches.length === 0) return refuse('Token does not match robot');
    const binding = matches[0]!;
    if (binding.audiences?.length && !tokenAudiences.some((a) => binding.audiences!.includes(a)))
      return refuse('Token audience is not allowed for this robot');
    const expiresAt = (Math.floor(Date.now() / 1000) + lifetimeS) * 1000;
    const token = jwtOf(
      { iss: 'quay', sub: name, aud: 'quay', exp: expiresAt / 1000, jti: randomBytes(9).toString('hex') },
      randomBytes(16).toString('hex'),
    );
    issued.set(name, [...(issued.get(name) ?? []), { token, expiresAt }]);
    opts.tokenServer.addUser({ username: name, password: token, pull: robot.repositories, expiresAt });
    return { status: 200, json: { token } };
  }

  const server = await startHttpsStandIn(opts.tls, (req) =>
    req.path === QUAY_FEDERATION_PATH && req.method === 'GET' ? exchange(req) : undefined,
  );
  return {
    host: server.host,
    addRobot: (robot, federation, repositories) => void robots.set(robot, { federation, repositories }),
    setTokenLifetime: (seconds) => void (lifetimeS = seconds),
    tokens: (robot) => issued.get(robot) ?? [],
    exchanges: (robot) => counts.get(robot) ?? 0,
    refusals,
    reviewed,
    presented,
    stop: () => server.stop(),
  };
}
