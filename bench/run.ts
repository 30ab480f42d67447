// `npm run bench`: the operator on a real local control plane (etcd, kube-apiserver,
// kube-controller-manager), against floors measured in the same run by a tight client of the
// benchmark doing the same writes. Prints a table and writes JSON to bench/results/.
// `npm run bench -- --help` lists the sizes, modes and knobs.
import { mkdir, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { sumMetric, type OperatorProcess } from '../harness/operator.js';
import { Bench, Floor, modes, names } from './bench.js';
import { quiet } from './common.js';
import {
  CONCURRENCY,
  IDLE_SECONDS,
  MODES,
  NEW_NAMESPACES,
  PODS_PENDING,
  PODS_RUNNING,
  PRESSURE,
  quick,
  ROOT,
  SIZES,
  SMALL,
  TARGETING,
  TRICKLE,
  TRICKLE_INTERVAL_MS,
  TRICKLE_SETTLE_SECONDS,
  UNRELATED,
  WARMUP,
  WATCHED_FLOOR,
} from './config.js';
import { fanOut } from './phases/fan-out.js';
import { idle } from './phases/idle.js';
import { newNamespaces } from './phases/new-namespaces.js';
import { podWatch } from './phases/pod-watch.js';
import { pressure } from './phases/pressure.js';
import { relabelledOut } from './phases/relabelled-out.js';
import { restart } from './phases/restart.js';
import { rotation } from './phases/rotation.js';
import { smallMemory } from './phases/small-memory.js';
import { trickle } from './phases/trickle.js';
import { watchedFloor } from './phases/watched-floor.js';
import {
  auditOffset,
  controlPlanePids,
  cpuMeter,
  figures,
  fmt,
  log,
  memoryOf,
  pool,
  record,
  requestsSince,
  RssSampler,
  seconds,
  show,
  total,
  WRITES,
} from './support.js';

// ---- one size ------------------------------------------------------------------------------------------

async function runSize(n: number, largest: boolean, first: boolean): Promise<void> {
  log(`--- N=${n}: starting a control plane`);
  const b = await Bench.start();
  const floor = new Floor(b);
  let op: OperatorProcess | undefined;
  try {
    const saKubeconfig = await b.install();
    const byName = await modes(b, saKubeconfig);
    if (first && SMALL > 0 && MODES.includes('defaults')) await smallMemory(b, byName.defaults!);

    const floorNs = names('f', n);
    const opNs = names('o', n);
    let t0 = performance.now();
    await b.namespaces([
      ...floorNs.map((x) => [x, 'f'] as const),
      ...opNs.map((x) => [x, 'o'] as const),
      ...(WATCHED_FLOOR ? names('w', n).map((x) => [x, 'w'] as const) : []),
      ...names('warm', WARMUP).map((x) => [x, 'warm'] as const),
    ]);
    log(`setup: ${2 * n + WARMUP} namespaces with 3 ServiceAccounts each in ${seconds(t0).toFixed(1)} s`);
    if (largest) {
      t0 = performance.now();
      const blob = 'x'.repeat(2048); // a realistic Opaque Secret: a few keys, ~2-3 KiB
      await pool(
        Array.from({ length: UNRELATED }, (_, i) => i),
        32,
        (i) =>
          b.req('POST', `/api/v1/namespaces/${opNs[i % n]}/secrets`, {
            metadata: { name: `unrelated-${i}`, labels: { app: 'other' } },
            stringData: { 'config.yaml': blob, token: `t-${i}` },
          }),
      );
      log(`setup: ${UNRELATED} unrelated Secrets in ${seconds(t0).toFixed(1)} s`);
    }

    let password = 0;
    for (const [index, modeName] of MODES.entries()) {
      const mode = byName[modeName];
      if (!mode) throw new Error(`unknown mode ${modeName} (BENCH_MODES)`);
      if (index > 0) await floor.reset(floorNs);
      await b.garbageCollectorSettled();
      const cpPids = await controlPlanePids(b.cp);
      const floorCpu = await cpuMeter(cpPids);
      const fanoutFloor = await floor.fanOut(floorNs);
      const fanoutFloorCpu = await floorCpu();
      if (modeName === 'qps0' && WATCHED_FLOOR) await watchedFloor(b, floor, n, fanoutFloor);
      op = await mode.start();
      const sampler = new RssSampler(op.pid).start();
      sampler.enter('warm-up');
      await b.warmUp(op);

      // With BENCH_TARGETING, the plain spec's fan-out over the same namespaces first, in the same run:
      // the comparison under the same load (the machine may be shared); cleaned up before the measured one.
      if (TARGETING && modeName === 'qps0') {
        const plain = await b.applyAndConverge(b.credential('bench-plain', ['o'], {}, false), n);
        await b.deleteCredential('bench-plain');
        await quiet(op);
        if (plain !== undefined)
          record({
            size: n,
            mode: modeName,
            figure: 'fan-out: the plain spec, same run',
            unit: 's',
            operator: plain,
            floor: fanoutFloor,
          });
      }

      // 1. Fan-out.
      sampler.enter('fan-out');
      const cred = `bench-${modeName}`;
      await fanOut(b, op, mode, {
        n,
        cred,
        sets: modeName === 'qps0' ? ['o', 'onew'] : ['o'],
        cpPids,
        fanoutFloor,
        fanoutFloorCpu,
      });
      const m = modeName;

      // 2. New namespaces one after another (qps0): creation -> Secret present and `default` SA patched.
      if (modeName === 'qps0') await newNamespaces(b, floor, n, m);

      // 3. Rotation.
      sampler.enter('rotation');
      const copies = modeName === 'qps0' ? n + NEW_NAMESPACES : n;
      const floorCopies = modeName === 'qps0' ? [...floorNs, ...names('fnew', NEW_NAMESPACES)] : floorNs;
      await rotation(b, floor, n, m, mode, copies, floorCopies, () => `p${++password}`, op);
      if (TARGETING && modeName === 'qps0') await relabelledOut(b, op, n, m, mode);

      // 4. Trickle (defaults).
      if (modeName === 'defaults') {
        sampler.enter('trickle');
        await trickle(b, floor, n, m, mode, cred);
      }

      // 5. Idle.
      sampler.enter('idle');
      await idle(b, op, n, m, mode);

      // 6. Memory: the whole life of the process so far, and now.
      const memory = await memoryOf(op.pid);
      const heap = sumMetric(await op.metrics(), 'regcred_nodejs_heap_size_used_bytes') / 1024 / 1024;
      const highest = sampler.highest();
      sampler.stop();
      const extra = largest ? ` (+${UNRELATED} unrelated Secrets)` : '';
      record({
        size: n,
        mode: m,
        figure: `memory: peak RSS${extra}`,
        unit: 'MiB',
        operator: memory.peak,
        target: largest && modeName === 'defaults' ? '<= 150 MiB' : undefined,
        note:
          `VmHWM; the highest 250 ms sample was ${highest.rss.toFixed(1)} MiB during ${highest.phase} (by phase: ` +
          `${[...sampler.peakByPhase].map(([phase, rss]) => `${phase} ${rss.toFixed(1)}`).join(', ')})`,
      });
      record({ size: n, mode: m, figure: `memory: RSS at the end${extra}`, unit: 'MiB', operator: memory.rss });
      record({ size: n, mode: m, figure: 'memory: heap used at the end', unit: 'MiB', operator: heap });

      // 7. Restart on a converged cluster (qps0), pod-watch (defaults, largest size).
      if (modeName === 'qps0') op = await restart(b, op, n, m, mode);
      if (modeName === 'defaults' && largest) op = await podWatch(b, op, n, m, mode, cred, opNs);

      // 8. Cleanup, so the next mode starts from namespaces without copies.
      if (index < MODES.length - 1) {
        const cleanMark = await auditOffset(b.cp);
        const took = await b.deleteCredential(cred);
        const cleanCalls = await requestsSince(b.cp, cleanMark, mode.user);
        record({
          size: n,
          mode: m,
          figure: 'cleanup: RegistryCredential deleted, every copy and entry gone',
          unit: 's',
          operator: took,
          note: `${total(cleanCalls, WRITES)} writes: ${show(cleanCalls)}`,
        });
      }
      await op.stop();
      op = undefined;
    }
  } finally {
    await op?.stop().catch(() => undefined);
    await b.stop();
  }
}

async function main(): Promise<void> {
  const started = new Date();
  const max = Math.max(...SIZES);
  for (const [i, n] of SIZES.entries()) await runSize(n, n === max, i === 0);
  if (PRESSURE > 0) await pressure(PRESSURE);
  const lines = [
    `| N | mode | figure | operator | floor | ratio | target |`,
    `|---|---|---|---|---|---|---|`,
    ...figures.map((f) => {
      const floor = f.floor === undefined ? '' : `${fmt(f.floor)} ${f.unit}`;
      const ratio = f.ratio === undefined ? '' : `${f.ratio.toFixed(2)}x`;
      const operator = `${fmt(f.operator)} ${f.unit}`;
      return `| ${f.size} | ${f.mode} | ${f.figure} | ${operator} | ${floor} | ${ratio} | ${f.target ?? ''} |`;
    }),
  ];
  process.stdout.write(
    `\nregcred-operator benchmark, ${started.toISOString()}, sizes ${SIZES.join(',')}, modes ${MODES.join(',')}, ` +
      `${NEW_NAMESPACES} new namespaces, idle ${IDLE_SECONDS} s, floor concurrency ${CONCURRENCY}` +
      `${TARGETING ? ', targeting fields' : ''}\n\n` +
      `${lines.join('\n')}\n`,
  );
  const dir = path.join(ROOT, 'bench', 'results');
  await mkdir(dir, { recursive: true });
  const suffix = `${TARGETING ? '-targeting' : ''}${quick ? '-quick' : ''}`;
  const file = path.join(dir, `${started.toISOString().replace(/[:.]/g, '-')}${suffix}.json`);
  await writeFile(
    file,
    JSON.stringify(
      {
        started,
        quick,
        sizes: SIZES,
        modes: MODES,
        newNamespaces: NEW_NAMESPACES,
        idleSeconds: IDLE_SECONDS,
        unrelated: UNRELATED,
        concurrency: CONCURRENCY,
        targeting: TARGETING,
        trickle: { namespaces: TRICKLE, intervalMs: TRICKLE_INTERVAL_MS, settleSeconds: TRICKLE_SETTLE_SECONDS },
        pods: { running: PODS_RUNNING, pending: PODS_PENDING },
        figures,
      },
      null,
      2,
    ),
  );
  log(`wrote ${path.relative(ROOT, file)}`);
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    process.stderr.write(`[bench] FAILED: ${err.stack ?? err.message}\n`);
    process.exit(1);
  },
);
