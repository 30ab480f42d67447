#!/usr/bin/env node
// kubectl-regcred: the kubectl plugin of regcred-operator (`kubectl regcred ...` finds it on PATH).
//   kubectl regcred doctor pod NAME [-n NS] [-c CONTAINER]   why a Pod's images do (not) pull
//   kubectl regcred doctor image REF [-n NS] [--service-account SA]   will this image pull?
//   kubectl regcred status [-o wide|json]                     every RegistryCredential at a glance
// Exit codes: 0 the pull would work (no broken link), 1 it would not, 2 usage or cluster errors.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { checkCredential } from '../registry/v2.js';
import { diagnose, type Diagnosis } from './diagnosis.js';
import { ClusterReader } from './gather.js';
import { renderDiagnoses } from './render.js';
import { renderStatusTable, statusRows } from './status.js';

const USAGE = `Usage:
  kubectl regcred doctor pod NAME [-n NAMESPACE] [-c CONTAINER] [--no-live] [--registry-ca FILE] [-o json]
  kubectl regcred doctor image IMAGE [-n NAMESPACE] [--service-account SA] [--no-live] [--registry-ca FILE] [-o json]
  kubectl regcred status [-o wide|json]

  doctor walks the chain the kubelet walks for each image and stops at the first broken link,
  with the fix: the image reference, the pull secrets the Pod has (versus its ServiceAccount now),
  the key the kubelet picks in them, the RegistryCredential behind it, the node's pull Events,
  and a live check of exactly that credential against the registry (--no-live skips it).
  No secret value is ever printed.

  status lists every RegistryCredential: Ready, namespaces ready/selected, when its earliest token
  expires, registries verified, Pods recovered (-o wide: failing namespaces, delivery, kubelet
  requests served and refused, each registry's verification; -o json: all of it as data).

Global flags: --kubeconfig FILE, --context NAME
Exit codes: 0 the pull would work, 1 it would not, 2 usage or cluster errors.`;

class UsageError extends Error {
  override name = 'UsageError';
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      namespace: { type: 'string', short: 'n' },
      container: { type: 'string', short: 'c' },
      'service-account': { type: 'string' },
      'no-live': { type: 'boolean', default: false },
      'registry-ca': { type: 'string' },
      output: { type: 'string', short: 'o' },
      kubeconfig: { type: 'string' },
      context: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const [command, kind, target, ...extra] = positionals;
  const outputs = command === 'status' ? ['json', 'wide'] : ['json'];
  if (values.output !== undefined && !outputs.includes(values.output))
    throw new UsageError(`-o supports only ${outputs.join(' or ')} here, not ${JSON.stringify(values.output)}`);
  const json = values.output === 'json';

  const kubeConfig = new KubeConfig();
  if (values.kubeconfig) kubeConfig.loadFromFile(values.kubeconfig);
  else kubeConfig.loadFromDefault();
  if (values.context) kubeConfig.setCurrentContext(values.context);
  const namespace =
    values.namespace ?? kubeConfig.getContextObject(kubeConfig.getCurrentContext())?.namespace ?? 'default';
  const reader = new ClusterReader(kubeConfig);

  if (command === 'status') {
    if (kind !== undefined) throw new UsageError(`status takes no arguments (got ${kind})`);
    const credentials = await reader.credentials();
    if (!Array.isArray(credentials)) throw new Error(credentials.forbidden);
    const rows = statusRows(credentials, new Date());
    process.stdout.write(
      json ? `${JSON.stringify(rows, null, 2)}\n` : renderStatusTable(rows, { wide: values.output === 'wide' }),
    );
    return 0;
  }
  if (command !== 'doctor' || (kind !== 'pod' && kind !== 'image') || !target || extra.length) {
    throw new UsageError(
      command === undefined ? 'a command is needed' : `unknown or incomplete command: ${positionals.join(' ')}`,
    );
  }

  const ca = values['registry-ca'] ? readFileSync(values['registry-ca'], 'utf8') : undefined;
  const live = values['no-live']
    ? undefined
    : (request: Parameters<typeof checkCredential>[0]) => checkCredential({ ...request, ...(ca ? { ca } : {}) });
  const diagnoses: Diagnosis[] = [];
  let subject: string;
  if (kind === 'pod') {
    if (values['service-account'])
      throw new UsageError('--service-account goes with doctor image (a Pod names its own)');
    const pod = await reader.pod(namespace, target);
    subject = `Pod ${namespace}/${target}`;
    for (const container of containersOf(pod, values.container)) {
      const facts = await reader.facts(namespace, container.image, {
        pod,
        container: container.name,
        serviceAccount: pod.spec?.serviceAccountName ?? 'default',
      });
      diagnoses.push(await diagnose(facts, { live }));
    }
  } else {
    if (values.container) throw new UsageError('-c goes with doctor pod');
    const serviceAccount = values['service-account'] ?? 'default';
    subject = `image ${target} for ServiceAccount ${namespace}/${serviceAccount}`;
    const facts = await reader.facts(namespace, target, { serviceAccount });
    diagnoses.push(await diagnose(facts, { live }));
  }
  process.stdout.write(
    json ? `${JSON.stringify({ subject, diagnoses }, null, 2)}\n` : renderDiagnoses(subject, diagnoses),
  );
  return diagnoses.some((diagnosis) => diagnosis.verdict === 'broken') ? 1 : 0;
}

/** Init containers first, then containers, as the kubelet pulls them; -c picks one. */
function containersOf(pod: V1Pod, only: string | undefined): Array<{ name: string; image: string }> {
  const all = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].map((container) => ({
    name: container.name,
    image: container.image ?? '',
  }));
  if (only === undefined) return all;
  const picked = all.filter((container) => container.name === only);
  if (!picked.length)
    throw new UsageError(
      `pod ${pod.metadata?.name} has no container ${only} (it has ` +
        `${all.map((container) => container.name).join(', ')})`,
    );
  return picked;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`error: ${message}\n`);
    if (error instanceof UsageError || (error as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION')
      process.stderr.write(`\n${USAGE}\n`);
    process.exit(2);
  },
);
