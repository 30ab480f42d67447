// The operator's Pod-injection webhook as the real API server calls it in the tests and the
// benchmark: a serving certificate for 127.0.0.1 signed by a throwaway CA, the operator's flags that
// serve it, and a MutatingWebhookConfiguration that points at it by url: with that CA as caBundle.
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import * as path from 'node:path';
import type { AdmissionregistrationV1Api, V1LabelSelector } from '@kubernetes/client-node';
import { freePorts } from './controlplane.js';
import { createCertificateAuthority, issueServerCertificate } from './tls.js';

export interface WebhookServing {
  port: number;
  /** https://127.0.0.1:PORT/mutate/pods */
  url: string;
  certFile: string;
  keyFile: string;
  /** PEM file of the CA that signed the serving certificate. */
  caFile: string;
  /** The operator's flags that serve the webhook with this certificate. */
  operatorArgs: string[];
}

/** A loopback port and a serving certificate for it, for the operator's webhook (or any HTTPS server). */
export async function webhookServing(): Promise<WebhookServing> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'regcred-webhook-'));
  const ca = await createCertificateAuthority(path.join(dir, 'ca'));
  const serving = await issueServerCertificate(ca, 'webhook', ['127.0.0.1']);
  const certFile = path.join(dir, 'tls.crt');
  const keyFile = path.join(dir, 'tls.key');
  await writeFile(certFile, serving.cert);
  await writeFile(keyFile, serving.key);
  const [port] = await freePorts(1);
  return {
    port: port!,
    url: `https://127.0.0.1:${port}/mutate/pods`,
    certFile,
    keyFile,
    caFile: ca.caFile,
    operatorArgs: [
      ...['--webhook-bind-address', `127.0.0.1:${port}`],
      ...['--webhook-tls-cert-file', certFile, '--webhook-tls-key-file', keyFile],
    ],
  };
}

/**
 * Registers a webhook for CREATE of Pods in the namespaces of `namespaceSelector`, as docs/pod-injection.md says
 * (failurePolicy Ignore, sideEffects None, timeoutSeconds 2).
 */
export async function registerPodWebhook(
  admission: AdmissionregistrationV1Api,
  name: string,
  serving: Pick<WebhookServing, 'url' | 'caFile'>,
  namespaceSelector: V1LabelSelector,
  webhook = 'pods.regcred.io',
): Promise<void> {
  await admission.createMutatingWebhookConfiguration({
    body: {
      metadata: { name },
      webhooks: [
        {
          name: webhook,
          admissionReviewVersions: ['v1'],
          clientConfig: { url: serving.url, caBundle: (await readFile(serving.caFile)).toString('base64') },
          rules: [
            { apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'], scope: 'Namespaced' },
          ],
          namespaceSelector,
          failurePolicy: 'Ignore',
          sideEffects: 'None',
          timeoutSeconds: 2,
          reinvocationPolicy: 'IfNeeded',
        },
      ],
    },
  });
}
