// A throwaway certificate authority and server certificates for the test stand-ins (openssl, as
// registry.ts does). Processes trust the CA through NODE_EXTRA_CA_CERTS.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { runOk } from './controlplane.js';

export interface CertificateAuthority {
  dir: string;
  /** PEM file of the CA certificate (for NODE_EXTRA_CA_CERTS). */
  caFile: string;
  caKey: string;
}

export interface ServerCertificate {
  cert: Buffer;
  key: Buffer;
}

/** A self-signed certificate and its RSA key (PEM files), with `extensions` as openssl -addext values. */
export async function selfSignedCertificate(opts: {
  subject: string;
  days: number;
  keyFile: string;
  certFile: string;
  extensions?: string[];
}): Promise<void> {
  await runOk('openssl', [
    ...['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-sha256'],
    ...['-days', String(opts.days), '-subj', opts.subject],
    ...(opts.extensions ?? []).flatMap((extension) => ['-addext', extension]),
    ...['-keyout', opts.keyFile, '-out', opts.certFile],
  ]);
}

export async function createCertificateAuthority(dir: string): Promise<CertificateAuthority> {
  await mkdir(dir, { recursive: true });
  const caFile = path.join(dir, 'ca.crt');
  const caKey = path.join(dir, 'ca.key');
  await selfSignedCertificate({
    subject: '/CN=regcred test stand-ins CA',
    days: 7,
    keyFile: caKey,
    certFile: caFile,
    extensions: ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign,cRLSign'],
  });
  return { dir, caFile, caKey };
}

/** A server certificate for `names` (DNS names, wildcards allowed, and IP addresses), signed by `ca`. */
export async function issueServerCertificate(
  ca: CertificateAuthority,
  name: string,
  names: string[],
): Promise<ServerCertificate> {
  const base = path.join(ca.dir, name);
  const san = names.map((n) => (/^[\d.]+$/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(',');
  await runOk('openssl', [
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-sha256',
    '-subj',
    `/CN=${names[0]}`,
    '-keyout',
    `${base}.key`,
    '-out',
    `${base}.csr`,
  ]);
  await writeFile(`${base}.ext`, `subjectAltName=${san}\nextendedKeyUsage=serverAuth\n`);
  await runOk('openssl', [
    'x509',
    '-req',
    '-in',
    `${base}.csr`,
    '-CA',
    ca.caFile,
    '-CAkey',
    ca.caKey,
    '-CAcreateserial',
    '-days',
    '7',
    '-sha256',
    '-extfile',
    `${base}.ext`,
    '-out',
    `${base}.crt`,
  ]);
  return { cert: await readFile(`${base}.crt`), key: await readFile(`${base}.key`) };
}
