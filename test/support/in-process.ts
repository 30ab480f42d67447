// The whole operator (Operator: informers, mappers, work queue, worker pool, reconciler) in
// process, on the in-memory API and a fake clock: watch -> key -> queue -> reconcile -> apply ->
// status without a control plane, for table tests of the controller's behaviour. The integration
// suite runs the same behaviours against a real API server; this one drives the corners (a
// conflict at an exact moment, a fault on one request) deterministically and in milliseconds.
import type { V1Secret } from '@kubernetes/client-node';
import { pino } from 'pino';
import { ANNOTATION_INJECTED, type RegistryCredentialStatus } from '../../src/api/v1alpha1.js';
import { parseConfig } from '../../src/config.js';
import { Metrics } from '../../src/metrics.js';
import { Operator } from '../../src/operator.js';
import { SOURCE_NAMESPACE } from './builders.js';
import { FakeClock } from './fake-clock.js';
import { FakeKube, type StoredObject } from './fake-kube.js';
import { settle } from './settle.js';

export interface InProcess {
  clock: FakeClock;
  kube: FakeKube;
  operator: Operator;
  /** Runs until no key is queued or in progress and no timer falls due within `horizonMs`. */
  settle(horizonMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** Starts the operator on a fake API that `seed` has filled (the source namespace exists). */
export async function startInProcess(seed: (kube: FakeKube) => void = () => undefined): Promise<InProcess> {
  const clock = new FakeClock();
  const kube = new FakeKube(clock);
  kube.put('namespaces', { metadata: { name: SOURCE_NAMESPACE } });
  seed(kube);
  const config = parseConfig(
    [
      '--source-namespace',
      SOURCE_NAMESPACE,
      '--metrics-bind-address',
      '0',
      '--health-probe-bind-address',
      '0',
      '--watch-idle-timeout-seconds',
      '3600',
      '--concurrency',
      '4',
      // no registry is ever contacted from a unit test
      '--verify-registries=false',
    ],
    {},
  );
  const operator = new Operator({
    config,
    client: kube,
    clock,
    logger: pino({ level: 'silent' }),
    metrics: new Metrics(false),
  });
  const busy = () => operator.queue.len() > 0 || operator.queue.inProgress() > 0;
  const run = (horizonMs = 15_000) => settle(clock, { horizonMs, busy });
  const starting = operator.start();
  await run(0);
  await starting;
  await run();
  return { clock, kube, operator, settle: run, stop: () => operator.stop() };
}

// ---- views: what a user would see -------------------------------------------------------------

/** A Secret's password for `server` ("foreign" for a Secret that is not a pull secret). */
export function passwordIn(secret: StoredObject | undefined, server: string): string | undefined {
  if (!secret) return undefined;
  const data = (secret as V1Secret).data?.['.dockerconfigjson'];
  if (!data) return 'foreign';
  const document = JSON.parse(Buffer.from(data, 'base64').toString('utf8')) as {
    auths: Record<string, { password: string }>;
  };
  return document.auths[server]?.password;
}

export function pullSecretsOf(kube: FakeKube, namespaceName: string, name: string): string[] | undefined {
  const found = kube.get('serviceaccounts', namespaceName, name) as
    { imagePullSecrets?: Array<{ name: string }> } | undefined;
  return found && (found.imagePullSecrets ?? []).map((entry) => entry.name);
}

export function injectedAnnotation(kube: FakeKube, namespaceName: string, name: string): string | undefined {
  return kube.get('serviceaccounts', namespaceName, name)?.metadata.annotations?.[ANNOTATION_INJECTED];
}

export function statusOf(kube: FakeKube, name: string): RegistryCredentialStatus | undefined {
  return kube.get('registrycredentials', undefined, name)?.status as RegistryCredentialStatus | undefined;
}

/** "Type=Status/Reason" of a condition. */
export function conditionOf(kube: FakeKube, name: string, type: string): string | undefined {
  const found = statusOf(kube, name)?.conditions?.find((c) => c.type === type);
  return found && `${found.status}/${found.reason}`;
}

/** Reasons of the Events recorded about a credential, in order. */
export function eventReasons(kube: FakeKube, name: string): string[] {
  return kube
    .list('events', 'default')
    .filter((event) => (event as { involvedObject?: { name?: string } }).involvedObject?.name === name)
    .map((event) => String((event as { reason?: string }).reason));
}
