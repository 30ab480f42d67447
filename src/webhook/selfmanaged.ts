// The self-managed webhook certificate: a CA and a serving certificate kept in one Secret of the
// operator's namespace. Every replica serves the webhook, so every replica reads the Secret and
// serves its serving certificate (reloading). Only the leader writes: it runs the rotation
// (webhook/rotation.ts decides, this file applies one step at a time), patching the CA(s) into
// the caBundle of every webhook of the MutatingWebhookConfiguration, and naming that configuration
// the Secret's owner so that the Secret is deleted with it.
import type { V1MutatingWebhookConfiguration, V1OwnerReference, V1Secret } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { KubeApi } from '../k8s/client.js';
import { isKubeError } from '../k8s/errors.js';
import type { Clock, Timer } from '../runtime/clock.js';
import {
  certificateInfo,
  createCertificateAuthority,
  issueServingCertificate,
  servingInfo,
  splitPem,
  type KeyPair,
} from './certificates.js';
import { decideRotation, type RotationPolicy, type RotationStep, type StoredCertificates } from './rotation.js';

/** The Secret's keys. */
export const CERTIFICATE_KEYS = {
  caCert: 'ca.crt',
  caKey: 'ca.key',
  tlsCert: 'tls.crt',
  tlsKey: 'tls.key',
  nextCaCert: 'next-ca.crt',
  nextCaKey: 'next-ca.key',
  previousCaCert: 'previous-ca.crt',
} as const;
export const ANNOTATION_NEXT_CA_SINCE = 'regcred.io/next-ca-since';
export const ANNOTATION_PREVIOUS_CA_SINCE = 'regcred.io/previous-ca-since';
const CA_COMMON_NAME = 'regcred-operator webhook CA';

/** After a failed step, the next try. */
const RETRY_MS = 5_000;
/** The leader looks again at least this often (someone may have reset the caBundle, e.g. a chart upgrade). */
const RESYNC_MS = 30_000;

export interface SelfManagedCertificateOptions {
  client: KubeApi;
  clock: Clock;
  logger: Logger;
  namespace: string;
  secretName: string;
  configurationName: string;
  policy: RotationPolicy;
  /** A step was applied (a metric). */
  onStep?(action: RotationStep['action']): void;
}

/** The PEM texts of the Secret. */
type Material = Partial<Record<keyof typeof CERTIFICATE_KEYS, string>>;

function materialOf(secret: V1Secret | undefined): Material {
  const out: Material = {};
  for (const [field, key] of Object.entries(CERTIFICATE_KEYS) as Array<[keyof typeof CERTIFICATE_KEYS, string]>) {
    const value = secret?.data?.[key];
    if (value) out[field] = Buffer.from(value, 'base64').toString('utf8');
  }
  return out;
}

function timeOf(value: string | undefined): number | undefined {
  const time = value ? Date.parse(value) : NaN;
  return Number.isFinite(time) ? time : undefined;
}

/** The decision's view of the Secret. */
export function storedCertificates(secret: V1Secret): StoredCertificates {
  const material = materialOf(secret);
  const ca = material.caCert && material.caKey ? certificateInfo(material.caCert) : undefined;
  const serving =
    ca && material.tlsCert && material.tlsKey && material.caCert
      ? servingInfo(material.tlsCert, material.tlsKey, material.caCert)
      : undefined;
  const nextCa = material.nextCaCert && material.nextCaKey ? certificateInfo(material.nextCaCert) : undefined;
  const previousCa = material.previousCaCert ? certificateInfo(material.previousCaCert) : undefined;
  const annotations = secret.metadata?.annotations ?? {};
  return {
    ...(ca ? { ca } : {}),
    ...(serving ? { serving } : {}),
    ...(nextCa ? { nextCa, nextCaSince: timeOf(annotations[ANNOTATION_NEXT_CA_SINCE]) } : {}),
    ...(previousCa ? { previousCa, previousCaSince: timeOf(annotations[ANNOTATION_PREVIOUS_CA_SINCE]) } : {}),
  };
}

/** Fingerprints of the caBundle every webhook of the configuration shares; ['mismatch'] when they differ. */
export function bundleOf(configuration: V1MutatingWebhookConfiguration): string[] | undefined {
  const webhooks = configuration.webhooks ?? [];
  if (webhooks.length === 0) return undefined;
  const lists = webhooks.map((webhook) => {
    const text = webhook.clientConfig.caBundle ? Buffer.from(webhook.clientConfig.caBundle, 'base64').toString() : '';
    return splitPem(text)
      .map((pem) => certificateInfo(pem)?.fingerprint ?? 'unreadable')
      .join(',');
  });
  if (lists.some((list) => list !== lists[0])) return ['mismatch'];
  return lists[0] ? lists[0].split(',') : [];
}

const CONFIGURATION_API_VERSION = 'admissionregistration.k8s.io/v1';
const CONFIGURATION_KIND = 'MutatingWebhookConfiguration';

/**
 * The Secret's owner references with `configuration` among them: a reference to an earlier
 * configuration of that name (another uid) is replaced, every other owner kept. No
 * blockOwnerDeletion (deleting the configuration never waits for the Secret, and setting it would
 * need `update` on the configuration's finalizers), no controller: the configuration does not
 * manage the Secret.
 */
export function withConfigurationOwner(
  references: V1OwnerReference[] | undefined,
  configuration: V1MutatingWebhookConfiguration,
): V1OwnerReference[] {
  const name = configuration.metadata?.name ?? '';
  const others = (references ?? []).filter(
    (reference) =>
      !(
        reference.kind === CONFIGURATION_KIND &&
        reference.apiVersion.split('/')[0] === CONFIGURATION_API_VERSION.split('/')[0] &&
        reference.name === name
      ),
  );
  return [
    ...others,
    { apiVersion: CONFIGURATION_API_VERSION, kind: CONFIGURATION_KIND, name, uid: configuration.metadata?.uid ?? '' },
  ];
}

/** Whether the Secret names this configuration (its uid) among its owners. */
export function isOwnedByConfiguration(secret: V1Secret, configuration: V1MutatingWebhookConfiguration): boolean {
  const uid = configuration.metadata?.uid;
  return (
    uid !== undefined &&
    (secret.metadata?.ownerReferences ?? []).some(
      (reference) => reference.kind === CONFIGURATION_KIND && reference.uid === uid,
    )
  );
}

export class SelfManagedCertificate {
  private served?: { cert: string; key: string };
  private readonly listeners: Array<(pair: { cert: Buffer; key: Buffer }) => void> = [];
  private reloadTimer?: Timer;
  private rotateTimer?: Timer;
  private stopped = false;
  private rotating = false;

  constructor(private readonly options: SelfManagedCertificateOptions) {}

  private get secretPath(): string {
    return `/api/v1/namespaces/${this.options.namespace}/secrets/${encodeURIComponent(this.options.secretName)}`;
  }

  private get configurationPath(): string {
    const name = encodeURIComponent(this.options.configurationName);
    return `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${name}`;
  }

  /** How often every replica reads the Secret again: well within the propagation time. */
  get reloadIntervalMs(): number {
    return Math.min(10_000, Math.max(500, Math.floor(this.options.policy.propagationMs / 4)));
  }

  /** Calls `listener` with the serving certificate and key whenever they change (first as soon as there are some). */
  onServingCertificate(listener: (pair: { cert: Buffer; key: Buffer }) => void): void {
    this.listeners.push(listener);
    if (this.served) listener({ cert: Buffer.from(this.served.cert), key: Buffer.from(this.served.key) });
  }

  /** Every replica: read the Secret now and every reloadIntervalMs. */
  startReloading(): void {
    const tick = () => {
      if (this.stopped) return;
      this.readSecret().then(
        (secret) => {
          if (secret) this.serve(secret);
        },
        (err: Error) => this.options.logger.warn({ err: err.message }, 'webhook certificate: Secret unreadable'),
      );
      this.reloadTimer = this.options.clock.setTimer(this.reloadIntervalMs, tick);
    };
    tick();
  }

  /** The leader: apply rotation steps until stop(). */
  startRotating(): void {
    if (this.rotating) return;
    this.rotating = true;
    this.schedule(0);
  }

  stop(): void {
    this.stopped = true;
    this.reloadTimer?.cancel();
    this.rotateTimer?.cancel();
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.rotateTimer?.cancel();
    this.rotateTimer = this.options.clock.setTimer(delayMs, () => void this.rotateOnce());
  }

  private async rotateOnce(): Promise<void> {
    const { clock, logger, policy } = this.options;
    try {
      // A few steps in a row (bootstrap, bundle, ...) before waiting; each one reads again first.
      for (let steps = 0; steps < 8 && !this.stopped; steps++) {
        const secret = await this.readSecret();
        const configuration = await this.readConfiguration();
        const now = clock.now();
        const step = decideRotation({
          stored: secret ? storedCertificates(secret) : undefined,
          bundle: configuration ? bundleOf(configuration) : undefined,
          configuration: !configuration
            ? 'absent'
            : secret && isOwnedByConfiguration(secret, configuration)
              ? 'owner'
              : 'notOwner',
          now,
          policy,
        });
        if (step.action === 'wait') {
          if (step.waitingFor === 'configuration')
            logger.warn(
              { mutatingWebhookConfiguration: this.options.configurationName },
              'webhook certificate: no MutatingWebhookConfiguration (with webhooks) to put the CA into',
            );
          this.schedule(Math.min(RESYNC_MS, Math.max(0, step.until - now)));
          return;
        }
        await this.apply(step, secret, configuration, now);
        this.options.onStep?.(step.action);
        logger.info(
          { step: step.action, ...('reason' in step ? { reason: step.reason } : {}) },
          'webhook certificate: step applied',
        );
      }
      this.schedule(0);
    } catch (err) {
      logger.warn({ err: (err as Error).message }, 'webhook certificate: step failed; retrying');
      this.schedule(RETRY_MS);
    }
  }

  private async apply(
    step: RotationStep,
    secret: V1Secret | undefined,
    configuration: V1MutatingWebhookConfiguration | undefined,
    now: number,
  ): Promise<void> {
    const { policy } = this.options;
    const material = materialOf(secret);
    const write = (annotations: Record<string, string>, written: Material) =>
      this.writeSecret(secret, configuration, annotations, written);
    const ca = (): KeyPair => ({ cert: material.caCert!, key: material.caKey! });
    const serving = (authority: KeyPair) =>
      issueServingCertificate(authority, policy.names, now, policy.servingLifetimeMs);
    const annotations = { ...(secret?.metadata?.annotations ?? {}) };
    switch (step.action) {
      case 'bootstrap': {
        const authority = createCertificateAuthority(CA_COMMON_NAME, now, policy.caLifetimeMs);
        const pair = serving(authority);
        delete annotations[ANNOTATION_NEXT_CA_SINCE];
        delete annotations[ANNOTATION_PREVIOUS_CA_SINCE];
        return write(annotations, {
          caCert: authority.cert,
          caKey: authority.key,
          tlsCert: pair.cert,
          tlsKey: pair.key,
        });
      }
      case 'renewServing': {
        const pair = serving(ca());
        return write(annotations, { ...material, tlsCert: pair.cert, tlsKey: pair.key });
      }
      case 'stageCa': {
        const next = createCertificateAuthority(CA_COMMON_NAME, now, policy.caLifetimeMs);
        annotations[ANNOTATION_NEXT_CA_SINCE] = new Date(now).toISOString();
        return write(annotations, { ...material, nextCaCert: next.cert, nextCaKey: next.key });
      }
      case 'promoteCa': {
        const next: KeyPair = { cert: material.nextCaCert!, key: material.nextCaKey! };
        const pair = serving(next);
        delete annotations[ANNOTATION_NEXT_CA_SINCE];
        annotations[ANNOTATION_PREVIOUS_CA_SINCE] = new Date(now).toISOString();
        return write(annotations, {
          caCert: next.cert,
          caKey: next.key,
          tlsCert: pair.cert,
          tlsKey: pair.key,
          previousCaCert: material.caCert,
        });
      }
      case 'retireCa': {
        const { previousCaCert: _retired, ...rest } = material;
        delete annotations[ANNOTATION_PREVIOUS_CA_SINCE];
        return write(annotations, rest);
      }
      case 'adopt':
        return write(annotations, material);
      case 'patchBundle':
        return this.patchBundle(step.bundle, material);
      case 'wait':
        return;
    }
  }

  private async readSecret(): Promise<V1Secret | undefined> {
    try {
      return await this.options.client.request<V1Secret>({ method: 'GET', path: this.secretPath, sensitive: true });
    } catch (err) {
      if (isKubeError(err, 'NotFound')) return undefined;
      throw err;
    }
  }

  private async readConfiguration(): Promise<V1MutatingWebhookConfiguration | undefined> {
    try {
      return await this.options.client.request<V1MutatingWebhookConfiguration>({
        method: 'GET',
        path: this.configurationPath,
      });
    } catch (err) {
      if (isKubeError(err, 'NotFound')) return undefined;
      throw err;
    }
  }

  /**
   * Create or replace (guarded by resourceVersion) the Secret's data, owned by the configuration when
   * there is one; then serve from it at once.
   */
  private async writeSecret(
    current: V1Secret | undefined,
    configuration: V1MutatingWebhookConfiguration | undefined,
    annotations: Record<string, string>,
    material: Material,
  ): Promise<void> {
    const data: Record<string, string> = {};
    for (const [field, pem] of Object.entries(material) as Array<[keyof typeof CERTIFICATE_KEYS, string | undefined]>)
      if (pem) data[CERTIFICATE_KEYS[field]] = Buffer.from(pem).toString('base64');
    const body: V1Secret = {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'Opaque',
      metadata: {
        ...(current?.metadata ?? {}),
        name: this.options.secretName,
        namespace: this.options.namespace,
        labels: {
          ...(current?.metadata?.labels ?? {}),
          'app.kubernetes.io/name': 'regcred-operator',
          'app.kubernetes.io/component': 'webhook-certificate',
        },
        annotations,
        ...(configuration
          ? { ownerReferences: withConfigurationOwner(current?.metadata?.ownerReferences, configuration) }
          : {}),
      },
      data,
    };
    const written = current
      ? await this.options.client.request<V1Secret>({ method: 'PUT', path: this.secretPath, body, sensitive: true })
      : await this.options.client.request<V1Secret>({
          method: 'POST',
          path: `/api/v1/namespaces/${this.options.namespace}/secrets`,
          body,
          sensitive: true,
        });
    this.serve(written);
  }

  private async patchBundle(fingerprints: string[], material: Material): Promise<void> {
    const byFingerprint = new Map<string, string>();
    for (const pem of [material.caCert, material.nextCaCert, material.previousCaCert]) {
      const info = pem ? certificateInfo(pem) : undefined;
      if (info && pem) byFingerprint.set(info.fingerprint, pem.trim() + '\n');
    }
    const bundle = Buffer.from(
      fingerprints.map((fingerprint) => byFingerprint.get(fingerprint) ?? '').join(''),
    ).toString('base64');
    const configuration = await this.readConfiguration();
    const body = {
      webhooks: (configuration?.webhooks ?? []).map((webhook) => ({
        name: webhook.name,
        clientConfig: { caBundle: bundle },
      })),
    };
    await this.options.client.request({
      method: 'PATCH',
      path: this.configurationPath,
      body,
      contentType: 'application/strategic-merge-patch+json',
    });
  }

  /** Serve the Secret's serving certificate when it changed and is signed by its CA. */
  private serve(secret: V1Secret): void {
    const material = materialOf(secret);
    if (!material.tlsCert || !material.tlsKey || !material.caCert) return;
    if (this.served?.cert === material.tlsCert && this.served.key === material.tlsKey) return;
    if (!servingInfo(material.tlsCert, material.tlsKey, material.caCert)) return;
    this.served = { cert: material.tlsCert, key: material.tlsKey };
    const pair = { cert: Buffer.from(material.tlsCert), key: Buffer.from(material.tlsKey) };
    for (const listener of this.listeners) listener(pair);
  }
}
