// Pure: what the leader does next about the self-managed webhook certificate, given what the
// Secret holds, what the MutatingWebhookConfiguration's caBundle trusts, and the time. One step
// per call; the caller applies it, reads again and calls again (level-based).
//
// The rules that keep the API server able to call the webhook at every moment:
// - A serving certificate is served only while the caBundle trusts its CA. The active CA ("ca")
//   signs the served certificate; a new CA is first staged ("nextCa") and put into the bundle
//   beside the active one; only when the bundle has held both for `propagationMs` (every API
//   server has seen it) is the new CA promoted and a serving certificate signed by it written.
// - The former CA stays in the Secret ("previousCa") and in the bundle for `propagationMs` after
//   the promotion (every replica has reloaded the new serving certificate from the Secret), and
//   only then is it dropped from the Secret, then from the bundle.
// - The serving certificate is renewed by the active CA when two thirds of its validity have
//   passed, or when it is missing, unreadable, not signed by the active CA, or names other names.
// - The Secret goes with the MutatingWebhookConfiguration (an ownerReference to it: the garbage
//   collector deletes the Secret when the configuration is deleted). So it is created only while
//   the configuration exists, and one that lacks that reference (written before the configuration
//   existed, by an earlier version, or by hand) is adopted. Without the configuration nothing would
//   call the webhook anyway; and a Secret created then, e.g. during an uninstall that deleted the
//   configuration before the operator stopped, would be left behind.
import type { CertificateInfo, ServingInfo } from './certificates.js';

export interface RotationPolicy {
  caLifetimeMs: number;
  servingLifetimeMs: number;
  /** How long a change must stand before the next step relies on it having reached every API server and replica. */
  propagationMs: number;
  /** The serving certificate's DNS names and IP addresses, sorted. */
  names: string[];
}

/** The Secret's content as the decision sees it; undefined parts are missing or unreadable. */
export interface StoredCertificates {
  ca?: CertificateInfo;
  /** The serving certificate, when it is signed by `ca` and matches its key. */
  serving?: ServingInfo;
  nextCa?: CertificateInfo;
  /** When nextCa was written (epoch ms). */
  nextCaSince?: number;
  previousCa?: CertificateInfo;
  /** When previousCa was demoted (epoch ms). */
  previousCaSince?: number;
}

export interface RotationInput {
  /** undefined: there is no Secret yet. */
  stored: StoredCertificates | undefined;
  /** Fingerprints of the CAs in the configuration's caBundle; undefined: no configuration to patch. */
  bundle: string[] | undefined;
  /** The MutatingWebhookConfiguration: absent, or there and the Secret's owner (by uid) or not. */
  configuration: 'absent' | 'owner' | 'notOwner';
  now: number;
  policy: RotationPolicy;
}

export type RotationStep =
  /** Write a new CA and a serving certificate it signs, replacing whatever the Secret held. */
  | { action: 'bootstrap'; reason: 'missing' | 'unreadable' | 'expired' }
  /** Set the caBundle to exactly these CAs (fingerprints, in order). */
  | { action: 'patchBundle'; bundle: string[] }
  /** Issue a new serving certificate with the active CA. */
  | { action: 'renewServing'; reason: 'missing' | 'expiring' | 'names' }
  /** Write a new CA beside the active one (not yet signing). */
  | { action: 'stageCa' }
  /** The staged CA becomes active and signs a new serving certificate; the active one becomes previousCa. */
  | { action: 'promoteCa' }
  /** Drop previousCa from the Secret (the bundle follows). */
  | { action: 'retireCa' }
  /** Make the configuration the Secret's owner, its content unchanged. */
  | { action: 'adopt' }
  /** Nothing to do before `until` (epoch ms); `waitingFor` says why when a step waits for the configuration. */
  | { action: 'wait'; until: number; waitingFor?: 'configuration' };

/** When two thirds of a certificate's validity have passed. */
export function renewAt(cert: CertificateInfo): number {
  return cert.notAfter - (cert.notAfter - cert.notBefore) / 3;
}

/** The CAs the caBundle should trust, active first. */
export function desiredBundle(stored: StoredCertificates): string[] {
  return [stored.ca, stored.nextCa, stored.previousCa]
    .filter((cert): cert is CertificateInfo => cert !== undefined)
    .map((cert) => cert.fingerprint);
}

function sameList(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((item, i) => item === b[i]);
}

export function decideRotation(input: RotationInput): RotationStep {
  const { stored, bundle, configuration, now, policy } = input;
  const waitForConfiguration: RotationStep = {
    action: 'wait',
    until: now + policy.propagationMs,
    waitingFor: 'configuration',
  };
  if (!stored) return configuration === 'absent' ? waitForConfiguration : { action: 'bootstrap', reason: 'missing' };
  const { ca } = stored;
  if (!ca) return { action: 'bootstrap', reason: 'unreadable' };
  // An expired CA cannot be rotated without a window: the API server already refuses it.
  if (ca.notAfter <= now) return { action: 'bootstrap', reason: 'expired' };

  if (!stored.serving) return { action: 'renewServing', reason: 'missing' };
  if (!sameList(stored.serving.names, policy.names)) return { action: 'renewServing', reason: 'names' };

  // (Every write above names the configuration as owner when there is one.)
  if (configuration === 'notOwner') return { action: 'adopt' };

  const wanted = desiredBundle(stored);
  if (bundle === undefined) return waitForConfiguration;
  if (!sameList(bundle, wanted)) return { action: 'patchBundle', bundle: wanted };

  const nextChecks: number[] = [];
  if (stored.previousCa) {
    const retireAt = (stored.previousCaSince ?? 0) + policy.propagationMs;
    if (now >= retireAt || stored.previousCa.notAfter <= now) return { action: 'retireCa' };
    nextChecks.push(retireAt);
  }
  if (stored.nextCa) {
    const promoteAt = (stored.nextCaSince ?? 0) + policy.propagationMs;
    // Promotion waits for the former CA to be retired: the bundle holds at most two CAs.
    if (!stored.previousCa && now >= promoteAt) return { action: 'promoteCa' };
    nextChecks.push(promoteAt);
  } else if (!stored.previousCa) {
    const stageAt = renewAt(ca);
    if (now >= stageAt) return { action: 'stageCa' };
    nextChecks.push(stageAt);
  }
  const servingRenewAt = renewAt(stored.serving);
  if (now >= servingRenewAt) return { action: 'renewServing', reason: 'expiring' };
  nextChecks.push(servingRenewAt);
  return { action: 'wait', until: Math.min(...nextChecks) };
}
