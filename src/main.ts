// Entry point: flags/env -> config, kubeconfig -> client, the operator, and signal handling.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { ConfigError, parseConfig, usage } from './config.js';
import { KubeClient, type RequestObserver } from './k8s/client.js';
import { loadClusterAccess } from './k8s/kubeconfig.js';
import { LeaseStore } from './k8s/leases.js';
import { createLogger } from './logger.js';
import { Metrics } from './metrics.js';
import { Operator } from './operator.js';
import { systemClock } from './runtime/clock.js';
import { DEFAULT_TIMING, LeaderElector } from './runtime/leaderelection.js';

async function main(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(usage());
    return 0;
  }
  let config;
  try {
    config = parseConfig(argv, process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`regcred-operator: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const logger = createLogger(config.logLevel);
  const access = await loadClusterAccess(config.kubeconfig);
  const metrics = new Metrics();
  const observe: RequestObserver = (verb, resource, code, _seconds) => {
    metrics.apiRequests.inc({ verb, resource, code: String(code) });
    if (code >= 200 && code < 300 && (verb === 'CREATE' || verb === 'UPDATE' || verb === 'PATCH' || verb === 'DELETE'))
      metrics.writes.inc({ resource, verb });
  };
  const client = KubeClient.create(access, {
    clock: systemClock,
    qps: config.kubeApiQps,
    burst: config.kubeApiBurst,
    maxInFlight: config.kubeApiMaxInflight,
    adaptive: config.kubeApiAdaptive,
    onLimitChange: (limit) => metrics.apiInflightLimit.set(limit),
    timeoutMs: config.kubeApiTimeoutSeconds * 1000,
    observe,
  });
  metrics.apiInflightLimit.set(config.kubeApiMaxInflight);
  logger.info({ server: client.server, sourceNamespace: config.sourceNamespace }, 'starting regcred-operator');
  const operator = new Operator({
    config,
    client,
    clock: systemClock,
    logger,
    metrics,
    deferWorkers: config.leaderElect,
  });
  let stopping = false;
  // Leader election has its own client: renewals must not queue behind a fan-out's rate limit.
  const electionClient = config.leaderElect
    ? KubeClient.create(access, {
        clock: systemClock,
        qps: 0,
        maxRetries: 0,
        userAgent: 'regcred-operator/leader-election',
        observe,
      })
    : undefined;
  const elector = electionClient
    ? new LeaderElector({
        store: new LeaseStore(electionClient, config.leaderElectionNamespace, config.leaderElectionId),
        identity: `${process.env.HOSTNAME || hostname()}_${randomUUID()}`,
        clock: systemClock,
        logger,
        ...DEFAULT_TIMING,
        onStartedLeading: () => {
          metrics.leader.set(1);
          if (!stopping) operator.startWorkers();
        },
        onStoppedLeading: () => {
          // Another replica may already be writing: stop at once, without draining; the Deployment restarts us.
          metrics.leader.set(0);
          process.exit(1);
        },
        onNewLeader: (identity) => logger.info({ leader: identity }, 'leader election: current leader'),
      })
    : undefined;
  metrics.leader.set(elector ? 0 : 1);

  const done = new Promise<number>((resolve) => {
    const shutdown = (signal: string) => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, 'shutting down');
      // Workers first (the lease is still held while in-flight reconciles finish), then release
      // the lease so a standby takes over at once.
      operator
        .stop()
        .then(() => elector?.stop())
        .then(() => resolve(0))
        .catch((err: Error) => {
          logger.error({ err: err.message }, 'shutdown failed');
          resolve(1);
        })
        .finally(() => {
          client.close();
          electionClient?.close();
        });
    };
    process.once('SIGTERM', () => shutdown('SIGTERM'));
    process.once('SIGINT', () => shutdown('SIGINT'));
  });
  await operator.start();
  if (!stopping) elector?.run();
  return done;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`regcred-operator: ${err.stack ?? err.message}\n`);
    process.exit(1);
  },
);
