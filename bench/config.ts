// The benchmark's sizes, modes and knobs (environment variables; `npm run bench -- --help`).
import { fileURLToPath } from 'node:url';

export const HELP = `npm run bench [-- --quick] [-- --help]

Per size N (BENCH_SIZES): a fresh control plane; N namespaces for the floor (f-*) and N for the
operator (o-*), 3 ServiceAccounts each. The floor is the same writes issued directly by the
benchmark's client with the same concurrency, measured in the same run next to each operator phase.
Two modes of the operator, one after the other (BENCH_MODES):
  qps0      the benchmark's earlier settings: --concurrency 8 --kube-api-qps 0 --log-level warn
            (fan-out, new namespaces one by one, rotation, idle, memory, restart, cleanup)
  defaults  exactly the flags and environment deploy/ and the chart ship (checked to agree), with the
            node flags of the image's ENTRYPOINT (as every operator the harness starts), as the
            ServiceAccount regcred-system/regcred-operator (fan-out with the API server's APF view,
            rotation, trickle, idle, memory; at the largest size the pod-watch scenario)
Before the first size: the memory of the defaults mode with ${'BENCH_SMALL_NAMESPACES'} namespaces.
After the sizes: the pressure scenario (an API server made to throttle, then slow, by
harness/api-proxy.ts) at BENCH_PRESSURE_NAMESPACES namespaces, adaptive bound on and off.

Knobs (environment; --quick values in brackets):
  BENCH_SIZES                    500,2000,10000 [30]
  BENCH_MODES                    qps0,defaults
  BENCH_NEW_NAMESPACES           200 [10]   qps0: namespaces created one by one, latency to served
  BENCH_IDLE_SECONDS             300 [5]    idle phase of each mode
  BENCH_UNRELATED_SECRETS        25000 [200] unrelated Secrets, largest size only
  BENCH_CONCURRENCY              8          the floor's concurrency (and qps0's --concurrency)
  BENCH_ROTATIONS                3 [1]      rotations per mode, each beside the floor's; medians compared
  BENCH_WARMUP_NAMESPACES        50 [5]     served and cleaned up before each measured fan-out
  BENCH_TRICKLE_NAMESPACES       100 [5]    defaults: namespaces created one at a time ...
  BENCH_TRICKLE_INTERVAL_MS      1000 [200] ... this far apart
  BENCH_TRICKLE_SETTLE_SECONDS   75 [5]     ... then this long counted too (held Events and status)
  BENCH_SMALL_NAMESPACES         20 [5]     the small memory figure (0: skip)
  BENCH_PODS_RUNNING             20000 [100] pod-watch: Pods whose status says Running ...
  BENCH_PODS_PENDING             1000 [10]  ... and Pending ones (largest size, defaults mode)
  BENCH_PRESSURE_NAMESPACES      500 [20]   the pressure scenario (0: skip)
  BENCH_WATCHED_FLOOR=1          a second fan-out floor whose client keeps an operator's watches open
  BENCH_OPERATOR_MAIN            the operator to run (default: dist/main.js of this checkout), e.g. another
                                 checkout's build for a before/after comparison on the same harness
  BENCH_TARGETING=1              the RegistryCredentials reach the same namespaces and ServiceAccounts
                                 through namespaceNames (globs ANDed with the selector), exclusion globs,
                                 serviceAccountSelector with an exclusion, and shape the copies with a
                                 secretTemplate; qps0 adds the plain spec's fan-out in the same run and
                                 the phase "SA relabelled out"
`;

if (process.argv.includes('--help')) {
  process.stdout.write(HELP);
  process.exit(0);
}

export const ROOT = fileURLToPath(new URL('../', import.meta.url));
export const quick = process.argv.includes('--quick');
export const env = (name: string, full: string, small: string) => process.env[name] ?? (quick ? small : full);
export const num = (name: string, full: string, small: string) => Number(env(name, full, small));
export const SIZES = env('BENCH_SIZES', '500,2000,10000', '30').split(',').map(Number);
export const MODES = env('BENCH_MODES', 'qps0,defaults', 'qps0,defaults').split(',');
export const NEW_NAMESPACES = num('BENCH_NEW_NAMESPACES', '200', '10');
export const IDLE_SECONDS = num('BENCH_IDLE_SECONDS', '300', '5');
export const UNRELATED = num('BENCH_UNRELATED_SECRETS', '25000', '200');
export const CONCURRENCY = num('BENCH_CONCURRENCY', '8', '8');
// A freshly started operator first runs its code cold (JIT, caches just listed); a production
// operator is long-running. Before the measured fan-out it serves (then cleans up) a throwaway
// RegistryCredential over this many extra namespaces, as the floor's client is warm from the setup.
export const ROTATIONS = num('BENCH_ROTATIONS', '3', '1');
export const WARMUP = num('BENCH_WARMUP_NAMESPACES', '50', '5');
export const TRICKLE = num('BENCH_TRICKLE_NAMESPACES', '100', '5');
export const TRICKLE_INTERVAL_MS = num('BENCH_TRICKLE_INTERVAL_MS', '1000', '200');
export const TRICKLE_SETTLE_SECONDS = num('BENCH_TRICKLE_SETTLE_SECONDS', '75', '5');
export const SMALL = num('BENCH_SMALL_NAMESPACES', '20', '5');
export const PODS_RUNNING = num('BENCH_PODS_RUNNING', '20000', '100');
export const PODS_PENDING = num('BENCH_PODS_PENDING', '1000', '10');
export const PRESSURE = num('BENCH_PRESSURE_NAMESPACES', '500', '20');
export const WATCHED_FLOOR = process.env.BENCH_WATCHED_FLOOR === '1';
export const TARGETING = process.env.BENCH_TARGETING === '1';
/** The label that serviceAccountSelector matches (BENCH_TARGETING); every `app` and `ci` SA carries it. */
export const PULL_LABEL = 'regcred.io/pull';
/** A phase of the pressure scenario that has not converged by then is reported as such. */
export const PRESSURE_TIMEOUT_MS = 600_000;
export const SAS = ['default', 'app', 'ci'];
/** Where the operator lives, as deploy/ installs it: its namespace (also the source) and ServiceAccount. */
export const SYSTEM = 'regcred-system';
export const SA_USER = `system:serviceaccount:${SYSTEM}:regcred-operator`;
/** A client-certificate identity (the pressure scenario's proxy forwards with a client certificate). */
export const CERT_USER = 'regcred-bench-operator';
export const MANAGED = 'app.kubernetes.io/managed-by=regcred-operator';
export const CREDENTIALS = '/apis/regcred.io/v1alpha1/registrycredentials';
export const MERGE = 'application/merge-patch+json';
/** The operator's entry point (BENCH_OPERATOR_MAIN); undefined: dist/main.js of this checkout. */
export const OPERATOR_MAIN = process.env.BENCH_OPERATOR_MAIN || undefined;
