// The leader keeps the namespaceSelector of every webhook of the MutatingWebhookConfiguration
// narrowed to the namespaces in scope (webhook/scope.ts decides): the API server then calls the
// webhook only for Pods it may change. It looks again when a RegistryCredential or a Namespace
// changes (runs coalesce: one in flight, at most one more after it) and every RESYNC_MS, so a
// selector reset by a chart upgrade or a GitOps sync is put back. A write is guarded by the
// configuration's resourceVersion; a conflict or an error is retried after RETRY_MS. A missing
// configuration is waited for (a warning once), never created.
import type { V1LabelSelector, V1MutatingWebhookConfiguration } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { cachedSpecs } from '../api/v1alpha1.js';
import type { Caches } from '../controller/caches.js';
import type { KubeApi } from '../k8s/client.js';
import { isKubeError } from '../k8s/errors.js';
import { isTerminating } from '../controller/desired.js';
import type { Clock, Timer } from '../runtime/clock.js';
import { sameSelector, scopedSelector, scopeNamespaces } from './scope.js';

const RETRY_MS = 5_000;
const RESYNC_MS = 30_000;

export interface WebhookScopeOptions {
  client: KubeApi;
  caches: Pick<Caches, 'credentials' | 'namespaces'>;
  configurationName: string;
  clock: Clock;
  logger: Logger;
  maxNamespaces?: number;
  /** The number of namespaces in scope after each look (-1: more than the maximum, not narrowed). */
  onScope?: (namespaces: number) => void;
}

export class WebhookScope {
  private readonly specOf = cachedSpecs();
  private timer?: Timer;
  private running = false;
  private again = false;
  private started = false;
  private stopped = false;
  private warnedMissing = false;
  /** The scope last found in (or written to) the configuration; a look that computes it again reads nothing. */
  private applied?: string;

  constructor(private readonly options: WebhookScopeOptions) {}

  private get path(): string {
    const name = encodeURIComponent(this.options.configurationName);
    return `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${name}`;
  }

  /** The leader: narrow now, then on every change of a credential or a namespace, and every RESYNC_MS. */
  start(): void {
    if (this.started) return;
    this.started = true;
    const nudge = () => this.nudge();
    // Only what can change the scope: a spec (its generation) or a deletion; a namespace's labels or phase.
    this.options.caches.credentials.on({
      add: nudge,
      delete: nudge,
      update: (before, after) => {
        if (
          before.metadata.generation !== after.metadata.generation ||
          !!before.metadata.deletionTimestamp !== !!after.metadata.deletionTimestamp
        )
          nudge();
      },
    });
    this.options.caches.namespaces.on({
      add: nudge,
      delete: nudge,
      update: (before, after) => {
        if (
          JSON.stringify(before.metadata?.labels ?? {}) !== JSON.stringify(after.metadata?.labels ?? {}) ||
          isTerminating(before) !== isTerminating(after)
        )
          nudge();
      },
    });
    this.resync();
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
  }

  /** Read the configuration again even when the scope did not change (a reset by someone else). */
  private resync(): void {
    this.applied = undefined;
    this.nudge();
  }

  /** Look again as soon as possible (coalesced with a look in flight). */
  nudge(): void {
    if (this.stopped || !this.started) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.timer?.cancel();
    this.timer = undefined;
    void this.run();
  }

  private async run(): Promise<void> {
    this.running = true;
    let delayMs = RESYNC_MS;
    try {
      do {
        this.again = false;
        await this.syncOnce();
      } while (this.again && !this.stopped);
    } catch (err) {
      delayMs = RETRY_MS;
      this.options.logger.warn(
        { err: (err as Error).message, mutatingWebhookConfiguration: this.options.configurationName },
        'webhook scope: narrowing the namespaceSelector failed; retrying',
      );
    } finally {
      this.running = false;
    }
    if (this.stopped) return;
    if (this.again) return this.nudge();
    this.timer = this.options.clock.setTimer(delayMs, () => this.resync());
  }

  private async syncOnce(): Promise<void> {
    const { caches, logger, configurationName } = this.options;
    const names = scopeNamespaces(
      [...caches.credentials.list()].map((cred) => ({
        spec: this.specOf(cred),
        deleting: !!cred.metadata.deletionTimestamp,
      })),
      caches.namespaces.list(),
      this.options.maxNamespaces,
    );
    this.options.onScope?.(names?.length ?? -1);
    const scope = JSON.stringify(names ?? null);
    if (scope === this.applied) return;
    const configuration = await this.read();
    if (!configuration) {
      if (!this.warnedMissing)
        logger.warn(
          { mutatingWebhookConfiguration: configurationName },
          'webhook scope: no MutatingWebhookConfiguration to narrow (the API server calls the webhook as configured)',
        );
      this.warnedMissing = true;
      this.applied = undefined;
      return;
    }
    this.warnedMissing = false;
    const changed: Array<{ name: string; namespaceSelector: V1LabelSelector }> = [];
    for (const webhook of configuration.webhooks ?? []) {
      const wanted = scopedSelector(webhook.namespaceSelector, names);
      if (!sameSelector(webhook.namespaceSelector, wanted))
        // matchExpressions always sent: a strategic merge patch keeps a list it is not given
        changed.push({
          name: webhook.name,
          namespaceSelector: { ...wanted, matchExpressions: wanted.matchExpressions ?? [] },
        });
    }
    if (changed.length > 0) {
      await this.options.client.request({
        method: 'PATCH',
        path: this.path,
        body: { metadata: { resourceVersion: configuration.metadata?.resourceVersion }, webhooks: changed },
        contentType: 'application/strategic-merge-patch+json',
      });
      logger.info(
        {
          mutatingWebhookConfiguration: configurationName,
          webhooks: changed.map((webhook) => webhook.name),
          namespaces: names === undefined ? 'all (beyond the maximum)' : names.length,
        },
        'webhook scope: namespaceSelector narrowed to the namespaces in scope',
      );
    }
    this.applied = scope;
  }

  private async read(): Promise<V1MutatingWebhookConfiguration | undefined> {
    try {
      return await this.options.client.request<V1MutatingWebhookConfiguration>({ method: 'GET', path: this.path });
    } catch (err) {
      if (isKubeError(err, 'NotFound')) return undefined;
      throw err;
    }
  }
}
