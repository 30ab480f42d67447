// X.509 for the self-managed webhook CA: a CA certificate, serving certificates it signs, and what
// the rotation decision needs to know about a PEM certificate (webhook/rotation.ts). Node's crypto
// makes the keys and verifies signatures; node-forge writes the certificates (Node cannot).
import { createHash, createPrivateKey, generateKeyPairSync, randomBytes, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import forge from 'node-forge';

export interface KeyPair {
  /** PEM certificate. */
  cert: string;
  /** PEM private key (PKCS#1 RSA). */
  key: string;
}

/** What the rotation decision reads from one certificate. Times are epoch milliseconds. */
export interface CertificateInfo {
  /** SHA-256 of the DER, hex. */
  fingerprint: string;
  notBefore: number;
  notAfter: number;
}

export interface ServingInfo extends CertificateInfo {
  /** DNS names and IP addresses of its subjectAltName, sorted. */
  names: string[];
}

/** A new certificate is valid from a little before now, so that a clock slightly behind ours accepts it. */
function backdateMs(lifetimeMs: number): number {
  return Math.min(60_000, Math.floor(lifetimeMs / 10));
}

function newKey(): { forgeKey: forge.pki.rsa.PrivateKey; publicKey: forge.pki.rsa.PublicKey; pem: string } {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  const forgeKey = forge.pki.privateKeyFromPem(pem);
  return { forgeKey, publicKey: forge.pki.setRsaPublicKey(forgeKey.n, forgeKey.e), pem };
}

function serialNumber(): string {
  // Positive (high bit clear), 16 random bytes, as RFC 5280 recommends.
  const bytes = randomBytes(16);
  bytes[0] = bytes[0]! & 0x7f;
  return bytes.toString('hex');
}

function validity(cert: forge.pki.Certificate, nowMs: number, lifetimeMs: number, capMs?: number): void {
  cert.validity.notBefore = new Date(nowMs - backdateMs(lifetimeMs));
  cert.validity.notAfter = new Date(Math.min(nowMs + lifetimeMs, capMs ?? Infinity));
}

/** A self-signed CA certificate and its key, valid for `lifetimeMs` from `nowMs`. */
export function createCertificateAuthority(commonName: string, nowMs: number, lifetimeMs: number): KeyPair {
  const key = newKey();
  const cert = forge.pki.createCertificate();
  cert.publicKey = key.publicKey;
  cert.serialNumber = serialNumber();
  validity(cert, nowMs, lifetimeMs);
  const subject = [{ name: 'commonName', value: commonName }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(key.forgeKey, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: key.pem };
}

/**
 * A serving certificate for `names` (DNS names and IP addresses) signed by `ca`, valid for
 * `lifetimeMs` from `nowMs` but never past the CA's own end.
 */
export function issueServingCertificate(ca: KeyPair, names: string[], nowMs: number, lifetimeMs: number): KeyPair {
  const caCert = forge.pki.certificateFromPem(ca.cert);
  const caKey = forge.pki.privateKeyFromPem(ca.key);
  const key = newKey();
  const cert = forge.pki.createCertificate();
  cert.publicKey = key.publicKey;
  cert.serialNumber = serialNumber();
  validity(cert, nowMs, lifetimeMs, caCert.validity.notAfter.getTime());
  cert.setSubject([{ name: 'commonName', value: names[0] ?? 'regcred-operator-webhook' }]);
  cert.setIssuer(caCert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    {
      name: 'subjectAltName',
      altNames: names.map((name) => (isIP(name) ? { type: 7, ip: name } : { type: 2, value: name })),
    },
    { name: 'authorityKeyIdentifier', keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  cert.sign(caKey, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: key.pem };
}

/** The certificates of a PEM bundle (a caBundle may hold several); unreadable blocks are skipped. */
export function splitPem(bundle: string): string[] {
  return bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)?.map((pem) => pem + '\n') ?? [];
}

/** What the decision needs from one PEM certificate; undefined when it does not parse. */
export function certificateInfo(pem: string): CertificateInfo | undefined {
  try {
    const cert = new X509Certificate(pem);
    return {
      fingerprint: createHash('sha256').update(cert.raw).digest('hex'),
      notBefore: Date.parse(cert.validFrom),
      notAfter: Date.parse(cert.validTo),
    };
  } catch {
    return undefined;
  }
}

/**
 * The serving certificate's facts, when it parses, is signed by `caPem` and matches `keyPem`;
 * undefined otherwise (it must then be issued again).
 */
export function servingInfo(pem: string, keyPem: string, caPem: string): ServingInfo | undefined {
  try {
    const cert = new X509Certificate(pem);
    const ca = new X509Certificate(caPem);
    if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) return undefined;
    if (!cert.checkPrivateKey(createPrivateKey(keyPem))) return undefined;
    const names = (cert.subjectAltName ?? '')
      .split(', ')
      .map((entry) => entry.replace(/^(DNS|IP Address):/, ''))
      .filter((name) => name !== '')
      .sort();
    const info = certificateInfo(pem)!;
    return { ...info, names };
  } catch {
    return undefined;
  }
}
