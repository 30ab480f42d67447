// A Docker Registry token server (the "token" auth of distribution, docs/spec/auth/token.md) for
// the registry of registry.ts, written here because no third-party one is served by this
// machine's Go module proxy (cesanta/docker_auth is refused). It is small and does what the spec
// asks of one:
// - GET /token?service=S&scope=repository:NAME:pull with HTTP Basic credentials;
// - wrong, expired or missing credentials: 401 with a registry error body (users added later,
//   with an expiry, are what the provider stand-ins hand out);
// - good credentials: a JWT (RS256, signed by a key whose certificate is the registry's
//   `rootcertbundle`; header `kid` = the key's libtrust fingerprint, which distribution looks the
//   key up by) granting the intersection of what was asked and what the user's ACL allows, which
//   may be nothing (that is not an error, per the spec: the registry then refuses the request);
// - every request is counted, so tests can assert how many a check made.
import { createHash, createPrivateKey, createPublicKey, randomBytes, sign } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { selfSignedCertificate } from '../../harness/tls.js';
import { type Registry, startRegistry } from './registry.js';

export interface TokenUser {
  username: string;
  password: string;
  /** Repositories this user may pull ("*" = any, "project/*" = any repository of a project). */
  pull: string[];
  /** Repositories this user may push to ("*" = any). */
  push?: string[];
  /** Epoch ms after which the password is refused (a short-lived token handed out by a stand-in). */
  expiresAt?: number;
}

export interface TokenServer {
  /** https://HOST:PORT/token, the registry's `realm`. */
  realm: string;
  service: string;
  issuer: string;
  /** The signing key's certificate: the registry's `rootcertbundle`. */
  rootCertBundle: string;
  /** Requests served, by outcome. */
  requests: { issued: number; refused: number };
  /** A user from now on (stand-ins register the credentials they hand out). */
  addUser(user: TokenUser): void;
  /** No longer a user (a credential revoked at a stand-in). */
  removeUser(username: string, password: string): void;
  stop(): Promise<void>;
}

export interface StartTokenServerOptions {
  dir: string;
  users: TokenUser[];
  /** The TLS certificate and key to serve with (the registry's own, so clients trust both alike). */
  tlsCert: string;
  tlsKey: string;
  /** Host name or IP to listen on and to put into the realm URL. Default 127.0.0.1. */
  host?: string;
  /** The host name the realm URL names, when it differs from `host` (e.g. localhost for a registry at 127.0.0.1). */
  realmHost?: string;
}

export async function startTokenServer(opts: StartTokenServerOptions): Promise<TokenServer> {
  const dir = path.join(opts.dir, 'token-server');
  await mkdir(dir, { recursive: true });
  const keyFile = path.join(dir, 'signing.key');
  const certFile = path.join(dir, 'signing.crt');
  await selfSignedCertificate({ subject: '/CN=regcred-test-token-signer', days: 30, keyFile, certFile });
  const privateKey = createPrivateKey(await readFile(keyFile));
  const kid = libtrustKeyId(createPublicKey(privateKey).export({ type: 'spki', format: 'der' }));
  const service = 'regcred-test-registry';
  const issuer = 'regcred-test-token-server';
  const requests = { issued: 0, refused: 0 };
  const users = [...opts.users];

  const server = https.createServer(
    { cert: await readFile(opts.tlsCert), key: await readFile(opts.tlsKey) },
    (req, res) => {
      const url = new URL(req.url ?? '/', 'https://token.invalid');
      if (url.pathname !== '/token') {
        res.writeHead(404).end();
        return;
      }
      const user = authenticate(req.headers.authorization, users);
      if (!user) {
        requests.refused++;
        res.writeHead(401, {
          'content-type': 'application/json',
          'www-authenticate': 'Basic realm="regcred-test-token-server"',
        });
        res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'invalid username or password' }] }));
        return;
      }
      const access = url.searchParams.getAll('scope').flatMap((scope) => granted(scope, user));
      const now = Math.floor(Date.now() / 1000);
      const token = jwt(privateKey, kid, {
        iss: issuer,
        sub: user.username,
        aud: url.searchParams.get('service') ?? service,
        exp: now + 300,
        nbf: now - 10,
        iat: now,
        jti: randomBytes(12).toString('hex'),
        access,
      });
      requests.issued++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({ token, access_token: token, expires_in: 300, issued_at: new Date(now * 1000).toISOString() }),
      );
    },
  );
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    realm: `https://${opts.realmHost ?? host}:${port}/token`,
    service,
    issuer,
    rootCertBundle: certFile,
    requests,
    addUser: (user) => void users.push(user),
    removeUser(username, password) {
      const index = users.findIndex((u) => u.username === username && u.password === password);
      if (index >= 0) users.splice(index, 1);
    },
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function authenticate(header: string | undefined, users: TokenUser[]): TokenUser | undefined {
  const match = /^Basic\s+(.+)$/i.exec(header ?? '');
  if (!match) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  const [username, password] = [decoded.slice(0, colon), decoded.slice(colon + 1)];
  return users.find(
    (u) =>
      u.username === username && u.password === password && (u.expiresAt === undefined || u.expiresAt > Date.now()),
  );
}

/** repository:NAME:ACTIONS -> the granted access entries (pull only, and only where the ACL allows). */
function granted(scope: string, user: TokenUser): Array<{ type: string; name: string; actions: string[] }> {
  const match = /^repository:([^:]+):(.+)$/.exec(scope);
  if (!match) return [];
  const [, name, actions] = match;
  const may = (list: string[] | undefined): boolean =>
    (list ?? []).some(
      (entry) => entry === '*' || entry === name || (entry.endsWith('/*') && name.startsWith(entry.slice(0, -1))),
    );
  const grantedActions = actions
    .split(',')
    .filter((a) => (a === 'pull' && may(user.pull)) || (a === 'push' && may(user.push)));
  return [{ type: 'repository', name, actions: grantedActions }];
}

function jwt(key: ReturnType<typeof createPrivateKey>, kid: string, claims: Record<string, unknown>): string {
  const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
  const signingInput = `${b64({ typ: 'JWT', alg: 'RS256', kid })}.${b64(claims)}`;
  return `${signingInput}.${sign('sha256', Buffer.from(signingInput), key).toString('base64url')}`;
}

/** libtrust's key id: the first 240 bits of SHA-256 of the DER public key, base32, in 12 groups of 4. */
function libtrustKeyId(spkiDer: Buffer): string {
  const hash = createHash('sha256').update(spkiDer).digest().subarray(0, 30);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of hash) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return out.match(/.{4}/g)!.join(':');
}

/** A real registry with token authentication by its own token server (the stand-ins' registries). */
export interface TokenAuthRegistry {
  registry: Registry;
  tokenServer: TokenServer;
  /** The registry's TLS certificate and key (PEM), for a stand-in to serve with the same trust. */
  tls: { cert: string; key: string };
  stop(): Promise<void>;
}

export interface StartTokenAuthRegistryOptions {
  /** `users[0]` must be allowed to push (the harness pushes the probe image with it). */
  users?: TokenUser[];
  /**
   * The address the registry and its token server listen on and are named by (default 127.0.0.1):
   * the e2e suite's gateway for a registry the node's containerd pulls from, realm included.
   */
  address?: string;
}

/**
 * Starts a registry whose users are the token server's: `users[0]` must be allowed to push (the
 * harness pushes the probe image with it); a stand-in adds the credentials it hands out later.
 */
export async function startTokenAuthRegistry(opts: StartTokenAuthRegistryOptions = {}): Promise<TokenAuthRegistry> {
  const users = opts.users ?? [{ username: 'pusher', password: 'pusher-Pa55', pull: ['*'], push: ['*'] }];
  let tokenServer: TokenServer | undefined;
  let tls: { cert: string; key: string } | undefined;
  const registry = await startRegistry({
    users: [{ username: users[0]!.username, password: users[0]!.password }],
    address: opts.address,
    tokenAuth: async (given) => {
      tls = { cert: await readFile(given.cert, 'utf8'), key: await readFile(given.key, 'utf8') };
      tokenServer = await startTokenServer({
        dir: given.dir,
        tlsCert: given.cert,
        tlsKey: given.key,
        users,
        host: opts.address,
      });
      return tokenServer;
    },
  });
  const server = tokenServer!;
  return {
    registry,
    tokenServer: server,
    tls: tls!,
    async stop() {
      try {
        await registry.stop();
      } finally {
        await server.stop();
      }
    },
  };
}
