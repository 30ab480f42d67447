// Phase: the defaults mode's memory with only a few namespaces.
import { Bench, type Mode, names } from '../bench.js';
import { IDLE_SECONDS, SMALL } from '../config.js';
import { idle } from './idle.js';
import { memoryOf, record } from '../support.js';

/** The defaults mode's memory with only a few namespaces in the cluster. */
export async function smallMemory(b: Bench, mode: Mode): Promise<void> {
  await b.namespaces(names('s', SMALL).map((x) => [x, 's'] as const));
  const op = await mode.start();
  try {
    await b.applyAndConverge(b.credential('small', ['s']), SMALL);
    await idle(b, op, SMALL, mode.name, mode, Math.min(IDLE_SECONDS, 30));
    const memory = await memoryOf(op.pid);
    record({
      size: SMALL,
      mode: mode.name,
      figure: 'memory: peak RSS',
      unit: 'MiB',
      operator: memory.peak,
      target: '<= 80 MiB',
      note: 'VmHWM',
    });
    record({ size: SMALL, mode: mode.name, figure: 'memory: RSS at the end', unit: 'MiB', operator: memory.rss });
    await b.deleteCredential('small');
  } finally {
    await op.stop();
  }
}
