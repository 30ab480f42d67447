// A fault-injecting HTTP proxy of our own in front of moto: the operator's real AWS SDK talks to
// it as its AWS endpoint. Per access key id (read from the SigV4 Authorization header, so several
// RegistryCredentials with their own keys can fail differently at the same time) it can answer ECR
// requests with an AWS error (throttling, 5xx, expired credentials, access denied), or never
// answer (a timeout), and it can rewrite the expiresAt moto reports (always 2015) to a real one.
// It counts ECR GetAuthorizationToken requests per access key id.
// moto (5.2.x) does not implement ECR Public, so the proxy also answers ECR Public's
// GetAuthorizationToken itself (a stand-in: a fresh token per request, the 12 h expiry ECR Public
// reports, the SigV4 credential scope checked to be us-east-1/ecr-public) and forwards everything else
// (STS for AssumeRole) to moto.
import { randomBytes } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export type Fault = { kind: 'error'; status: number; body: string; contentType?: string } | { kind: 'hang' };

const awsError = (status: number, type: string, message: string): Fault => ({
  kind: 'error',
  status,
  body: JSON.stringify({ __type: type, message }),
  contentType: 'application/x-amz-json-1.1',
});

/** The failures AWS produces and moto cannot. */
export const FAULTS = {
  throttling: awsError(400, 'ThrottlingException', 'Rate exceeded'),
  serverError: awsError(500, 'ServerException', 'An internal error occurred'),
  unavailable: { kind: 'error', status: 503, body: 'Service Unavailable', contentType: 'text/plain' } as Fault,
  expiredCredentials: awsError(400, 'ExpiredTokenException', 'The security token included in the request is expired'),
  accessDenied: awsError(
    400,
    'AccessDeniedException',
    'User: arn:aws:iam::123456789012:user/puller is not authorized to perform: ecr:GetAuthorizationToken on ' +
      'resource: * because no identity-based policy allows the ecr:GetAuthorizationToken action',
  ),
  timeout: { kind: 'hang' } as Fault,
} satisfies Record<string, Fault>;

export interface FaultProxy {
  url: string;
  /** Sets (or with undefined clears) the fault for ECR requests signed with `accessKeyId`. */
  setFault(accessKeyId: string, fault: Fault | undefined): void;
  /** ECR and ECR Public tokens issued to `accessKeyId` expire this many seconds after issue (default 12 h). */
  setLifetime(accessKeyId: string, seconds: number): void;
  /** GetAuthorizationToken requests seen for `accessKeyId`, faulted ones included. */
  ecrRequests(accessKeyId: string): number;
  /** ECR Public GetAuthorizationToken requests seen for `accessKeyId`, faulted ones included. */
  ecrPublicRequests(accessKeyId: string): number;
  /** The ECR Public tokens (passwords) issued to `accessKeyId`, oldest first. */
  ecrPublicTokens(accessKeyId: string): string[];
  stop(): Promise<void>;
}

function accessKeyIdOf(req: http.IncomingMessage): string {
  return /Credential=([^/]+)\//.exec(String(req.headers.authorization ?? ''))?.[1] ?? '';
}

export async function startFaultProxy(upstream: string): Promise<FaultProxy> {
  const faults = new Map<string, Fault>();
  const lifetimes = new Map<string, number>();
  const counts = new Map<string, number>();
  const publicCounts = new Map<string, number>();
  const publicTokens = new Map<string, string[]>();
  const hung = new Set<http.ServerResponse>();
  const target = new URL(upstream);

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const isEcr = String(req.headers['x-amz-target'] ?? '').startsWith('AmazonEC2ContainerRegistry');
      const isEcrPublic = String(req.headers['x-amz-target'] ?? '') === 'SpencerFrontendService.GetAuthorizationToken';
      const key = accessKeyIdOf(req);
      if (isEcr) counts.set(key, (counts.get(key) ?? 0) + 1);
      if (isEcrPublic) publicCounts.set(key, (publicCounts.get(key) ?? 0) + 1);
      const fault = isEcr || isEcrPublic ? faults.get(key) : undefined;
      if (fault?.kind === 'hang') {
        hung.add(res);
        res.on('close', () => hung.delete(res));
        return;
      }
      if (fault) {
        res.writeHead(fault.status, {
          'content-type': fault.contentType ?? 'application/json',
          'x-amzn-requestid': 'fault-proxy',
        });
        res.end(fault.body);
        return;
      }
      if (isEcrPublic) {
        const answer = ecrPublicToken(req, key);
        res.writeHead(answer.status, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': 'stand-in' });
        res.end(JSON.stringify(answer.body));
        return;
      }
      const headers = { ...req.headers, host: target.host };
      const up = http.request(
        { hostname: target.hostname, port: target.port, path: req.url, method: req.method, headers },
        (upRes) => {
          const parts: Buffer[] = [];
          upRes.on('data', (c: Buffer) => parts.push(c));
          upRes.on('end', () => {
            let out = Buffer.concat(parts);
            if (
              isEcr &&
              String(req.headers['x-amz-target']).endsWith('GetAuthorizationToken') &&
              upRes.statusCode === 200
            ) {
              const doc = JSON.parse(out.toString('utf8')) as { authorizationData?: Array<{ expiresAt?: number }> };
              for (const d of doc.authorizationData ?? [])
                d.expiresAt = Date.now() / 1000 + (lifetimes.get(key) ?? 12 * 3600);
              out = Buffer.from(JSON.stringify(doc));
            }
            const h = { ...upRes.headers, 'content-length': String(out.length) };
            delete h['transfer-encoding'];
            res.writeHead(upRes.statusCode ?? 502, h);
            res.end(out);
          });
        },
      );
      up.on('error', (err) => {
        res.writeHead(502, { 'content-type': 'text/plain' });
        res.end(`fault-proxy: upstream failed: ${err.message}`);
      });
      up.end(body);
    });
  });
  /** The ECR Public stand-in: a token for a request signed for us-east-1 and the ecr-public service. */
  const ecrPublicToken = (req: http.IncomingMessage, key: string): { status: number; body: unknown } => {
    const scope = /Credential=[^/]+\/\d{8}\/([^/]+)\/([^/]+)\/aws4_request/.exec(
      String(req.headers.authorization ?? ''),
    );
    if (scope?.[1] !== 'us-east-1' || scope[2] !== 'ecr-public') {
      return {
        status: 400,
        body: {
          __type: 'InvalidSignatureException',
          message: `Credential should be scoped to a valid region and service: got ${scope?.[1]}/${scope?.[2]}`,
        },
      };
    }
    const password = `ecr-public-${(publicTokens.get(key)?.length ?? 0) + 1}-${randomBytes(12).toString('hex')}`;
    publicTokens.set(key, [...(publicTokens.get(key) ?? []), password]);
    return {
      status: 200,
      body: {
        authorizationData: {
          authorizationToken: Buffer.from(`AWS:${password}`).toString('base64'),
          expiresAt: Date.now() / 1000 + (lifetimes.get(key) ?? 12 * 3600),
        },
      },
    };
  };

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    setFault: (id, fault) => (fault ? faults.set(id, fault) : faults.delete(id)),
    setLifetime: (id, seconds) => lifetimes.set(id, seconds),
    ecrRequests: (id) => counts.get(id) ?? 0,
    ecrPublicRequests: (id) => publicCounts.get(id) ?? 0,
    ecrPublicTokens: (id) => publicTokens.get(id) ?? [],
    stop: async () => {
      for (const res of hung) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
