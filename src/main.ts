// Entry point: flags/env -> config, kubeconfig -> client, the operator, and signal handling.
import { KubeConfig } from '@kubernetes/client-node';
import { ConfigError, parseConfig, usage } from './config.js';
import { KubeClient } from './k8s/client.js';
import { createLogger } from './logger.js';
import { Metrics } from './metrics.js';
import { Operator } from './operator.js';
import { systemClock } from './runtime/clock.js';

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
  const kc = new KubeConfig();
  if (config.kubeconfig) kc.loadFromFile(config.kubeconfig);
  else kc.loadFromDefault();
  const metrics = new Metrics();
  const client = await KubeClient.create(kc, {
    clock: systemClock,
    qps: config.kubeApiQps,
    burst: config.kubeApiBurst,
    timeoutMs: config.kubeApiTimeoutSeconds * 1000,
    observe: (verb, resource, code, _seconds) => {
      metrics.apiRequests.inc({ verb, resource, code: String(code) });
      if (code >= 200 && code < 300 && (verb === 'CREATE' || verb === 'UPDATE' || verb === 'PATCH' || verb === 'DELETE')) metrics.writes.inc({ resource, verb });
    },
  });
  logger.info({ server: client.server, sourceNamespace: config.sourceNamespace }, 'starting regcred-operator');
  const operator = new Operator({ config, client, clock: systemClock, logger, metrics });

  let stopping = false;
  const done = new Promise<number>((resolve) => {
    const shutdown = (signal: string) => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, 'shutting down');
      operator
        .stop()
        .then(() => resolve(0))
        .catch((err: Error) => {
          logger.error({ err: err.message }, 'shutdown failed');
          resolve(1);
        })
        .finally(() => client.close());
    };
    process.once('SIGTERM', () => shutdown('SIGTERM'));
    process.once('SIGINT', () => shutdown('SIGINT'));
  });
  await operator.start();
  return done;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`regcred-operator: ${err.stack ?? err.message}\n`);
    process.exit(1);
  },
);
